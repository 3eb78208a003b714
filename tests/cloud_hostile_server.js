// cloud_hostile_server.js - a misbehaving S3 endpoint on 127.0.0.1, for
// the tests of a hostile cloud (issue 12).  Never a stand-in for S3: the
// normal tests run against s3rver; this one only misbehaves.
//
//   node cloud_hostile_server.js MODE [CERT KEY]
//
// prints its port on the first line of stdout, then serves until killed.
// GET /__stats answers {"lists":N,"gets":N} (requests served so far).
// BASE (env, default "") is the target's prefix: a listing of exactly BASE
// is the listing of spaces (names as CommonPrefixes), any other one of
// keys (names as Contents).
//
// MODE:
//   endless  every ListObjectsV2 page says IsTruncated=true with a fresh
//            NextContinuationToken and NAMES (env, default 0) new names
//   loop     every page says IsTruncated=true with the same token
//   huge     lists one space "sp" holding "big"; GET and HEAD of any
//            object answer Content-Length: 1 GiB, then send nothing
//   stall    a list page starts (status, headers, a few bytes) and never
//            ends
//   stallget lists one space "sp" holding "doc"; HEAD of it answers a
//            64-byte object, GET sends the headers of one and then nothing
//            (counted in /__stats as "stalled"); the store's own objects
//            under .caravan/ (its marker, the writer lease) are absent
//            and PUTs of them are kept, so the mount itself gets through
//   tornread keeps what is PUT; the first GET of an object after each PUT
//            of it answers 200 with an empty body (counted in /__stats as
//            "torn"), as a server does when a GET races the overwrite,
//            the later ones answer the object
//   tls      HTTPS with CERT and KEY (a self-signed certificate): a client
//            that verifies never gets past the handshake
'use strict';
const http = require('http');
const https = require('https');
const fs = require('fs');

const mode = process.argv[2];
const names = parseInt(process.env.NAMES || '0', 10);
const base = process.env.BASE || '';
const stats = { lists: 0, gets: 0, stalled: 0, torn: 0 };
/* tornread: the paths PUT since their last GET */
const fresh = new Set();
let page = 0;
const held = [];
/* stallget: the store's own objects PUT here, by path (body, and seq) */
const kept = new Map();
kept.meta = new Map();

function listPage(prefix, token, truncated, keys) {
	let x = '<?xml version="1.0" encoding="UTF-8"?>\n';
	x += '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">';
	x += '<Name>caravan</Name><Prefix>' + prefix + '</Prefix>';
	x += '<IsTruncated>' + (truncated ? 'true' : 'false') + '</IsTruncated>';
	if (token)
		x += '<NextContinuationToken>' + token + '</NextContinuationToken>';
	for (const k of keys) {
		if (k.endsWith('/'))
			x += '<CommonPrefixes><Prefix>' + k + '</Prefix></CommonPrefixes>';
		else
			x += '<Contents><Key>' + k + '</Key><Size>1</Size></Contents>';
	}
	return x + '</ListBucketResult>';
}

function xml(res, status, body) {
	res.writeHead(status, { 'Content-Type': 'application/xml',
				'Content-Length': Buffer.byteLength(body) });
	res.end(body);
}

function notFound(res) {
	xml(res, 404, '<Error><Code>NoSuchKey</Code></Error>');
}

function handle(req, res) {
	const u = new URL(req.url, 'http://x');
	if (u.pathname === '/__stats') {
		res.end(JSON.stringify(stats));
		return;
	}
	const prefix = u.searchParams.get('prefix') || '';
	const spaces = prefix === base;
	if (u.searchParams.get('list-type') === '2') {
		stats.lists++;
		page++;
		if (mode === 'endless') {
			const keys = [];
			for (let i = 0; i < names; i++)
				keys.push(prefix + 'n' + page + '-' + i +
					  (spaces ? '/' : ''));
			xml(res, 200, listPage(prefix, 'tok' + page, true, keys));
		} else if (mode === 'loop') {
			xml(res, 200, listPage(prefix, 'again', true, []));
		} else if (mode === 'huge') {
			xml(res, 200, listPage(prefix, null, false,
					       [prefix + (spaces ? 'sp/' : 'big')]));
		} else if (mode === 'stallget') {
			xml(res, 200, listPage(prefix, null, false,
					       [prefix + (spaces ? 'sp/' : 'doc')]));
		} else if (mode === 'stall') {
			res.writeHead(200, { 'Content-Type': 'application/xml' });
			res.write('<?xml version="1.0"?><ListBucketResult>');
			held.push(res);
		} else {
			xml(res, 200, listPage(prefix, null, false, []));
		}
		return;
	}
	if (req.method === 'GET' || req.method === 'HEAD') {
		stats.gets++;
		if (mode === 'tornread') {
			const body = kept.get(u.pathname);
			if (body === undefined) {
				notFound(res);
				return;
			}
			const torn = req.method === 'GET' && fresh.delete(u.pathname);
			if (torn)
				stats.torn++;
			res.writeHead(200, { 'Content-Length':
					     String(torn ? 0 : body.length),
					     'x-amz-meta-seq':
					     kept.meta.get(u.pathname) });
			res.end(req.method === 'HEAD' || torn ? undefined : body);
			return;
		}
		if (mode === 'stallget' && u.pathname.includes('/.caravan/')) {
			const body = kept.get(u.pathname);
			if (body === undefined) {
				notFound(res);
			} else {
				res.writeHead(200, { 'Content-Length':
						     String(body.length),
						     'x-amz-meta-seq':
						     kept.meta.get(u.pathname) });
				res.end(req.method === 'HEAD' ? undefined : body);
			}
			return;
		}
		if (mode === 'stallget') {
			res.writeHead(200, { 'Content-Length': '64',
					     'x-amz-meta-seq': '1' });
			if (req.method === 'HEAD') {
				res.end();
			} else {
				stats.stalled++;
				res.flushHeaders();
				held.push(res); /* the body never comes */
			}
			return;
		}
		if (mode !== 'huge') {
			notFound(res);
			return;
		}
		res.writeHead(200, { 'Content-Length': String(1 << 30),
				     'x-amz-meta-seq': '1' });
		if (req.method === 'HEAD') {
			res.end();
		} else {
			res.flushHeaders();
			held.push(res); /* the body never comes */
		}
		return;
	}
	if ((mode === 'tornread' || (mode === 'stallget' &&
				     u.pathname.includes('/.caravan/'))) &&
	    req.method === 'PUT') {
		const parts = [];
		req.on('data', (c) => parts.push(c));
		req.on('end', () => {
			kept.set(u.pathname, Buffer.concat(parts));
			kept.meta.set(u.pathname,
				      req.headers['x-amz-meta-seq'] || '1');
			if (mode === 'tornread')
				fresh.add(u.pathname);
			res.writeHead(200);
			res.end();
		});
		return;
	}
	req.resume();
	req.on('end', () => { res.writeHead(200); res.end(); });
}

let server;
if (mode === 'tls')
	server = https.createServer({ cert: fs.readFileSync(process.argv[3]),
				      key: fs.readFileSync(process.argv[4]) },
				    handle);
else
	server = http.createServer(handle);
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => {
	process.stdout.write(server.address().port + '\n');
});
process.on('SIGTERM', () => process.exit(0));

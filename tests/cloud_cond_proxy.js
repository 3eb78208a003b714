// cloud_cond_proxy.js - a proxy on 127.0.0.1 in front of s3rver that
// honours "If-None-Match: *" on PUT as S3 does (s3rver ignores it): of
// conditional PUTs of one object, decided one at a time, only one that
// finds no object there is forwarded; the others are answered 412
// PreconditionFailed, as S3 answers them.  Everything else is forwarded
// byte for byte (the Host header too, so SigV4 signatures still hold);
// PUTs and DELETEs of one object are serialized with the conditional
// ones, so none lands between a decision and its write.
//
//   node cloud_cond_proxy.js UPSTREAM_PORT
//
// prints its port on the first line of stdout, then serves until killed.
// BARRIER (env, default 1): a conditional PUT waits until BARRIER of them
// for its object have arrived (at most 20 s), so that many writers racing
// for one object have all read it absent and sent their PUT before any is
// decided: the race is the same every time.  And a conditional PUT that
// was forwarded holds the next one of its object until the object was
// read again (the writer reading its lease back; at most 10 s): the worst
// order for a server that ignored the condition (the first writer has
// read its own write back before the second lands).
// GET /__stats answers {"conditional":N,"refused":N}.
'use strict';
const http = require('http');

const upstream = parseInt(process.argv[2], 10);
const barrier = parseInt(process.env.BARRIER || '1', 10);
const stats = { conditional: 0, refused: 0 };
const chains = new Map(); // path -> the promise of its last mutation
const waiting = new Map(); // path -> { n, release: [] }
const readers = new Map(); // path -> resolves at its next GET or HEAD

// Resolves at the next GET or HEAD of path (or after ms).
function nextRead(path, ms) {
	return new Promise((done) => {
		const t = setTimeout(done, ms);
		readers.set(path, () => {
			clearTimeout(t);
			done();
		});
	});
}

function forward(req, body, res) {
	return new Promise((done) => {
		const up = http.request({ host: '127.0.0.1', port: upstream,
					  method: req.method, path: req.url,
					  headers: req.headers }, (ur) => {
			res.writeHead(ur.statusCode, ur.headers);
			ur.pipe(res);
			ur.on('end', done);
			ur.on('error', done);
		});
		up.on('error', () => {
			res.writeHead(502);
			res.end();
			done();
		});
		up.end(body);
	});
}

// Does the upstream hold the object?  (s3rver answers anonymous HEADs.)
function exists(path) {
	return new Promise((done) => {
		const h = http.request({ host: '127.0.0.1', port: upstream,
					 method: 'HEAD', path: path }, (ur) => {
			ur.resume();
			ur.on('end', () => done(ur.statusCode === 200));
		});
		h.on('error', () => done(false));
		h.end();
	});
}

// Resolves once `barrier` conditional PUTs of path arrived (or 20 s).
function meet(path) {
	if (barrier <= 1)
		return Promise.resolve();
	let w = waiting.get(path);
	if (!w) {
		w = { n: 0, release: [] };
		waiting.set(path, w);
	}
	w.n++;
	return new Promise((done) => {
		w.release.push(done);
		const go = () => {
			waiting.delete(path);
			for (const r of w.release)
				r();
		};
		if (w.n >= barrier)
			go();
		else if (w.n === 1)
			setTimeout(go, 20000);
	});
}

// Run fn after every earlier mutation of path, before any later one.
function serial(path, fn) {
	const prev = chains.get(path) || Promise.resolve();
	const next = prev.then(fn, fn);
	chains.set(path, next);
	next.then(() => {
		if (chains.get(path) === next)
			chains.delete(path);
	});
	return next;
}

function precondition(res) {
	const body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' +
		     '<Code>PreconditionFailed</Code><Message>At least one ' +
		     'of the pre-conditions you specified did not hold' +
		     '</Message><Condition>If-None-Match</Condition></Error>';
	res.writeHead(412, { 'Content-Type': 'application/xml',
			     'Content-Length': Buffer.byteLength(body) });
	res.end(body);
}

function handle(req, res) {
	const path = new URL(req.url, 'http://x').pathname;
	if (path === '/__stats') {
		res.end(JSON.stringify(stats));
		return;
	}
	const parts = [];
	req.on('data', (c) => parts.push(c));
	req.on('end', () => {
		const body = Buffer.concat(parts);
		const mutation = req.method === 'PUT' || req.method === 'DELETE';
		const cond = req.method === 'PUT' &&
			     req.headers['if-none-match'] === '*';
		if (!mutation) {
			const r = readers.get(path);

			if (r) /* once it has been answered */
				readers.delete(path);
			forward(req, body, res).then(r);
			return;
		}
		if (!cond) {
			serial(path, () => forward(req, body, res));
			return;
		}
		stats.conditional++;
		meet(path).then(() => serial(path, async () => {
			if (await exists(path)) {
				stats.refused++;
				precondition(res);
				return;
			}
			const read = nextRead(path, 10000);
			await forward(req, body, res);
			await read;
		}));
	});
}

const server = http.createServer(handle);
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => {
	process.stdout.write(server.address().port + '\n');
});
process.on('SIGTERM', () => process.exit(0));

#!/usr/bin/env node
// aws_endpoints.js - loopback servers for tests/e2e_fs_creds.sh: an
// S3-compatible server (s3rver, bucket "caravan") that accepts only the
// key ids handed out here, an ECS container credentials endpoint and an
// EC2 instance metadata service (IMDSv2 only), all on 127.0.0.1 with
// free ports.
//
//   node aws_endpoints.js S3RVER_JS DATA_DIR LOG_FILE ECS_AUTH LIFETIME_S \
//        [STATIC_KEY_ID...]
//
// Prints "S3PORT ECSPORT IMDSPORT" once all three listen.  Every request
// is one JSON line in LOG_FILE: {"ep":"s3","key":ID,"method","path",
// "status"} for S3 (the key id parsed from its SigV4 Authorization), and
// {"ep":"ecs"|"imds","method","path","status","issued"?} for the
// credential endpoints.  Each credential endpoint issues a fresh key id
// (ASIAECS00001, ASIAECS00002, ... / ASIAIMDS0001, ...) valid for
// LIFETIME_S seconds, registers it with s3rver and revokes the key it
// issued before, so a request signed with a stale key fails.  The ECS
// endpoint wants "Authorization: ECS_AUTH"; IMDS wants the session token
// from PUT /latest/api/token (with X-aws-ec2-metadata-token-ttl-seconds)
// on every GET.  S3RVER, s3rver's default key, is revoked.
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const crypto = require('crypto');

const [js, dataDir, logFile, ecsAuth, lifetime, ...staticKeys] =
	process.argv.slice(2);
const root = path.dirname(path.dirname(path.resolve(js)));
const S3rver = require(root);
const AWSAccount = require(path.join(root, 'lib/models/account'));
const account = AWSAccount.DUMMY_ACCOUNT;

const log = (o) => fs.appendFileSync(logFile, JSON.stringify(o) + '\n');

account.revokeAccessKey('S3RVER');
for (const k of staticKeys) account.createKeyPair(k, 'static-secret-' + k);

function issuer(prefix) {
	let n = 0;
	let last = null;
	return () => {
		n++;
		const id = prefix + String(n).padStart(12 - prefix.length, '0');
		const secret = 'SECRET' + crypto.randomBytes(12).toString('hex');
		const token = 'TOKEN' + crypto.randomBytes(24).toString('base64');
		if (last) account.revokeAccessKey(last);
		account.createKeyPair(id, secret);
		last = id;
		const exp = new Date(Date.now() + Number(lifetime) * 1000);
		return {
			Code: 'Success',
			Type: 'AWS-HMAC',
			AccessKeyId: id,
			SecretAccessKey: secret,
			Token: token,
			Expiration: exp.toISOString().replace(/\.\d+Z$/, 'Z'),
			LastUpdated: new Date().toISOString(),
		};
	};
}

function answer(res, ep, req, status, body, issued) {
	log({ ep, method: req.method, path: req.url, status, issued });
	res.writeHead(status, { 'Content-Type': 'text/plain' });
	res.end(body);
}

const ecsIssue = issuer('ASIAECS');
const ecs = http.createServer((req, res) => {
	if (req.method !== 'GET' || req.url !== '/creds')
		return answer(res, 'ecs', req, 404, 'not found');
	if (req.headers.authorization !== ecsAuth)
		return answer(res, 'ecs', req, 401, 'unauthorized');
	const c = ecsIssue();
	answer(res, 'ecs', req, 200, JSON.stringify(c), c.AccessKeyId);
});

const imdsIssue = issuer('ASIAIMDS');
const imdsTokens = new Set();
const ROLE = 'caravan-role';
const CREDS = '/latest/meta-data/iam/security-credentials/';
const imds = http.createServer((req, res) => {
	if (req.method === 'PUT' && req.url === '/latest/api/token') {
		const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
		if (!(ttl >= 1 && ttl <= 21600))
			return answer(res, 'imds', req, 400, 'bad ttl');
		const t = 'IMDSTOKEN' + crypto.randomBytes(16).toString('hex');
		imdsTokens.add(t);
		return answer(res, 'imds', req, 200, t);
	}
	if (req.method !== 'GET')
		return answer(res, 'imds', req, 405, 'method');
	if (!imdsTokens.has(req.headers['x-aws-ec2-metadata-token']))
		return answer(res, 'imds', req, 401, 'unauthorized');
	if (req.url === CREDS)
		return answer(res, 'imds', req, 200, ROLE + '\n');
	if (req.url === CREDS + ROLE) {
		const c = imdsIssue();
		return answer(res, 'imds', req, 200, JSON.stringify(c),
			      c.AccessKeyId);
	}
	answer(res, 'imds', req, 404, 'not found');
});

const s3 = new S3rver({
	address: '127.0.0.1',
	port: 0,
	directory: dataDir,
	silent: true,
	serviceEndpoint: 'localhost',
	configureBuckets: [{ name: 'caravan', configs: [] }],
});
// first in the chain: note the key id of every request and its outcome
s3.middleware.unshift(async (ctx, next) => {
	const m = /Credential=([^/]+)\//.exec(ctx.get('authorization') || '');
	let status;
	try {
		await next();
		status = ctx.status;
	} catch (err) {
		status = err.status || 500;
		throw err;
	} finally {
		log({ ep: 's3', key: m ? m[1] : null, method: ctx.method,
		      path: ctx.path, status });
	}
});

const listen = (srv) =>
	new Promise((ok) => srv.listen(0, '127.0.0.1', () => ok(srv.address().port)));

(async () => {
	const { port } = await s3.run();
	const e = await listen(ecs);
	const i = await listen(imds);
	console.log(`${port} ${e} ${i}`);
})();
process.on('SIGTERM', () => process.exit(0));

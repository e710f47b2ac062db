#!/usr/bin/env node
// A small S3-compatible object store for tests (path-style URLs, one or more
// buckets in memory), which VERIFIES every request's AWS Signature Version 4
// with its own code and rejects what real S3/Tigris would reject:
//   - no or malformed Authorization header            403 AccessDenied
//   - unknown access key                              403 InvalidAccessKeyId
//   - credential scope not <date>/<region>/s3/aws4_request, or the
//     scope date not the X-Amz-Date day                403 AuthorizationHeaderMalformed
//   - X-Amz-Date more than 15 minutes off               403 RequestTimeTooSkewed
//   - host or x-amz-date or x-amz-content-sha256 not signed,
//     or no x-amz-content-sha256 header                 400/403 (as S3)
//   - a payload hash that is not the body's SHA-256
//     (UNSIGNED-PAYLOAD is accepted)                    400 XAmzContentSHA256Mismatch
//   - a signature that does not match                   403 SignatureDoesNotMatch
//
// Operations: PUT/GET/HEAD/DELETE object, ListObjectsV2 (GET /bucket?list-type=2
// [&prefix=]), PUT/GET /bucket?lifecycle (PutBucketLifecycleConfiguration:
// needs Content-MD5, checks it and the XML's Expiration/Days). Buckets named in
// --bucket exist from the start.
//
// Test helpers under /_fake/ (not signed; bucket names cannot start with "_"):
//   POST /_fake/webhook      records a JSON body (an alert receiver)
//   GET  /_fake/webhook      the recorded bodies, oldest first
//   GET  /_fake/stats        {"requests":N,"rejected":{"SignatureDoesNotMatch":1,…}}
//   GET  /_fake/health
//
//   node tests/fakes/fake-s3.js --port 0 --bucket NAME --key AKID:SECRET [--region auto]
// prints {"port":N} on stdout when ready; one JSON line per request on stderr;
// exits 0 on SIGTERM/SIGINT. Node.js 20 built-in modules only.
'use strict';

const http = require('http');
const crypto = require('crypto');

const args = process.argv.slice(2);
const opt = { port: 0, host: '127.0.0.1', region: 'auto', buckets: [], keys: {} };
for (let i = 0; i < args.length; i++) {
  const a = args[i], v = args[i + 1];
  if (a === '--port') { opt.port = Number(v); i++; }
  else if (a === '--host') { opt.host = v; i++; }
  else if (a === '--region') { opt.region = v; i++; }
  else if (a === '--bucket') { opt.buckets.push(v); i++; }
  else if (a === '--key') {
    const c = (v || '').indexOf(':');
    if (c <= 0) { console.error('fake-s3: --key wants AKID:SECRET'); process.exit(2); }
    opt.keys[v.slice(0, c)] = v.slice(c + 1); i++;
  } else { console.error(`fake-s3: unknown argument ${a}`); process.exit(2); }
}
if (Object.keys(opt.keys).length === 0) { console.error('fake-s3: at least one --key AKID:SECRET'); process.exit(2); }

const MAX_BODY = 512 * 1024 * 1024;
const buckets = new Map(); // name -> { objects: Map(key -> {body, etag, mtime, type}), lifecycle: xml|null }
for (const b of opt.buckets) buckets.set(b, { objects: new Map(), lifecycle: null });
const webhook = [];
const stats = { requests: 0, rejected: {} };

const sha256hex = (d) => crypto.createHash('sha256').update(d).digest('hex');
const hmac = (k, d) => crypto.createHmac('sha256', k).update(d).digest();
const xmlEsc = (s) => String(s).replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' }[c]));

class S3Error extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

// RFC 3986 encoding as SigV4 wants it (unreserved: A-Z a-z 0-9 - _ . ~).
function uriEncode(s, keepSlash) {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}
function decode(s) {
  try { return decodeURIComponent(s.replace(/\+/g, '%20')); } catch { throw new S3Error(400, 'InvalidURI', 'bad percent-encoding'); }
}

// The raw request target split into a decoded path and decoded query pairs.
function parseTarget(url) {
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const rawQuery = q < 0 ? '' : url.slice(q + 1);
  const path = decode(rawPath);
  const query = rawQuery === '' ? [] : rawQuery.split('&').filter((p) => p !== '').map((p) => {
    const e = p.indexOf('=');
    return e < 0 ? [decode(p), ''] : [decode(p.slice(0, e)), decode(p.slice(e + 1))];
  });
  return { path, query };
}

function verifySigV4(req, target, body) {
  const auth = req.headers['authorization'];
  if (!auth) throw new S3Error(403, 'AccessDenied', 'Anonymous access is forbidden: no Authorization header');
  const m = /^AWS4-HMAC-SHA256 Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$/.exec(auth.trim());
  if (!m) throw new S3Error(400, 'AuthorizationHeaderMalformed', 'the Authorization header is not AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…');
  const [, credential, signedHeadersStr, signature] = m;
  const cred = credential.split('/');
  if (cred.length !== 5) throw new S3Error(400, 'AuthorizationHeaderMalformed', `bad credential ${credential}`);
  const [akid, scopeDate, region, service, term] = cred;
  const secret = opt.keys[akid];
  if (secret === undefined) throw new S3Error(403, 'InvalidAccessKeyId', `the access key ${akid} does not exist`);
  if (service !== 's3' || term !== 'aws4_request') throw new S3Error(400, 'AuthorizationHeaderMalformed', `credential scope must end in s3/aws4_request, got ${service}/${term}`);
  if (region !== opt.region) throw new S3Error(400, 'AuthorizationHeaderMalformed', `the region '${region}' is wrong; expecting '${opt.region}'`);
  const amzDate = req.headers['x-amz-date'];
  if (!amzDate || !/^\d{8}T\d{6}Z$/.test(amzDate)) throw new S3Error(403, 'AccessDenied', 'X-Amz-Date missing or malformed');
  if (amzDate.slice(0, 8) !== scopeDate) throw new S3Error(400, 'AuthorizationHeaderMalformed', `scope date ${scopeDate} is not the X-Amz-Date day`);
  const t = Date.UTC(+amzDate.slice(0, 4), +amzDate.slice(4, 6) - 1, +amzDate.slice(6, 8), +amzDate.slice(9, 11), +amzDate.slice(11, 13), +amzDate.slice(13, 15));
  if (Math.abs(Date.now() - t) > 15 * 60 * 1000) throw new S3Error(403, 'RequestTimeTooSkewed', 'the difference between the request time and the server time is too large');
  const signed = signedHeadersStr.split(';');
  for (const h of ['host', 'x-amz-date', 'x-amz-content-sha256']) {
    if (!signed.includes(h)) throw new S3Error(403, 'AccessDenied', `${h} must be a signed header`);
  }
  const sorted = [...signed].sort();
  if (sorted.join(';') !== signedHeadersStr) throw new S3Error(400, 'AuthorizationHeaderMalformed', 'SignedHeaders must be sorted');
  const payloadHash = req.headers['x-amz-content-sha256'];
  if (!payloadHash) throw new S3Error(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
  if (payloadHash !== 'UNSIGNED-PAYLOAD') {
    if (!/^[0-9a-f]{64}$/.test(payloadHash)) throw new S3Error(400, 'InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a SHA-256 hex');
    if (sha256hex(body) !== payloadHash) throw new S3Error(400, 'XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.");
  }
  // Canonical request.
  const canonicalUri = uriEncode(target.path, true);
  const canonicalQuery = target.query.map(([k, v]) => [uriEncode(k, false), uriEncode(v, false)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`).join('&');
  const raw = req.rawHeaders;
  const canonicalHeaders = signed.map((h) => {
    const vals = [];
    for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === h) vals.push(raw[i + 1].trim().replace(/\s+/g, ' '));
    if (vals.length === 0) throw new S3Error(403, 'AccessDenied', `signed header ${h} is not in the request`);
    return `${h}:${vals.join(',')}\n`;
  }).join('');
  const canonicalRequest = [req.method, canonicalUri, canonicalQuery, canonicalHeaders, signedHeadersStr, payloadHash].join('\n');
  const scope = `${scopeDate}/${region}/${service}/${term}`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256hex(canonicalRequest)].join('\n');
  let k = hmac('AWS4' + secret, scopeDate);
  k = hmac(k, region); k = hmac(k, service); k = hmac(k, term);
  const want = hmac(k, stringToSign).toString('hex');
  if (!crypto.timingSafeEqual(Buffer.from(want), Buffer.from(signature))) {
    const e = new S3Error(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
    e.canonicalRequest = canonicalRequest;
    throw e;
  }
  return akid;
}

function sendXml(res, status, xml, extra = {}) {
  const body = '<?xml version="1.0" encoding="UTF-8"?>\n' + xml;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), ...extra });
  res.end(body);
}
function sendError(res, e, resource) {
  stats.rejected[e.code] = (stats.rejected[e.code] || 0) + 1;
  sendXml(res, e.status, `<Error><Code>${xmlEsc(e.code)}</Code><Message>${xmlEsc(e.message)}</Message><Resource>${xmlEsc(resource)}</Resource></Error>`);
}
function sendJson(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function lifecycleCheck(req, body) {
  const md5 = req.headers['content-md5'];
  if (!md5) throw new S3Error(400, 'InvalidRequest', 'Missing required header for this request: Content-MD5');
  if (crypto.createHash('md5').update(body).digest('base64') !== md5) throw new S3Error(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.');
  const xml = body.toString('utf8');
  if (!/<LifecycleConfiguration[\s>]/.test(xml)) throw new S3Error(400, 'MalformedXML', 'no LifecycleConfiguration element');
  const rules = xml.match(/<Rule>[\s\S]*?<\/Rule>/g) || [];
  if (rules.length === 0) throw new S3Error(400, 'MalformedXML', 'no Rule');
  for (const r of rules) {
    if (!/<Status>(Enabled|Disabled)<\/Status>/.test(r)) throw new S3Error(400, 'MalformedXML', 'Status must be Enabled or Disabled');
    const d = /<Expiration>\s*<Days>(\d+)<\/Days>\s*<\/Expiration>/.exec(r);
    if (!d || Number(d[1]) < 1) throw new S3Error(400, 'InvalidArgument', "'Days' for Expiration action must be a positive integer");
  }
  return xml;
}

function handleS3(req, res, target, body) {
  const akid = verifySigV4(req, target, body);
  const parts = target.path.replace(/^\//, '').split('/');
  const bucketName = parts.shift();
  const key = parts.join('/');
  const bucket = buckets.get(bucketName);
  if (!bucketName) throw new S3Error(400, 'InvalidRequest', 'path-style requests only: /bucket/key');
  if (!bucket) throw new S3Error(404, 'NoSuchBucket', `The specified bucket ${bucketName} does not exist`);
  const q = Object.fromEntries(target.query);
  const m = req.method;
  if (key === '') {
    if ('lifecycle' in q) {
      if (m === 'PUT') { bucket.lifecycle = lifecycleCheck(req, body); res.writeHead(200, { 'content-length': 0 }); return res.end(), akid; }
      if (m === 'GET') {
        if (!bucket.lifecycle) throw new S3Error(404, 'NoSuchLifecycleConfiguration', 'The lifecycle configuration does not exist');
        res.writeHead(200, { 'content-type': 'application/xml' }); res.end(bucket.lifecycle); return akid;
      }
    }
    if (m === 'GET' && q['list-type'] === '2') {
      const prefix = q.prefix || '';
      const keys = [...bucket.objects.keys()].filter((k) => k.startsWith(prefix)).sort().slice(0, 1000);
      const items = keys.map((k) => {
        const o = bucket.objects.get(k);
        return `<Contents><Key>${xmlEsc(k)}</Key><LastModified>${o.mtime.toISOString()}</LastModified><ETag>"${o.etag}"</ETag><Size>${o.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
      }).join('');
      sendXml(res, 200, `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${xmlEsc(bucketName)}</Name><Prefix>${xmlEsc(prefix)}</Prefix><KeyCount>${keys.length}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>${items}</ListBucketResult>`);
      return akid;
    }
    throw new S3Error(501, 'NotImplemented', `${m} on a bucket with query ${JSON.stringify(q)} is not implemented here`);
  }
  if (m === 'PUT') {
    const etag = crypto.createHash('md5').update(body).digest('hex');
    bucket.objects.set(key, { body, etag, mtime: new Date(), type: req.headers['content-type'] || 'binary/octet-stream' });
    res.writeHead(200, { etag: `"${etag}"`, 'content-length': 0 }); res.end();
    return akid;
  }
  const o = bucket.objects.get(key);
  if (m === 'GET' || m === 'HEAD') {
    if (!o) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.');
    res.writeHead(200, { etag: `"${o.etag}"`, 'content-type': o.type, 'content-length': o.body.length, 'last-modified': o.mtime.toUTCString() });
    res.end(m === 'GET' ? o.body : undefined);
    return akid;
  }
  if (m === 'DELETE') { bucket.objects.delete(key); res.writeHead(204); res.end(); return akid; }
  throw new S3Error(405, 'MethodNotAllowed', `${m} is not allowed`);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > MAX_BODY) { sendError(res, new S3Error(400, 'EntityTooLarge', 'body too large'), req.url); req.destroy(); return; }
    chunks.push(c);
  });
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const t0 = Date.now();
    let status = 0, code = null, akid = null;
    try {
      if (req.url.startsWith('/_fake/')) {
        const p = req.url.split('?')[0];
        if (p === '/_fake/webhook' && req.method === 'POST') {
          let j;
          try { j = JSON.parse(body.toString('utf8')); } catch { return sendJson(res, 400, { error: 'webhook body is not JSON' }); }
          webhook.push({ ts_ms: Date.now(), headers: req.headers, body: j });
          return sendJson(res, 200, { ok: true });
        }
        if (p === '/_fake/webhook' && req.method === 'GET') return sendJson(res, 200, webhook);
        if (p === '/_fake/stats') return sendJson(res, 200, stats);
        if (p === '/_fake/health') return sendJson(res, 200, { ok: true });
        return sendJson(res, 404, { error: `no such control path ${p}` });
      }
      stats.requests++;
      const target = parseTarget(req.url);
      akid = handleS3(req, res, target, body);
      status = res.statusCode;
    } catch (e) {
      if (!(e instanceof S3Error)) { console.error(e); e = new S3Error(500, 'InternalError', String(e.message || e)); }
      status = e.status; code = e.code;
      sendError(res, e, req.url);
      if (e.canonicalRequest) process.stderr.write(JSON.stringify({ canonical_request: e.canonicalRequest }) + '\n');
    } finally {
      if (!req.url.startsWith('/_fake/')) {
        process.stderr.write(JSON.stringify({ method: req.method, url: req.url, status, code, akid, bytes: body.length, ms: Date.now() - t0 }) + '\n');
      }
    }
  });
});
server.listen(opt.port, opt.host, () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => { server.close(); process.exit(0); });

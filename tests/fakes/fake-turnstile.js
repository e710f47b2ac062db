#!/usr/bin/env node
// Cloudflare Turnstile's Siteverify API for tests
// (docs/internals/external-formats.md §6): POST /turnstile/v0/siteverify with
// a form (application/x-www-form-urlencoded) or JSON body of secret, response,
// remoteip, idempotency_key; the reply is always JSON:
//   {"success":bool,"error-codes":[...],"challenge_ts","hostname","action","cdata"}
//
// Secrets (Cloudflare's documented dummy secret keys):
//   1x0000000000000000000000000000000AA  passes
//   2x0000000000000000000000000000000AA  fails: ["invalid-input-response"]
//   3x0000000000000000000000000000000AA  the token is spent: ["timeout-or-duplicate"]
//   none                                  ["missing-input-secret"]
//   any other                             ["invalid-input-secret"]
// and the rules every secret shares:
//   - no response                         ["missing-input-response"]
//   - a response over 2048 characters     ["invalid-input-response"]
//   - a token is single-use: verifying it again is ["timeout-or-duplicate"],
//     unless the idempotency_key is the one of its first verification, which
//     gets that first answer again (a safe retry)
//   - a body that is neither form nor JSON ["bad-request"]
//
// Test controls (JSON):
//   POST   /_fake/config    {"delay_ms":N,"fail_first":N,"hostname":"...","status":N}
//          delay_ms: wait before every answer; fail_first: answer the next N
//          verifications HTTP 500 after recording them (the token is spent,
//          as when a reply is lost); hostname: the reply's (default
//          "example.com"); null restores a default
//   GET    /_fake/requests  every verification seen, oldest first
//          ({secret_kind, response, remoteip, idempotency_key, content_type, answer})
//   DELETE /_fake/requests  forgets them (the spent tokens stay spent)
//   POST   /_fake/reset     everything back to the start
//   GET    /_fake/health
//
//   node tests/fakes/fake-turnstile.js --port 0   prints {"port":N} when ready;
// one JSON line per request on stderr; exits 0 on SIGTERM/SIGINT. Node.js 20
// built-in modules only.
'use strict';

const http = require('http');

const args = process.argv.slice(2);
const opt = { port: 0, host: '127.0.0.1' };
for (let i = 0; i < args.length; i++) {
  const a = args[i], v = args[i + 1];
  if (a === '--port') { opt.port = Number(v); i++; }
  else if (a === '--host') { opt.host = v; i++; }
  else { console.error(`fake-turnstile: unknown argument ${a}`); process.exit(2); }
}

const PASS = '1x0000000000000000000000000000000AA';
const FAIL = '2x0000000000000000000000000000000AA';
const SPENT = '3x0000000000000000000000000000000AA';
const TOKEN_MAX = 2048;
const BODY_MAX = 64 * 1024;
const LOG_MAX = 2000;

const DEFAULTS = { delay_ms: 0, fail_first: 0, hostname: 'example.com' };
let config = { ...DEFAULTS };
let seen = [];            // the verifications, oldest first
let spent = new Map();    // token -> { key, answer } of its first verification

function secretKind(s) {
  if (s === undefined || s === '') return 'missing';
  return s === PASS ? 'pass' : s === FAIL ? 'fail' : s === SPENT ? 'spent' : 'invalid';
}

function answer(ok, codes) {
  const a = { success: ok, 'error-codes': codes };
  if (ok) Object.assign(a, { challenge_ts: new Date().toISOString(), hostname: config.hostname, action: '', cdata: '' });
  return a;
}

// The verdict for one verification, with the single-use rule.
function verify(p) {
  const kind = secretKind(p.secret);
  if (kind === 'missing') return answer(false, ['missing-input-secret']);
  if (kind === 'invalid') return answer(false, ['invalid-input-secret']);
  if (typeof p.response !== 'string' || p.response === '') return answer(false, ['missing-input-response']);
  if (p.response.length > TOKEN_MAX) return answer(false, ['invalid-input-response']);
  const first = spent.get(p.response);
  if (first) {
    if (p.idempotency_key && first.key === p.idempotency_key) return first.answer;
    return answer(false, ['timeout-or-duplicate']);
  }
  const a = kind === 'pass' ? answer(true, []) : kind === 'fail' ? answer(false, ['invalid-input-response'])
    : answer(false, ['timeout-or-duplicate']);
  spent.set(p.response, { key: p.idempotency_key || null, answer: a });
  return a;
}

function parseBody(type, raw) {
  const t = (type || '').split(';')[0].trim().toLowerCase();
  if (t === 'application/json') {
    try { const j = JSON.parse(raw); return j && typeof j === 'object' && !Array.isArray(j) ? j : null; } catch { return null; }
  }
  if (t === 'application/x-www-form-urlencoded') return Object.fromEntries(new URLSearchParams(raw));
  return null;
}

function send(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', (c) => { size += c.length; if (size <= BODY_MAX) chunks.push(c); });
  req.on('end', () => {
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url, 'http://x');
    console.error(JSON.stringify({ method: req.method, path: url.pathname, ts_ms: Date.now() }));
    if (url.pathname === '/_fake/health') return send(res, 200, { ok: true });
    if (url.pathname === '/_fake/reset' && req.method === 'POST') {
      config = { ...DEFAULTS }; seen = []; spent = new Map();
      return send(res, 200, { ok: true });
    }
    if (url.pathname === '/_fake/config' && req.method === 'POST') {
      let j;
      try { j = JSON.parse(raw || '{}'); } catch { return send(res, 400, { error: 'config is not JSON' }); }
      for (const [k, v] of Object.entries(j)) {
        if (!(k in DEFAULTS)) return send(res, 400, { error: `unknown config key ${k}` });
        config[k] = v === null ? DEFAULTS[k] : v;
      }
      return send(res, 200, config);
    }
    if (url.pathname === '/_fake/requests') {
      if (req.method === 'DELETE') { seen = []; return send(res, 200, { ok: true }); }
      return send(res, 200, seen);
    }
    if (url.pathname !== '/turnstile/v0/siteverify') return send(res, 404, { error: 'not found' });
    if (req.method !== 'POST') return send(res, 405, answer(false, ['bad-request']));
    const p = size > BODY_MAX ? null : parseBody(req.headers['content-type'], raw);
    let a, status = 200;
    if (p === null) {
      a = answer(false, ['bad-request']);
    } else {
      a = verify(p);
      if (config.fail_first > 0) { config.fail_first--; status = 500; }
    }
    const entry = {
      secret_kind: p ? secretKind(p.secret) : null, response: p ? p.response : null, remoteip: p ? p.remoteip : null,
      idempotency_key: p ? p.idempotency_key || null : null, content_type: req.headers['content-type'] || null,
      status, answer: a, ts_ms: Date.now(),
    };
    seen.push(entry);
    if (seen.length > LOG_MAX) seen.shift();
    const reply = () => {
      if (res.destroyed) return;
      if (status === 500) return send(res, 500, answer(false, ['internal-error']));
      send(res, 200, a);
    };
    if (config.delay_ms > 0) setTimeout(reply, config.delay_ms); else reply();
  });
});

server.listen(opt.port, opt.host, () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
const stop = () => server.close(() => process.exit(0)) && setTimeout(() => process.exit(0), 500).unref();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

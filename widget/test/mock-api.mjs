#!/usr/bin/env node
/*
 * mock-api.mjs: a Node stand-in for the chat gateway, for the widget's
 * browser tests when no real stack is given (WIDGET_BASE_URL unset).
 *
 * Speaks the HTTP API of docs/api.md: GET /v1/config (Turnstile off), POST /v1/sessions, GET and DELETE
 * /v1/sessions/{id}[/messages], POST /v1/chat (text/event-stream: meta,
 * sources, token…, done, every event with an id), GET
 * /v1/chat/{turn_id}/events with Last-Event-ID, POST /v1/leads, the error
 * JSON and the same status codes. A turn runs on its own timer whether or not
 * anyone reads it, as in the gateway, so a client that reconnects gets the
 * rest from its last event id. Also serves widget/ at /widget/ and
 * widget/demo.html at /demo.
 *
 * Test controls (the `state` object of startMock, or POST /__mock/config with
 * the same JSON): chat429 (POST /v1/chat answers 429 limit_reached),
 * leads404 (no /v1/leads: the endpoint missing), tokenDelayMs; and
 * cutStreams() (POST /__mock/cut): every open event stream's socket is
 * destroyed, a real network cut, while the turns go on.
 * Messages containing "__long__" get a 1,000-token answer.
 *
 * Run alone: node widget/test/mock-api.mjs [port]  (default 8787)
 */
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

const WIDGET_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SECRET = crypto.randomBytes(16);
const MAX_BODY = 16 * 1024;
const MAX_CHARS = 4000;
const TURN_RETAIN_MS = 5 * 60 * 1000;
const STATIC_TYPES = { '.js': 'text/javascript; charset=utf-8', '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };

const SITE = 'https://quorvia.example';
const ANSWERS = [
  {
    match: /growth|price|pricing|cost|plan|preis/i,
    sources: [
      { n: 1, title: 'Plans and pricing', url: `${SITE}/pricing#plans`, snippet: 'Growth: €299/month billed monthly or €249/month billed annually…' },
      { n: 2, title: 'Service levels (SLA)', url: `${SITE}/support/sla#uptime`, snippet: 'Growth 99.9%; Enterprise 99.95%…' },
    ],
    text: 'The **Growth** plan costs €299 per month billed monthly, or €249 per month billed annually (€2,988 per year) [1]. It includes:\n\n' +
      '- 20 seats\n- 10 million events per month\n- 5 years of data retention\n- email and in-app chat support within 4 business hours\n' +
      '- a 99.9% uptime SLA [2]\n\nYou can try it free for 14 days, no credit card required [1].',
  },
  {
    match: /secur|iso|soc|gdpr|dsgvo|data|daten/i,
    sources: [
      { n: 1, title: 'Data residency', url: `${SITE}/security/data-residency#eu`, snippet: 'AWS eu-central-1 (Frankfurt)…' },
      { n: 2, title: 'Security overview', url: `${SITE}/security#certifications`, snippet: 'ISO/IEC 27001:2022, SOC 2 Type II…' },
    ],
    text: 'Customer data is stored in **AWS eu-central-1** (Frankfurt, Germany) and stays in the EU; encrypted backups are kept in Ireland [1]. ' +
      'Quorvia is certified to *ISO/IEC 27001:2022* and has a SOC 2 Type II report [2].',
  },
];
const FALLBACK = {
  sources: [{ n: 1, title: 'Contact support', url: `${SITE}/support/contact#hours`, snippet: 'Mon–Thu 09:00–18:00…' }],
  text: 'I can help with plans, security, integrations and support. Our support team is available Monday to Thursday 09:00–18:00 ' +
    'and Friday 09:00–17:00 (Berlin time) [1]. You can also write to `support@quorvia.example`.',
};

/* Splits text into word-sized tokens with their spaces, as a model streams. */
function tokenize(text) {
  return text.match(/\s*\S+/g) || [];
}
function longAnswer() {
  const toks = [];
  for (let i = 0; i < 1000; i++) {
    if (i % 50 === 0 && i) toks.push('\n\n');
    toks.push(i % 50 === 0 ? `Paragraph ${i / 50 + 1}:` : ` word${i}${i % 7 === 0 ? ' **bold**' : ''}${i % 13 === 0 ? ' [1]' : ''}`);
  }
  return toks;
}

function codePoints(s) {
  return [...s].length;
}

export function startMock({ port = 0, host = '127.0.0.1', tokenDelayMs = 30 } = {}) {
  const state = { chat429: false, leads404: false, tokenDelayMs, leads: [], requests: [] };
  const sessions = new Map(); /* id -> {id, token, exp, messages, running} */
  const turns = new Map(); /* id -> {id, sid, frames, done, readers, timer} */
  const openStreams = new Set(); /* responses of event streams, for cutStreams */
  let origin = '';

  function newId(prefix) {
    return prefix + crypto.randomBytes(9).toString('base64url');
  }
  function sign(sid) {
    return sid + '.' + crypto.createHmac('sha256', SECRET).update(sid).digest('base64url').slice(0, 22);
  }
  function send(res, status, obj, headers = {}) {
    const body = JSON.stringify(obj);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...headers });
    res.end(body);
  }
  function fail(res, status, code, message, headers) {
    send(res, status, { error: { code, message } }, headers);
  }
  function auth(req, url) {
    let t = null;
    const h = req.headers.authorization || '';
    if (h.startsWith('Bearer ')) t = h.slice(7);
    else if (url.searchParams.get('token')) t = url.searchParams.get('token');
    if (!t) return null;
    const sid = t.split('.')[0];
    return sign(sid) === t ? sid : null;
  }

  /* --- turns: a producer on a timer, readers from any event offset --- */
  function emit(turn, event, data) {
    const id = turn.frames.length + 1;
    turn.frames.push(`id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    for (const r of turn.readers) r.pump();
  }
  function finishTurn(turn) {
    turn.done = true;
    for (const r of [...turn.readers]) r.pump();
    setTimeout(() => turns.delete(turn.id), TURN_RETAIN_MS).unref();
  }
  function runTurn(sess, message) {
    const turn = { id: newId('t_'), sid: sess.id, frames: [], done: false, readers: new Set() };
    turns.set(turn.id, turn);
    sess.running = turn.id;
    sess.messages.push({ role: 'user', content: message, created_at_ms: Date.now(), turn_id: turn.id, partial: false, sources: [] });
    const long = message.includes('__long__');
    const a = long ? { sources: FALLBACK.sources, toks: longAnswer() } : (() => {
      const x = ANSWERS.find((c) => c.match.test(message)) || FALLBACK;
      return { sources: x.sources, toks: tokenize(x.text) };
    })();
    emit(turn, 'meta', { turn_id: turn.id, session_id: sess.id });
    emit(turn, 'sources', { sources: a.sources });
    let i = 0;
    let text = '';
    const step = () => {
      /* the long answer goes 5 tokens a tick, like a fast model */
      for (let k = 0; k < (long ? 5 : 1) && i < a.toks.length; k++, i++) {
        text += a.toks[i];
        emit(turn, 'token', { text: a.toks[i] });
      }
      if (i < a.toks.length) {
        turn.timer = setTimeout(step, long ? 8 : state.tokenDelayMs);
        return;
      }
      sess.messages.push({
        role: 'assistant', content: text, created_at_ms: Date.now(), turn_id: turn.id, partial: false,
        sources: a.sources.map(({ n, title, url }) => ({ n, title, url })),
      });
      sess.running = null;
      emit(turn, 'done', {
        turn_id: turn.id, stop_reason: 'end_turn', provider: 'mock', partial: false,
        usage: { input_tokens: 120, output_tokens: a.toks.length },
      });
      finishTurn(turn);
    };
    turn.timer = setTimeout(step, 150); /* retrieval + time to first token */
    return turn;
  }
  function stream(req, res, turn, from) {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no', 'X-Turn-Id': turn.id,
    });
    let next = from;
    const reader = {
      pump() {
        while (next < turn.frames.length) res.write(turn.frames[next++]);
        if (turn.done && next >= turn.frames.length) {
          turn.readers.delete(reader);
          clearInterval(ping);
          res.end();
        }
      },
    };
    const ping = setInterval(() => res.write(': ping\n\n'), 15000);
    turn.readers.add(reader);
    openStreams.add(res);
    res.on('close', () => {
      openStreams.delete(res);
      turn.readers.delete(reader);
      clearInterval(ping);
    });
    reader.pump();
  }

  function readBody(req) {
    return new Promise((resolve) => {
      const parts = [];
      let n = 0;
      let over = false;
      req.on('data', (c) => {
        n += c.length;
        if (n > MAX_BODY) over = true;
        else parts.push(c);
      });
      req.on('end', () => resolve(over ? null : Buffer.concat(parts).toString('utf8')));
    });
  }
  function parseJson(res, raw) {
    if (raw === null) { fail(res, 413, 'payload_too_large', 'the request body is over 16 KB'); return undefined; }
    try {
      const j = JSON.parse(raw);
      if (j && typeof j === 'object' && !Array.isArray(j)) return j;
    } catch { /* answered below */ }
    fail(res, 400, 'invalid_json', 'the request body is not a JSON object');
    return undefined;
  }

  function serveStatic(res, file) {
    const rel = path.normalize(file).replace(/^(\.\.[/\\])+/, '');
    const full = path.join(WIDGET_DIR, rel);
    const ext = path.extname(full);
    if (!full.startsWith(WIDGET_DIR + path.sep) || rel.includes(path.sep) || !STATIC_TYPES[ext] || !fs.existsSync(full)) {
      fail(res, 404, 'not_found', 'no such file');
      return;
    }
    const body = fs.readFileSync(full);
    res.writeHead(200, { 'Content-Type': STATIC_TYPES[ext], 'Content-Length': body.length, 'Cache-Control': 'no-cache' });
    res.end(body);
  }

  async function handle(req, res) {
    const url = new URL(req.url, origin);
    const p = url.pathname;
    const m = req.method;
    state.requests.push(`${m} ${p}`);
    if (state.requests.length > 1000) state.requests.shift();
    /* CORS as docs/api.md: only the listed origin (the mock's own) */
    if (req.headers.origin && req.headers.origin !== origin) {
      res.writeHead(403);
      res.end();
      return;
    }
    if (req.headers.origin) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Vary', 'Origin');
      res.setHeader('Access-Control-Expose-Headers', 'X-Turn-Id, Retry-After');
    }
    if (m === 'OPTIONS') {
      res.writeHead(204, {
        'Access-Control-Allow-Methods': 'GET, POST, DELETE, OPTIONS',
        'Access-Control-Allow-Headers': 'Content-Type, Authorization, Last-Event-ID',
      });
      res.end();
      return;
    }
    if (m === 'GET' && (p === '/demo' || p === '/demo/')) return serveStatic(res, 'demo.html');
    if (m === 'GET' && p.startsWith('/widget/')) return serveStatic(res, decodeURIComponent(p.slice(8)));
    if (m === 'GET' && p === '/healthz') return send(res, 200, { status: 'ok', version: 'mock' });
    if (m === 'GET' && p === '/v1/config') return send(res, 200, { turnstile_site_key: null });
    if (m === 'POST' && p === '/__mock/config') {
      const j = parseJson(res, await readBody(req));
      if (!j) return;
      for (const k of ['chat429', 'leads404', 'tokenDelayMs']) if (k in j) state[k] = j[k];
      return send(res, 200, { chat429: state.chat429, leads404: state.leads404, tokenDelayMs: state.tokenDelayMs });
    }
    if (m === 'POST' && p === '/__mock/cut') return send(res, 200, { cut: cutStreams() });

    if (p === '/v1/sessions') {
      if (m !== 'POST') return fail(res, 405, 'method_not_allowed', 'use POST');
      await readBody(req);
      const id = newId('s_');
      const sess = { id, token: sign(id), exp: Math.floor(Date.now() / 1000) + 90 * 86400, messages: [], running: null };
      sessions.set(id, sess);
      return send(res, 201, { session_id: id, token: sess.token, expires_at: sess.exp });
    }
    let r = /^\/v1\/sessions\/([^/]+)(\/messages)?$/.exec(p);
    if (r) {
      const sid = auth(req, url);
      if (!sid) return fail(res, 401, 'unauthorized', 'a valid session token is required');
      if (sid !== r[1]) return fail(res, 403, 'forbidden', 'the token is for another session');
      const sess = sessions.get(sid);
      if (!sess) return fail(res, 404, 'session_not_found', 'no such session');
      if (r[2] && m === 'GET') return send(res, 200, { messages: sess.messages, expires_at: sess.exp });
      if (!r[2] && m === 'DELETE') {
        sessions.delete(sid);
        return send(res, 200, { erased: true, messages_deleted: sess.messages.length });
      }
      return fail(res, 405, 'method_not_allowed', 'method not allowed');
    }
    if (p === '/v1/chat') {
      if (m !== 'POST') return fail(res, 405, 'method_not_allowed', 'use POST');
      const raw = await readBody(req);
      if (!/^application\/json\b/i.test(req.headers['content-type'] || '')) {
        return fail(res, 415, 'unsupported_media_type', 'the body must be application/json');
      }
      const j = parseJson(res, raw);
      if (!j) return;
      let sid = auth(req, url);
      if (!sid && typeof j.token === 'string' && sign(j.token.split('.')[0]) === j.token) sid = j.token.split('.')[0];
      if (!sid) return fail(res, 401, 'unauthorized', 'a valid session token is required');
      if (typeof j.message !== 'string') return fail(res, 400, 'invalid_message', '"message" must be a string');
      if (!j.message.trim()) return fail(res, 400, 'empty_message', 'the message is empty');
      const n = codePoints(j.message);
      if (n > MAX_CHARS) return fail(res, 400, 'message_too_long', `the message has ${n} characters; the limit is ${MAX_CHARS}`);
      const sess = sessions.get(sid);
      if (!sess) return fail(res, 404, 'session_not_found', 'no such session (it may have expired)');
      if (sess.running) return fail(res, 409, 'turn_running', 'a turn is already running in this session');
      if (state.chat429) {
        return fail(res, 429, 'limit_reached', 'This chat has used its budget for today; it can continue tomorrow.', { 'Retry-After': '3600' });
      }
      return stream(req, res, runTurn(sess, j.message), 0);
    }
    r = /^\/v1\/chat\/([^/]+)\/events$/.exec(p);
    if (r) {
      if (m !== 'GET') return fail(res, 405, 'method_not_allowed', 'use GET');
      const sid = auth(req, url);
      if (!sid) return fail(res, 401, 'unauthorized', 'a valid session token is required');
      const turn = turns.get(r[1]);
      if (!turn || turn.sid !== sid) return fail(res, 404, 'turn_not_found', 'no such turn for this session (it may have expired)');
      const last = req.headers['last-event-id'] ?? url.searchParams.get('last_event_id') ?? '';
      if (last !== '' && !/^\d+$/.test(last)) return fail(res, 400, 'invalid_last_event_id', 'Last-Event-ID must be an event id number');
      /* as the gateway (turn_offset_after): an id past the last event means "from now on" */
      return stream(req, res, turn, Math.min(Number(last || 0), turn.frames.length));
    }
    if (p === '/v1/leads') {
      if (state.leads404) return fail(res, 404, 'not_found', 'no such path');
      if (m !== 'POST') return fail(res, 405, 'method_not_allowed', 'use POST');
      const j = parseJson(res, await readBody(req));
      if (!j) return;
      const email = typeof j.email === 'string' ? j.email.trim() : '';
      if (j.consent !== true) return fail(res, 400, 'consent_required', 'Please agree to be contacted.');
      if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) return fail(res, 400, 'invalid_email', 'Please enter a valid email address.');
      if (typeof j.message !== 'string' || !j.message.trim()) return fail(res, 400, 'invalid_message', 'Please enter a message.');
      const lead = { lead_id: newId('l_'), name: String(j.name || ''), email, message: j.message, session_id: auth(req, url) };
      state.leads.push(lead);
      return send(res, 201, { lead_id: lead.lead_id });
    }
    return fail(res, 404, 'not_found', 'no such path');
  }

  function cutStreams() {
    const n = openStreams.size;
    for (const r of openStreams) r.socket && r.socket.destroy();
    openStreams.clear();
    return n;
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) fail(res, 500, 'internal', String(e && e.message));
      else res.destroy();
    });
  });
  return new Promise((resolve) => {
    server.listen(port, host, () => {
      origin = `http://${host}:${server.address().port}`;
      resolve({
        url: origin,
        state,
        sessions,
        turns,
        cutStreams,
        close: () => new Promise((ok) => {
          for (const t of turns.values()) clearTimeout(t.timer);
          server.closeAllConnections();
          server.close(() => ok());
        }),
      });
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2] || process.env.PORT || 8787);
  startMock({ port }).then((m) => console.log(`mock API listening on ${m.url} (demo: ${m.url}/demo)`));
}

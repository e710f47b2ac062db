#!/usr/bin/env node
// Receivers for hand-off notifications, for tests: a webhook endpoint (HTTP)
// and an SMTP server, in one Node.js process (built-in modules only).
//
//   node tests/fakes/sales-sinks.js   # prints {"http":N,"smtp":M} when ready
//
// HTTP on 127.0.0.1:N
//   POST <any path other than /_sink/...>  a webhook delivery: recorded with
//        its headers and raw body, answered by the webhook mode
//   GET  /_sink/webhooks   every delivery so far, [{path, headers, body, status}]
//   GET  /_sink/mail       every message so far, [{from, to:[..], data}]
//   POST /_sink/mode       {"webhook": MODE, "smtp": MODE}; MODE is
//        "ok" (200 / 250), "fail" (500 / 451 always), "fail:N" (the next N
//        fail, then ok), "slow" (webhook: answers after 30 s)
//   DELETE /_sink/all      forget what was received
// SMTP on 127.0.0.1:M: EHLO/HELO, MAIL FROM, RCPT TO, DATA (dot-unstuffed),
// RSET, NOOP, QUIT. No STARTTLS is offered (so a client that requires it
// fails, as against such a server).
'use strict';
const http = require('http');
const net = require('net');

const webhooks = [];
const mails = [];
const mode = { webhook: 'ok', smtp: 'ok' };

// Whether the next event of kind k fails (and counts down "fail:N").
function failNow(k) {
  const m = mode[k];
  if (m === 'fail') return true;
  if (m.startsWith('fail:')) {
    const n = parseInt(m.slice(5), 10);
    mode[k] = n > 1 ? `fail:${n - 1}` : 'ok';
    return n > 0;
  }
  return false;
}

function json(res, status, v) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(v));
}

const web = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    if (req.url === '/_sink/webhooks' && req.method === 'GET') return json(res, 200, webhooks);
    if (req.url === '/_sink/mail' && req.method === 'GET') return json(res, 200, mails);
    if (req.url === '/_sink/all' && req.method === 'DELETE') {
      webhooks.length = 0;
      mails.length = 0;
      return json(res, 200, {});
    }
    if (req.url === '/_sink/mode' && req.method === 'POST') {
      try {
        Object.assign(mode, JSON.parse(body));
      } catch (e) {
        return json(res, 400, { error: 'bad json' });
      }
      return json(res, 200, mode);
    }
    if (req.method !== 'POST') return json(res, 405, { error: 'POST only' });
    const rec = { path: req.url, headers: req.headers, body, status: 200, at: Date.now() };
    webhooks.push(rec);
    if (mode.webhook === 'slow') {
      rec.status = 200;
      setTimeout(() => json(res, 200, { ok: true }), 30000);
      return;
    }
    rec.status = failNow('webhook') ? 500 : 200;
    json(res, rec.status, rec.status === 200 ? { ok: true } : { error: 'sink told to fail' });
  });
});

const smtp = net.createServer((sock) => {
  let buf = '';
  let inData = false;
  let cur = { from: '', to: [], data: '' };
  const say = (l) => sock.write(l + '\r\n');
  say('220 sales-sink ESMTP ready');
  sock.on('data', (d) => {
    buf += d.toString('utf8');
    for (;;) {
      if (inData) {
        const end = buf.indexOf('\r\n.\r\n');
        const endAtStart = buf.startsWith('.\r\n');
        if (end < 0 && !endAtStart) return;
        const raw = endAtStart ? '' : buf.slice(0, end + 2);
        buf = endAtStart ? buf.slice(3) : buf.slice(end + 5);
        inData = false;
        cur.data = raw.replace(/^\.\./gm, '.');
        if (failNow('smtp')) {
          say('451 4.3.0 sink told to fail');
        } else {
          mails.push(cur);
          say('250 2.0.0 queued');
        }
        cur = { from: '', to: [], data: '' };
        continue;
      }
      const nl = buf.indexOf('\r\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 2);
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === 'EHLO') {
        sock.write('250-sales-sink\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n');
      } else if (verb === 'HELO') say('250 sales-sink');
      else if (verb === 'MAIL') {
        cur.from = (line.match(/<([^>]*)>/) || [])[1] || '';
        say('250 2.1.0 ok');
      } else if (verb === 'RCPT') {
        cur.to.push((line.match(/<([^>]*)>/) || [])[1] || '');
        say('250 2.1.5 ok');
      } else if (verb === 'DATA') {
        inData = true;
        say('354 end with <CRLF>.<CRLF>');
      } else if (verb === 'RSET') {
        cur = { from: '', to: [], data: '' };
        say('250 ok');
      } else if (verb === 'NOOP') say('250 ok');
      else if (verb === 'QUIT') {
        say('221 bye');
        sock.end();
        return;
      } else say('502 5.5.2 not implemented');
    }
  });
  sock.on('error', () => {});
});

web.listen(0, '127.0.0.1', () => {
  smtp.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ http: web.address().port, smtp: smtp.address().port }) + '\n');
  });
});
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => process.exit(0));

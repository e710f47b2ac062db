#!/usr/bin/env node
// Fake upstream APIs for tests: Anthropic Messages (/v1/messages), an
// OpenAI-compatible chat-completions server (/v1/chat/completions) and OpenAI
// embeddings (/v1/embeddings), all on one loopback port, speaking the wire
// formats in docs/internals/external-formats.md sections 1 to 3.
//
// Tests steer it through a control API under /_fake/ (see README.md): a queue
// of scripted behaviours per API (errors, hangs, drops, pacing, tool calls,
// mid-stream errors), per-API defaults, a log of received requests (with
// client-abort detection) and counters.
//
// Single process, single thread, Node.js 20 built-in modules only. Every
// store fed by strangers (request bodies, the request log, script queues) has
// a cap, listed under LIMITS.
'use strict';

const http = require('http');
const crypto = require('crypto');
const { URL } = require('url');

// ===== Limits =============================================================

const LIMITS = {
  apiBodyBytes: 32 * 1024 * 1024, // the Messages API limit; applied to all three
  controlBodyBytes: 8 * 1024 * 1024,
  logEntriesPerApi: 2000, // oldest entries are evicted first
  stepsPerApi: 10000,
  headerValueChars: 8192,
};

const APIS = ['anthropic', 'openai_chat', 'embeddings'];
const LOGGED_APIS = [...APIS, 'unknown'];

// ===== Behaviours (script steps and defaults) ============================

// Keys a step (or a config default) may carry, per API. Unknown keys are
// rejected so that a typo in a test fails loudly instead of being ignored.
const COMMON_KEYS = [
  'status', 'error_type', 'error_code', 'message', 'retry_after', 'retry_after_ms',
  'x_should_retry', 'headers', 'raw_body', 'malformed', 'hang', 'drop_after_ms',
  'delay_ms', 'repeat',
];
const CHAT_KEYS = [
  'text', 'tool_calls', 'first_token_delay_ms', 'tokens_per_second', 'stop_reason',
  'mid_stream_error', 'after_tokens', 'stall_after_tokens', 'chunk_bytes', 'model',
];
const STEP_KEYS = {
  anthropic: new Set([...COMMON_KEYS, ...CHAT_KEYS, 'stop_sequence', 'usage']),
  openai_chat: new Set([...COMMON_KEYS, ...CHAT_KEYS, 'finish_reason', 'usage_choices_null']),
  embeddings: new Set([...COMMON_KEYS, 'dimensions']),
};
// Keys only meaningful as defaults (POST /_fake/config), not as steps.
const CONFIG_ONLY_KEYS = {
  anthropic: ['api_key'],
  openai_chat: ['api_key', 'strict'],
  embeddings: ['api_key'],
};

function builtinDefaults() {
  return {
    anthropic: {
      text: 'Hello! This is the fake Anthropic API answering.',
      first_token_delay_ms: 0,
      tokens_per_second: 0,
      stop_reason: 'end_turn',
    },
    openai_chat: {
      text: 'Hello! This is the fake OpenAI-compatible API answering.',
      first_token_delay_ms: 0,
      tokens_per_second: 0,
      finish_reason: 'stop',
      strict: true,
    },
    embeddings: { dimensions: 1536 },
  };
}

function isNonNegNumber(v) {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

// Returns an error string, or null when the behaviour object is acceptable.
function checkBehaviour(api, obj, allowConfigKeys) {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return 'must be an object';
  const allowed = STEP_KEYS[api];
  for (const k of Object.keys(obj)) {
    const ok = allowed.has(k) || (allowConfigKeys && CONFIG_ONLY_KEYS[api].includes(k));
    if (!ok) {
      const keys = [...allowed, ...(allowConfigKeys ? CONFIG_ONLY_KEYS[api] : [])];
      return `unknown key "${k}" for ${api} (allowed: ${keys.join(', ')})`;
    }
  }
  if ('status' in obj && !(Number.isInteger(obj.status) && obj.status >= 200 && obj.status <= 599)) {
    return 'status must be an integer 200..599';
  }
  for (const k of ['drop_after_ms', 'delay_ms', 'first_token_delay_ms', 'tokens_per_second',
    'after_tokens', 'stall_after_tokens', 'chunk_bytes']) {
    if (k in obj && obj[k] !== null && !isNonNegNumber(obj[k])) return `${k} must be a number >= 0`;
  }
  if ('repeat' in obj && !(Number.isInteger(obj.repeat) && obj.repeat >= 1)) return 'repeat must be an integer >= 1';
  if ('dimensions' in obj && !(Number.isInteger(obj.dimensions) && obj.dimensions >= 1 && obj.dimensions <= 65536)) {
    return 'dimensions must be an integer 1..65536';
  }
  if ('text' in obj && typeof obj.text !== 'string') return 'text must be a string';
  if ('headers' in obj && (obj.headers === null || typeof obj.headers !== 'object' || Array.isArray(obj.headers))) {
    return 'headers must be an object';
  }
  if ('raw_body' in obj && typeof obj.raw_body !== 'string') return 'raw_body must be a string';
  if ('mid_stream_error' in obj && obj.mid_stream_error !== null && typeof obj.mid_stream_error !== 'string') {
    return 'mid_stream_error must be an error type string';
  }
  if ('tool_calls' in obj) {
    if (!Array.isArray(obj.tool_calls)) return 'tool_calls must be an array';
    for (const [i, tc] of obj.tool_calls.entries()) {
      if (!tc || typeof tc !== 'object' || typeof tc.name !== 'string' || tc.name === '') {
        return `tool_calls[${i}] needs a non-empty "name"`;
      }
      for (const k of Object.keys(tc)) {
        if (!['name', 'input', 'input_json', 'id'].includes(k)) {
          return `tool_calls[${i}]: unknown key "${k}" (allowed: name, input, input_json, id)`;
        }
      }
      if ('input_json' in tc && typeof tc.input_json !== 'string') return `tool_calls[${i}].input_json must be a string`;
    }
  }
  return null;
}

// ===== State ==============================================================

const state = {
  queues: {},
  config: builtinDefaults(),
  log: {},
  evicted: {},
  stats: {},
  inFlight: {},
};

function freshStats(api) {
  const s = { requests: 0, aborted: 0, dropped: 0, status: {} };
  if (api === 'embeddings') s.inputs = 0;
  return s;
}

function resetLog(api) {
  state.log[api] = [];
  state.evicted[api] = 0;
  state.stats[api] = freshStats(api);
}

function resetAll() {
  for (const api of APIS) state.queues[api] = [];
  for (const api of LOGGED_APIS) {
    resetLog(api);
    state.inFlight[api] = state.inFlight[api] || 0;
  }
  state.config = builtinDefaults();
}
resetAll();

// Takes the next scripted step for api (or null: use defaults).
function takeStep(api) {
  const q = state.queues[api];
  if (q.length === 0) return null;
  const step = q[0];
  step._left = (step._left || step.repeat || 1) - 1;
  if (step._left <= 0) q.shift();
  const { _left, repeat, ...clean } = step;
  return clean;
}

// ===== Small helpers ======================================================

const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
function randomId(prefix, n) {
  const bytes = crypto.randomBytes(n);
  let s = prefix;
  for (let i = 0; i < n; i++) s += B62[bytes[i] % 62];
  return s;
}

function codePoints(s) {
  let n = 0;
  for (const _ of s) n++; // eslint-disable-line no-unused-vars
  return n;
}

// Rough token estimate used everywhere: characters / 4, rounded up.
function estTokens(chars) {
  return Math.ceil(chars / 4);
}

// Splits text into word-ish tokens, each carrying its leading whitespace the
// way BPE tokens do (" world", ","). Concatenating the tokens gives the text.
const TOKEN_RE = /\s*(?:[\p{L}\p{N}\p{M}]+|[^\s\p{L}\p{N}\p{M}])|\s+/gu;
function tokenize(text) {
  return text.match(TOKEN_RE) || [];
}

// Splits a JSON string into fragments of varying size (by code point, so no
// surrogate pair is ever cut), the first one empty, as the real API may do.
function jsonFragments(json) {
  const cps = Array.from(json);
  const sizes = [5, 11, 7, 14];
  const out = [''];
  for (let i = 0, k = 0; i < cps.length; k++) {
    const n = sizes[k % sizes.length];
    out.push(cps.slice(i, i + n).join(''));
    i += n;
  }
  return out;
}

function sse(name, data) {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

function sseData(data) {
  return `data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
}

function headerValue(v) {
  return String(v).slice(0, LIMITS.headerValueChars).replace(/[\r\n]/g, ' ');
}

// ===== Per-request context ================================================
//
// One ctx per API request: the response, the log entry, and a flag set when
// the connection closes, which every writer and sleeper checks.

function makeCtx(req, res, api) {
  const entry = {
    api,
    method: req.method,
    path: req.url,
    headers: { ...req.headers }, // Node lowercases header names
    body: null,
    ts_ms: Date.now(),
    aborted: false,
    dropped: false,
    status: null,
    request_id: null,
    step: null,
    closed_ms: null,
  };
  const ctx = { req, res, api, entry, closed: false, dropping: false, wakers: new Set(), timers: new Set() };
  state.inFlight[api]++;
  res.on('close', () => {
    ctx.closed = true;
    state.inFlight[api]--;
    const st = state.stats[api];
    if (ctx.dropping) {
      entry.dropped = true;
      st.dropped++;
    } else if (!res.writableFinished) {
      entry.aborted = true;
      st.aborted++;
    }
    entry.status = res.headersSent ? res.statusCode : null;
    if (entry.status !== null) st.status[entry.status] = (st.status[entry.status] || 0) + 1;
    entry.closed_ms = Date.now();
    for (const t of ctx.timers) clearTimeout(t);
    for (const w of ctx.wakers) w();
    logLine({
      api, method: req.method, path: req.url, status: entry.status, ms: entry.closed_ms - entry.ts_ms,
      aborted: entry.aborted, dropped: entry.dropped, request_id: entry.request_id,
    });
  });
  return ctx;
}

function recordEntry(ctx) {
  const log = state.log[ctx.api];
  log.push(ctx.entry);
  state.stats[ctx.api].requests++;
  while (log.length > LIMITS.logEntriesPerApi) {
    log.shift();
    state.evicted[ctx.api]++;
  }
}

// Resolves after ms, or at once when the connection closes.
function sleep(ctx, ms) {
  if (ctx.closed || !(ms > 0)) return Promise.resolve();
  return new Promise((resolve) => {
    const wake = () => {
      clearTimeout(t);
      ctx.wakers.delete(wake);
      resolve();
    };
    const t = setTimeout(wake, ms);
    ctx.wakers.add(wake);
  });
}

// Resolves when the connection closes (used to hold a stalled stream open).
function untilClosed(ctx) {
  if (ctx.closed) return Promise.resolve();
  return new Promise((resolve) => ctx.wakers.add(resolve));
}

// Writes str, honouring back-pressure and chunk_bytes (tiny separate writes,
// 1 ms apart, to exercise the client's parser on split events).
async function emit(ctx, str, chunkBytes) {
  if (ctx.closed) return;
  const buf = Buffer.from(str, 'utf8');
  const step = chunkBytes > 0 ? Math.floor(chunkBytes) : buf.length;
  for (let i = 0; i < buf.length && !ctx.closed; i += step) {
    if (i > 0) await sleep(ctx, 1);
    if (ctx.closed) return;
    if (!ctx.res.write(buf.subarray(i, i + step))) {
      await new Promise((resolve) => {
        const done = () => {
          ctx.res.off('drain', done);
          ctx.wakers.delete(done);
          resolve();
        };
        ctx.res.once('drain', done);
        ctx.wakers.add(done);
      });
    }
  }
}

// After ms, destroys the socket (a server-side drop, not a client abort).
function scheduleDrop(ctx, ms) {
  const t = setTimeout(() => {
    ctx.timers.delete(t);
    if (ctx.closed) return;
    ctx.dropping = true;
    ctx.res.socket.destroy();
  }, ms);
  ctx.timers.add(t);
}

function finish(ctx, status, headers, body) {
  if (ctx.closed) return;
  ctx.res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) });
  ctx.res.end(body);
}

// Headers every response to this step carries, beyond the API's own.
function stepHeaders(b) {
  const h = {};
  if (b.retry_after !== undefined && b.retry_after !== null) h['retry-after'] = headerValue(b.retry_after);
  if (b.retry_after_ms !== undefined && b.retry_after_ms !== null) h['retry-after-ms'] = headerValue(b.retry_after_ms);
  if (b.x_should_retry !== undefined && b.x_should_retry !== null) h['x-should-retry'] = headerValue(b.x_should_retry);
  for (const [k, v] of Object.entries(b.headers || {})) h[k.toLowerCase()] = headerValue(v);
  return h;
}

// ===== Error shapes =======================================================

const ANTHROPIC_ERRORS = {
  400: ['invalid_request_error', 'Invalid request.'],
  401: ['authentication_error', 'invalid x-api-key'],
  402: ['billing_error', 'Your credit balance is too low to access the Anthropic API.'],
  403: ['permission_error', 'Your API key does not have permission to use the specified resource.'],
  404: ['not_found_error', 'The requested resource could not be found.'],
  413: ['request_too_large', 'Request exceeds the maximum allowed number of bytes.'],
  429: ['rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit.'],
  500: ['api_error', 'Internal server error'],
  504: ['timeout_error', 'Request timed out.'],
  529: ['overloaded_error', 'Overloaded'],
};
const ANTHROPIC_MESSAGE_BY_TYPE = Object.fromEntries(Object.values(ANTHROPIC_ERRORS));

function anthropicErrorType(status) {
  if (ANTHROPIC_ERRORS[status]) return ANTHROPIC_ERRORS[status];
  return status >= 500 ? ANTHROPIC_ERRORS[500] : ANTHROPIC_ERRORS[400];
}

function sendAnthropicError(ctx, status, type, message, extraHeaders) {
  const [defType, defMsg] = anthropicErrorType(status);
  const body = JSON.stringify({
    type: 'error',
    error: { type: type || defType, message: message || defMsg },
    request_id: ctx.entry.request_id,
  });
  finish(ctx, status, { 'content-type': 'application/json', 'request-id': ctx.entry.request_id, ...extraHeaders }, body);
}

const OPENAI_ERRORS = {
  400: ['invalid_request_error', null, 'Invalid request.'],
  401: ['invalid_request_error', 'invalid_api_key', 'Incorrect API key provided.'],
  403: ['invalid_request_error', null, 'You are not allowed to access this resource.'],
  404: ['invalid_request_error', null, 'The requested resource was not found.'],
  429: ['requests', 'rate_limit_exceeded', 'Rate limit reached for requests. Please try again later.'],
  500: ['server_error', null, 'The server had an error while processing your request. Sorry about that!'],
  503: ['server_error', null, 'The server is overloaded or not ready yet.'],
};

function sendOpenAIError(ctx, status, type, code, message, param, extraHeaders) {
  const d = OPENAI_ERRORS[status] || (status >= 500 ? OPENAI_ERRORS[500] : OPENAI_ERRORS[400]);
  const body = JSON.stringify({
    error: {
      message: message || d[2],
      type: type || d[0],
      param: param === undefined ? null : param,
      code: code === undefined || code === null ? d[1] : code,
    },
  });
  finish(ctx, status, { 'content-type': 'application/json', 'x-request-id': ctx.entry.request_id, ...extraHeaders }, body);
}

// Applies the parts of a behaviour shared by every API: delay, hang, a
// scripted error status, a raw body. Returns true when it answered (or
// deliberately will never answer) the request.
async function applyCommon(ctx, b, headers, sendError) {
  await sleep(ctx, b.delay_ms);
  if (ctx.closed) return true;
  if (b.hang) return true; // accept and never answer; 'close' records the abort
  const status = b.status || 200;
  if (b.raw_body !== undefined) {
    finish(ctx, status, { 'content-type': 'application/json', ...headers }, b.raw_body);
    return true;
  }
  if (status !== 200) {
    sendError(status, b);
    return true;
  }
  return false;
}

// ===== Request bodies =====================================================

// Reads the body up to cap bytes; beyond the cap the rest is discarded and
// tooLarge is set. Resolves null if the client went away mid-upload.
function readBody(req, cap) {
  return new Promise((resolve) => {
    const chunks = [];
    let size = 0;
    let tooLarge = false;
    let settled = false;
    req.on('data', (c) => {
      size += c.length;
      if (size > cap) tooLarge = true;
      else chunks.push(c);
    });
    req.on('end', () => {
      settled = true;
      resolve({ text: tooLarge ? '' : Buffer.concat(chunks).toString('utf8'), tooLarge, bytes: size });
    });
    req.on('close', () => {
      if (!settled) resolve(null);
    });
    req.on('error', () => {});
  });
}

function parseJson(text) {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, error: e.message };
  }
}

// ===== Anthropic Messages API =============================================

const ANTHROPIC_TOP_KEYS = new Set([
  'model', 'messages', 'max_tokens', 'system', 'tools', 'tool_choice', 'stop_sequences',
  'temperature', 'top_p', 'top_k', 'metadata', 'stream', 'thinking', 'service_tier',
  'container', 'mcp_servers', 'context_management',
]);

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function blockIsEmpty(b) {
  return isPlainObject(b) && b.type === 'text' && (typeof b.text !== 'string' || b.text === '');
}

// Validates a Messages request body like the real API does for the errors
// clients actually hit. Returns an error message or null.
function validateAnthropicBody(body) {
  if (!isPlainObject(body)) return 'body: Input should be a valid dictionary';
  for (const k of Object.keys(body)) {
    if (!ANTHROPIC_TOP_KEYS.has(k)) return `${k}: Extra inputs are not permitted`;
  }
  if (body.model === undefined) return 'model: Field required';
  if (typeof body.model !== 'string' || body.model === '') return 'model: Input should be a valid string';
  if (body.max_tokens === undefined) return 'max_tokens: Field required';
  if (!Number.isInteger(body.max_tokens)) return 'max_tokens: Input should be a valid integer';
  if (body.max_tokens < 1) return 'max_tokens: Input should be greater than or equal to 1';
  if (body.messages === undefined) return 'messages: Field required';
  if (!Array.isArray(body.messages)) return 'messages: Input should be a valid list';
  if (body.messages.length === 0) return 'messages: at least one message is required';
  if (body.stream !== undefined && typeof body.stream !== 'boolean') return 'stream: Input should be a valid boolean';
  if (body.temperature !== undefined
    && !(typeof body.temperature === 'number' && body.temperature >= 0 && body.temperature <= 1)) {
    return 'temperature: Input should be less than or equal to 1';
  }
  if (body.system !== undefined && typeof body.system !== 'string') {
    if (!Array.isArray(body.system)) return 'system: Input should be a valid string or list of text blocks';
    for (const [i, b] of body.system.entries()) {
      if (!isPlainObject(b) || b.type !== 'text' || typeof b.text !== 'string') {
        return `system.${i}: Input should be a valid text block`;
      }
      if (b.text === '') return 'system: text content blocks must be non-empty';
    }
  }
  if (body.stop_sequences !== undefined
    && !(Array.isArray(body.stop_sequences) && body.stop_sequences.every((s) => typeof s === 'string'))) {
    return 'stop_sequences: Input should be a valid list of strings';
  }
  if (body.metadata !== undefined && !isPlainObject(body.metadata)) return 'metadata: Input should be a valid dictionary';
  const toolNames = new Set();
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) return 'tools: Input should be a valid list';
    for (const [i, t] of body.tools.entries()) {
      if (!isPlainObject(t)) return `tools.${i}: Input should be a valid dictionary`;
      if (t.type !== undefined && t.type !== 'custom') continue; // server tools: not checked
      if (typeof t.name !== 'string' || !/^[a-zA-Z0-9_-]{1,128}$/.test(t.name)) {
        return `tools.${i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'`;
      }
      if (!isPlainObject(t.input_schema)) return `tools.${i}.custom.input_schema: Field required`;
      if (t.input_schema.type !== 'object') return `tools.${i}.custom.input_schema.type: Input should be 'object'`;
      if (toolNames.has(t.name)) return 'tools: Tool names must be unique.';
      toolNames.add(t.name);
    }
  }
  if (body.tool_choice !== undefined) {
    const tc = body.tool_choice;
    if (!isPlainObject(tc) || !['auto', 'any', 'none', 'tool'].includes(tc.type)) {
      return "tool_choice: Input tag does not match any of the expected tags: 'auto', 'any', 'tool', 'none'";
    }
    if (tc.type === 'tool' && typeof tc.name !== 'string') return 'tool_choice.tool.name: Field required';
    if (tc.type === 'tool' && !toolNames.has(tc.name)) return `tool_choice: Tool '${tc.name}' not found in tools`;
  }
  const msgs = body.messages;
  for (const [i, m] of msgs.entries()) {
    if (!isPlainObject(m)) return `messages.${i}: Input should be a valid dictionary`;
    if (m.role !== 'user' && m.role !== 'assistant') return `messages.${i}.role: Input should be 'user' or 'assistant'`;
    if (m.content === undefined) return `messages.${i}.content: Field required`;
    if (typeof m.content !== 'string' && !Array.isArray(m.content)) {
      return `messages.${i}.content: Input should be a valid string or list of content blocks`;
    }
    if (Array.isArray(m.content)) {
      for (const [j, b] of m.content.entries()) {
        if (!isPlainObject(b) || typeof b.type !== 'string') return `messages.${i}.content.${j}: Input should be a valid content block`;
        if (b.type === 'tool_use' && (typeof b.id !== 'string' || typeof b.name !== 'string' || !isPlainObject(b.input))) {
          return `messages.${i}.content.${j}.tool_use: id, name and input (an object) are required`;
        }
        if (b.type === 'tool_result' && typeof b.tool_use_id !== 'string') {
          return `messages.${i}.content.${j}.tool_result.tool_use_id: Field required`;
        }
      }
    }
    const last = i === msgs.length - 1;
    const empty = m.content === '' || (Array.isArray(m.content) && m.content.length === 0);
    if (empty && !(last && m.role === 'assistant')) {
      return `messages.${i}: all messages must have non-empty content except for the optional final assistant message`;
    }
    if (Array.isArray(m.content) && m.content.some(blockIsEmpty)) return 'messages: text content blocks must be non-empty';
  }
  // tool_use / tool_result pairing across consecutive messages.
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i];
    const uses = Array.isArray(m.content) ? m.content.filter((b) => b.type === 'tool_use').map((b) => b.id) : [];
    if (m.role === 'assistant' && uses.length > 0 && i + 1 < msgs.length) {
      const next = msgs[i + 1];
      const results = Array.isArray(next.content)
        ? next.content.filter((b) => b.type === 'tool_result').map((b) => b.tool_use_id) : [];
      const missing = uses.filter((id) => !results.includes(id));
      if (next.role !== 'user' || missing.length > 0) {
        return `messages.${i + 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: `
          + `${missing.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`;
      }
    }
    if (m.role === 'user' && Array.isArray(m.content)) {
      const prev = i > 0 ? msgs[i - 1] : null;
      const prevUses = prev && prev.role === 'assistant' && Array.isArray(prev.content)
        ? prev.content.filter((b) => b.type === 'tool_use').map((b) => b.id) : [];
      for (const b of m.content) {
        if (b.type === 'tool_result' && !prevUses.includes(b.tool_use_id)) {
          return `messages.${i}.content: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${b.tool_use_id}. `
            + 'Each `tool_result` block must have a corresponding `tool_use` block in the previous message.';
        }
      }
    }
  }
  return null;
}

function contentChars(content) {
  if (typeof content === 'string') return codePoints(content);
  if (!Array.isArray(content)) return 0;
  let n = 0;
  for (const b of content) {
    if (!isPlainObject(b)) continue;
    if (typeof b.text === 'string') n += codePoints(b.text);
    else if (b.type === 'tool_use') n += JSON.stringify(b.input || {}).length;
    else if (b.type === 'tool_result') n += contentChars(b.content);
    else n += JSON.stringify(b).length;
  }
  return n;
}

function anthropicInputTokens(body) {
  let chars = contentChars(body.system);
  for (const m of body.messages) chars += contentChars(m.content);
  return Math.max(1, estTokens(chars));
}

// A stream plan is a list of items { out, token?, final? }: token items are
// paced and counted; final items (the closing events) are withheld when the
// step drops the connection.
function anthropicPlan(b, body, ids) {
  const text = b.text || '';
  const tools = b.tool_calls || [];
  const items = [];
  const model = b.model || body.model;
  const usage = {
    input_tokens: anthropicInputTokens(body),
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    output_tokens: 1,
    service_tier: 'standard',
    ...(b.usage || {}),
  };
  items.push({
    out: sse('message_start', {
      type: 'message_start',
      message: {
        id: ids.message, type: 'message', role: 'assistant', content: [], model,
        stop_reason: null, stop_sequence: null, usage,
      },
    }),
  });
  let index = 0;
  let outTokens = 0;
  let pinged = false;
  const ping = () => {
    if (!pinged) items.push({ out: sse('ping', { type: 'ping' }) });
    pinged = true;
  };
  if (text !== '' || tools.length === 0) {
    items.push({ out: sse('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }) });
    ping();
    for (const tok of tokenize(text)) {
      items.push({ token: true, out: sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: tok } }) });
      outTokens++;
    }
    items.push({ out: sse('content_block_stop', { type: 'content_block_stop', index }) });
    index++;
  }
  for (const [i, tc] of tools.entries()) {
    items.push({
      out: sse('content_block_start', {
        type: 'content_block_start', index,
        content_block: { type: 'tool_use', id: ids.tools[i], name: tc.name, input: {} },
      }),
    });
    ping();
    const json = tc.input_json !== undefined ? tc.input_json : JSON.stringify(tc.input || {});
    for (const frag of jsonFragments(json)) {
      items.push({ token: true, out: sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: frag } }) });
      outTokens++;
    }
    items.push({ out: sse('content_block_stop', { type: 'content_block_stop', index }) });
    index++;
  }
  const stopReason = tools.length > 0 ? 'tool_use' : (b.stop_reason || 'end_turn');
  items.push({
    final: true,
    out: sse('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: stopReason, stop_sequence: b.stop_sequence === undefined ? null : b.stop_sequence },
      usage: { output_tokens: Math.max(1, outTokens) },
    }),
  });
  items.push({ final: true, out: sse('message_stop', { type: 'message_stop' }) });
  return items;
}

function anthropicMidStreamError(b) {
  const type = b.mid_stream_error;
  const message = b.message || ANTHROPIC_MESSAGE_BY_TYPE[type] || 'Internal server error';
  return sse('error', { type: 'error', error: { type, message } });
}

// Runs a stream plan: pacing, stall, mid-stream error, drop.
async function runPlan(ctx, b, items, midStreamErrorOut) {
  const tps = b.tokens_per_second || 0;
  const chunk = b.chunk_bytes || 0;
  let tokens = 0;
  const errAt = b.mid_stream_error ? (b.after_tokens || 0) : -1;
  const stallAt = b.stall_after_tokens === undefined || b.stall_after_tokens === null ? -1 : b.stall_after_tokens;
  for (const item of items) {
    if (ctx.closed) return;
    if (item.token || item.final) {
      if (errAt >= 0 && tokens >= errAt) {
        await emit(ctx, midStreamErrorOut, chunk);
        if (!ctx.closed) ctx.res.end();
        return;
      }
      if (stallAt >= 0 && tokens >= stallAt) return untilClosed(ctx);
    }
    if (item.final && b.drop_after_ms !== undefined && b.drop_after_ms !== null) return untilClosed(ctx);
    if (item.token) {
      await sleep(ctx, tokens === 0 ? (b.first_token_delay_ms || 0) : (tps > 0 ? 1000 / tps : 0));
      tokens++;
    }
    await emit(ctx, item.out, chunk);
  }
  if (!ctx.closed) ctx.res.end();
}

function streamHeaders(extra) {
  return { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...extra };
}

// Time a non-streamed answer of n tokens takes under the step's pacing.
function nonStreamDelay(b, n) {
  const tps = b.tokens_per_second || 0;
  return (b.first_token_delay_ms || 0) + (tps > 0 && n > 1 ? ((n - 1) * 1000) / tps : 0);
}

// Sends a non-streamed 200 body, honouring malformed / drop / stall.
async function sendJsonAnswer(ctx, b, headers, body, malformedBody) {
  if (b.malformed) return finish(ctx, 200, headers, malformedBody);
  const dropping = b.drop_after_ms !== undefined && b.drop_after_ms !== null;
  const stalling = b.stall_after_tokens !== undefined && b.stall_after_tokens !== null;
  if (!dropping && !stalling) return finish(ctx, 200, headers, body);
  const buf = Buffer.from(body, 'utf8');
  ctx.res.writeHead(200, { ...headers, 'content-length': buf.length });
  ctx.res.write(buf.subarray(0, Math.floor(buf.length / 2)));
  if (dropping) scheduleDrop(ctx, b.drop_after_ms);
  return untilClosed(ctx);
}

async function handleAnthropic(ctx, b, body) {
  const h = ctx.req.headers;
  const cfg = state.config.anthropic;
  ctx.entry.request_id = randomId('req_', 24);
  const fail = (status, msg) => sendAnthropicError(ctx, status, null, msg, {});
  if (ctx.req.method !== 'POST') return fail(405, `Method ${ctx.req.method} not allowed for /v1/messages`);
  if (!h['x-api-key']) return fail(401, 'x-api-key header is required');
  if (cfg.api_key && h['x-api-key'] !== cfg.api_key) return fail(401, 'invalid x-api-key');
  if (!h['anthropic-version']) return fail(400, 'anthropic-version: header is required');
  if (!/^application\/json\b/i.test(h['content-type'] || '')) {
    return fail(400, 'content-type: must be application/json');
  }
  if (body.tooLarge) return fail(413);
  if (!body.parsed.ok) return fail(400, `There was an issue with the JSON body: ${body.parsed.error}`);
  const req = body.parsed.value;
  const invalid = validateAnthropicBody(req);
  if (invalid) return fail(400, invalid);

  const hdrs = { 'request-id': ctx.entry.request_id, ...stepHeaders(b) };
  const handled = await applyCommon(ctx, b, hdrs, (status, s) => sendAnthropicError(ctx, status, s.error_type, s.message, stepHeaders(s)));
  if (handled) return;

  const ids = { message: randomId('msg_01', 22), tools: (b.tool_calls || []).map((tc) => tc.id || randomId('toolu_01', 22)) };
  if (req.stream === true) {
    ctx.res.writeHead(200, streamHeaders(hdrs));
    if (b.malformed) {
      await emit(ctx, `event: message_start\ndata: {"type":"message_start","message":{"id":"${ids.message}","type":\n\n`, 0);
      ctx.res.end();
      return;
    }
    if (b.drop_after_ms !== undefined && b.drop_after_ms !== null) scheduleDrop(ctx, b.drop_after_ms);
    return runPlan(ctx, b, anthropicPlan(b, req, ids), b.mid_stream_error ? anthropicMidStreamError(b) : '');
  }

  // Non-streaming: one Message object.
  const text = b.text || '';
  const tools = b.tool_calls || [];
  if (b.mid_stream_error) {
    const status = Object.keys(ANTHROPIC_ERRORS).find((s) => ANTHROPIC_ERRORS[s][0] === b.mid_stream_error) || 500;
    return sendAnthropicError(ctx, Number(status), b.mid_stream_error, b.message, hdrs);
  }
  const content = [];
  if (text !== '' || tools.length === 0) content.push({ type: 'text', text });
  let outTokens = tokenize(text).length;
  tools.forEach((tc, i) => {
    let input = tc.input || {};
    if (tc.input_json !== undefined) {
      const p = parseJson(tc.input_json);
      input = p.ok ? p.value : {};
    }
    outTokens += jsonFragments(JSON.stringify(input)).length;
    content.push({ type: 'tool_use', id: ids.tools[i], name: tc.name, input });
  });
  const message = {
    id: ids.message, type: 'message', role: 'assistant', model: b.model || req.model, content,
    stop_reason: tools.length > 0 ? 'tool_use' : (b.stop_reason || 'end_turn'),
    stop_sequence: b.stop_sequence === undefined ? null : b.stop_sequence,
    usage: {
      input_tokens: anthropicInputTokens(req), cache_creation_input_tokens: 0, cache_read_input_tokens: 0,
      output_tokens: Math.max(1, outTokens), service_tier: 'standard', ...(b.usage || {}),
    },
  };
  await sleep(ctx, nonStreamDelay(b, outTokens));
  const json = JSON.stringify(message);
  return sendJsonAnswer(ctx, b, { 'content-type': 'application/json', ...hdrs }, json,
    `{"id":"${ids.message}","type":"message","role":"assistant","content":[{`);
}

// ===== OpenAI-compatible chat completions =================================

const OPENAI_CHAT_KEYS = new Set([
  'model', 'messages', 'audio', 'frequency_penalty', 'function_call', 'functions', 'logit_bias',
  'logprobs', 'max_completion_tokens', 'max_tokens', 'metadata', 'modalities', 'n',
  'parallel_tool_calls', 'prediction', 'presence_penalty', 'prompt_cache_key', 'reasoning_effort',
  'response_format', 'safety_identifier', 'seed', 'service_tier', 'stop', 'store', 'stream',
  'stream_options', 'temperature', 'tool_choice', 'tools', 'top_logprobs', 'top_p', 'user',
  'verbosity', 'web_search_options',
]);
const OPENAI_ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'];

// Returns [message, param, code] or null.
function validateOpenAIChatBody(body, strict) {
  if (!isPlainObject(body)) return ['Invalid type for request body: expected an object.', null, 'invalid_type'];
  if (strict) {
    for (const k of Object.keys(body)) {
      if (!OPENAI_CHAT_KEYS.has(k)) return [`Unrecognized request argument supplied: ${k}`, null, null];
    }
  }
  if (body.model === undefined) return ['you must provide a model parameter', null, null];
  if (typeof body.model !== 'string') return ["Invalid type for 'model': expected a string.", 'model', 'invalid_type'];
  if (body.messages === undefined) return ["Missing required parameter: 'messages'.", 'messages', 'missing_required_parameter'];
  if (!Array.isArray(body.messages)) return ["Invalid type for 'messages': expected an array.", 'messages', 'invalid_type'];
  if (body.messages.length === 0) return ["Invalid 'messages': empty array. Expected an array with minimum length 1.", 'messages', 'empty_array'];
  for (const [i, m] of body.messages.entries()) {
    if (!isPlainObject(m)) return [`Invalid type for 'messages[${i}]': expected an object.`, `messages[${i}]`, 'invalid_type'];
    if (!OPENAI_ROLES.includes(m.role)) {
      return [`Invalid value: '${m.role}'. Supported values are: ${OPENAI_ROLES.map((r) => `'${r}'`).join(', ')}.`, `messages[${i}].role`, 'invalid_value'];
    }
    if (m.role === 'tool' && typeof m.tool_call_id !== 'string') {
      return [`Missing required parameter: 'messages[${i}].tool_call_id'.`, `messages[${i}].tool_call_id`, 'missing_required_parameter'];
    }
    const hasCalls = m.role === 'assistant' && Array.isArray(m.tool_calls) && m.tool_calls.length > 0;
    if (m.content === undefined && !hasCalls) {
      return [`Missing required parameter: 'messages[${i}].content'.`, `messages[${i}].content`, 'missing_required_parameter'];
    }
  }
  if (body.stream !== undefined && typeof body.stream !== 'boolean') {
    return ["Invalid type for 'stream': expected a boolean.", 'stream', 'invalid_type'];
  }
  if (body.stream_options !== undefined && body.stream_options !== null && body.stream !== true) {
    return ["The 'stream_options' parameter is only allowed when 'stream' is enabled.", 'stream_options', null];
  }
  return null;
}

function openaiPromptTokens(body) {
  let chars = 0;
  for (const m of body.messages) {
    if (typeof m.content === 'string') chars += codePoints(m.content);
    else if (Array.isArray(m.content)) chars += contentChars(m.content);
  }
  return Math.max(1, estTokens(chars));
}

function openaiFinishReason(b, tools) {
  if (tools.length > 0) return 'tool_calls';
  if (b.finish_reason) return b.finish_reason;
  const map = { end_turn: 'stop', stop_sequence: 'stop', max_tokens: 'length', tool_use: 'tool_calls', refusal: 'content_filter' };
  return map[b.stop_reason] || 'stop';
}

function openaiChatPlan(b, body, ids) {
  const text = b.text || '';
  const tools = b.tool_calls || [];
  const includeUsage = isPlainObject(body.stream_options) && body.stream_options.include_usage === true;
  const base = { id: ids.completion, object: 'chat.completion.chunk', created: ids.created, model: b.model || body.model };
  const chunk = (choices, extra) => ({ ...base, choices, ...(includeUsage ? { usage: null } : {}), ...extra });
  const choice = (delta, finish) => [{ index: 0, delta, logprobs: null, finish_reason: finish }];
  const items = [];
  const first = { role: 'assistant', content: text === '' && tools.length > 0 ? null : '' };
  items.push({ out: sseData(chunk(choice(first, null))) });
  let outTokens = 0;
  for (const tok of tokenize(text)) {
    items.push({ token: true, out: sseData(chunk(choice({ content: tok }, null))) });
    outTokens++;
  }
  tools.forEach((tc, i) => {
    items.push({
      out: sseData(chunk(choice({ tool_calls: [{ index: i, id: ids.tools[i], type: 'function', function: { name: tc.name, arguments: '' } }] }, null))),
    });
    const json = tc.input_json !== undefined ? tc.input_json : JSON.stringify(tc.input || {});
    for (const frag of jsonFragments(json).slice(1)) {
      items.push({ token: true, out: sseData(chunk(choice({ tool_calls: [{ index: i, function: { arguments: frag } }] }, null))) });
      outTokens++;
    }
  });
  items.push({ final: true, out: sseData(chunk(choice({}, openaiFinishReason(b, tools)))) });
  if (includeUsage) {
    const prompt = openaiPromptTokens(body);
    items.push({
      final: true,
      out: sseData({
        ...base,
        choices: b.usage_choices_null ? null : [],
        usage: { prompt_tokens: prompt, completion_tokens: outTokens, total_tokens: prompt + outTokens },
      }),
    });
  }
  items.push({ final: true, out: sseData('[DONE]') });
  return items;
}

async function handleOpenAIChat(ctx, b, body) {
  const h = ctx.req.headers;
  const cfg = state.config.openai_chat;
  ctx.entry.request_id = randomId('req_', 32);
  const fail = (status, msg, param, code) => sendOpenAIError(ctx, status, null, code, msg, param, {});
  if (ctx.req.method !== 'POST') return fail(405, `Invalid method for URL (${ctx.req.method} ${ctx.req.url})`);
  const auth = /^Bearer\s+(\S+)/i.exec(h.authorization || '');
  if (!auth) {
    return fail(401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", null, null);
  }
  if (cfg.api_key && auth[1] !== cfg.api_key) return fail(401, 'Incorrect API key provided.', null, 'invalid_api_key');
  if (body.tooLarge) return fail(413, 'Request too large.');
  if (!body.parsed.ok) {
    return fail(400, 'We could not parse the JSON body of your request. (HINT: This likely means you aren\'t using your HTTP library correctly.)');
  }
  const req = body.parsed.value;
  const invalid = validateOpenAIChatBody(req, cfg.strict !== false);
  if (invalid) return fail(400, invalid[0], invalid[1], invalid[2]);

  const hdrs = { 'x-request-id': ctx.entry.request_id, ...stepHeaders(b) };
  const handled = await applyCommon(ctx, b, hdrs, (status, s) => sendOpenAIError(ctx, status, s.error_type, s.error_code, s.message, null, stepHeaders(s)));
  if (handled) return;

  const tools = b.tool_calls || [];
  const ids = {
    completion: randomId('chatcmpl-', 29),
    created: Math.floor(Date.now() / 1000),
    tools: tools.map((tc) => tc.id || randomId('call_', 24)),
  };
  if (req.stream === true) {
    ctx.res.writeHead(200, streamHeaders(hdrs));
    if (b.malformed) {
      await emit(ctx, `data: {"id":"${ids.completion}","object":"chat.completion.chunk","choices":[{\n\n`, 0);
      ctx.res.end();
      return;
    }
    if (b.drop_after_ms !== undefined && b.drop_after_ms !== null) scheduleDrop(ctx, b.drop_after_ms);
    const errOut = b.mid_stream_error
      ? sseData({ error: { message: b.message || ANTHROPIC_MESSAGE_BY_TYPE[b.mid_stream_error] || 'The server had an error while processing your request.', type: b.mid_stream_error, param: null, code: b.error_code || null } })
      : '';
    return runPlan(ctx, b, openaiChatPlan(b, req, ids), errOut);
  }

  if (b.mid_stream_error) return sendOpenAIError(ctx, 500, b.mid_stream_error, b.error_code, b.message, null, hdrs);
  const text = b.text || '';
  let outTokens = tokenize(text).length;
  const message = { role: 'assistant', content: text === '' && tools.length > 0 ? null : text, refusal: null };
  if (tools.length > 0) {
    message.tool_calls = tools.map((tc, i) => {
      const args = tc.input_json !== undefined ? tc.input_json : JSON.stringify(tc.input || {});
      outTokens += jsonFragments(args).length - 1;
      return { id: ids.tools[i], type: 'function', function: { name: tc.name, arguments: args } };
    });
  }
  const prompt = openaiPromptTokens(req);
  const completion = {
    id: ids.completion, object: 'chat.completion', created: ids.created, model: b.model || req.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: openaiFinishReason(b, tools) }],
    usage: { prompt_tokens: prompt, completion_tokens: outTokens, total_tokens: prompt + outTokens },
  };
  await sleep(ctx, nonStreamDelay(b, outTokens));
  return sendJsonAnswer(ctx, b, { 'content-type': 'application/json', ...hdrs }, JSON.stringify(completion),
    `{"id":"${ids.completion}","object":"chat.completion","choices":[{`);
}

// ===== OpenAI embeddings ==================================================

const EMBED_MAX_INPUTS = 2048;
const EMBED_MAX_INPUT_TOKENS = 8192;
const EMBED_MAX_REQUEST_TOKENS = 300000;
const EMBED_MODEL_DIMS = { 'text-embedding-3-small': 1536, 'text-embedding-3-large': 3072, 'text-embedding-ada-002': 1536 };

// sfc32: a small, fast, fully specified PRNG (integer math only), so vectors
// are identical on every machine and Node version.
function sfc32(a, b, c, d) {
  return () => {
    a |= 0; b |= 0; c |= 0; d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}

const STOPWORDS = new Set(('a an and are as at be by for from has have in is it its of on or that the this to was were '
  + 'will with we you your our').split(' '));

function normalize(v) {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  const n = Math.sqrt(s);
  if (n > 0) for (let i = 0; i < v.length; i++) v[i] /= n;
  return n > 0;
}

// Deterministic embedding of one input: a per-text pseudo-random direction
// (seeded by SHA-256 of the text) plus hashed word features (8 signed
// buckets per distinct non-stopword, weight 1 + ln(count)), so texts that
// share words have a clearly higher cosine than unrelated texts. L2-normalised.
function embedText(key, words, dims) {
  const seed = crypto.createHash('sha256').update(key, 'utf8').digest();
  const rnd = sfc32(seed.readUInt32LE(0), seed.readUInt32LE(4), seed.readUInt32LE(8), seed.readUInt32LE(12));
  for (let i = 0; i < 12; i++) rnd();
  const noise = new Float64Array(dims);
  for (let i = 0; i < dims; i++) noise[i] = rnd() * 2 - 1;
  normalize(noise);
  const feat = new Float64Array(dims);
  const counts = new Map();
  for (const w of words) counts.set(w, (counts.get(w) || 0) + 1);
  for (const [w, c] of counts) {
    const h = crypto.createHash('sha256').update(`w\0${w}`, 'utf8').digest();
    const weight = 1 + Math.log(c);
    for (let k = 0; k < 8; k++) {
      const u = h.readUInt32LE(k * 4);
      feat[(u >>> 1) % dims] += (u & 1 ? 1 : -1) * weight;
    }
  }
  const hasWords = normalize(feat);
  const out = new Array(dims);
  const v = new Float64Array(dims);
  for (let i = 0; i < dims; i++) v[i] = (hasWords ? feat[i] : 0) + 0.4 * noise[i];
  normalize(v);
  for (let i = 0; i < dims; i++) out[i] = Math.round(v[i] * 1e8) / 1e8;
  return out;
}

function featureWords(text) {
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) || [];
  return words.filter((w) => !STOPWORDS.has(w));
}

// Normalises `input` to [{key, words, tokens}] or returns an error string.
function embeddingInputs(input) {
  const invalid = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.";
  const isTokArr = (a) => Array.isArray(a) && a.length > 0 && a.every((t) => Number.isInteger(t) && t >= 0);
  if (input === undefined) return "'input' is a required property";
  if (typeof input === 'string') {
    if (input === '') return invalid;
    return [{ key: input, words: featureWords(input), tokens: estTokens(codePoints(input)) }];
  }
  if (!Array.isArray(input) || input.length === 0) return invalid;
  if (isTokArr(input)) return [{ key: `tokens:${input.join(',')}`, words: input.map(String), tokens: input.length }];
  if (input.length > EMBED_MAX_INPUTS) return `'$.input' is invalid: array must have ${EMBED_MAX_INPUTS} items or fewer (got ${input.length}).`;
  const out = [];
  for (const x of input) {
    if (typeof x === 'string') {
      if (x === '') return invalid;
      out.push({ key: x, words: featureWords(x), tokens: estTokens(codePoints(x)) });
    } else if (isTokArr(x)) {
      out.push({ key: `tokens:${x.join(',')}`, words: x.map(String), tokens: x.length });
    } else {
      return invalid;
    }
  }
  return out;
}

async function handleEmbeddings(ctx, b, body, step) {
  const h = ctx.req.headers;
  const cfg = state.config.embeddings;
  ctx.entry.request_id = randomId('req_', 32);
  const fail = (status, msg, param, code) => sendOpenAIError(ctx, status, null, code, msg, param, {});
  if (ctx.req.method !== 'POST') return fail(405, `Invalid method for URL (${ctx.req.method} ${ctx.req.url})`);
  const auth = /^Bearer\s+(\S+)/i.exec(h.authorization || '');
  if (!auth) {
    return fail(401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", null, null);
  }
  if (cfg.api_key && auth[1] !== cfg.api_key) return fail(401, 'Incorrect API key provided.', null, 'invalid_api_key');
  if (body.tooLarge) return fail(413, 'Request too large.');
  if (!body.parsed.ok) {
    return fail(400, 'We could not parse the JSON body of your request. (HINT: This likely means you aren\'t using your HTTP library correctly.)');
  }
  const req = body.parsed.value;
  if (!isPlainObject(req)) return fail(400, 'Invalid type for request body: expected an object.');
  if (typeof req.model !== 'string' || req.model === '') return fail(400, 'you must provide a model parameter');
  const inputs = embeddingInputs(req.input);
  if (typeof inputs === 'string') return fail(400, inputs, 'input');
  for (const x of inputs) {
    if (x.tokens > EMBED_MAX_INPUT_TOKENS) {
      return fail(400, `This model's maximum context length is ${EMBED_MAX_INPUT_TOKENS} tokens, however you requested ${x.tokens} tokens (${x.tokens} in your prompt; 0 for the completion). Please reduce your prompt; or completion length.`);
    }
  }
  const total = inputs.reduce((s, x) => s + x.tokens, 0);
  if (total > EMBED_MAX_REQUEST_TOKENS) {
    return fail(400, `Requested ${total} tokens, max ${EMBED_MAX_REQUEST_TOKENS} tokens per request`, null, 'max_tokens_per_request');
  }
  const modelMax = EMBED_MODEL_DIMS[req.model];
  let dims = (step && step.dimensions) || modelMax || cfg.dimensions || 1536;
  if (req.dimensions !== undefined && req.dimensions !== null) {
    if (!Number.isInteger(req.dimensions) || req.dimensions < 1) {
      return fail(400, "Invalid 'dimensions': integer below minimum value. Expected a value >= 1.", 'dimensions', 'integer_below_min_value');
    }
    if (req.model === 'text-embedding-ada-002') return fail(400, 'This model does not support specifying dimensions.', 'dimensions');
    if (modelMax && req.dimensions > modelMax) {
      return fail(400, `This model's maximum dimensions is ${modelMax}; you requested ${req.dimensions}.`, 'dimensions');
    }
    if (req.dimensions > 65536) return fail(400, 'dimensions too large', 'dimensions');
    dims = req.dimensions;
  }
  const fmt = req.encoding_format === undefined ? 'float' : req.encoding_format;
  if (fmt !== 'float' && fmt !== 'base64') {
    return fail(400, `Invalid value: '${fmt}'. Supported values are: 'float' and 'base64'.`, 'encoding_format', 'invalid_value');
  }

  const hdrs = { 'x-request-id': ctx.entry.request_id, 'openai-model': req.model, ...stepHeaders(b) };
  const handled = await applyCommon(ctx, b, hdrs, (status, s) => sendOpenAIError(ctx, status, s.error_type, s.error_code, s.message, null, stepHeaders(s)));
  if (handled) return;

  const data = inputs.map((x, i) => {
    const vec = embedText(x.key, x.words, dims);
    const embedding = fmt === 'base64' ? Buffer.from(new Float32Array(vec).buffer).toString('base64') : vec;
    return { object: 'embedding', index: i, embedding };
  });
  const json = JSON.stringify({ object: 'list', data, model: req.model, usage: { prompt_tokens: total, total_tokens: total } });
  if (!b.malformed && b.drop_after_ms === undefined) state.stats.embeddings.inputs += inputs.length;
  return sendJsonAnswer(ctx, b, { 'content-type': 'application/json', ...hdrs }, json, '{"object":"list","data":[{');
}

// ===== Control API (/_fake/) ==============================================

function sendControl(res, status, obj) {
  const body = `${JSON.stringify(obj)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function publicEntry(e) {
  return e; // entries are plain data already
}

async function handleControl(req, res, url) {
  const route = `${req.method} ${url.pathname}`;
  const apiParam = url.searchParams.get('api');
  const t0 = Date.now();
  res.on('close', () => logLine({ api: '_fake', method: req.method, path: req.url, status: res.statusCode, ms: Date.now() - t0 }));
  let body = null;
  if (req.method === 'POST') {
    const raw = await readBody(req, LIMITS.controlBodyBytes);
    if (raw === null) return;
    if (raw.tooLarge) return sendControl(res, 413, { error: `control body over ${LIMITS.controlBodyBytes} bytes` });
    const p = parseJson(raw.text || '{}');
    if (!p.ok) return sendControl(res, 400, { error: `invalid JSON: ${p.error}` });
    body = p.value;
    if (!isPlainObject(body)) return sendControl(res, 400, { error: 'body must be a JSON object' });
  } else {
    req.resume();
  }
  const checkApi = (api, list) => (list.includes(api) ? null : `api must be one of: ${list.join(', ')}`);

  switch (route) {
    case 'GET /_fake/health':
      return sendControl(res, 200, { ok: true });
    case 'POST /_fake/script': {
      const err = checkApi(body.api, APIS);
      if (err) return sendControl(res, 400, { error: err });
      if (!Array.isArray(body.steps)) return sendControl(res, 400, { error: 'steps must be an array' });
      for (const [i, s] of body.steps.entries()) {
        const e = checkBehaviour(body.api, s, false);
        if (e) return sendControl(res, 400, { error: `steps[${i}]: ${e}` });
      }
      const q = body.append === true ? state.queues[body.api] : [];
      if (q.length + body.steps.length > LIMITS.stepsPerApi) {
        return sendControl(res, 400, { error: `at most ${LIMITS.stepsPerApi} queued steps per API` });
      }
      for (const s of body.steps) q.push({ ...s });
      state.queues[body.api] = q;
      return sendControl(res, 200, { ok: true, api: body.api, queued: q.length });
    }
    case 'GET /_fake/script': {
      const err = checkApi(apiParam, APIS);
      if (err) return sendControl(res, 400, { error: err });
      return sendControl(res, 200, state.queues[apiParam].map(({ _left, ...s }) => s));
    }
    case 'POST /_fake/config': {
      for (const [api, v] of Object.entries(body)) {
        const err = checkApi(api, APIS) || checkBehaviour(api, v, true);
        if (err) return sendControl(res, 400, { error: `${api}: ${err}` });
      }
      const builtin = builtinDefaults();
      for (const [api, v] of Object.entries(body)) {
        const cur = state.config[api];
        for (const [k, val] of Object.entries(v)) {
          if (val === null) {
            if (k in builtin[api]) cur[k] = builtin[api][k];
            else delete cur[k];
          } else {
            cur[k] = val;
          }
        }
      }
      return sendControl(res, 200, state.config);
    }
    case 'GET /_fake/config':
      return sendControl(res, 200, state.config);
    case 'GET /_fake/requests': {
      if (apiParam === null) {
        const all = LOGGED_APIS.flatMap((a) => state.log[a]).sort((x, y) => x.ts_ms - y.ts_ms);
        return sendControl(res, 200, all.map(publicEntry));
      }
      const err = checkApi(apiParam, LOGGED_APIS);
      if (err) return sendControl(res, 400, { error: err });
      return sendControl(res, 200, state.log[apiParam].map(publicEntry));
    }
    case 'DELETE /_fake/requests': {
      if (apiParam !== null) {
        const err = checkApi(apiParam, LOGGED_APIS);
        if (err) return sendControl(res, 400, { error: err });
        resetLog(apiParam);
      } else {
        for (const a of LOGGED_APIS) resetLog(a);
      }
      return sendControl(res, 200, { ok: true });
    }
    case 'GET /_fake/stats': {
      const out = {};
      for (const a of LOGGED_APIS) {
        out[a] = { ...state.stats[a], in_flight: state.inFlight[a], log_evicted: state.evicted[a] };
        if (APIS.includes(a)) out[a].queued_steps = state.queues[a].reduce((n, s) => n + (s._left || s.repeat || 1), 0);
      }
      return sendControl(res, 200, out);
    }
    case 'POST /_fake/reset':
      resetAll();
      return sendControl(res, 200, { ok: true });
    default:
      return sendControl(res, 404, { error: `no control route ${route}` });
  }
}

// ===== Routing and server =================================================

function routeApi(pathname) {
  if (pathname === '/v1/messages') return 'anthropic';
  if (pathname === '/v1/chat/completions') return 'openai_chat';
  if (pathname === '/v1/embeddings') return 'embeddings';
  return 'unknown';
}

function logLine(obj) {
  process.stderr.write(`${JSON.stringify({ ts: new Date().toISOString(), ...obj })}\n`);
}

async function handleApi(req, res, url) {
  const api = routeApi(url.pathname);
  const ctx = makeCtx(req, res, api);
  // The step is taken when the request arrives, whatever happens next, so
  // the N-th request of an API always gets the N-th step.
  const step = api === 'unknown' ? null : takeStep(api);
  ctx.entry.step = step;
  recordEntry(ctx);
  const raw = await readBody(req, LIMITS.apiBodyBytes);
  if (raw === null || ctx.closed) return;
  const parsed = raw.tooLarge ? { ok: false, error: 'too large' } : parseJson(raw.text);
  ctx.entry.body = parsed.ok ? parsed.value : raw.text;
  const body = { parsed, tooLarge: raw.tooLarge };
  if (api === 'unknown') {
    ctx.entry.request_id = randomId('req_', 24);
    const msg = `Invalid URL (${req.method} ${url.pathname})`;
    if (req.headers['x-api-key'] || req.headers['anthropic-version']) {
      return sendAnthropicError(ctx, 404, 'not_found_error', `Not found: ${req.method} ${url.pathname}`, {});
    }
    return sendOpenAIError(ctx, 404, 'invalid_request_error', null, msg, null, {});
  }
  const b = { ...state.config[api], ...(step || {}) };
  if (api === 'anthropic') return handleAnthropic(ctx, b, body);
  if (api === 'openai_chat') return handleOpenAIChat(ctx, b, body);
  return handleEmbeddings(ctx, b, body, step);
}

function parseArgs(argv) {
  const opts = { port: 0, host: '127.0.0.1' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port' && i + 1 < argv.length) opts.port = Number(argv[++i]);
    else if (a === '--host' && i + 1 < argv.length) opts.host = argv[++i];
    else {
      process.stderr.write(`usage: fake-apis.js [--port N] [--host ADDR]\nunknown argument: ${a}\n`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    process.stderr.write('--port must be 0..65535\n');
    process.exit(2);
  }
  return opts;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    let url;
    try {
      url = new URL(req.url, 'http://fake.invalid');
    } catch {
      res.writeHead(400).end();
      return;
    }
    const p = url.pathname.startsWith('/_fake/') ? handleControl(req, res, url) : handleApi(req, res, url);
    p.catch((e) => {
      logLine({ level: 'error', msg: 'handler failed', error: String(e && e.stack ? e.stack : e) });
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('fake-apis internal error\n');
    });
  });
  // Hanging and slow responses are the point: no server-side timeouts.
  server.requestTimeout = 0;
  server.headersTimeout = 60000;
  server.timeout = 0;
  server.keepAliveTimeout = 5000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.setNoDelay(true);
    s.on('close', () => sockets.delete(s));
  });
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
  });
  const stop = () => {
    server.close();
    for (const s of sockets) s.destroy();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  server.listen(opts.port, opts.host, () => {
    process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
  });
}

main();

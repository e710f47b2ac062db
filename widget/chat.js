/*
 * chat.js: the embeddable website chat widget (docs/widget.md), one tag:
 *   <script src=".../widget/chat.js" data-api="https://chat.example.com" async></script>
 * Talks to the gateway's HTTP API (docs/api.md). Owns one <sitechat-widget>
 * element with an open shadow root, and storage keys prefixed "sitechat:".
 * Safety: visitor, model and server text reach the DOM only as text nodes or
 * attribute values (no innerHTML here); links only for http(s) and mailto.
 * Loading: only the launcher is made at once; the panel, storage and network
 * wait for the first open. Plain ES2018, no build step.
 */
(() => {
  'use strict';

  const VERSION = '0.1.0';
  const MAX = 4000; /* the API's message limit, in Unicode code points */
  const WARN = 3600; /* the counter shows from here */
  const RAW_CAP = 200000; /* a bound on one answer's text */
  const TS_SRC = 'https://challenges.cloudflare.com/turnstile/v0/api.js'; /* Cloudflare Turnstile, when the gateway asks */

  const script = document.currentScript || document.querySelector('script[src*="chat.js"][data-api]');
  if (!script) return;
  if (window.SiteChat) {
    console.warn('[chat.js] loaded twice; the second copy does nothing.');
    return;
  }
  const ds = script.dataset;
  const api = parseApi(ds.api);
  if (!api) {
    console.warn(`[chat.js] data-api is missing or not an http(s) URL (got ${JSON.stringify(ds.api || '')}): ` +
      'the chat widget is not shown. Example: data-api="https://chat.example.com".');
    return;
  }

  /* --- strings --- */

  const STR = {
    en: {
      title: 'Chat with us', greeting: 'Hi! Ask me anything about our product, pricing or support.',
      open: 'Open chat', close: 'Close chat', newc: 'New conversation',
      del: 'Delete my conversation', delQ: 'Delete this conversation from our servers? This cannot be undone.',
      delYes: 'Delete', cancel: 'Cancel', deleted: 'Your conversation was deleted.',
      delFail: 'The conversation could not be deleted. Please try again later.',
      label: 'Your message', ph: 'Type your question…', send: 'Send', stop: 'Stop',
      left: (n) => `${n} character${n === 1 ? '' : 's'} left`,
      over: (n) => `${n} character${n === 1 ? '' : 's'} too many`,
      you: 'You', bot: 'Assistant', typing: 'The assistant is typing', convo: 'Conversation',
      sources: 'Sources', source: 'Source', retry: 'Try again', stopped: 'Stopped.',
      partial: 'This answer was interrupted.', answer: 'Answer: ',
      generic: 'Something went wrong. Please try again.',
      lost: 'The connection was lost before the answer was complete.',
      reconnecting: 'Reconnecting…',
      down: 'The chat is not available right now. Leave us a message and we will reply by email.',
      limit: 'The chat has reached its limit for now. Leave us a message and we will reply by email.',
      busy: 'Too many messages came from your network just now. Leave us a message and we will reply by email.',
      contactBtn: 'Leave a message', back: 'Back to chat', name: 'Name', email: 'Email', msg: 'Message',
      consent: 'I agree that my details are used to answer my request.', submit: 'Send message',
      thanks: (e) => `Thank you! We will reply to ${e}.`,
      leadFail: 'Your message could not be sent from here.', mailto: 'Email us instead',
      later: 'Please try again later.', handoff: 'We have passed your request on to our team.',
      verify: 'One moment: a quick check that you are a person.',
      botFail: 'We could not confirm that you are a person. Leave us a message and we will reply by email.'
    },
    de: {
      title: 'Chatten Sie mit uns', greeting: 'Hallo! Fragen Sie mich alles zu Produkt, Preisen oder Support.',
      open: 'Chat öffnen', close: 'Chat schließen', newc: 'Neue Unterhaltung',
      del: 'Meine Unterhaltung löschen', delQ: 'Diese Unterhaltung von unseren Servern löschen? Das lässt sich nicht rückgängig machen.',
      delYes: 'Löschen', cancel: 'Abbrechen', deleted: 'Ihre Unterhaltung wurde gelöscht.',
      delFail: 'Die Unterhaltung konnte nicht gelöscht werden. Bitte versuchen Sie es später erneut.',
      label: 'Ihre Nachricht', ph: 'Ihre Frage …', send: 'Senden', stop: 'Stopp',
      left: (n) => `Noch ${n} Zeichen`,
      over: (n) => `${n} Zeichen zu viel`,
      you: 'Sie', bot: 'Assistent', typing: 'Der Assistent schreibt', convo: 'Unterhaltung',
      sources: 'Quellen', source: 'Quelle', retry: 'Erneut versuchen', stopped: 'Angehalten.',
      partial: 'Diese Antwort wurde unterbrochen.', answer: 'Antwort: ',
      generic: 'Etwas ist schiefgelaufen. Bitte versuchen Sie es erneut.',
      lost: 'Die Verbindung brach ab, bevor die Antwort vollständig war.',
      reconnecting: 'Verbindung wird wiederhergestellt …',
      down: 'Der Chat ist gerade nicht erreichbar. Hinterlassen Sie uns eine Nachricht, wir antworten per E-Mail.',
      limit: 'Der Chat hat sein Limit für den Moment erreicht. Hinterlassen Sie uns eine Nachricht, wir antworten per E-Mail.',
      busy: 'Von Ihrem Netzwerk kamen gerade zu viele Nachrichten. Hinterlassen Sie uns eine Nachricht, wir antworten per E-Mail.',
      contactBtn: 'Nachricht hinterlassen', back: 'Zurück zum Chat', name: 'Name', email: 'E-Mail', msg: 'Nachricht',
      consent: 'Ich bin einverstanden, dass meine Angaben zur Beantwortung meiner Anfrage verwendet werden.',
      submit: 'Nachricht senden',
      thanks: (e) => `Danke! Wir antworten an ${e}.`,
      leadFail: 'Ihre Nachricht konnte von hier aus nicht gesendet werden.', mailto: 'Schreiben Sie uns stattdessen eine E-Mail',
      later: 'Bitte versuchen Sie es später erneut.', handoff: 'Wir haben Ihre Anfrage an unser Team weitergegeben.',
      verify: 'Einen Moment: eine kurze Prüfung, ob Sie ein Mensch sind.',
      botFail: 'Wir konnten nicht bestätigen, dass Sie ein Mensch sind. Hinterlassen Sie uns eine Nachricht, wir antworten per E-Mail.'
    }
  };
  let lang = String(ds.locale || document.documentElement.lang || 'en').toLowerCase().slice(0, 2);
  if (!STR[lang]) lang = 'en';
  const L = STR[lang];
  const cfg = {
    title: ds.title || L.title,
    greeting: ds.greeting || L.greeting,
    left: ds.position === 'left',
    open: ds.open != null && ds.open !== 'false',
    mail: /^[^\s@<>"]+@[^\s@<>"]+$/.test(ds.contactEmail || '') ? ds.contactEmail : ''
  };
  const KEY = 'sitechat:' + api; /* the session */
  const PKEY = KEY + ':turn'; /* the turn being streamed, for a reload mid-answer */
  const OKEY = 'sitechat:open:' + api; /* sessionStorage: the panel is open */

  /* --- style --- */

  const A = 'var(--sitechat-accent,#1d4ed8)', AT = 'var(--sitechat-accent-text,#fff)';
  const MU = 'var(--sitechat-muted,#4b535d)';
  const CSS = ':host{all:initial!important}' +
    '.w{all:initial;display:block;font:15px/1.45 var(--sitechat-font,system-ui,-apple-system,"Segoe UI",Roboto,sans-serif);' +
    'color:var(--sitechat-text,#1f2328);text-align:left}' +
    '*,*::before,*::after{box-sizing:border-box}' +
    'button,input,textarea{font:inherit;color:inherit;margin:0}button{cursor:pointer}' +
    `:focus-visible{outline:3px solid ${A};outline-offset:2px}` +
    '.vh{position:absolute!important;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}' +
    '.launcher,.panel{position:fixed;z-index:var(--sitechat-z,2147483000);right:var(--sitechat-offset,20px)}' +
    '.left .launcher,.left .panel{right:auto;left:var(--sitechat-offset,20px)}' +
    `.launcher{bottom:var(--sitechat-offset,20px);width:56px;height:56px;border:0;border-radius:50%;background:${A};color:${AT};` +
    'box-shadow:0 4px 14px rgba(0,0,0,.28);display:grid;place-items:center;padding:0}.launcher:hover{filter:brightness(1.1)}' +
    'svg{width:24px;height:24px;fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round}' +
    '.panel{bottom:calc(var(--sitechat-offset,20px) + 68px);width:var(--sitechat-width,380px);max-width:calc(100vw - 40px);' +
    'height:var(--sitechat-height,600px);max-height:calc(100vh - 110px);background:var(--sitechat-bg,#fff);' +
    'border-radius:var(--sitechat-radius,14px);box-shadow:0 12px 40px rgba(0,0,0,.28);display:flex;flex-direction:column;' +
    'overflow:hidden;animation:sc-in .16s ease-out}' +
    '[hidden]{display:none!important}' +
    '@keyframes sc-in{from{opacity:0;transform:translateY(8px)}}' +
    `header{display:flex;align-items:center;gap:2px;padding:8px 6px 8px 16px;background:${A};color:${AT}}` +
    'h2{all:unset;flex:1;font-size:16px;font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}' +
    '.ib{width:38px;height:38px;border:0;border-radius:8px;background:transparent;color:inherit;display:grid;place-items:center;padding:0}' +
    '.ib:hover{background:rgba(127,127,127,.25)}.ib svg{width:20px;height:20px}' +
    'header :focus-visible{outline-color:currentColor;outline-offset:-4px}' +
    '.bar{padding:10px 14px;background:#fff4e5;border-bottom:1px solid #d0d7de;font-size:14px}.bar p{margin:0 0 8px}' +
    '.row{display:flex;gap:8px;flex-wrap:wrap}.b .row{margin-top:6px}' +
    '.msgs{flex:1;overflow-y:auto;padding:16px 14px;display:flex;flex-direction:column;gap:12px;overscroll-behavior:contain}' +
    '.msg{max-width:88%;align-self:flex-start}.me{align-self:flex-end}' +
    '.b{padding:9px 12px;border-radius:12px;background:var(--sitechat-bubble,#f1f3f5);overflow-wrap:anywhere}' +
    `.me .b{background:${A};color:${AT};white-space:pre-wrap}` +
    '.md p,.md ul,.md ol,.md pre{margin:0 0 8px}.md>:last-child{margin-bottom:0}.md ul,.md ol{padding-left:22px}' +
    'code{font:13px/1.4 ui-monospace,Menlo,Consolas,monospace;background:rgba(0,0,0,.07);padding:1px 4px;border-radius:4px}' +
    'pre{background:#1f2328;color:#f6f8fa;padding:10px;border-radius:8px;overflow-x:auto;white-space:pre}' +
    'pre code{background:none;padding:0;color:inherit}' +
    'a{color:var(--sitechat-link,#1a4fd6);text-decoration:underline}' +
    '.cite{font-size:12px;font-weight:600;padding:0 1px}' +
    '.src{margin-top:8px;padding-top:6px;border-top:1px solid #c8ced6;font-size:13px}' +
    `.src p{margin:0;font-weight:600;color:${MU}}.src ol{margin:2px 0 0;padding-left:22px}` +
    `.note{margin:6px 0 0;font-size:13px;color:${MU}}.err{margin:6px 0 0;color:#a31b0f}` +
    `.sys{align-self:center;font-size:13px;color:${MU};text-align:center}` +
    '.btn{border:1px solid #8c959f;background:#fff;color:#1f2328;border-radius:8px;padding:5px 10px;font-size:14px}' +
    '.btn:hover{background:#f6f8fa}' +
    '.typ{display:inline-flex;gap:4px;padding:6px 0}' +
    '.typ i{width:7px;height:7px;border-radius:50%;background:#6e7781;animation:sc-b 1s infinite ease-in-out}' +
    '.typ i:nth-child(3){animation-delay:.15s}.typ i:nth-child(4){animation-delay:.3s}' +
    '@keyframes sc-b{0%,80%,100%{opacity:.35;transform:none}40%{opacity:1;transform:translateY(-3px)}}' +
    '.comp{display:flex;gap:8px;align-items:flex-end;padding:10px 10px 8px;border-top:1px solid #d0d7de}' +
    'textarea{flex:1;resize:none;height:42px;min-height:42px;max-height:140px;padding:9px 11px;border:1px solid #8c959f;' +
    'border-radius:10px;background:#fff;color:#1f2328;line-height:1.4}' +
    `.send{height:42px;padding:0 16px;border:0;border-radius:10px;background:${A};color:${AT};font-weight:600}` +
    '.send:disabled{opacity:.55;cursor:not-allowed}' +
    `.count{padding:0 12px 6px;font-size:12px;text-align:right;color:${MU}}.count.over{color:#a31b0f;font-weight:600}` +
    '.contact{flex:1;overflow-y:auto;padding:16px 14px}.contact>p{margin:0 0 12px;outline:0}' +
    '.contact label{display:block;margin:0 0 10px;font-size:14px;font-weight:600}' +
    '.contact [name]:not([type=checkbox]){display:block;width:100%;margin-top:4px;padding:8px 10px;' +
    'border:1px solid #8c959f;border-radius:8px;background:#fff;font-weight:400;height:auto}' +
    '.hp{position:absolute!important;left:-10000px;top:auto;width:1px;height:1px;overflow:hidden}' +
    '.ts{padding:8px 12px 0}.ts>p{margin:0 0 6px;font-size:13px;color:' + MU + '}' +
    '.contact .chk{display:flex;gap:8px;align-items:flex-start;font-weight:400}.chk input{margin-top:3px}.res{margin:12px 0 0}' +
    '@media (max-width:480px){.w .panel{inset:0;width:100%;max-width:none;height:100%;max-height:none;border-radius:0}textarea{font-size:16px}}' +
    '@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important;scroll-behavior:auto!important}}';

  /* --- DOM helpers --- */

  /* h('p', {text: s}, [kids]): attributes, textContent, string kids as text. */
  function h(tag, attrs, kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of [].concat(kids || [])) if (c != null) e.append(c);
    if (tag === 'a') {
      e.rel = 'noopener noreferrer';
      if (/^http/.test(e.href)) e.target = '_blank';
    }
    return e;
  }
  const ICON = {
    chat: 'M21 12a8 8 0 0 1-11.6 7.1L4 20.5l1.4-4.9A8 8 0 1 1 21 12z',
    x: 'M6 6l12 12M18 6L6 18',
    plus: 'M12 5v14M5 12h14',
    trash: 'M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3'
  };
  function icon(name) {
    const ns = 'http://www.w3.org/2000/svg';
    const s = document.createElementNS(ns, 'svg');
    s.setAttribute('viewBox', '0 0 24 24');
    s.setAttribute('aria-hidden', 'true');
    s.setAttribute('focusable', 'false');
    const p = document.createElementNS(ns, 'path');
    p.setAttribute('d', ICON[name]);
    s.append(p);
    return s;
  }

  /* --- the launcher (the only synchronous work) --- */

  const host = document.createElement('sitechat-widget');
  if (ds.accent && isColor(ds.accent)) {
    host.style.setProperty('--sitechat-accent', ds.accent);
    const fg = textOn(ds.accent);
    if (fg) host.style.setProperty('--sitechat-accent-text', fg);
  }
  const root = host.attachShadow({ mode: 'open' });
  const wrap = h('div', { class: cfg.left ? 'w left' : 'w', lang });
  const launcher = h('button', {
    class: 'launcher', type: 'button', 'aria-label': L.open, 'aria-expanded': 'false', 'aria-haspopup': 'dialog',
    onclick: () => (S.open ? close(true) : open(true))
  }, icon('chat'));
  wrap.append(launcher);
  /* A constructed sheet is CSSOM: a page CSP without 'unsafe-inline' allows it. */
  if (root.adoptedStyleSheets && window.CSSStyleSheet && CSSStyleSheet.prototype.replaceSync) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } else root.append(h('style', { text: CSS }));
  root.append(wrap);

  const S = { open: false, loaded: false, sess: undefined, bot: null, cfg: null, tsLoad: null };
  let P = null; /* panel parts, built on first open */

  function mount() {
    document.body.append(host);
    window.dispatchEvent(new CustomEvent('sitechat:ready', { detail: { version: VERSION } }));
    if (cfg.open || openMark()) setTimeout(() => open(false), 0);
  }
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);

  window.SiteChat = { version: VERSION, open: () => open(true), close: () => close(false) };

  /* --- config helpers --- */

  /* An absolute http(s) URL, or a path on this page's origin ("/"). */
  function parseApi(v) {
    v = String(v || '').trim();
    if (!/^(https?:\/\/|\/)/i.test(v)) return null;
    try {
      const u = new URL(v, location.href);
      return /^https?:$/.test(u.protocol) ? (u.origin + u.pathname).replace(/\/+$/, '') : null;
    } catch (e) {
      return null;
    }
  }
  function isColor(c) {
    try { return window.CSS.supports('color', c); } catch (e) { return false; }
  }
  /* White or near-black text on a #rgb / #rrggbb accent, whichever contrasts more. */
  function textOn(c) {
    const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(c.trim());
    if (!m) return '';
    const x = m[1].length === 3 ? m[1].replace(/./g, '$&$&') : m[1];
    const [r, g, b] = [0, 2, 4].map((i) => {
      const v = parseInt(x.substr(i, 2), 16) / 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    const y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    return 1.05 / (y + 0.05) >= (y + 0.05) / 0.0556 ? '#fff' : '#111';
  }

  /* --- the panel --- */

  function build() {
    if (P) return;
    P = {};
    const ibtn = (label, name, fn) => h('button', { class: 'ib', type: 'button', 'aria-label': label, title: label, onclick: fn }, icon(name));
    P.delBtn = ibtn(L.del, 'trash', () => { P.bar.hidden = false; P.barNo.focus(); });
    P.barNo = h('button', { class: 'btn', type: 'button', text: L.cancel, onclick: () => { P.bar.hidden = true; P.delBtn.focus(); } });
    P.bar = h('div', { class: 'bar', hidden: true, role: 'group', 'aria-label': L.del }, [
      h('p', { text: L.delQ }),
      h('div', { class: 'row' }, [h('button', { class: 'btn', type: 'button', text: L.delYes, onclick: erase }), P.barNo])
    ]);
    P.msgs = h('div', { class: 'msgs', tabindex: '0', role: 'region', 'aria-label': L.convo });
    P.input = h('textarea', {
      id: 'in', rows: '1', placeholder: L.ph, 'aria-describedby': 'cnt', autocomplete: 'off', oninput: onInput, onkeydown: onKey
    });
    P.send = h('button', { class: 'send', type: 'submit', text: L.send });
    P.stop = h('button', { class: 'send', type: 'button', text: L.stop, hidden: true, onclick: stop });
    P.comp = h('form', { class: 'comp', onsubmit: (e) => { e.preventDefault(); submit(); } },
      [h('label', { class: 'vh', for: 'in', text: L.label }), P.input, P.send, P.stop]);
    P.count = h('div', { class: 'count', id: 'cnt', hidden: true });
    P.contact = buildContact();
    /* The Turnstile check renders into a light-DOM element slotted here, so
     * Cloudflare's iframe lives in the page's document. */
    P.ts = h('div', { class: 'ts', hidden: true }, [h('p', { text: L.verify }), h('slot', { name: 'ts' })]);
    P.live = h('div', { class: 'vh', role: 'status', 'aria-live': 'polite' });
    P.panel = h('div', { class: 'panel', role: 'dialog', 'aria-labelledby': 't', hidden: true, onkeydown: onPanelKey }, [
      h('header', null, [h('h2', { id: 't', text: cfg.title }), ibtn(L.newc, 'plus', fresh), P.delBtn, ibtn(L.close, 'x', () => close(true))]),
      P.bar, P.msgs, P.contact, P.ts, P.comp, P.count, P.live
    ]);
    wrap.append(P.panel);
  }

  function open(focus) {
    build();
    if (!S.open) {
      S.open = true;
      P.panel.hidden = false;
      launcher.setAttribute('aria-expanded', 'true');
      launcher.setAttribute('aria-label', L.close);
      launcher.replaceChildren(icon('x'));
      openMark(1);
      if (!S.loaded) {
        S.loaded = true;
        start();
      }
      toBottom();
    }
    if (focus) (P.contact.hidden ? P.input : P.c.intro).focus();
  }
  function close(focusLauncher) {
    if (!S.open) return;
    S.open = false;
    P.panel.hidden = true;
    launcher.setAttribute('aria-expanded', 'false');
    launcher.setAttribute('aria-label', L.open);
    launcher.replaceChildren(icon('chat'));
    openMark(0);
    if (focusLauncher) launcher.focus();
  }
  /* The panel stays open across the pages of a site, per tab. */
  function openMark(v) {
    try {
      if (v == null) return sessionStorage.getItem(OKEY) === '1';
      if (v) sessionStorage.setItem(OKEY, '1');
      else sessionStorage.removeItem(OKEY);
    } catch (e) { /* storage blocked */ }
  }
  function onPanelKey(e) {
    if (e.key !== 'Escape') return;
    e.preventDefault();
    e.stopPropagation();
    close(true);
  }
  function onKey(e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      submit();
    }
  }
  function codePoints(s) {
    let n = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0xd800 || c > 0xdbff) n++;
    }
    return n;
  }
  function onInput() {
    const v = P.input.value;
    const n = v.length < WARN ? v.length : codePoints(v);
    const left = MAX - n;
    P.count.hidden = n < WARN;
    P.count.textContent = left >= 0 ? L.left(left) : L.over(-left);
    P.count.classList.toggle('over', left < 0);
    P.send.disabled = left < 0;
    P.input.style.height = '';
    if (P.input.scrollHeight > P.input.clientHeight) P.input.style.height = Math.min(P.input.scrollHeight + 2, 140) + 'px';
  }
  function submit() {
    const v = P.input.value;
    if (S.bot || !v.trim() || codePoints(v) > MAX) return;
    P.input.value = '';
    onInput();
    send(v, false);
  }
  function busy(bot) {
    const refocus = !bot && root.activeElement === P.stop;
    S.bot = bot;
    P.send.hidden = !!bot;
    P.stop.hidden = !bot;
    if (refocus) P.input.focus();
  }
  function stop() {
    if (S.bot) S.bot.ctrl.abort();
    P.input.focus();
  }
  /* The live region hears each finished answer once, never the tokens. */
  function announce(text) {
    P.live.textContent = '';
    setTimeout(() => { P.live.textContent = text; }, 60);
  }
  const nearBottom = () => P.msgs.scrollHeight - P.msgs.scrollTop - P.msgs.clientHeight < 48;
  const toBottom = () => { P.msgs.scrollTop = P.msgs.scrollHeight; };

  /* --- messages --- */

  function addUser(text) {
    P.msgs.append(h('div', { class: 'msg me' }, [h('span', { class: 'vh', text: L.you + ': ' }), h('div', { class: 'b', text })]));
    toBottom();
  }
  /* A bot message: raw Markdown, sources, turn and last event id (resume). */
  function addBot(q) {
    const md = h('div', { class: 'md' });
    const b = h('div', { class: 'b' }, md);
    P.msgs.append(h('div', { class: 'msg' }, [h('span', { class: 'vh', text: L.bot + ': ' }), b]));
    return { b, md, q, raw: '', sources: [], blocks: [], lastId: 0, turn: null, final: false, ctrl: new AbortController() };
  }
  function sysNote(text) {
    P.msgs.append(h('p', { class: 'sys', text }));
    toBottom();
  }
  function greet() {
    const bot = addBot();
    bot.raw = cfg.greeting;
    render(bot);
  }
  function typing(bot, on) {
    if (on && !bot.typ) {
      bot.typ = h('div', { class: 'typ' }, [h('span', { class: 'vh', text: L.typing }), h('i'), h('i'), h('i')]);
      bot.md.after(bot.typ);
    } else if (!on && bot.typ) {
      bot.typ.remove();
      bot.typ = null;
    }
  }
  function note(bot, text, cls) {
    if (bot.noteEl) bot.noteEl.remove();
    bot.noteEl = text ? h('div', null, h('p', { class: cls || 'note', text })) : null;
    if (bot.noteEl) bot.b.append(bot.noteEl);
    return bot.noteEl;
  }
  /* Tokens are drawn at most every 50 ms: a third of the main-thread time of
   * drawing every frame, and no slower to read. */
  function schedule(bot) {
    if (bot.queued) return;
    bot.queued = true;
    setTimeout(() => requestAnimationFrame(() => { if (bot.queued) render(bot); }), 50);
  }
  function render(bot) {
    bot.queued = false;
    const stick = nearBottom();
    renderMd(bot);
    if (stick) toBottom();
  }
  function setSources(bot, list) {
    bot.sources = Array.isArray(list) ? list.slice(0, 50) : [];
    for (const x of bot.blocks) x.el.remove();
    bot.blocks = []; /* citations become links: draw again */
    if (bot.srcEl) bot.srcEl.remove();
    bot.srcEl = null;
    const ol = h('ol');
    for (const s of bot.sources) {
      if (!s || typeof s !== 'object') continue;
      const u = safeUrl(s.url);
      const t = String(s.title || s.url || '');
      ol.append(h('li', { value: s.n > 0 ? String(s.n | 0) : null }, u ? h('a', { href: u, text: t }) : t));
    }
    if (ol.children.length) {
      bot.srcEl = h('div', { class: 'src' }, [h('p', { text: L.sources }), ol]);
      bot.md.after(bot.srcEl);
    }
    render(bot);
  }

  /* --- a safe Markdown subset ---
   * Blocks: paragraphs, lists, fenced code, headings (as bold paragraphs).
   * Inline: `code`, [text](url), [n] citations, **bold**, *italic*, _italic_,
   * bare http(s) URLs. Everything else stays literal text. While streaming,
   * only the blocks whose source changed are rebuilt. */

  const ITEM = /^ {0,3}([-*+]|\d{1,9}[.)])\s+(.*)$/;
  const FENCE = /^ {0,3}(```|~~~)/;
  const HEAD = /^ {0,3}#{1,6}\s+(.*)$/;
  const isOl = (m) => /\d/.test(m[1]);

  function parseBlocks(text) {
    const lines = text.split(/\r\n?|\n/), out = [];
    let i = 0, m;
    while (i < lines.length) {
      const l = lines[i];
      if (!l.trim()) {
        i++;
      } else if ((m = FENCE.exec(l))) {
        const body = [];
        for (i++; i < lines.length && !lines[i].trim().startsWith(m[1]); i++) body.push(lines[i]);
        i++;
        out.push({ t: 'pre', v: body.join('\n') });
      } else if ((m = ITEM.exec(l))) {
        const ordered = isOl(m), items = [];
        while (i < lines.length) {
          const mm = ITEM.exec(lines[i]);
          if (mm && isOl(mm) === ordered) {
            items.push(mm[2]);
            i++;
          } else if (!mm && /^\s{2,}\S/.test(lines[i])) {
            items[items.length - 1] += '\n' + lines[i++].trim();
          } else {
            /* one blank line between items keeps the list going */
            const nx = !lines[i].trim() && ITEM.exec(lines[i + 1] || '');
            if (!nx || isOl(nx) !== ordered) break;
            i++;
          }
        }
        out.push({ t: ordered ? 'ol' : 'ul', v: items.join('\u0001'), items, start: ordered ? parseInt(m[1], 10) : 1 });
      } else if ((m = HEAD.exec(l))) {
        out.push({ t: 'h', v: m[1] });
        i++;
      } else {
        const para = [];
        while (i < lines.length && lines[i].trim() && !FENCE.test(lines[i]) && !HEAD.test(lines[i]) &&
               !(para.length && ITEM.test(lines[i]))) {
          para.push(lines[i++]);
        }
        out.push({ t: 'p', v: para.join('\n') });
      }
    }
    return out;
  }

  function renderMd(bot) {
    const blocks = parseBlocks(bot.raw), old = bot.blocks, next = [];
    blocks.forEach((b, i) => {
      const key = b.t + '\u0000' + b.v + '\u0000' + (b.start || '');
      const o = old[i];
      if (o && o.key === key) return next.push(o);
      const el = buildBlock(b, bot.sources);
      if (o) o.el.replaceWith(el);
      else bot.md.append(el);
      next.push({ key, el });
    });
    for (const o of old.slice(blocks.length)) o.el.remove();
    bot.blocks = next;
  }

  function buildBlock(b, src) {
    if (b.t === 'pre') return h('pre', null, h('code', { text: b.v }));
    if (b.t === 'ul' || b.t === 'ol') {
      const list = h(b.t, { start: b.t === 'ol' && b.start !== 1 ? String(b.start) : null });
      for (const it of b.items) list.append(fill(h('li'), it, src));
      return list;
    }
    if (b.t === 'h') return h('p', null, fill(h('strong'), b.v, src));
    return fill(h('p'), b.v, src);
  }
  function fill(el, text, src) {
    text.split('\n').forEach((ln, i) => {
      if (i) el.append(h('br'));
      inline(el, ln, src, 0);
    });
    return el;
  }

  /* groups: 1,2 code; 3,4 link; 5 citation; 6,7 bold; 8,9 italic; 10 bare URL */
  const INLINE = [
    '(`+)([^`]|[^`][^]*?[^`])\\1(?!`)',
    '\\[([^\\[\\]\\n]+)\\]\\(\\s*<?([^\\s()<>]+)>?\\s*\\)',
    '\\[(\\d{1,3})\\]',
    '(\\*\\*|__)(?=\\S)([^]*?\\S)\\6',
    '(\\*|_)(?=[^\\s*_])([^]*?[^\\s*_])\\8(?![\\w*])',
    '\\b(https?:\\/\\/[^\\s<>"\')\\]]*[^\\s<>"\')\\].,;:!?])'
  ].join('|');

  function inline(parent, s, src, depth) {
    if (depth > 4) return parent.append(s);
    const re = new RegExp(INLINE, 'g');
    let pos = 0, m;
    while ((m = re.exec(s))) {
      /* snake_case is not emphasis */
      if (m[8] === '_' && m.index > 0 && /\w/.test(s[m.index - 1])) {
        re.lastIndex = m.index + 1;
        continue;
      }
      if (m.index > pos) parent.append(s.slice(pos, m.index));
      pos = re.lastIndex;
      if (m[2] != null) parent.append(h('code', { text: m[2] }));
      else if (m[3] != null) {
        const u = safeUrl(m[4]);
        parent.append(inlineIn(u ? h('a', { href: u }) : h('span'), m[3], src, depth));
      } else if (m[5] != null) parent.append(cite(+m[5], src));
      else if (m[7] != null) parent.append(inlineIn(h('strong'), m[7], src, depth));
      else if (m[9] != null) parent.append(inlineIn(h('em'), m[9], src, depth));
      else {
        const u = safeUrl(m[10]);
        parent.append(u ? h('a', { href: u, text: m[10] }) : m[10]);
      }
    }
    if (pos < s.length) parent.append(s.slice(pos));
  }
  function inlineIn(el, s, src, depth) {
    inline(el, s, src, depth + 1);
    return el;
  }
  function cite(n, src) {
    const s = src.find((x) => x && +x.n === n);
    const u = s && safeUrl(s.url);
    if (!u) return `[${n}]`;
    return h('a', { class: 'cite', href: u, 'aria-label': `${L.source} ${n}: ${s.title || u}`, text: `[${n}]` });
  }
  function safeUrl(s) {
    try {
      const u = new URL(String(s));
      return /^(https?|mailto):$/.test(u.protocol) ? u.href : null;
    } catch (e) {
      return null;
    }
  }

  /* --- the event stream ---
   * A text/event-stream parser fed decoded chunks: LF, CRLF or CR line ends
   * (a CR at a chunk's end waits for the next chunk), comments, multi-line
   * data, fields without a colon. An event is dispatched at its blank line
   * with its id (own: the block had an id line); an unfinished block at the
   * end is dropped, as EventSource does. */
  function sseParser(onEvent) {
    let buf = '', data = [], type = '', id = '', own = false;
    function line(l) {
      if (l === '') {
        if (data.length) onEvent({ type: type || 'message', data: data.join('\n'), id, own });
        data = [];
        type = '';
        own = false;
        return;
      }
      if (l[0] === ':') return;
      const c = l.indexOf(':');
      const f = c < 0 ? l : l.slice(0, c);
      let v = c < 0 ? '' : l.slice(c + 1);
      if (v[0] === ' ') v = v.slice(1);
      if (f === 'data') data.push(v);
      else if (f === 'event') type = v;
      else if (f === 'id' && !v.includes('\u0000')) {
        id = v;
        own = true;
      }
    }
    return {
      push(chunk) {
        buf += chunk;
        let i = 0, s = 0;
        while (i < buf.length) {
          const ch = buf.charCodeAt(i);
          if (ch !== 10 && ch !== 13) {
            i++;
            continue;
          }
          if (ch === 13 && i + 1 === buf.length) break;
          line(buf.slice(s, i));
          i += ch === 13 && buf.charCodeAt(i + 1) === 10 ? 2 : 1;
          s = i;
        }
        buf = buf.slice(s);
        if (buf.length > 1048576) buf = ''; /* a line over 1 MB is not ours */
      },
      end() {
        if (buf.endsWith('\r')) line(buf.slice(0, -1));
        buf = '';
      }
    };
  }

  function onEvent(bot, ev) {
    const id = parseInt(ev.id, 10);
    if (ev.own && id > 0) {
      if (id <= bot.lastId) return; /* already seen: never drawn twice */
      bot.lastId = id;
    }
    let d;
    try { d = JSON.parse(ev.data); } catch (e) { return; }
    if (!d || typeof d !== 'object') return;
    switch (ev.type) {
      case 'meta':
        if (typeof d.turn_id === 'string') bot.turn = d.turn_id;
        if (bot.turn && S.sess) store(PKEY, { sid: S.sess.id, turn: bot.turn, q: bot.q });
        break;
      case 'sources':
        setSources(bot, d.sources);
        break;
      case 'token':
        if (typeof d.text !== 'string') break;
        typing(bot, false);
        if (bot.raw.length < RAW_CAP) bot.raw += d.text;
        schedule(bot);
        break;
      case 'handoff': /* sent once the hand-off is stored; the promise says when */
        sysNote(typeof d.promise === 'string' && d.promise ? L.handoff + ' ' + d.promise : L.handoff);
        break;
      case 'error':
        bot.final = true;
        failed(bot, d);
        break;
      case 'done':
        bot.final = true;
        finished(bot, d.partial ? L.partial : '');
        break;
      default: /* lead, and events this version does not know */
    }
  }

  /* Reads one response's stream into bot: 'final' once done or error came,
   * 'aborted' on Stop, 'lost' when the stream ended or broke before that. */
  async function consume(res, bot) {
    if (!res.body || !res.body.getReader) return 'lost';
    const reader = res.body.getReader(), dec = new TextDecoder();
    const p = sseParser((ev) => onEvent(bot, ev));
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done) {
          p.push(dec.decode());
          p.end();
          break;
        }
        p.push(dec.decode(r.value, { stream: true }));
        if (bot.final) {
          reader.cancel().catch(() => {});
          break;
        }
      }
    } catch (e) {
      if (bot.ctrl.signal.aborted) return 'aborted';
    }
    return bot.final ? 'final' : 'lost';
  }

  /* --- network --- */

  function store(k, v) {
    try {
      if (v == null) localStorage.removeItem(k);
      else localStorage.setItem(k, JSON.stringify(v));
    } catch (e) { /* storage blocked: the conversation lasts one page */ }
  }
  function load(k) {
    try { return JSON.parse(localStorage.getItem(k)); } catch (e) { return null; }
  }
  function session() {
    if (S.sess === undefined) {
      const s = load(KEY);
      S.sess = s && typeof s.token === 'string' && typeof s.id === 'string' && !(s.exp && s.exp * 1000 < Date.now()) ? s : null;
      if (!S.sess) store(KEY, null);
    }
    return S.sess;
  }
  function forget() {
    S.sess = null;
    store(KEY, null);
    store(PKEY, null);
  }
  /* fetch against the API: throws {net: true} when unreachable, the
   * AbortError on Stop. */
  async function call(path, { method = 'GET', body, auth, headers = {}, signal } = {}) {
    if (auth && S.sess) headers.Authorization = 'Bearer ' + S.sess.token;
    if (body) headers['Content-Type'] = 'application/json';
    try {
      return await fetch(api + path, { method, headers, body: body && JSON.stringify(body), signal, credentials: 'omit', cache: 'no-store' });
    } catch (e) {
      throw e && e.name === 'AbortError' ? e : { net: true };
    }
  }
  /* The API's error JSON as {status, code, message}. */
  async function httpError(res) {
    const j = await res.json().catch(() => null);
    const e = (j && j.error) || {};
    return { status: res.status, code: String(e.code || ''), message: typeof e.message === 'string' ? e.message : '' };
  }
  /* GET /v1/config once: {turnstile_site_key}. A gateway without it (or
   * unreachable) means no Turnstile; the session call then says the rest. */
  function siteConfig() {
    if (!S.cfg) {
      S.cfg = call('/v1/config').then((r) => (r.ok ? r.json() : {})).then((j) => (j && typeof j === 'object' ? j : {}),
        () => { S.cfg = null; return {}; });
    }
    return S.cfg;
  }
  /* Cloudflare's api.js (or a copy the page loaded itself). */
  function turnstileApi() {
    if (window.turnstile) return Promise.resolve(window.turnstile);
    if (!S.tsLoad) {
      S.tsLoad = new Promise((ok, fail) => {
        const el = document.createElement('script');
        el.src = TS_SRC;
        el.async = true;
        el.onload = () => (window.turnstile ? ok(window.turnstile) : fail({ net: true }));
        el.onerror = () => { S.tsLoad = null; el.remove(); fail({ net: true }); };
        document.head.append(el);
      });
    }
    return S.tsLoad;
  }
  /* A fresh Turnstile token when the gateway wants one (tokens are single
   * use), else null. Renders the check in the panel until it answers. */
  async function botToken(signal) {
    const key = (await siteConfig()).turnstile_site_key;
    if (typeof key !== 'string' || !key) return null;
    const ts = await turnstileApi();
    return new Promise((ok, fail) => {
      const box = h('div', { slot: 'ts' });
      host.append(box);
      P.ts.hidden = false;
      let id = null;
      const end = (fn, v) => {
        signal.removeEventListener('abort', ab);
        P.ts.hidden = true;
        try { if (id != null) ts.remove(id); } catch (e) { /* already gone */ }
        box.remove();
        fn(v);
      };
      const no = () => { end(fail, { status: 403, code: 'bot_check_failed', message: '' }); return true; };
      const ab = () => end(fail, new DOMException('stopped', 'AbortError'));
      signal.addEventListener('abort', ab);
      try {
        id = ts.render(box, {
          sitekey: key, action: 'chat', language: lang, callback: (t) => end(ok, String(t)),
          'error-callback': no, 'expired-callback': no, 'timeout-callback': no
        });
      } catch (e) {
        no();
      }
    });
  }
  async function ensureSession(signal) {
    if (session()) return;
    const body = { locale: lang };
    const tok = await botToken(signal);
    if (tok) body.turnstile_token = tok;
    const res = await call('/v1/sessions', { method: 'POST', body, signal });
    if (!res.ok) throw await httpError(res);
    const j = await res.json().catch(() => null);
    if (!j || typeof j.token !== 'string' || typeof j.session_id !== 'string') throw { net: true };
    S.sess = { id: j.session_id, token: j.token, exp: +j.expires_at || 0 };
    store(KEY, S.sess);
  }
  function sleep(ms, signal, wakeOnline) {
    return new Promise((ok, fail) => {
      const clean = () => {
        clearTimeout(t);
        removeEventListener('online', go);
        signal.removeEventListener('abort', ab);
      };
      const go = () => { clean(); ok(); };
      const ab = () => { clean(); fail(new DOMException('stopped', 'AbortError')); };
      const t = setTimeout(go, ms);
      if (wakeOnline) addEventListener('online', go);
      signal.addEventListener('abort', ab);
      if (signal.aborted) ab();
    });
  }

  /* --- a turn --- */

  async function send(text, isRetry) {
    if (!isRetry) addUser(text);
    const bot = addBot(text);
    typing(bot, true);
    busy(bot);
    toBottom();
    let r;
    try {
      let res;
      for (let renewed = false, waits = 0; ;) {
        await ensureSession(bot.ctrl.signal);
        res = await call('/v1/chat', { method: 'POST', auth: true, body: { message: text }, signal: bot.ctrl.signal });
        if ((res.status === 401 || res.status === 404) && !renewed) {
          renewed = true; /* the session expired or was erased elsewhere */
          forget();
        } else if (res.status === 409 && waits++ < 6) {
          await sleep(2000, bot.ctrl.signal); /* the last turn (say, a stopped one) is still running */
        } else break;
      }
      if (!res.ok) throw await httpError(res);
      bot.turn = res.headers.get('X-Turn-Id');
      r = await consume(res, bot);
      if (r === 'lost') r = await resume(bot, false);
    } catch (e) {
      r = e && e.name === 'AbortError' ? 'aborted' : e;
    }
    settle(bot, r);
  }

  /* Reconnects to bot's turn after the last event id seen: up to six tries,
   * waiting 0.5 s doubling to 8 s (cut short when the browser comes back
   * online); a try that brought events resets the count. */
  async function resume(bot, now) {
    if (!bot.turn || !S.sess) return 'lost';
    note(bot, L.reconnecting);
    let r = 'lost';
    for (let fails = 0; fails < 6;) {
      if (!now || fails) await sleep(Math.min(8000, 500 * 2 ** fails), bot.ctrl.signal, true);
      now = false;
      let res;
      try {
        res = await call(`/v1/chat/${encodeURIComponent(bot.turn)}/events`,
          { auth: true, headers: { 'Last-Event-ID': String(bot.lastId) }, signal: bot.ctrl.signal });
      } catch (e) {
        if (e && e.name === 'AbortError') throw e;
        fails++;
        continue;
      }
      if (res.status === 404) {
        r = 'gone';
        break;
      }
      if (!res.ok) {
        fails++;
        continue;
      }
      const before = bot.lastId;
      r = await consume(res, bot);
      if (r !== 'lost') break;
      fails = bot.lastId > before ? 0 : fails + 1;
    }
    if (r !== 'final') note(bot, '');
    return r;
  }

  async function settle(bot, r) {
    if (r === 'final') return;
    typing(bot, false);
    render(bot);
    if (r === 'aborted') {
      note(bot, L.stopped);
      done(bot);
    } else if (r === 'gone') {
      /* the turn is no longer kept: what was stored is in the transcript */
      const list = await messages().catch(() => null);
      const m = list && list.find((x) => x.role === 'assistant' && x.turn_id === bot.turn);
      if (!m) return failed(bot, { code: 'lost' });
      bot.raw = String(m.content || '');
      setSources(bot, m.sources);
      finished(bot, m.partial ? L.partial : '');
    } else if (r === 'lost') {
      failed(bot, { code: 'lost' });
    } else if (r && (r.net || [429, 502, 503, 504].includes(r.status))) {
      /* 429: a budget (budget_exhausted) or a rate limit (rate_limited:
       * per IP from POST /v1/chat or /v1/sessions, or turns per minute of
       * the session): either way the contact form, which still reaches
       * sales. */
      const code = r.status !== 429 ? 'unreachable' : r.code === 'rate_limited' ? 'rate_limited' : 'budget_exhausted';
      failed(bot, { code, message: r.status === 429 && r.message });
      showContact(contactIntro(code), bot.q);
    } else if (r && r.status === 403 && BOT.includes(r.code)) {
      /* Turnstile said no, or the proxy's bot score is low: a person can
       * still reach sales with the contact form. */
      failed(bot, { code: r.code, message: r.message, retryable: r.code !== 'bot_suspected' });
      showContact(L.botFail, bot.q);
    } else {
      failed(bot, { code: r && r.code, message: r && r.message, retryable: !(r && (r.status === 400 || r.status === 413)) });
    }
  }

  function done(bot) {
    store(PKEY, null);
    if (S.bot === bot) busy(null);
  }
  function finished(bot, noteText) {
    typing(bot, false);
    render(bot);
    note(bot, noteText);
    done(bot);
    announce(L.answer + bot.md.textContent);
  }
  const BOT = ['bot_check_required', 'bot_check_failed', 'bot_suspected'];
  const KNOWN = { lost: 'lost', unreachable: 'down', limit_reached: 'limit', budget_exhausted: 'limit', rate_limited: 'busy', bot_check_required: 'botFail', bot_check_failed: 'botFail', bot_suspected: 'botFail' };
  const CONTACT = ['limit_reached', 'budget_exhausted', 'rate_limited', 'unreachable', 'service_unavailable', 'timeout'].concat(BOT);
  function contactIntro(code) {
    return code === 'limit_reached' || code === 'budget_exhausted' ? L.limit : code === 'rate_limited' ? L.busy : BOT.includes(code) ? L.botFail : L.down;
  }
  function failed(bot, d) {
    typing(bot, false);
    render(bot);
    const code = String(d.code || '');
    /* The server's sentence is meant for visitors (docs/api.md), in English. */
    const text = (lang === 'en' && typeof d.message === 'string' && d.message) || L[KNOWN[code]] || d.message || L.generic;
    const box = note(bot, text, 'err');
    const row = h('div', { class: 'row' });
    if (d.retryable !== false) {
      row.append(h('button', {
        class: 'btn', type: 'button', text: L.retry, onclick: () => {
          if (S.bot) return;
          bot.b.parentNode.remove();
          send(bot.q, true);
        }
      }));
    }
    if (CONTACT.includes(code)) {
      row.append(h('button', { class: 'btn', type: 'button', text: L.contactBtn, onclick: () => showContact(contactIntro(code), bot.q) }));
    }
    if (row.children.length && bot.q != null) box.append(row);
    done(bot);
    announce(text);
  }

  /* --- the conversation on open --- */

  async function messages() {
    if (!session()) return null;
    const res = await call(`/v1/sessions/${encodeURIComponent(S.sess.id)}/messages`, { auth: true });
    if ([401, 403, 404].includes(res.status)) {
      forget();
      return null;
    }
    if (!res.ok) throw { status: res.status };
    const j = await res.json();
    return j && Array.isArray(j.messages) ? j.messages : [];
  }

  /* Shows the stored conversation, then picks up a turn that a reload
   * interrupted, replayed from its first event. */
  async function start() {
    const list = await messages().catch(() => null);
    if (!list) return greet();
    /* An empty transcript can still have a first turn running (the
     * server stores a turn when it ends): then no greeting. */
    const pend = load(PKEY);
    if (!list.length && !(pend && S.sess && pend.sid === S.sess.id && typeof pend.turn === 'string')) return greet();
    for (const m of list) {
      if (!m || typeof m.content !== 'string') continue;
      if (m.role === 'user') addUser(m.content);
      else if (m.role === 'assistant') {
        const bot = addBot();
        bot.raw = m.content.slice(0, RAW_CAP);
        setSources(bot, m.sources);
        if (m.partial) note(bot, L.partial);
      }
    }
    toBottom();
    const p = load(PKEY);
    const has = (role) => list.some((m) => m.role === role && m.turn_id === p.turn);
    if (!p || !S.sess || p.sid !== S.sess.id || typeof p.turn !== 'string' || S.bot || has('assistant')) return store(PKEY, null);
    if (!has('user') && p.q) addUser(String(p.q));
    const bot = addBot(p.q);
    bot.turn = p.turn;
    typing(bot, true);
    busy(bot);
    settle(bot, await resume(bot, true).catch((e) => (e && e.name === 'AbortError' ? 'aborted' : 'lost')));
  }

  function clearList() {
    if (S.bot) S.bot.ctrl.abort();
    P.msgs.replaceChildren();
    hideContact();
  }
  function fresh() {
    clearList();
    forget();
    greet();
    P.input.focus();
  }
  async function erase() {
    P.bar.hidden = true;
    try {
      if (session()) {
        const res = await call(`/v1/sessions/${encodeURIComponent(S.sess.id)}`, { method: 'DELETE', auth: true });
        if (!res.ok && res.status !== 401 && res.status !== 404) throw res;
      }
    } catch (e) {
      sysNote(L.delFail);
      announce(L.delFail);
      return P.delBtn.focus();
    }
    clearList();
    forget();
    sysNote(L.deleted);
    announce(L.deleted);
    greet();
    P.input.focus();
  }

  /* --- the contact form (a lead) --- */

  function buildContact() {
    const f = (P.c = {});
    f.intro = h('p', { tabindex: '-1' });
    f.name = h('input', { name: 'name', autocomplete: 'name', required: true, maxlength: '200' });
    f.email = h('input', { type: 'email', name: 'email', autocomplete: 'email', required: true, maxlength: '320' });
    f.msg = h('textarea', { name: 'message', required: true, rows: '4', maxlength: String(MAX) });
    f.consent = h('input', { type: 'checkbox', name: 'consent', required: true });
    /* The honeypot: people never see or reach it; a bot that fills every
     * field is answered as usual, and nothing is stored (docs/api.md). */
    f.hp = h('input', { name: 'website', type: 'text', autocomplete: 'off', tabindex: '-1' });
    f.res = h('div', { class: 'res', role: 'status' });
    f.submit = h('button', { class: 'send', type: 'submit', text: L.submit });
    f.form = h('form', { onsubmit: (e) => { e.preventDefault(); lead(f); } }, [
      h('label', null, [L.name, f.name]),
      h('label', null, [L.email, f.email]),
      h('label', null, [L.msg, f.msg]),
      h('label', { class: 'chk' }, [f.consent, h('span', { text: L.consent })]),
      h('div', { class: 'hp', 'aria-hidden': 'true' }, [h('label', null, ['Website', f.hp])]),
      h('div', { class: 'row' }, [
        f.submit,
        h('button', { class: 'btn', type: 'button', text: L.back, onclick: () => { hideContact(); P.input.focus(); } })
      ])
    ]);
    return h('div', { class: 'contact', hidden: true }, [f.intro, f.form, f.res]);
  }
  function showContact(intro, question) {
    const f = P.c;
    f.intro.textContent = intro;
    if (question && !f.msg.value) f.msg.value = question;
    f.form.hidden = false;
    f.res.replaceChildren();
    P.msgs.hidden = P.comp.hidden = P.count.hidden = true;
    P.contact.hidden = false;
    if (S.open) f.intro.focus();
  }
  function hideContact() {
    P.contact.hidden = true;
    P.msgs.hidden = P.comp.hidden = false;
    onInput();
  }
  /* POST /v1/leads; where that endpoint is missing or failing, a mailto: link
   * to data-contact-email carries the same message. */
  async function lead(f) {
    if (!f.form.reportValidity()) return;
    const body = { name: f.name.value.trim(), email: f.email.value.trim(), message: f.msg.value, consent: f.consent.checked, website: f.hp.value };
    f.submit.disabled = true;
    let res = null;
    try {
      res = await call('/v1/leads', { method: 'POST', auth: !!session(), body });
    } catch (e) { /* unreachable: the fallback below */ }
    f.submit.disabled = false;
    if (res && res.ok) {
      let promise = '';
      try { const j = await res.json(); if (j && typeof j.promise === 'string') promise = j.promise; } catch (e) { /* no body */ }
      f.form.hidden = true;
      f.res.replaceChildren(h('p', { text: L.thanks(body.email) + (promise ? ' ' + promise : '') }));
      return f.intro.focus();
    }
    if (res && (res.status === 400 || res.status === 422)) {
      return f.res.replaceChildren(h('p', { class: 'err', text: (await httpError(res)).message || L.generic }));
    }
    const kids = [h('p', { text: L.leadFail + (cfg.mail ? '' : ' ' + L.later) })];
    if (cfg.mail) {
      const href = `mailto:${cfg.mail}?subject=${encodeURIComponent(cfg.title)}` +
        `&body=${encodeURIComponent(`${body.message}\n\n${body.name} <${body.email}>`)}`;
      kids.push(h('a', { href, text: `${L.mailto}: ${cfg.mail}` }));
    }
    f.res.replaceChildren(...kids);
  }
})();

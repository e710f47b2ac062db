// A small website for indexer tests: a sitemap, robots.txt, good pages and
// the bad cases an indexer meets in the wild. Built-in modules only.
//   node tests/fakes/site.js --port 0   -> prints {"port":N} when ready
// Routes:
//   /robots.txt          Disallow: /private/
//   /sitemap.xml         a <sitemapindex> pointing at /sitemap-pages.xml
//   /sitemap-pages.xml   <urlset> listing every page below
//   /pricing             HTML page (canonical link, nav/footer chrome)
//   /about               HTML page
//   /private/secret      HTML page (disallowed by robots.txt)
//   /missing             404
//   /loop                redirects to /loop2, which redirects to /loop
//   /big                 a 50 MB HTML page
//   /latin1              ISO-8859-1 page (charset in Content-Type)
//   /binary              application/octet-stream bytes with NULs
//   /sitemap-slow.xml    <urlset> of 12 pages /slow/N, each answered after 150 ms
//   /_hits               JSON counts of requests per path, and the most
//                        requests that were in flight at once (max_in_flight)
'use strict';
const http = require('http');

const args = process.argv.slice(2);
const port = Number(args[args.indexOf('--port') + 1] || 0);
const hits = {};
let base = '';
let inFlight = 0;
let maxInFlight = 0;

function page(title, body, canonical) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>` +
    (canonical ? `<link rel="canonical" href="${canonical}">` : '') +
    `</head><body><nav>Home Pricing Login Careers Blog</nav><main><h1 id="top">${title}</h1>${body}</main>` +
    `<footer>Cookie settings Imprint Newsletter</footer></body></html>`;
}

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  hits[path] = (hits[path] || 0) + 1;
  if (path.startsWith('/slow/')) {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    return setTimeout(() => {
      inFlight--;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(page(`Slow page ${path.slice(6)}`, `<p>Patient page number ${path.slice(6)} about quiet gardens.</p>`));
    }, 150);
  }
  const send = (status, type, body, headers) => {
    res.writeHead(status, Object.assign({ 'content-type': type }, headers || {}));
    res.end(body);
  };
  switch (path) {
    case '/robots.txt':
      return send(200, 'text/plain', 'User-agent: *\nDisallow: /private/\n');
    case '/sitemap.xml':
      return send(200, 'application/xml', `<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>${base}/sitemap-pages.xml</loc></sitemap></sitemapindex>`);
    case '/sitemap-pages.xml': {
      const locs = ['/pricing', '/about', '/private/secret', '/missing', '/loop', '/big', '/latin1', '/binary']
        .map((p) => `<url><loc>${base}${p}</loc></url>`).join('');
      return send(200, 'application/xml', `<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">${locs}</urlset>`);
    }
    case '/pricing':
      return send(200, 'text/html; charset=utf-8', page('Zephyr pricing',
        '<h2 id="plans">Plans</h2><p>The Zephyr Team plan costs 42 euros per month and includes unlimited widgets.</p>',
        `${base}/pricing`));
    case '/about':
      return send(200, 'text/html; charset=utf-8', page('About Zephyr',
        '<p>Zephyr builds weather-proof dashboards in Lyon since 2019.</p>'));
    case '/private/secret':
      return send(200, 'text/html', page('Secret', '<p>This must never be indexed.</p>'));
    case '/loop':
      return send(302, 'text/plain', 'moved', { location: '/loop2' });
    case '/loop2':
      return send(302, 'text/plain', 'moved', { location: '/loop' });
    case '/big': {
      res.writeHead(200, { 'content-type': 'text/html' });
      const chunk = '<p>' + 'lorem ipsum '.repeat(8000) + '</p>';
      let sent = 0;
      const write = () => {
        while (sent < 50 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) return res.once('drain', write);
        }
        res.end();
      };
      res.on('error', () => {});
      return write();
    }
    case '/latin1':
      return send(200, 'text/html; charset=iso-8859-1', Buffer.from(page('Caf\u00e9 M\u00fcller',
        '<p>Unser Caf\u00e9 in M\u00fcnchen \u00f6ffnet um 8 Uhr.</p>'), 'latin1'));
    case '/binary':
      return send(200, 'application/octet-stream', Buffer.from([0, 1, 2, 0, 255, 0, 7, 0, 0, 0]));
    case '/sitemap-slow.xml': {
      const locs = Array.from({ length: 12 }, (_, i) => `<url><loc>${base}/slow/${i}</loc></url>`).join('');
      return send(200, 'application/xml', `<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">${locs}</urlset>`);
    }
    case '/_hits':
      return send(200, 'application/json', JSON.stringify(Object.assign({ max_in_flight: maxInFlight }, hits)));
    default:
      return send(404, 'text/html', '<h1>Not found</h1>');
  }
});
server.listen(port, '127.0.0.1', () => {
  base = `http://127.0.0.1:${server.address().port}`;
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

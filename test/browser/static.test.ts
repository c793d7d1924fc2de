// The dashboard's static files over real HTTP (no browser needed): the page and its assets with
// the right content types, revalidation (ETag → 304), gzip, uPlot from node_modules, security
// headers on the HTML, and no way out of web/ or uPlot's dist (raw request paths, so `..` and
// encoded forms reach the server as sent).

import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { registerStatic, resolveUnder, safeSegments, WEB_ROOT } from '../../src/web/static.js';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

async function serve(
  t: import('node:test').TestContext,
): Promise<(path: string, headers?: Record<string, string>, method?: string) => Promise<Reply>> {
  const app = new Hono();
  registerStatic(app);
  app.notFound((c) => c.json({ error: { code: 'ERR_NOT_FOUND', message: 'no route' } }, 404));
  const server = createAdaptorServer({ fetch: app.fetch });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  // http.request sends the path byte for byte (fetch would normalise `..` away).
  return (path, headers = {}, method = 'GET') =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path, headers, method }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      });
      req.on('error', reject);
      req.end();
    });
}

it('serves the page, its modules and uPlot with content types, revalidation and gzip', async (t) => {
  const get = await serve(t);
  const home = await get('/');
  assert.equal(home.status, 200);
  assert.equal(home.headers['content-type'], 'text/html; charset=utf-8');
  assert.match(home.body.toString(), /<script type="module" src="\/assets\/app.js">/);
  assert.match(String(home.headers['content-security-policy']), /script-src 'self'/);
  assert.equal(home.headers['x-frame-options'], 'DENY');
  assert.equal(home.headers['cache-control'], 'no-cache');
  assert.equal(home.headers['x-content-type-options'], 'nosniff');

  const types: Record<string, string> = {
    '/assets/app.js': 'text/javascript; charset=utf-8',
    '/assets/app.css': 'text/css; charset=utf-8',
    '/assets/favicon.svg': 'image/svg+xml',
    '/assets/uplot/uPlot.esm.js': 'text/javascript; charset=utf-8',
    '/assets/uplot/uPlot.min.css': 'text/css; charset=utf-8',
  };
  for (const [path, type] of Object.entries(types)) {
    const reply = await get(path);
    assert.equal(reply.status, 200, path);
    assert.equal(reply.headers['content-type'], type, path);
    assert.ok(reply.body.length > 100, path);
  }
  assert.match((await get('/assets/uplot/uPlot.esm.js')).body.toString(), /export \{ uPlot as default \}/);

  // Revalidation: the ETag comes back as a 304 without a body; a stale one gets the file.
  const first = await get('/assets/app.js');
  const etag = String(first.headers.etag);
  assert.match(etag, /^W\/"[0-9a-f]+-[0-9a-f]+"$/);
  assert.ok(first.headers['last-modified']);
  const again = await get('/assets/app.js', { 'If-None-Match': etag });
  assert.equal(again.status, 304);
  assert.equal(again.body.length, 0);
  assert.equal((await get('/assets/app.js', { 'If-None-Match': 'W/"0-0"' })).status, 200);

  // gzip for clients that take it (uPlot: 145 KB of JavaScript).
  const plain = await get('/assets/uplot/uPlot.esm.js');
  const zipped = await get('/assets/uplot/uPlot.esm.js', { 'Accept-Encoding': 'gzip, deflate' });
  assert.equal(zipped.headers['content-encoding'], 'gzip');
  assert.equal(zipped.headers.vary, 'Accept-Encoding');
  assert.ok(zipped.body.length < plain.body.length / 2, `${zipped.body.length} vs ${plain.body.length}`);
  assert.deepEqual(gunzipSync(zipped.body), plain.body);

  // HEAD: the headers without the body.
  const head = await get('/assets/app.css', {}, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
});

it('never serves anything outside web/ and uPlot dist', async (t) => {
  const get = await serve(t);
  const refused = [
    '/assets/../package.json',
    '/assets/%2e%2e/package.json',
    '/assets/%2E%2E/%2E%2E/etc/passwd',
    '/assets/..%2fpackage.json',
    '/assets/..%2F..%2Fetc%2Fpasswd',
    '/assets/%5c..%5cpackage.json',
    '/assets/uplot/..%2f..%2f..%2fpackage.json',
    '/assets/uplot/%2e%2e/package.json',
    '/assets/uplot/../../package.json',
    '/assets//etc/passwd',
    '/assets/%2fetc%2fpasswd',
    '/assets/%00app.js',
    '/assets/app.js%00.css',
    '/assets/.gitignore',
    '/assets/%2egitignore',
    '/assets/C:%5cWindows',
    '/assets/%E0%A4%A',
    '/assets/app.js/',
  ];
  for (const path of refused) {
    const reply = await get(path);
    assert.ok([400, 404].includes(reply.status), `${path} → ${reply.status}`);
    assert.doesNotMatch(reply.body.toString(), /"name": "picluster"|root:|"version"/, path);
  }
  // Not a file, or not a type we serve.
  for (const path of ['/assets/', '/assets/uplot', '/assets/nope.js', '/assets/uplot/uPlot.d.ts']) {
    assert.equal((await get(path)).status, 404, path);
  }

  // The checks themselves.
  assert.deepEqual(safeSegments('uplot/uPlot.esm.js'), ['uplot', 'uPlot.esm.js']);
  assert.deepEqual(safeSegments('a%20b.js'), ['a b.js']);
  for (const bad of [
    '',
    '/etc/passwd',
    '..',
    'a/../b',
    'a/./b',
    'a//b',
    '.env',
    'a%2f..',
    'a\0',
    'a%00',
    '%zz',
    'a\\b',
    'c:x',
  ])
    assert.equal(safeSegments(bad), undefined, JSON.stringify(bad));
  assert.equal(resolveUnder(WEB_ROOT, ['..', 'package.json']), undefined);
  assert.equal(resolveUnder(WEB_ROOT, []), undefined);
  assert.ok(resolveUnder(WEB_ROOT, ['app.js'])?.endsWith('/web/app.js'));
});

// The web port's guards (issue "Nobody in where they don't belong"): bounded bodies (4 KiB on
// /login), state-changing requests only from the dashboard's own origin (on loopback too, where
// there is no login), a cap on live-stream clients (503 past it, counted), HTTPS with a `Secure`
// session cookie, no empty admin token, and failed logins and handshakes in the events log,
// counted per address and minute.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { Primary } from '../../src/primary/primary.js';
import { ConfigError } from '../../src/protocol/errors.js';
import { startWebServer, type WebServerOptions } from '../../src/web/server.js';
import { FAST_COMMIT, tempDir, waitUntil } from '../helpers/cluster.js';
import { startLibraryPrimary } from '../helpers/library-primary.js';
import { RawPeer } from '../helpers/raw-peer.js';

const TOKEN = 'web-guards-test-cluster-token';
const ADMIN = 'web-guards-test-admin-token-0123';

async function serve(t: TestContext, options: Partial<WebServerOptions> = {}) {
  const primary = await startLibraryPrimary(t, { token: TOKEN, tls: false });
  const web = await startWebServer(primary, { port: 0, bind: '127.0.0.1', ...options });
  t.after(() => web.close());
  return { primary, web, url: `http://127.0.0.1:${web.port}` };
}

/** A request over HTTPS to a server whose certificate is not in any store (the test's own). */
function httpsPost(port: number, path: string, body: string): Promise<{ status: number; cookie: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        rejectUnauthorized: false,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          origin: `https://127.0.0.1:${port}`,
          host: `127.0.0.1:${port}`,
        },
      },
      (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, cookie: String(res.headers['set-cookie'] ?? '') });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('web guards', () => {
  it('/login takes at most 4 KiB of body; the API at most 64 KiB', async (t) => {
    const { url } = await serve(t, { requireLogin: true, adminToken: ADMIN });
    const post = (path: string, bytes: number) =>
      fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${ADMIN}` },
        body: `token=${'x'.repeat(bytes)}`,
        redirect: 'manual',
      });
    const big = await post('/login', 5 * 1024);
    assert.equal(big.status, 413);
    assert.equal(((await big.json()) as { error: { code: string } }).error.code, 'ERR_BAD_REQUEST');
    assert.equal((await post('/login', 1024)).status, 303, 'a wrong token, in bounds: back to the form');
    assert.equal((await post('/api/token/rotate', 70 * 1024)).status, 413);
  });

  it('on loopback, a state-changing request from another origin is refused; the dashboard and the CLI pass', async (t) => {
    const { url, web } = await serve(t);
    const approve = (headers: Record<string, string>) =>
      fetch(`${url}/api/nodes/no-such-node/approve`, { method: 'POST', headers });
    const refused = await approve({ origin: 'http://evil.example' });
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'ERR_FORBIDDEN');
    assert.equal((await approve({ origin: 'http://localhost:3000' })).status, 403, 'another local web app');
    assert.equal((await approve({ 'sec-fetch-site': 'same-site' })).status, 403);
    assert.equal((await approve({ 'sec-fetch-site': 'cross-site' })).status, 403);
    assert.equal((await approve({ origin: 'null' })).status, 403, 'a sandboxed page');
    // Past the guard: the route answers (no such node).
    assert.equal((await approve({ origin: `http://127.0.0.1:${web.port}` })).status, 404, 'the dashboard');
    assert.equal((await approve({})).status, 404, 'the CLI, curl: no browser');
    // Reads are not state changes.
    assert.equal((await fetch(`${url}/api/nodes`, { headers: { origin: 'http://evil.example' } })).status, 200);
  });

  it('at most limits.maxStreams live streams: the next gets 503, counted; a closed one frees its place', async (t) => {
    const { url } = await serve(t, { maxStreams: 2 });
    const open = async () => {
      const controller = new AbortController();
      const response = await fetch(`${url}/api/stream`, { signal: controller.signal });
      return { response, close: () => controller.abort() };
    };
    const a = await open();
    const b = await open();
    assert.deepEqual([a.response.status, b.response.status], [200, 200]);
    const c = await open();
    assert.equal(c.response.status, 503);
    assert.equal(((await c.response.json()) as { error: { code: string } }).error.code, 'ERR_TOO_MANY_STREAMS');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /^picluster_web_streams 2$/m);
    assert.match(metrics, /^picluster_web_streams_refused_total 1$/m);
    a.close();
    await waitUntil(async () => (await open()).response.status === 200, 5000, 'a place again');
    b.close();
  });

  it('HTTPS on the web port: the session cookie is Secure (and not over plain HTTP)', async (t) => {
    const primary = await startLibraryPrimary(t, { token: TOKEN });
    const credentials = primary.tlsCredentials as { cert: string; key: string };
    const secure = await startWebServer(primary, {
      port: 0,
      bind: '127.0.0.1',
      requireLogin: true,
      adminToken: ADMIN,
      tls: credentials,
    });
    t.after(() => secure.close());
    const login = await httpsPost(secure.port, '/login', `token=${ADMIN}`);
    assert.equal(login.status, 303);
    assert.match(login.cookie, /picluster_session=[0-9a-f]{64}/);
    assert.match(login.cookie, /; Secure/);
    assert.match(login.cookie, /; HttpOnly/);

    const plain = await startWebServer(primary, { port: 0, bind: '127.0.0.1', requireLogin: true, adminToken: ADMIN });
    t.after(() => plain.close());
    const response = await fetch(`http://127.0.0.1:${plain.port}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${ADMIN}`,
      redirect: 'manual',
    });
    assert.equal(response.status, 303);
    assert.doesNotMatch(response.headers.get('set-cookie') ?? '', /Secure/);
  });

  it('an empty admin-token file is refused at start, not taken as an empty token', async (t) => {
    const dir = tempDir(t);
    mkdirSync(dir, { recursive: true });
    const primary = await startLibraryPrimary(t, { dataDir: dir, token: TOKEN, tls: false });
    writeFileSync(join(dir, 'admin-token'), '\n');
    await assert.rejects(
      startWebServer(primary, { port: 0, bind: '127.0.0.1', requireLogin: true }),
      (err) => err instanceof ConfigError && /admin token file .* at least 16/.test(err.message),
    );
  });

  it('failed logins and failed handshakes are events, counted per address and minute', async (t) => {
    const dir = tempDir(t);
    const primary = new Primary({ ...FAST_COMMIT, dataDir: dir, port: 0, bind: '127.0.0.1', token: TOKEN, tls: false });
    await primary.start();
    const web = await startWebServer(primary, { port: 0, bind: '127.0.0.1', requireLogin: true, adminToken: ADMIN });
    const login = (token: string) =>
      fetch(`http://127.0.0.1:${web.port}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `token=${token}`,
        redirect: 'manual',
      });
    for (let i = 0; i < 3; i++) await login('wrong-wrong-wrong-wrong');
    assert.equal((await login(ADMIN)).status, 303);
    for (let i = 0; i < 2; i++) {
      const peer = await RawPeer.connect(primary.port);
      const id = peer.authWithToken('not-the-cluster-token-at-all', await peer.open(), `intruder-${i}`, 'intruder');
      await peer.waitFor((m) => m.re === id, 5000, 'the refusal');
      peer.destroy();
    }
    await web.close();
    await primary.stop(); // the counts of this minute are written at stop
    const db = new Database(join(dir, 'primary.db'), { readonly: true });
    try {
      const events = db.prepare('SELECT type, data FROM events WHERE node_id IS NULL').all() as Array<{
        type: string;
        data: string;
      }>;
      const of = (type: string) => events.filter((e) => e.type === type).map((e) => JSON.parse(e.data));
      assert.deepEqual(
        of('login-failed').map((d) => [d.address, d.count]),
        [['127.0.0.1', 3]],
      );
      assert.deepEqual(
        of('admin-login').map((d) => d.by),
        ['127.0.0.1'],
      );
      assert.deepEqual(
        of('auth-failed').map((d) => [d.address, d.count]),
        [['127.0.0.1', 2]],
      );
    } finally {
      db.close();
    }
  });
});

// Addresses as users give them: a secondary with two primaries fails over to the second when the
// first is gone, back in service within its backoff bound; a dual-stack primary (`--bind ::`) is
// reached over ::1 and over 127.0.0.1, its nodes' addresses written as users read them.
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  exitOf,
  freePort,
  getNodes,
  nodeIdOf,
  startPrimary,
  startSecondary,
  tempDir,
  waitUntil,
} from '../helpers/cluster.js';

describe('primary addresses', () => {
  it('a secondary given two primaries fails over to the second when the first dies, within its backoff bound', async (t) => {
    const dir = tempDir(t);
    const a = await startPrimary(t, { dataDir: join(dir, 'a') });
    // The same cluster token and TLS certificate on both: a node joins either by it and trusts either.
    const bDir = join(dir, 'b');
    const b = await startPrimary(t, {
      dataDir: bDir,
      args: [
        ...['--token-file', join(a.dataDir, 'token')],
        ...['--tls-cert-file', join(a.dataDir, 'tls', 'cert.pem'), '--tls-key-file', join(a.dataDir, 'tls', 'key.pem')],
      ],
    });
    const node = startSecondary(t, a, {
      dataDir: join(dir, 'node'),
      name: 'pi-1',
      args: ['--primary', `127.0.0.1:${a.port},127.0.0.1:${b.port}`],
    });
    await waitUntil(async () => (await getNodes(a.api))[0]?.state === 'online', 15_000, 'online on the first');
    const id = nodeIdOf(join(dir, 'node'));
    a.child.kill('SIGKILL');
    await exitOf(a.child);
    const diedAt = performance.now();
    await waitUntil(
      async () => (await getNodes(b.api)).find((n) => n.id === id)?.state === 'online',
      15_000,
      'online on the second',
    );
    const tookMs = performance.now() - diedAt;
    // The kernel closes the link at once; then at most one backoff (cap 500 ms here) and a handshake.
    assert.ok(tookMs < 500 + 1500, `back in service after ${Math.round(tookMs)} ms`);
    assert.ok(node.alive);
  });

  it('a dual-stack primary (--bind ::) is reached over ::1 and over 127.0.0.1', async (t) => {
    const dir = tempDir(t);
    const port = await freePort();
    const webPort = await freePort();
    const primary = await startPrimary(t, { dataDir: join(dir, 'primary'), port, webPort, args: ['--bind', '::'] });
    copyFileSync(join(primary.dataDir, 'token'), join(dir, 'token'));
    startSecondary(t, primary, { dataDir: join(dir, 'v6'), name: 'over-v6', args: ['--primary', `[::1]:${port}`] });
    startSecondary(t, primary, { dataDir: join(dir, 'v4'), name: 'over-v4', args: ['--primary', `127.0.0.1:${port}`] });
    const nodes = await waitUntil(
      async () => {
        const all = await getNodes(primary.api);
        return all.filter((n) => n.state === 'online').length === 2 ? all : undefined;
      },
      15_000,
      'both online',
    );
    const address = (name: string) => nodes.find((n) => n.name === name)?.address ?? '';
    assert.match(address('over-v6'), /^\[::1\]:\d+$/);
    assert.match(address('over-v4'), /^127\.0\.0\.1:\d+$/, 'an IPv4-mapped peer is written as IPv4');
  });
});

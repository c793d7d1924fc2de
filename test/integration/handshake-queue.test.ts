// The cluster port's wait for a handshake slot: with every `maxHandshakes` slot taken, a new
// connection waits (paused, nothing read) instead of being reset, and starts as soon as a slot is
// free, so a node in a reconnect storm gets in on its first dial. The wait is bounded: past
// `WAITING_PER_HANDSHAKE` per slot, a connection is closed at once, and one that waited half the
// handshake timeout is closed when its turn comes (its node has given up by then). Both counted.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import type { Primary } from '../../src/primary/primary.js';
import { Secondary } from '../../src/secondary/secondary.js';
import { tempDir, waitUntil } from '../helpers/cluster.js';
import { startLibraryPrimary } from '../helpers/library-primary.js';

const TOKEN = 'handshake-queue-test-token-0123';

async function startPrimary(t: TestContext, handshakeTimeoutMs: number): Promise<Primary> {
  const primary = await startLibraryPrimary(t, { token: TOKEN, maxHandshakes: 1, handshakeTimeoutMs });
  return primary;
}

/** A TCP connection that says nothing: it holds a handshake slot, or a place in the wait. */
async function silent(t: TestContext, port: number): Promise<net.Socket> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  t.after(() => socket.destroy());
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.on('error', () => undefined);
  return socket;
}

describe('waiting for a handshake slot', () => {
  it('a node that finds every slot taken waits, and is admitted on its first dial once one frees', async (t) => {
    const primary = await startPrimary(t, 10_000);
    const holder = await silent(t, primary.port);
    await waitUntil(() => primary.stats.accepted === 1, 5000, 'the holder accepted');
    const node = new Secondary({
      primary: `127.0.0.1:${primary.port}`,
      dataDir: tempDir(t),
      token: TOKEN,
      tls: { fingerprint: primary.tlsFingerprint as string },
    });
    await node.start();
    t.after(() => node.stop());
    await waitUntil(() => primary.stats.handshakesWaiting === 1, 5000, 'the node waiting');
    assert.equal(node.state === 'online', false);
    holder.destroy(); // the slot frees
    await waitUntil(() => node.state === 'online', 5000, 'online');
    assert.equal(primary.stats.accepted, 2, 'one dial: it waited instead of being reset');
    assert.equal(primary.stats.handshakesWaiting, 0);
    assert.equal(primary.stats.handshakeQueueFull + primary.stats.handshakeQueueExpired, 0);
  });

  it('the wait is bounded: full, a connection is closed at once; one that waited too long is closed at its turn', async (t) => {
    const primary = await startPrimary(t, 2_000);
    const holder = await silent(t, primary.port);
    // One slot: four may wait.
    const waiting = [];
    for (let i = 0; i < 4; i++) waiting.push(await silent(t, primary.port));
    await waitUntil(() => primary.stats.handshakesWaiting === 4, 5000, 'four waiting');
    const extra = await silent(t, primary.port);
    await waitUntil(() => extra.destroyed || extra.readableEnded, 5000, 'the fifth closed at once');
    assert.equal(primary.stats.handshakeQueueFull, 1);
    // The holder's handshake times out after 2 s; by then the waiting ones waited over 1 s (half
    // the timeout): each is closed at its turn, not started.
    await waitUntil(() => holder.readableEnded || holder.destroyed, 5000, 'the holder timed out');
    await waitUntil(() => primary.stats.handshakesWaiting === 0, 5000, 'the wait emptied');
    assert.equal(primary.stats.handshakeQueueExpired, 4);
    for (const socket of waiting) await waitUntil(() => socket.readableEnded || socket.destroyed, 5000, 'closed');
  });
});

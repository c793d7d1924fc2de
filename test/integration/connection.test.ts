// The Connection against a second real process on 127.0.0.1: SIGKILL, SIGSTOP, half frames and
// writes to a closed link each end in exactly one DisconnectionError, and the survivor runs on.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Connection } from '../../src/connection/connection.js';
import { DisconnectionError } from '../../src/protocol/index.js';
import { spawnChild } from '../helpers/child.js';
import { waitFor } from '../helpers/socket-pair.js';

const PEER = new URL('../fixtures/peer.ts', import.meta.url).pathname;
const H = 200; // heartbeat interval for these tests, ms

/** Our Connection to a freshly spawned peer server. */
async function connectToPeer(t: TestContext, heartbeatMs = 5000) {
  const peer = spawnChild(t, PEER, ['server'], { PEER_HEARTBEAT_MS: String(heartbeatMs) });
  const { port } = (await peer.waitFor((e) => e.event === 'listening')) as unknown as { port: number };
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const conn = new Connection(socket, { heartbeat: { intervalMs: heartbeatMs } });
  t.after(() => conn.destroy());
  const disconnects: DisconnectionError[] = [];
  conn.on('disconnect', (err) => disconnects.push(err));
  await peer.waitFor((e) => e.event === 'connected');
  return { peer, conn, disconnects };
}

/** A listening server whose first accepted socket becomes a Connection. */
async function listen(t: TestContext) {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const accepted = (once(server, 'connection') as Promise<[net.Socket]>).then(([socket]) => {
    const conn = new Connection(socket);
    t.after(() => conn.destroy());
    const disconnects: DisconnectionError[] = [];
    conn.on('disconnect', (err) => disconnects.push(err));
    return { conn, disconnects };
  });
  return { port: (server.address() as net.AddressInfo).port, accepted };
}

async function streamUntilClosed(conn: Connection): Promise<unknown> {
  for (;;) {
    try {
      while (conn.send('x-stream', 'q'.repeat(60))) {}
    } catch (err) {
      return err;
    }
    await new Promise<void>((resolve) => conn.once('drain', () => resolve()).once('disconnect', () => resolve()));
  }
}

const LINK_GONE = ['ERR_CONNECTION_RESET', 'ERR_EOF', 'ERR_EOF_MID_FRAME', 'ERR_BROKEN_PIPE'];

describe('Connection with a real peer process', () => {
  it('SIGKILL of a peer that streams to us: one disconnect, pending requests rejected', async (t) => {
    const { peer, conn, disconnects } = await connectToPeer(t);
    let received = 0;
    conn.on('message', () => received++);
    const pending = Array.from({ length: 5 }, () => conn.request('x-never', {}, { timeoutMs: 60_000 }));
    peer.send({ cmd: 'stream' });
    await waitFor(() => received > 10_000, 5000, 'stream');
    peer.kill('SIGKILL');
    const results = await Promise.allSettled(pending);
    assert.equal(disconnects.length, 1);
    assert.ok(LINK_GONE.includes(disconnects[0]?.code as string), disconnects[0]?.code);
    assert.ok(results.every((r) => r.status === 'rejected' && r.reason === disconnects[0]));
    await delay(100);
    assert.equal(disconnects.length, 1);
  });

  it('SIGKILL of a peer we stream to: one disconnect, send then throws it', async (t) => {
    const { peer, conn, disconnects } = await connectToPeer(t);
    const streaming = streamUntilClosed(conn);
    await peer.waitFor((e) => e.event === 'connected');
    await delay(200);
    peer.kill('SIGKILL');
    const err = await streaming;
    assert.ok(err instanceof DisconnectionError);
    assert.equal(disconnects.length, 1);
    assert.equal(err, disconnects[0]);
    assert.ok(LINK_GONE.includes(err.code), err.code);
  });

  it('SIGKILL with a separate survivor process: it reports one disconnect and keeps running', async (t) => {
    const server = spawnChild(t, PEER, ['server']);
    const { port } = (await server.waitFor((e) => e.event === 'listening')) as unknown as { port: number };
    const client = spawnChild(t, PEER, ['client', String(port)]);
    await client.waitFor((e) => e.event === 'connected');
    await client.ask({ cmd: 'request-never', n: 5 }, 'requested');
    client.send({ cmd: 'stream' });
    await delay(300);
    server.kill('SIGKILL');
    await client.waitFor((e) => e.event === 'disconnect');
    const rejected = await client.ask({ cmd: 'await-rejections' }, 'rejected');
    assert.deepEqual([rejected.count, rejected.allDisconnection], [5, true]);
    await client.ask({ cmd: 'status' }, 'alive');
    assert.equal(client.events.filter((e) => e.event === 'disconnect').length, 1);
    assert.ok(client.alive);
  });

  it('a peer that closes half-way through a frame gives ERR_EOF_MID_FRAME', async (t) => {
    const { port, accepted } = await listen(t);
    spawnChild(t, PEER, ['half-frame', String(port)]);
    const { disconnects } = await accepted;
    await waitFor(() => disconnects.length > 0);
    await delay(50);
    assert.deepEqual(
      disconnects.map((e) => e.code),
      ['ERR_EOF_MID_FRAME'],
    );
  });

  it(`SIGSTOP of the peer is detected within 3 heartbeat intervals (${H} ms) + a margin`, async (t) => {
    const { peer, conn, disconnects } = await connectToPeer(t, H);
    await delay(3 * H); // a live, quiet link stays up on heartbeats alone
    assert.equal(conn.state, 'open');
    const pending = conn.request('x-never', {}, { timeoutMs: 60_000 });
    const stoppedAt = Date.now();
    peer.kill('SIGSTOP');
    await assert.rejects(pending, DisconnectionError);
    const took = Date.now() - stoppedAt;
    assert.deepEqual(
      disconnects.map((e) => e.code),
      ['ERR_PEER_TIMEOUT'],
    );
    // The exact 3 intervals are the unit test's (manual clock); here a real, stopped process is
    // found dead by its silence, with room for timers late on a loaded machine. Its silence began
    // at its last ping, up to one interval before the stop (more when its own timer ran late on a
    // loaded machine: 387 ms was seen at H = 200), so the low bound is 1.5 intervals, not 2.
    assert.ok(took >= 1.5 * H && took <= 3 * H + 1000, `detected after ${took} ms`);
    peer.kill('SIGCONT');
  });

  it('writing to a connection the peer closed gives one disconnect, then send throws it', async (t) => {
    const { peer, conn, disconnects } = await connectToPeer(t);
    await peer.ask({ cmd: 'close' }, 'closed');
    // Whatever the order of FIN and our writes, the outcome is one typed error.
    const err = await streamUntilClosed(conn);
    assert.ok(err instanceof DisconnectionError);
    await delay(100);
    assert.equal(disconnects.length, 1);
    assert.throws(
      () => conn.send('x-after', {}),
      (e) => e === disconnects[0],
    );
    await assert.rejects(conn.request('x-after'), (e) => e === disconnects[0]);
  });
});

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Connection } from '../../../src/connection/connection.js';
import {
  BackpressureError,
  DisconnectionError,
  encodeFrame,
  MAX_WIRE_ERROR_CHARS,
  type Message,
  PiclusterError,
  RemoteError,
  TimeoutError,
} from '../../../src/protocol/index.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { connectionPair, socketPair, waitFor } from '../../helpers/socket-pair.js';

async function pair(t: TestContext, ...options: Parameters<typeof connectionPair>) {
  const p = await connectionPair(...options);
  t.after(p.cleanup);
  return p;
}

/** Records every 'disconnect' a connection emits. */
function disconnects(conn: Connection): DisconnectionError[] {
  const seen: DisconnectionError[] = [];
  conn.on('disconnect', (err) => seen.push(err));
  return seen;
}

describe('Connection', () => {
  it('delivers one-way messages in order', async (t) => {
    const { a, b } = await pair(t);
    const got: Message[] = [];
    b.on('message', (m) => got.push(m));
    for (let i = 0; i < 1000; i++) a.send('x-n', { i });
    await waitFor(() => got.length === 1000);
    assert.deepEqual(
      got.map((m) => (m.p as { i: number }).i),
      Array.from({ length: 1000 }, (_, i) => i),
    );
  });

  it('batches the messages of one tick into one socket write', async (t) => {
    const { a } = await pair(t);
    let writes = 0;
    const write = a.socket.write.bind(a.socket);
    a.socket.write = ((...args: Parameters<typeof write>) => {
      writes++;
      return write(...args);
    }) as typeof a.socket.write;
    for (let i = 0; i < 500; i++) a.send('x-n', { i });
    await delay(20);
    assert.equal(writes, 1);
  });

  it('correlates replies with many requests in flight, answered out of order', async (t) => {
    const { a, b } = await pair(t);
    b.handle('x-echo', async (p) => {
      await delay(Math.random() * 20);
      return p;
    });
    const replies = await Promise.all(Array.from({ length: 500 }, (_, i) => a.request('x-echo', { i })));
    assert.deepEqual(
      replies,
      Array.from({ length: 500 }, (_, i) => ({ i })),
    );
    assert.equal(a.pendingRequests, 0);
  });

  it('times out a request with TimeoutError, and drops the late reply', async (t) => {
    const { a, b } = await pair(t);
    b.handle('x-slow', async (_t) => {
      await delay(150);
      return 'late';
    });
    await assert.rejects(
      a.request('x-slow', {}, { timeoutMs: 50 }),
      (err) => err instanceof TimeoutError && /timed out after 50 ms/.test(err.message),
    );
    await delay(200);
    assert.equal(a.state, 'open');
    assert.equal(await a.request('x-slow', {}, { timeoutMs: 1000 }), 'late');
  });

  it('answers an unknown request type with ERR_UNKNOWN_TYPE and stays up', async (t) => {
    const { a } = await pair(t);
    for (const t of ['x-nope', 'constructor', '__proto__', 'toString']) {
      await assert.rejects(a.request(t), (err) => err instanceof RemoteError && err.remoteCode === 'ERR_UNKNOWN_TYPE');
    }
    assert.equal(a.state, 'open');
  });

  it('turns a failing handler into an error reply without leaking its message', async (t) => {
    const { a, b } = await pair(t);
    b.handle('x-boom', () => {
      throw new Error('secret internals');
    });
    await assert.rejects(
      a.request('x-boom'),
      (err) => err instanceof RemoteError && err.remoteCode === 'ERR_INTERNAL' && !err.message.includes('secret'),
    );
  });

  it('aborts a request through its signal', async (t) => {
    const { a, b } = await pair(t);
    b.handle('x-never', () => new Promise(() => {}));
    const controller = new AbortController();
    const reply = a.request('x-never', {}, { signal: controller.signal });
    controller.abort(new Error('user gave up'));
    await assert.rejects(reply, /user gave up/);
  });

  it('sends nothing for a request whose signal is aborted already, and the link stays up', async (t) => {
    // Found by review: it was sent with id 0, which the peer's envelope check refuses (id >= 1),
    // so the peer closed the link: a caller's cancelled request cost the node its connection.
    const { a, b } = await pair(t);
    const seenA = disconnects(a);
    const seenB = disconnects(b);
    const asked: unknown[] = [];
    b.handle('x-echo', (p) => {
      asked.push(p);
      return p;
    });
    await assert.rejects(a.request('x-echo', { n: 1 }, { signal: AbortSignal.abort(new Error('gave up')) }), /gave up/);
    assert.deepEqual(await a.request('x-echo', { n: 2 }), { n: 2 });
    assert.deepEqual(asked, [{ n: 2 }]);
    await delay(50); // a refusal of the request would close the link by now
    assert.deepEqual([seenA, seenB], [[], []]);
    assert.equal(a.pendingRequests, 0);
  });

  it('emits one disconnect and rejects every pending request when the peer goes away', async (t) => {
    const { a, b } = await pair(t);
    b.handle('x-never', () => new Promise(() => {}));
    const seen = disconnects(a);
    const pending = Array.from({ length: 10 }, () => a.request('x-never'));
    await delay(20);
    b.socket.resetAndDestroy();
    const results = await Promise.allSettled(pending);
    assert.ok(results.every((r) => r.status === 'rejected' && r.reason instanceof DisconnectionError));
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.code, 'ERR_CONNECTION_RESET');
    assert.ok((results[0] as PromiseRejectedResult).reason === seen[0], 'requests get the same error');
    assert.throws(
      () => a.send('x-late', {}),
      (err) => err === seen[0],
    );
    await assert.rejects(a.request('x-late'), (err) => err === seen[0]);
    await delay(20);
    assert.equal(seen.length, 1);
  });

  it('close() flushes what was sent, and both sides see one disconnect', async (_t) => {
    const { a, b } = await connectionPair();
    const got: Message[] = [];
    b.on('message', (m) => got.push(m));
    const seenA = disconnects(a);
    const seenB = disconnects(b);
    for (let i = 0; i < 100; i++) a.send('x-n', { i });
    await a.close();
    await waitFor(() => seenB.length === 1);
    assert.equal(got.length, 100);
    assert.deepEqual([seenA.map((e) => e.code), seenB.map((e) => e.code)], [['ERR_CLOSED'], ['ERR_EOF']]);
    await a.close(); // idempotent
    a.destroy();
    assert.equal(seenA.length, 1);
  });

  it('closes on a protocol error, tells the peer why, and reports ERR_PROTOCOL', async (_t) => {
    const { a: raw, b } = await socketPair();
    const conn = new Connection(b);
    const seen = disconnects(conn);
    const received: Buffer[] = [];
    raw.on('data', (d) => received.push(d));
    raw.write(Buffer.from([0, 0, 0, 5, ...Buffer.from('nope!')]));
    await once(raw, 'close');
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.code, 'ERR_PROTOCOL');
    assert.equal((seen[0]?.cause as { code?: string } | undefined)?.code, 'ERR_INVALID_JSON');
    const reply = JSON.parse(Buffer.concat(received).subarray(4).toString()) as Message;
    assert.deepEqual([reply.t, (reply.p as { code: string }).code], ['error', 'ERR_INVALID_JSON']);
  });

  it('reports ERR_EOF_MID_FRAME when the peer closes half-way through a frame', async (_t) => {
    const { a: raw, b } = await socketPair();
    const conn = new Connection(b);
    const seen = disconnects(conn);
    const frame = encodeFrame({ t: 'x-a', p: 'hello' });
    raw.end(frame.subarray(0, frame.length - 3));
    await waitFor(() => seen.length === 1);
    assert.equal(seen[0]?.code, 'ERR_EOF_MID_FRAME');
  });

  it('detects a silent peer within 3 heartbeat intervals', async (_t) => {
    // On a manual clock: the socket is real, time is the test's (a loaded machine cannot stretch it).
    const clock = new FakeClock();
    const { a: raw, b } = await socketPair();
    const conn = new Connection(b, { heartbeat: { intervalMs: 100 }, clock });
    const seen = disconnects(conn);
    const pings: Buffer[] = [];
    raw.on('data', (d) => pings.push(d)); // reads, never answers
    clock.advance(299);
    assert.equal(seen.length, 0, 'alive before 3 intervals of silence');
    await waitFor(() => pings.length >= 1, 2000); // pinged while waiting
    clock.advance(2);
    assert.deepEqual(
      seen.map((e) => e.code),
      ['ERR_PEER_TIMEOUT'],
    );
    raw.destroy();
  });

  it('keeps a quiet but live link up: pings are answered', async (t) => {
    const { a, b } = await pair(t, { heartbeat: { intervalMs: 50 } }, { heartbeat: { intervalMs: 50 } });
    await delay(400);
    assert.deepEqual([a.state, b.state], ['open', 'open']);
  });

  it('bounds the write queue: send returns false instead of growing, then drains', async (t) => {
    const { a, b } = await pair(t, { maxQueuedBytes: 256 * 1024, heartbeat: false }, { heartbeat: false });
    b.socket.pause(); // a consumer that stops reading
    const payload = 'x'.repeat(1000);
    let accepted = 0;
    for (let round = 0; round < 100; round++) {
      while (a.send('x-bulk', payload)) accepted++;
      assert.ok(a.queuedBytes <= 256 * 1024, `queued ${a.queuedBytes}`);
      await assert.rejects(a.request('x-any', payload), BackpressureError);
      await delay(5);
    }
    const got: Message[] = [];
    b.on('message', (m) => got.push(m));
    const drained = once(a, 'drain');
    b.socket.resume();
    await drained;
    await waitFor(() => got.length === accepted, 5000, `${accepted} messages`);
    assert.ok(a.send('x-bulk', payload));
  });

  it('tells a peer why in a bounded frame when its bad message would be quoted past the frame limit', async (_t) => {
    // Found by review: a schema path quoting an 8,200-character key of `/`s (each sent as `~1`)
    // made the error frame larger than the 16 KiB limit before `welcome`, and the throw from the
    // socket callback ended the process: anyone who could reach the cluster port could stop it.
    const { a: raw, b } = await socketPair();
    const conn = new Connection(b, { maxFrameBytes: 16 * 1024 });
    const seen = disconnects(conn);
    const received: Buffer[] = [];
    raw.on('data', (d) => received.push(d));
    const p = {
      nodeId: '0'.repeat(32),
      name: 'n',
      labels: { ['/'.repeat(8_200)]: 'v' },
      version: '1',
      protocol: { min: 1, max: 1 },
      machineId: 'm',
      clientNonce: 'a'.repeat(64),
      using: 'token',
      proof: '0'.repeat(64),
    };
    raw.write(encodeFrame({ t: 'auth', id: 1, p }));
    await once(raw, 'close');
    assert.deepEqual(
      seen.map((e) => [e.code, (e.cause as { code?: string } | undefined)?.code]),
      [['ERR_PROTOCOL', 'ERR_INVALID_MESSAGE']],
    );
    const reply = JSON.parse(Buffer.concat(received).subarray(4).toString()) as Message;
    const { code, message } = reply.p as { code: string; message: string };
    assert.equal(code, 'ERR_INVALID_MESSAGE');
    assert.ok(message.startsWith('invalid "auth" payload at /labels/~1~1'), message);
    assert.ok(message.length <= MAX_WIRE_ERROR_CHARS, `${message.length} characters`);
  });

  it('answers with a bounded error when a failing handler says more than a frame holds, and stays up', async (t) => {
    const { a, b } = await pair(t, {}, { maxFrameBytes: 16 * 1024 });
    b.handle('x-wordy', () => {
      throw new PiclusterError('ERR_BAD_REQUEST', `no: ${'x'.repeat(20_000)}`);
    });
    b.handle('x-leader', () => {
      throw Object.assign(new PiclusterError('ERR_NOT_LEADER', 'ask the leader'), {
        detail: { leader: 'y'.repeat(20_000) },
      });
    });
    await assert.rejects(
      a.request('x-wordy'),
      (err) =>
        err instanceof RemoteError &&
        err.remoteCode === 'ERR_BAD_REQUEST' &&
        err.message.length <= MAX_WIRE_ERROR_CHARS &&
        err.message.startsWith('no: xxx'),
    );
    // A detail too large for the frame: the code and message still arrive, without it.
    await assert.rejects(
      a.request('x-leader'),
      (err) => err instanceof RemoteError && err.remoteCode === 'ERR_NOT_LEADER' && err.detail === undefined,
    );
    assert.equal(a.state, 'open');
    assert.equal(b.state, 'open');
  });

  it('refuses to send a message over maxFrameBytes, and the link stays up', async (t) => {
    const { a } = await pair(t, { maxFrameBytes: 100 });
    assert.throws(() => a.send('x-big', 'y'.repeat(200)), { code: 'ERR_FRAME_TOO_LARGE' });
    assert.equal(a.state, 'open');
  });
});

describe('Connection with a peer that stops reading', () => {
  it('cuts the link after writeTimeoutMs without progress, and not before', async (t) => {
    const { a, b } = await connectionPair({ writeTimeoutMs: 300, heartbeat: false }, { heartbeat: false });
    t.after(() => {
      a.destroy();
      b.destroy();
    });
    b.socket.pause();
    const seen: string[] = [];
    a.on('disconnect', (err) => seen.push(err.code));
    const started = Date.now();
    const payload = 'z'.repeat(10_000);
    while (a.send('x-bulk', payload)) {}
    await waitFor(() => seen.length > 0, 3000, 'the stalled link cut');
    const took = Date.now() - started;
    assert.deepEqual(seen, ['ERR_PEER_TIMEOUT']);
    assert.ok(took >= 250, `cut after ${took} ms`);
  });
});

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { FLUSH_AT_BYTES, FrameWriter } from '../../../src/connection/frame-writer.js';
import { FRAME_HEADER_BYTES, FrameDecoder } from '../../../src/protocol/frame-decoder.js';
import { serializeMessage } from '../../../src/protocol/frame-encoder.js';
import type { Message } from '../../../src/protocol/messages.js';
import { FakeClock } from '../../helpers/fake-clock.js';

/** A socket as the writer sees it: `write` says false at `highWaterMark`, 'drain' once emptied. */
class FakeSocket extends EventEmitter {
  writableLength = 0;
  readonly writes: Buffer[] = [];
  #needDrain = false;

  constructor(readonly highWaterMark: number) {
    super();
  }

  write(chunk: Buffer): boolean {
    this.writes.push(chunk);
    this.writableLength += chunk.length;
    const ok = this.writableLength < this.highWaterMark;
    if (!ok) this.#needDrain = true;
    return ok;
  }

  /** The peer reads `bytes` (default: all of them); 'drain' when none are left, as net.Socket does. */
  read(bytes = this.writableLength): void {
    this.writableLength -= Math.min(bytes, this.writableLength);
    if (this.writableLength === 0 && this.#needDrain) {
      this.#needDrain = false;
      this.emit('drain');
    }
  }

  /** The types of every message written so far, one array per `write`. */
  writtenTypes(): string[][] {
    const decoder = new FrameDecoder();
    return this.writes.map((chunk) => decoder.push(chunk).map((m) => m.t));
  }
}

/** A message of a fixed size whatever its type, so that tests count in frames. */
const message = (t: string): Message => ({ t, p: 'x'.repeat(60 - t.length) });
const FRAME_BYTES = FRAME_HEADER_BYTES + serializeMessage(message('x-a'), Infinity).bytes;

/** Lets the writer's flush (a microtask queued before this one) run. */
const endOfRun = () => new Promise<void>((resolve) => queueMicrotask(resolve));

function setup({ highWaterMark = 1 << 20, maxQueuedBytes = 1 << 20, writeTimeoutMs = 1000 } = {}) {
  const socket = new FakeSocket(highWaterMark);
  const clock = new FakeClock();
  const calls = { writes: 0, drains: 0, stalls: [] as number[] };
  const writer = new FrameWriter(socket, {
    maxFrameBytes: 1 << 20,
    maxQueuedBytes,
    writeTimeoutMs,
    clock,
    onWrite: () => calls.writes++,
    onDrain: () => calls.drains++,
    onStall: (stalledMs) => calls.stalls.push(stalledMs),
  });
  return { socket, clock, calls, writer };
}

/** A writer whose socket has just said false: one write of `frames` frames, not yet read. */
async function blocked(frames = 3, options: Parameters<typeof setup>[0] = {}) {
  const s = setup({ highWaterMark: FRAME_BYTES * frames, ...options });
  for (let i = 0; i < frames; i++) assert.ok(s.writer.enqueue(message('x-first')));
  await endOfRun();
  assert.equal(s.writer.state, 'socket-full');
  return s;
}

describe('FrameWriter', () => {
  it('writes every message of one synchronous run in one write, at the end of the run', async () => {
    const { socket, calls, writer } = setup();
    writer.enqueue(message('x-a'));
    writer.enqueue(message('x-b'));
    writer.enqueue(message('x-c'));
    assert.equal(socket.writes.length, 0, 'nothing written before the run ends');
    assert.equal(writer.queuedBytes, 3 * FRAME_BYTES);
    await endOfRun();
    writer.enqueue(message('x-d'));
    await endOfRun();
    assert.deepEqual(socket.writtenTypes(), [['x-a', 'x-b', 'x-c'], ['x-d']]);
    assert.equal(calls.writes, 2);
    assert.equal(writer.state, 'idle');
  });

  it('writes a long run in FLUSH_AT_BYTES pieces as it goes, in order, and the rest at its end; also while the socket is full', async () => {
    const { socket, writer } = setup({ highWaterMark: 3 * FLUSH_AT_BYTES, maxQueuedBytes: 64 * FLUSH_AT_BYTES });
    const perPiece = Math.ceil(FLUSH_AT_BYTES / FRAME_BYTES);
    const total = 5 * perPiece + 3;
    for (let i = 0; i < total; i++) assert.ok(writer.enqueue(message(`x-${i}`)));
    assert.equal(socket.writes.length, 5, 'five full pieces left during the run');
    assert.ok(socket.writes.every((w) => w.length >= FLUSH_AT_BYTES && w.length < FLUSH_AT_BYTES + FRAME_BYTES));
    assert.equal(writer.state, 'socket-full', 'the socket said false: the rest waits for drain, not the microtask');
    await endOfRun();
    assert.equal(socket.writes.length, 5);
    socket.read();
    assert.equal(socket.writes.length, 6, 'the tail left at drain');
    assert.deepEqual(
      socket.writtenTypes().flat(),
      Array.from({ length: total }, (_, i) => `x-${i}`),
    );
    assert.equal(writer.queuedBytes, socket.writableLength);
  });

  it('refuses a message past maxQueuedBytes, queuing nothing, and drains once when there is room', async () => {
    const { socket, calls, writer } = setup({ highWaterMark: 2 * FRAME_BYTES, maxQueuedBytes: 5 * FRAME_BYTES });
    let accepted = 0;
    while (writer.enqueue(message('x-bulk'))) accepted++;
    assert.equal(accepted, 5);
    assert.equal(writer.queuedBytes, 5 * FRAME_BYTES);
    assert.equal(writer.enqueue(message('x-bulk')), false);
    await endOfRun();
    assert.equal(socket.writes.length, 1);
    assert.equal(writer.state, 'socket-full');
    assert.equal(calls.drains, 0, 'no drain while the socket is full');
    assert.equal(writer.enqueue(message('x-bulk')), false, 'the socket buffer counts too');
    socket.read(4 * FRAME_BYTES);
    assert.equal(calls.drains, 0, 'no drain before the socket drains');
    socket.read();
    assert.equal(calls.drains, 1);
    assert.equal(writer.state, 'idle');
    assert.ok(writer.enqueue(message('x-bulk')));
    await endOfRun();
    socket.read();
    assert.equal(calls.drains, 1, 'one drain per refusal, not per flush');
  });

  it('owes the drain until the socket drains, even once the bound has room', async () => {
    const { socket, calls, writer } = setup({ highWaterMark: 2 * FRAME_BYTES, maxQueuedBytes: 5 * FRAME_BYTES });
    for (let i = 0; i < 4; i++) assert.ok(writer.enqueue(message('x-small')));
    assert.equal(writer.enqueue({ t: 'x-big', p: 'y'.repeat(2 * FRAME_BYTES) }), false);
    await endOfRun();
    assert.ok(writer.queuedBytes < 5 * FRAME_BYTES);
    assert.equal(calls.drains, 0, 'the socket still reports backpressure');
    socket.read();
    assert.equal(calls.drains, 1);
  });

  it('owes the drain while the bytes written are still at the bound', async () => {
    const { calls, writer } = setup({ maxQueuedBytes: 2 * FRAME_BYTES });
    while (writer.enqueue(message('x-bulk'))) {}
    await endOfRun();
    assert.equal(writer.state, 'idle', 'the socket took them without complaint');
    assert.equal(writer.queuedBytes, 2 * FRAME_BYTES);
    assert.equal(calls.drains, 0);
  });

  it('owes no drain when nothing was refused', async () => {
    const { socket, calls } = await blocked();
    socket.read();
    assert.equal(calls.drains, 0);
  });

  it('holds the batch while the socket is full and writes it in one go on its drain', async () => {
    const { socket, calls, writer } = await blocked();
    writer.enqueue(message('x-b'));
    await endOfRun();
    writer.enqueue(message('x-c'));
    await endOfRun();
    assert.equal(socket.writes.length, 1, 'nothing written while the socket is full');
    assert.equal(writer.queuedBytes, 5 * FRAME_BYTES);
    socket.read();
    assert.deepEqual(socket.writtenTypes(), [
      ['x-first', 'x-first', 'x-first'],
      ['x-b', 'x-c'],
    ]);
    assert.equal(calls.writes, 2);
    assert.equal(writer.state, 'idle');
  });

  it('reports a stall after writeTimeoutMs in which the peer read nothing', async () => {
    const { clock, calls } = await blocked();
    clock.advance(999);
    assert.deepEqual(calls.stalls, []);
    clock.advance(1);
    assert.deepEqual(calls.stalls, [1000]);
  });

  it('keeps watching a slow peer that reads something in every period', async () => {
    const { socket, clock, calls, writer } = await blocked();
    clock.advance(500);
    socket.read(10);
    clock.advance(500);
    assert.deepEqual(calls.stalls, [], 'it moved: no stall');
    clock.advance(900);
    socket.read(10);
    clock.advance(100);
    assert.deepEqual(calls.stalls, [], 'it moved again');
    clock.advance(1000);
    assert.deepEqual(calls.stalls, [1000], 'a period without progress');
    writer.writeTimeoutMs = 300; // a new heartbeat interval applies from the next watch on
    socket.read();
    writer.enqueue({ t: 'x-big', p: 'y'.repeat(4 * FRAME_BYTES) });
    await endOfRun();
    clock.advance(300);
    assert.deepEqual(calls.stalls, [1000, 300]);
  });

  it("stops watching on the socket's drain", async () => {
    const { socket, clock, calls } = await blocked();
    clock.advance(900);
    socket.read();
    clock.advance(10_000);
    assert.deepEqual(calls.stalls, []);
  });

  it('end() writes against backpressure, then refuses without owing a drain; the watch goes on', async () => {
    const { socket, clock, calls, writer } = await blocked();
    writer.enqueue(message('x-error'));
    writer.end();
    assert.equal(writer.state, 'ended');
    assert.deepEqual(socket.writtenTypes()[1], ['x-error']);
    assert.equal(writer.enqueue(message('x-late')), false);
    await endOfRun();
    assert.equal(socket.writes.length, 2);
    clock.advance(1000);
    assert.deepEqual(calls.stalls, [1000]);
    socket.read();
    assert.equal(calls.drains, 0);
  });

  it('stop() drops the queued flush and the watch', async () => {
    const { socket, clock, calls, writer } = await blocked();
    writer.stop();
    clock.advance(10_000);
    assert.deepEqual(calls.stalls, []);
    const fresh = setup();
    fresh.writer.enqueue(message('x-a'));
    fresh.writer.stop();
    await endOfRun();
    assert.deepEqual([socket.writes.length, fresh.socket.writes.length], [1, 0]);
    assert.equal(fresh.writer.enqueue(message('x-b')), false);
  });

  it('throws ERR_FRAME_TOO_LARGE past maxFrameBytes and queues nothing', () => {
    const { writer } = setup();
    writer.maxFrameBytes = 40;
    assert.throws(() => writer.enqueue(message('x-a')), { code: 'ERR_FRAME_TOO_LARGE' });
    assert.equal(writer.queuedBytes, 0);
    assert.equal(writer.state, 'idle');
  });
});

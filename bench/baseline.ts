// The raw `node:net` peers picluster is measured against: the same frames on the wire (4-byte
// big-endian length + JSON, same message objects), a decoder that concatenates Buffers and calls
// JSON.parse, no validation, no timeouts, a Map of pending requests keyed by `id`. Three ways of
// writing (`RawMode`):
// - `write`: one `socket.write` per message, the straightforward form (a strawman for throughput);
// - `cork`: the best form with cork: the one-way sender corks around every 256 frames, the
//   request/response server corks around each 'data' chunk (all replies of that chunk leave in
//   one writev) and the client corks on its first request of a tick and uncorks on the next tick;
// - `concat`: the same batches, but the frames are concatenated into one Buffer and written once.

import type net from 'node:net';

export interface RawMessage {
  t: string;
  id?: number;
  re?: number;
  p?: unknown;
}

export type RawMode = 'write' | 'cork' | 'concat';

/** Frames per batch of the batched one-way senders. */
export const RAW_BATCH_FRAMES = 256;

/** One message as one frame. */
export function encodeFrame(message: RawMessage): Buffer {
  const json = JSON.stringify(message);
  const length = Buffer.byteLength(json);
  const frame = Buffer.allocUnsafe(4 + length);
  frame.writeUInt32BE(length, 0);
  frame.write(json, 4, 'utf8');
  return frame;
}

/** Several messages as consecutive frames in one Buffer (one allocation, no per-frame Buffer). */
export function encodeFrames(messages: readonly RawMessage[]): Buffer {
  const jsons = messages.map((m) => JSON.stringify(m));
  const lengths = jsons.map((j) => Buffer.byteLength(j));
  let total = 0;
  for (const length of lengths) total += 4 + length;
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (let i = 0; i < jsons.length; i++) {
    const length = lengths[i] as number;
    out.writeUInt32BE(length, offset);
    out.write(jsons[i] as string, offset + 4, 'utf8');
    offset += 4 + length;
  }
  return out;
}

/** Buffer.concat + readUInt32BE + JSON.parse. */
export class BaselineDecoder {
  #rest: Buffer = Buffer.alloc(0);

  push(chunk: Buffer, onMessage: (message: RawMessage) => void): void {
    const buf = this.#rest.length === 0 ? chunk : Buffer.concat([this.#rest, chunk]);
    let offset = 0;
    while (buf.length - offset >= 4) {
      const length = buf.readUInt32BE(offset);
      if (buf.length - offset - 4 < length) break;
      onMessage(JSON.parse(buf.toString('utf8', offset + 4, offset + 4 + length)) as RawMessage);
      offset += 4 + length;
    }
    this.#rest = buf.subarray(offset);
  }
}

/** Waits for 'drain' when the socket asked for it (honours backpressure). */
function drained(socket: net.Socket): Promise<void> | undefined {
  if (!socket.writableNeedDrain) return undefined;
  return new Promise((resolve) => socket.once('drain', resolve));
}

/** One-way sender: `count` messages made by `make`, written the `mode` way. */
export async function sendRaw(
  socket: net.Socket,
  mode: RawMode,
  count: number,
  make: (i: number) => RawMessage,
): Promise<void> {
  if (mode === 'write') {
    for (let i = 0; i < count; i++) {
      if (!socket.write(encodeFrame(make(i)))) await drained(socket);
    }
    return;
  }
  for (let i = 0; i < count; ) {
    const end = Math.min(count, i + RAW_BATCH_FRAMES);
    if (mode === 'cork') {
      socket.cork();
      for (; i < end; i++) socket.write(encodeFrame(make(i)));
      socket.uncork();
    } else {
      const batch: RawMessage[] = [];
      for (; i < end; i++) batch.push(make(i));
      socket.write(encodeFrames(batch));
    }
    await drained(socket);
  }
}

/**
 * Server side: echoes requests (`id` → reply with `re`), hands one-way messages to `onMessage`.
 * `cork` and `concat` send all replies to one chunk in one writev / one write.
 */
export function serveRaw(socket: net.Socket, mode: RawMode, onMessage: (message: RawMessage) => void): void {
  socket.setNoDelay(true);
  const decoder = new BaselineDecoder();
  const replies: RawMessage[] = [];
  const onRequest = (m: RawMessage): void => {
    if (m.id === undefined) onMessage(m);
    else if (mode === 'concat') replies.push({ t: 'result', re: m.id, p: m.p });
    else socket.write(encodeFrame({ t: 'result', re: m.id, p: m.p }));
  };
  socket.on('data', (chunk: Buffer) => {
    if (mode === 'cork') socket.cork();
    decoder.push(chunk, onRequest);
    if (mode === 'cork') socket.uncork();
    else if (replies.length > 0) {
      socket.write(encodeFrames(replies));
      replies.length = 0;
    }
  });
  socket.on('error', () => socket.destroy());
  socket.on('end', () => socket.end());
}

/** Client side: correlated requests over one socket; `cork`/`concat` batch the requests of a tick. */
export class RawClient {
  readonly socket: net.Socket;
  readonly #mode: RawMode;
  readonly #pending = new Map<number, (payload: unknown) => void>();
  readonly #decoder = new BaselineDecoder();
  readonly #batch: RawMessage[] = [];
  #flushQueued = false;
  #nextId = 1;

  constructor(socket: net.Socket, mode: RawMode) {
    this.socket = socket;
    this.#mode = mode;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) =>
      this.#decoder.push(chunk, (m) => {
        if (m.re === undefined) return;
        const resolve = this.#pending.get(m.re);
        if (resolve === undefined) return;
        this.#pending.delete(m.re);
        resolve(m.p);
      }),
    );
  }

  request(type: string, payload: unknown): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      const message = { t: type, id, p: payload };
      if (this.#mode === 'write') {
        this.socket.write(encodeFrame(message));
        return;
      }
      // Requests made in this tick (a loop, the continuations of one chunk's replies) are
      // written together once the tick's microtasks have run.
      if (!this.#flushQueued) {
        this.#flushQueued = true;
        if (this.#mode === 'cork') this.socket.cork();
        process.nextTick(this.#flush);
      }
      if (this.#mode === 'cork') this.socket.write(encodeFrame(message));
      else this.#batch.push(message);
    });
  }

  #flush = (): void => {
    this.#flushQueued = false;
    if (this.#mode === 'cork') this.socket.uncork();
    else {
      this.socket.write(encodeFrames(this.#batch));
      this.#batch.length = 0;
    }
  };
}

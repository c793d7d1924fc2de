// The raw `node:net` baseline picluster is measured against: the same frames on the wire (4-byte
// big-endian length + JSON, same message objects), but written the straightforward way: one
// `socket.write` per message, a decoder that concatenates Buffers and calls JSON.parse, no
// validation, no batching, no timeouts, a Map of pending requests keyed by `id`.

import type net from 'node:net';

export interface RawMessage {
  t: string;
  id?: number;
  re?: number;
  p?: unknown;
}

/** One message as one frame. */
export function encodeFrame(message: RawMessage): Buffer {
  const json = JSON.stringify(message);
  const length = Buffer.byteLength(json);
  const frame = Buffer.allocUnsafe(4 + length);
  frame.writeUInt32BE(length, 0);
  frame.write(json, 4, 'utf8');
  return frame;
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

/** Server side: echoes requests (`id` → reply with `re`), hands one-way messages to `onMessage`. */
export function serveBaseline(socket: net.Socket, onMessage: (message: RawMessage) => void): void {
  socket.setNoDelay(true);
  const decoder = new BaselineDecoder();
  socket.on('data', (chunk: Buffer) =>
    decoder.push(chunk, (m) => {
      if (m.id !== undefined) socket.write(encodeFrame({ t: 'result', re: m.id, p: m.p }));
      else onMessage(m);
    }),
  );
  socket.on('error', () => socket.destroy());
  socket.on('end', () => socket.end());
}

/** Client side: correlated requests over one socket. */
export class BaselineClient {
  readonly socket: net.Socket;
  readonly #pending = new Map<number, (payload: unknown) => void>();
  readonly #decoder = new BaselineDecoder();
  #nextId = 1;

  constructor(socket: net.Socket) {
    this.socket = socket;
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
      this.socket.write(encodeFrame({ t: type, id, p: payload }));
    });
  }
}

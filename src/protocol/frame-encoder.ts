// Frame encoding: a message becomes a 4-byte big-endian length and its UTF-8 JSON. Pure: no I/O.
// `FrameBatch` gathers many messages into one buffer, so a connection writes them in one syscall.

import { ProtocolError } from './errors.js';
import { FRAME_HEADER_BYTES } from './frame-decoder.js';
import type { Message } from './messages.js';

/** Serializes a message and checks its size. @throws ProtocolError ERR_FRAME_TOO_LARGE */
export function serializeMessage(message: Message, maxFrameBytes: number): { json: string; bytes: number } {
  const json = JSON.stringify(message);
  const bytes = Buffer.byteLength(json);
  if (bytes > maxFrameBytes) {
    throw new ProtocolError(
      'ERR_FRAME_TOO_LARGE',
      `message "${message.t}" is ${bytes} bytes, over maxFrameBytes ${maxFrameBytes}`,
    );
  }
  return { json, bytes };
}

/** One message as one frame. */
export function encodeFrame(message: Message, maxFrameBytes = Number.MAX_SAFE_INTEGER): Buffer {
  const { json, bytes } = serializeMessage(message, maxFrameBytes);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + bytes);
  frame.writeUInt32BE(bytes, 0);
  frame.write(json, FRAME_HEADER_BYTES, 'utf8');
  return frame;
}

/** Serialized messages waiting to be written, turned into one buffer on `take()`. */
export class FrameBatch {
  #jsons: string[] = [];
  #lengths: number[] = [];
  #bytes = 0;

  /** Bytes the batch will take on the wire, headers included. */
  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#jsons.length;
  }

  add(json: string, bytes: number): void {
    this.#jsons.push(json);
    this.#lengths.push(bytes);
    this.#bytes += FRAME_HEADER_BYTES + bytes;
  }

  /** Every frame added so far in one buffer; the batch is empty afterwards. */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.#bytes);
    let offset = 0;
    for (let i = 0; i < this.#jsons.length; i++) {
      const length = this.#lengths[i] as number;
      out.writeUInt32BE(length, offset);
      out.write(this.#jsons[i] as string, offset + FRAME_HEADER_BYTES, 'utf8');
      offset += FRAME_HEADER_BYTES + length;
    }
    this.#jsons = [];
    this.#lengths = [];
    this.#bytes = 0;
    return out;
  }
}

// Incremental decoder for length-prefixed frames: a 4-byte unsigned big-endian length, then that
// many bytes of UTF-8 JSON (ARCHITECTURE.md, "Wire protocol"). Pure: no I/O. "Incomplete" is a
// normal state, not an error: bytes are kept until a whole frame is there, however they were
// split into chunks. A frame body is copied at most once, and only when it spans chunks.

import { DEFAULTS } from '../common/defaults.js';
import { ProtocolError } from './errors.js';
import { type Message, validateMessage } from './messages.js';
import { decodeUtf8, MAX_JSON_DEPTH, parseJson } from './parse-json.js';

export const FRAME_HEADER_BYTES = 4;
export const DEFAULT_MAX_FRAME_BYTES = DEFAULTS.maxFrameBytes;

export interface FrameDecoderOptions {
  /** Largest frame body accepted, in bytes, not counting the header. Default 1 MiB. */
  maxFrameBytes?: number;
  /** Deepest JSON nesting accepted. Default 32. */
  maxDepth?: number;
}

export class FrameDecoder {
  /** Changeable: the primary allows small frames only until a node has authenticated. */
  maxFrameBytes: number;
  readonly maxDepth: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Body length of the frame being read, or -1 while its header is incomplete. */
  #expected = -1;
  #failed: ProtocolError | undefined;

  constructor(options: FrameDecoderOptions = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.maxDepth = options.maxDepth ?? MAX_JSON_DEPTH;
  }

  /** True when bytes of an unfinished frame are held (EOF now would cut a frame). */
  get hasPartialFrame(): boolean {
    return this.#buffered > 0 || this.#expected >= 0;
  }

  /** Bytes held for the frame being read. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /**
   * Takes the next chunk of bytes and returns every message it completes, in order.
   * @throws ProtocolError on the first bad frame; the decoder then refuses all further input.
   */
  push(chunk: Buffer): Message[] {
    if (this.#failed) throw this.#failed;
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    const messages: Message[] = [];
    try {
      for (;;) {
        if (this.#expected < 0) {
          if (this.#buffered < FRAME_HEADER_BYTES) break;
          const length = this.#take(FRAME_HEADER_BYTES).readUInt32BE(0);
          if (length > this.maxFrameBytes) {
            throw new ProtocolError(
              'ERR_FRAME_TOO_LARGE',
              `frame of ${length} bytes exceeds maxFrameBytes ${this.maxFrameBytes}`,
            );
          }
          this.#expected = length;
        }
        if (this.#buffered < this.#expected) break;
        const body = this.#take(this.#expected);
        this.#expected = -1;
        messages.push(validateMessage(parseJson(decodeUtf8(body), this.maxDepth)));
      }
    } catch (err) {
      this.#failed = err as ProtocolError;
      this.#chunks = [];
      this.#buffered = 0;
      throw err;
    }
    return messages;
  }

  /** Removes `n` buffered bytes from the front; zero-copy when they lie in the first chunk. */
  #take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    this.#buffered -= n;
    const first = this.#chunks[0] as Buffer;
    if (first.length === n) {
      this.#chunks.shift();
      return first;
    }
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let offset = 0;
    let i = 0;
    // Walk by index and drop the used chunks in one splice: shift() per chunk made a frame
    // sent in 400,000 one-byte segments cost 26 s of event loop (quadratic).
    while (offset < n) {
      const chunk = this.#chunks[i] as Buffer;
      const used = Math.min(chunk.length, n - offset);
      chunk.copy(out, offset, 0, used);
      offset += used;
      if (used === chunk.length) i++;
      else this.#chunks[i] = chunk.subarray(used);
    }
    this.#chunks.splice(0, i);
    return out;
  }
}

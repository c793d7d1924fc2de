// Incremental decoder for length-prefixed frames: a 4-byte unsigned big-endian length, then that
// many bytes of UTF-8 JSON (ARCHITECTURE.md, "Wire protocol"). Pure: no I/O. "Incomplete" is a
// normal state, not an error: bytes are kept until a whole frame is there, however they were
// split into chunks. A frame that lies wholly in one chunk is read in place (its length and text
// straight out of the chunk, no Buffer per header or body: issue 16); a body is copied once, and
// only when it spans chunks.

import { DEFAULTS } from '../common/defaults.js';
import { ProtocolError } from './errors.js';
import { type Message, validateMessage } from './messages.js';
import { decodeUtf8Range, MAX_JSON_DEPTH, parseJson } from './parse-json.js';

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
  /**
   * Bytes of the unfinished frame: its header bytes while `#expected` is -1, else its body bytes.
   * Kept as the chunks they came in and joined once, when the frame is whole.
   */
  #held: Buffer[] = [];
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
    const messages: Message[] = [];
    try {
      let offset = this.#buffered > 0 || this.#expected >= 0 ? this.#finishHeld(chunk, messages) : 0;
      const end = chunk.length;
      // Whole frames in the chunk, read in place.
      while (end - offset >= FRAME_HEADER_BYTES) {
        const length = chunk.readUInt32BE(offset);
        this.#checkLength(length);
        const start = offset + FRAME_HEADER_BYTES;
        if (end - start < length) {
          this.#expected = length;
          this.#hold(chunk, start);
          return messages;
        }
        offset = start + length;
        messages.push(this.#decode(chunk, start, offset));
      }
      this.#hold(chunk, offset);
    } catch (err) {
      this.#failed = err as ProtocolError;
      this.#held = [];
      this.#buffered = 0;
      throw err;
    }
    return messages;
  }

  /**
   * Completes the held frame with the front of `chunk` (decoding it into `messages`) and returns
   * where the rest of the chunk starts; holds the whole chunk if the frame is still unfinished.
   */
  #finishHeld(chunk: Buffer, messages: Message[]): number {
    let offset = 0;
    if (this.#expected < 0) {
      const missing = FRAME_HEADER_BYTES - this.#buffered;
      if (chunk.length < missing) {
        this.#hold(chunk, 0);
        return chunk.length;
      }
      let length = 0;
      for (const part of this.#held) for (let i = 0; i < part.length; i++) length = length * 256 + (part[i] as number);
      for (; offset < missing; offset++) length = length * 256 + (chunk[offset] as number);
      this.#held = [];
      this.#buffered = 0;
      this.#checkLength(length);
      this.#expected = length;
    }
    const missing = this.#expected - this.#buffered;
    if (chunk.length - offset < missing) {
      this.#hold(chunk, offset);
      return chunk.length;
    }
    const end = offset + missing;
    this.#expected = -1;
    if (this.#buffered === 0) {
      messages.push(this.#decode(chunk, offset, end));
      return end;
    }
    const body = Buffer.allocUnsafe(this.#buffered + missing);
    let at = 0;
    for (const part of this.#held) at += part.copy(body, at);
    chunk.copy(body, at, offset, end);
    this.#held = [];
    this.#buffered = 0;
    messages.push(this.#decode(body, 0, body.length));
    return end;
  }

  /** Keeps `chunk` from `start` on as part of the unfinished frame (zero-copy). */
  #hold(chunk: Buffer, start: number): void {
    if (start >= chunk.length) return;
    // A list, joined once: appending to one Buffer per chunk made a frame sent in 400,000
    // one-byte segments quadratic.
    this.#held.push(start === 0 ? chunk : chunk.subarray(start));
    this.#buffered += chunk.length - start;
  }

  #checkLength(length: number): void {
    if (length > this.maxFrameBytes) {
      throw new ProtocolError(
        'ERR_FRAME_TOO_LARGE',
        `frame of ${length} bytes exceeds maxFrameBytes ${this.maxFrameBytes}`,
      );
    }
  }

  #decode(bytes: Buffer, start: number, end: number): Message {
    return validateMessage(parseJson(decodeUtf8Range(bytes, start, end), this.maxDepth));
  }
}

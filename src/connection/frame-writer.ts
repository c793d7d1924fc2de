// The write side of a link, kept apart from the reading side as ws keeps its `Sender` apart from
// its `Receiver`: messages of one synchronous run leave in one `write` (in 64 KiB writes when the
// run is longer), the queue is bounded, backpressure is honoured and a peer that stops reading is
// noticed. It depends only on a narrow interface (the socket's `write`/`writableLength`/'drain', a
// `Clock`, three callbacks), so it is tested with a fake socket on a fake clock; `Connection` owns
// it and decides what a stall means.

import { FrameBatch, serializeMessage } from '../protocol/frame-encoder.js';
import type { Message } from '../protocol/messages.js';
import { type Clock, systemClock, type Timer } from './clock.js';

/** What the writer needs of a socket (a `net.Socket` or `tls.TLSSocket` has it). */
export interface WritableSocket {
  /** Bytes given to `write` that the kernel has not taken yet. */
  readonly writableLength: number;
  write(chunk: Buffer): boolean;
  on(event: 'drain', listener: () => void): unknown;
}

export interface FrameWriterOptions {
  /** Largest frame body sent, in bytes; larger messages throw ERR_FRAME_TOO_LARGE. */
  maxFrameBytes: number;
  /** Bytes that may wait to be written (batch + socket buffer); past it `enqueue` returns false. */
  maxQueuedBytes: number;
  /** How long the socket may hold unwritten bytes without the peer reading any, in ms. */
  writeTimeoutMs: number;
  clock?: Clock;
  /** After every `write` (the heartbeat counts it as a sign of life sent). */
  onWrite(): void;
  /** The queue has room again after `enqueue` returned false. Called once per refusal streak. */
  onDrain(): void;
  /** The peer read nothing for `writeTimeoutMs` while bytes waited for it. */
  onStall(stalledMs: number): void;
}

/**
 * - `idle`: nothing is waiting to be written by us (the socket may still hold bytes).
 * - `flush-queued`: a microtask will write the batch.
 * - `socket-full`: the socket's `write` returned false; the batch waits for its 'drain' (or until
 *   it reaches FLUSH_AT_BYTES).
 * - `ended`: the last batch went out (`end()`); nothing more is written.
 * - `stopped`: the link is gone (`stop()`); nothing is written or watched.
 */
export type FrameWriterState = 'idle' | 'flush-queued' | 'socket-full' | 'ended' | 'stopped';

/**
 * A batch this large is written at once instead of at the end of the run: a long run (a bulk
 * sender's loop) then streams while it goes on, so the peer reads while we serialize, instead of
 * everything leaving in one write of up to `maxQueuedBytes` at the end (issue 16: stop-and-go,
 * each side idle while the other worked).
 */
export const FLUSH_AT_BYTES = 64 * 1024;

export class FrameWriter {
  /** Changed when the peer announces its limit (`Connection.setMaxFrameBytes`). */
  maxFrameBytes: number;
  /** Read when a watch starts: a new heartbeat interval applies from the next stall on. */
  writeTimeoutMs: number;
  readonly #socket: WritableSocket;
  readonly #maxQueuedBytes: number;
  readonly #clock: Clock;
  readonly #onWrite: () => void;
  readonly #onDrain: () => void;
  readonly #onStall: (stalledMs: number) => void;
  readonly #batch = new FrameBatch();
  #state: FrameWriterState = 'idle';
  // Apart from the state: a refusal may be owed its 'drain' in any state bytes can still leave in.
  #drainOwed = false;
  #stallTimer: Timer | undefined;

  constructor(socket: WritableSocket, options: FrameWriterOptions) {
    this.#socket = socket;
    this.maxFrameBytes = options.maxFrameBytes;
    this.#maxQueuedBytes = options.maxQueuedBytes;
    this.writeTimeoutMs = options.writeTimeoutMs;
    this.#clock = options.clock ?? systemClock;
    this.#onWrite = options.onWrite;
    this.#onDrain = options.onDrain;
    this.#onStall = options.onStall;
    socket.on('drain', this.#socketOnDrain);
  }

  get state(): FrameWriterState {
    return this.#state;
  }

  /** Bytes waiting to be written: the batch of this run plus the socket's own buffer. */
  get queuedBytes(): number {
    return this.#batch.bytes + this.#socket.writableLength;
  }

  /**
   * Queues one message for this run's batch. Returns false, queuing nothing, when it would take
   * the queue over `maxQueuedBytes` (`onDrain` follows once there is room) or after `end()`.
   * @throws ProtocolError ERR_FRAME_TOO_LARGE when the message is over `maxFrameBytes`.
   */
  enqueue(message: Message): boolean {
    if (this.#state === 'ended' || this.#state === 'stopped') return false;
    const { json, bytes } = serializeMessage(message, this.maxFrameBytes);
    if (this.queuedBytes + bytes > this.#maxQueuedBytes) {
      this.#drainOwed = true;
      return false;
    }
    this.#batch.add(json, bytes);
    if (this.#state === 'idle') {
      this.#state = 'flush-queued';
      // A microtask: everything sent in this synchronous run (a loop, one chunk's requests, a
      // batch of resolved handlers) leaves in one write, without waiting for the next loop turn.
      // While the socket is full the batch waits for 'drain' instead.
      queueMicrotask(this.#flush);
    } else if (this.#batch.bytes >= FLUSH_AT_BYTES) {
      // A queued flush still runs and writes whatever comes after this. A full socket buffers
      // what we write (the bound counts it all the same), and strings handed over now die young
      // instead of piling up in the batch for the old generation (a sixth of a bulk sender's busy
      // CPU went to the garbage collector).
      if (!this.#writeBatch() && this.#state === 'flush-queued') this.#state = 'socket-full';
    }
    return true;
  }

  /**
   * Writes what is queued now, even against backpressure (the socket buffers it), and nothing
   * after: for `close()` and the `error` frame sent before closing on a protocol error. The stall
   * watch goes on until 'drain' or `stop()`.
   */
  end(): void {
    if (this.#state === 'stopped') return;
    this.#state = 'ended';
    this.#writeBatch();
  }

  /** The link is gone: no more writes, no more watching. */
  stop(): void {
    this.#state = 'stopped';
    if (this.#stallTimer !== undefined) this.#clock.clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
  }

  #flush = (): void => {
    if (this.#state !== 'flush-queued') return; // ended or stopped since
    this.#state = 'idle';
    if (!this.#writeBatch()) this.#state = 'socket-full';
    this.#emitDrainIfOwed();
  };

  #socketOnDrain = (): void => {
    if (this.#stallTimer !== undefined) this.#clock.clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
    if (this.#state === 'ended' || this.#state === 'stopped') return;
    // A flush still queued stays queued: it writes whatever is sent before it runs.
    if (this.#state === 'socket-full') this.#state = 'idle';
    if (!this.#writeBatch()) this.#state = 'socket-full';
    this.#emitDrainIfOwed();
  };

  /** Writes the batch in one `write` (one syscall for everything sent this run). */
  #writeBatch(): boolean {
    if (this.#batch.size === 0) return true;
    const ok = this.#socket.write(this.#batch.take());
    this.#onWrite();
    if (!ok) this.#watchStall();
    return ok;
  }

  /** 'drain' is owed to whoever saw `enqueue` return false, once the queue has room again. */
  #emitDrainIfOwed(): void {
    if (this.#drainOwed && this.#state !== 'socket-full' && this.queuedBytes < this.#maxQueuedBytes) {
      this.#drainOwed = false;
      this.#onDrain();
    }
  }

  /** While the socket holds unwritten bytes, checks that the peer keeps reading them. */
  #watchStall(): void {
    if (this.#stallTimer !== undefined) return;
    const timeoutMs = this.writeTimeoutMs;
    // writableLength counts bytes until the kernel took them: it shrinks only as the peer reads.
    const waitingBefore = this.#socket.writableLength;
    this.#stallTimer = this.#clock.setTimeout(() => {
      this.#stallTimer = undefined;
      if (this.#state === 'stopped') return;
      if (this.#socket.writableLength >= waitingBefore) {
        this.#onStall(timeoutMs);
      } else {
        this.#watchStall(); // slow but moving: keep watching
      }
    }, timeoutMs);
    this.#stallTimer.unref?.();
  }
}

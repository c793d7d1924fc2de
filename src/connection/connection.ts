// One framed link over a socket (net or TLS): one-way `send`, correlated `request` with timeout,
// request handlers, heartbeats, write batching with bounded queue and backpressure, close.
// Every way the link can fail ends in exactly one 'disconnect' event carrying a
// DisconnectionError, and every pending request is rejected with that same error.
// Socket listeners are named methods (as ws does), state is one field changed in one place.

import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { DEFAULTS } from '../common/defaults.js';
import { type Logger, silentLogger } from '../common/logger.js';
import {
  BackpressureError,
  type DisconnectionCode,
  DisconnectionError,
  PiclusterError,
  type ProtocolError,
  RemoteError,
} from '../protocol/errors.js';
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder } from '../protocol/frame-decoder.js';
import { FrameBatch, serializeMessage } from '../protocol/frame-encoder.js';
import { type Message, type MessageType, type PayloadOf, replyTypeOf } from '../protocol/messages.js';
import { type Clock, systemClock, type Timer } from './clock.js';
import { Heartbeat, type HeartbeatOptions } from './heartbeat.js';
import { PendingRequests } from './pending-requests.js';

export const DEFAULT_CONNECTION = Object.freeze({
  /** Largest frame body sent or accepted, in bytes. */
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  /** Bytes that may wait to be written (batch + socket buffer); past it `send` returns false. */
  maxQueuedBytes: 8 * 1024 * 1024,
  /** Default timeout of `request`, in ms. */
  requestTimeoutMs: DEFAULTS.requestTimeoutMs,
  /** Requests in flight at once; past it `request` rejects with BackpressureError. */
  maxPendingRequests: 10_000,
  /** How long `close()` waits for the peer to finish before destroying the socket, in ms. */
  closeTimeoutMs: 2_000,
  /**
   * A peer that reads nothing while bytes wait for it this long is cut off (a slow consumer must
   * not hold the link and its queue forever), in ms. 0: 3 heartbeat intervals.
   */
  writeTimeoutMs: 0,
});

export interface ConnectionOptions {
  /** Heartbeat interval and misses; `false` turns heartbeats off (tests of raw behaviour only). */
  heartbeat?: Pick<HeartbeatOptions, 'intervalMs' | 'maxMissed'> | false;
  maxFrameBytes?: number;
  maxQueuedBytes?: number;
  requestTimeoutMs?: number;
  maxPendingRequests?: number;
  closeTimeoutMs?: number;
  writeTimeoutMs?: number;
  /** Bytes already read from the socket (after the opening magic) to decode first. */
  head?: Buffer;
  clock?: Clock;
  logger?: Logger;
}

export type ConnectionState = 'open' | 'closing' | 'closed';

export interface ConnectionEvents {
  /** A one-way message (not a request, reply, ping or pong). */
  message: [message: Message];
  /** The link is gone. Emitted exactly once per connection. */
  disconnect: [error: DisconnectionError];
  /** The write queue went back under its bound after `send` returned false. */
  drain: [];
}

/** Answers a request: returns (or resolves to) the reply payload, or throws to reply `error`. */
export type RequestHandler = (payload: unknown, message: Message, connection: Connection) => unknown;

export interface RequestOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

export class Connection extends EventEmitter<ConnectionEvents> {
  readonly socket: Socket;
  readonly remoteAddress: string;
  #options: Required<Omit<ConnectionOptions, 'head' | 'heartbeat' | 'clock' | 'logger'>>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #decoder: FrameDecoder;
  readonly #batch = new FrameBatch();
  readonly #pending: PendingRequests;
  readonly #handlers = new Map<string, RequestHandler>();
  #fallback: RequestHandler | undefined;
  readonly #heartbeat: Heartbeat | undefined;
  #state: ConnectionState = 'open';
  #error: DisconnectionError | undefined;
  #flushScheduled = false;
  #waitingForSocketDrain = false;
  #stallTimer: Timer | undefined;
  #owesDrainEvent = false;
  #closeTimer: Timer | undefined;
  #closed: Promise<void> | undefined;

  constructor(socket: Socket, options: ConnectionOptions = {}) {
    super();
    this.socket = socket;
    this.remoteAddress = `${socket.remoteAddress}:${socket.remotePort}`;
    this.#options = { ...DEFAULT_CONNECTION, ...definedOnly(options) };
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? silentLogger;
    this.#decoder = new FrameDecoder({ maxFrameBytes: this.#options.maxFrameBytes });
    this.#pending = new PendingRequests(this.#clock, this.#options.maxPendingRequests);
    if (options.heartbeat !== false) {
      this.#heartbeat = new Heartbeat({
        ...options.heartbeat,
        clock: this.#clock,
        sendPing: () => this.#enqueue({ t: 'ping', p: {} }),
        onStale: this.#onStale,
      });
    }
    socket.setNoDelay(true);
    socket.on('data', this.#socketOnData);
    socket.on('end', this.#socketOnEnd);
    socket.on('error', this.#socketOnError);
    socket.on('close', this.#socketOnClose);
    socket.on('drain', this.#socketOnDrain);
    socket.resume(); // the opening reader may have paused it
    if (socket.destroyed) {
      queueMicrotask(() => this.#fail(new DisconnectionError('ERR_CLOSED', 'socket was already closed')));
    } else if (options.head && options.head.length > 0) {
      const head = options.head;
      queueMicrotask(() => this.#socketOnData(head));
    }
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** Why the link went down, once it has. */
  get error(): DisconnectionError | undefined {
    return this.#error;
  }

  /** Bytes waiting to be written: the batch of this tick plus the socket's own buffer. */
  get queuedBytes(): number {
    return this.#batch.bytes + this.socket.writableLength;
  }

  get pendingRequests(): number {
    return this.#pending.size;
  }

  /** The heartbeat interval in force (0 when heartbeats are off). */
  get heartbeatIntervalMs(): number {
    return this.#heartbeat?.intervalMs ?? 0;
  }

  /** Changes the heartbeat interval, e.g. to the one the primary announced. */
  setHeartbeatInterval(intervalMs: number): void {
    this.#heartbeat?.setIntervalMs(intervalMs);
  }

  /** Changes the largest frame accepted from the peer (and sent to it). */
  setMaxFrameBytes(maxFrameBytes: number): void {
    this.#decoder.maxFrameBytes = maxFrameBytes;
    this.#options.maxFrameBytes = maxFrameBytes;
  }

  /** Registers the handler for requests of type `type` (one per type). */
  handle(type: string, handler: RequestHandler): this {
    this.#handlers.set(type, handler);
    return this;
  }

  /**
   * Registers the handler for request types with no handler of their own. Without one, such a
   * request gets an ERR_UNKNOWN_TYPE error reply and the link stays up.
   */
  handleUnknown(handler: RequestHandler | undefined): this {
    this.#fallback = handler;
    return this;
  }

  /**
   * Sends a one-way message. Returns false, queuing nothing, when the write queue is over
   * `maxQueuedBytes` (wait for 'drain').
   * @throws DisconnectionError when the connection is closing or closed.
   * @throws ProtocolError ERR_FRAME_TOO_LARGE when the message is over `maxFrameBytes`.
   */
  send<T extends MessageType>(type: T, payload: PayloadOf<T>): boolean;
  send(type: string, payload?: unknown): boolean;
  send(type: string, payload?: unknown): boolean {
    this.#assertOpen();
    return this.#enqueue(payload === undefined ? { t: type } : { t: type, p: payload });
  }

  /**
   * Sends a request and resolves with the reply's payload.
   * Rejects with TimeoutError, DisconnectionError, RemoteError (the peer replied `error`),
   * BackpressureError (queue or in-flight bound reached) or the signal's reason.
   */
  request(type: string, payload: unknown = {}, options: RequestOptions = {}): Promise<unknown> {
    try {
      this.#assertOpen();
      const { id, reply } = this.#pending.add(
        type,
        options.timeoutMs ?? this.#options.requestTimeoutMs,
        options.signal,
      );
      let queued: boolean;
      try {
        queued = this.#enqueue({ t: type, id, p: payload });
      } catch (err) {
        // Too large to send: settle the registered request too, or its later timeout would
        // reject a promise nobody holds.
        this.#pending.reject(id, err as Error);
        return reply;
      }
      if (!queued) {
        this.#pending.reject(
          id,
          new BackpressureError(`write queue full (${this.queuedBytes} bytes): wait for 'drain'`),
        );
      }
      return reply;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Flushes what is queued, ends the socket and resolves once it is closed. */
  close(): Promise<void> {
    if (this.#closed) return this.#closed;
    this.#closed = new Promise((resolve) => {
      if (this.#state === 'closed') {
        resolve();
        return;
      }
      this.socket.once('close', () => resolve());
    });
    if (this.#state === 'open') {
      this.#state = 'closing';
      this.#heartbeat?.stop();
      this.#writeBatch(true);
      this.socket.end();
      this.#closeTimer = this.#clock.setTimeout(() => this.socket.destroy(), this.#options.closeTimeoutMs);
      this.#closeTimer.unref?.();
    }
    return this.#closed;
  }

  /** Closes at once, dropping what is queued. */
  destroy(reason = 'destroyed locally'): void {
    this.#fail(new DisconnectionError('ERR_CLOSED', reason));
  }

  #assertOpen(): void {
    if (this.#state === 'open') return;
    throw this.#error ?? new DisconnectionError('ERR_CLOSED', `connection to ${this.remoteAddress} is closing`);
  }

  /** Queues one message for this tick's batch; false when over the bound. */
  #enqueue(message: Message): boolean {
    if (this.#state !== 'open') return false;
    const { json, bytes } = serializeMessage(message, this.#options.maxFrameBytes);
    if (this.queuedBytes + bytes > this.#options.maxQueuedBytes) {
      this.#owesDrainEvent = true;
      return false;
    }
    this.#batch.add(json, bytes);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      // A microtask: everything sent in this synchronous run (a loop, one chunk's requests, a
      // batch of resolved handlers) leaves in one write, without waiting for the next loop turn.
      queueMicrotask(this.#flush);
    }
    return true;
  }

  #flush = (): void => {
    this.#flushScheduled = false;
    if (this.#state === 'open' && !this.#waitingForSocketDrain) {
      this.#writeBatch(false);
      this.#emitDrainIfOwed();
    }
  };

  /** Writes the batch in one `write` (one syscall for everything sent this tick). */
  #writeBatch(force: boolean): void {
    if (this.#batch.size === 0 || (this.#waitingForSocketDrain && !force)) return;
    const ok = this.socket.write(this.#batch.take());
    this.#heartbeat?.sent();
    if (!ok) {
      this.#waitingForSocketDrain = true;
      this.#watchWriteStall();
    }
  }

  /** While the socket holds unwritten bytes, checks that the peer keeps reading them. */
  #watchWriteStall(): void {
    if (this.#stallTimer !== undefined) return;
    const timeoutMs = this.#options.writeTimeoutMs || 3 * (this.#heartbeat?.intervalMs ?? 5_000);
    // writableLength counts bytes until the kernel took them: it shrinks only as the peer reads.
    const waitingBefore = this.socket.writableLength;
    this.#stallTimer = this.#clock.setTimeout(() => {
      this.#stallTimer = undefined;
      if (!this.#waitingForSocketDrain || this.#state === 'closed') return;
      if (this.socket.writableLength >= waitingBefore) {
        this.#fail(
          new DisconnectionError(
            'ERR_PEER_TIMEOUT',
            `peer ${this.remoteAddress} read nothing for ${timeoutMs} ms with ${this.queuedBytes} bytes waiting for it`,
          ),
        );
      } else {
        this.#watchWriteStall(); // slow but moving: keep watching
      }
    }, timeoutMs);
    this.#stallTimer.unref?.();
  }

  #socketOnDrain = (): void => {
    this.#waitingForSocketDrain = false;
    if (this.#stallTimer !== undefined) this.#clock.clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
    if (this.#state !== 'open') return;
    this.#writeBatch(false);
    this.#emitDrainIfOwed();
  };

  /** 'drain' is owed to whoever saw `send` return false, once the queue has room again. */
  #emitDrainIfOwed(): void {
    if (this.#owesDrainEvent && !this.#waitingForSocketDrain && this.queuedBytes < this.#options.maxQueuedBytes) {
      this.#owesDrainEvent = false;
      this.emit('drain');
    }
  }

  #socketOnData = (chunk: Buffer): void => {
    if (this.#state === 'closed') return;
    this.#heartbeat?.received();
    let messages: Message[];
    try {
      messages = this.#decoder.push(chunk);
    } catch (err) {
      this.#onProtocolError(err as ProtocolError);
      return;
    }
    for (const message of messages) {
      if (this.#error !== undefined) return; // a handler closed the link
      this.#dispatch(message);
    }
  };

  #dispatch(message: Message): void {
    if (message.re !== undefined) {
      const matched =
        message.t === 'error'
          ? this.#pending.reject(message.re, remoteErrorOf(message.p))
          : this.#pending.resolve(message.re, message.p);
      // A late reply (after its timeout) or one for an id never sent: drop it (FAULT-SCENARIOS #14).
      if (!matched)
        this.#log.debug({ peer: this.remoteAddress, re: message.re, t: message.t }, 'dropped unmatched reply');
    } else if (message.t === 'ping') {
      this.#enqueue({ t: 'pong', p: {} });
    } else if (message.t === 'pong') {
      // Its arrival already counted as a sign of life.
    } else if (message.id !== undefined) {
      this.#handleRequest(message, message.id);
    } else {
      try {
        this.emit('message', message);
      } catch (err) {
        // A listener's bug must not take the process down from inside a socket callback.
        this.#log.error({ err, peer: this.remoteAddress, t: message.t }, 'message listener failed');
      }
    }
  }

  #handleRequest(message: Message, id: number): void {
    const handler = this.#handlers.get(message.t) ?? this.#fallback;
    if (handler === undefined) {
      this.#replyError(id, 'ERR_UNKNOWN_TYPE', `unknown request type "${message.t}"`);
      return;
    }
    let result: unknown;
    try {
      result = handler(message.p, message, this);
    } catch (err) {
      this.#replyFailure(id, message.t, err);
      return;
    }
    if (isThenable(result)) {
      result.then(
        (value) => this.#reply(id, message.t, value),
        (err: unknown) => this.#replyFailure(id, message.t, err),
      );
    } else {
      this.#reply(id, message.t, result);
    }
  }

  #reply(id: number, type: string, payload: unknown): void {
    try {
      this.#enqueue({ t: replyTypeOf(type), re: id, p: payload ?? {} });
    } catch (err) {
      this.#replyFailure(id, type, err);
    }
  }

  #replyFailure(id: number, type: string, err: unknown): void {
    if (err instanceof PiclusterError) {
      this.#replyError(id, err instanceof RemoteError ? err.remoteCode : err.code, err.message);
    } else {
      // Details of unexpected errors stay here: the peer is not trusted with our internals.
      this.#log.warn({ err, peer: this.remoteAddress, t: type }, 'request handler failed');
      this.#replyError(id, 'ERR_INTERNAL', `request "${type}" failed`);
    }
  }

  #replyError(id: number, code: string, message: string): void {
    this.#enqueue({ t: 'error', re: id, p: { code, message } });
  }

  #onProtocolError(err: ProtocolError): void {
    this.#log.debug({ peer: this.remoteAddress, code: err.code }, err.message);
    // Tell the peer why, then end politely; the link counts as gone from now on.
    this.#enqueue({ t: 'error', p: { code: err.code, message: err.message } });
    this.#writeBatch(true);
    this.#fail(
      new DisconnectionError('ERR_PROTOCOL', `protocol error from ${this.remoteAddress}: ${err.message}`, {
        cause: err,
      }),
      true,
    );
  }

  #onStale = (silentMs: number): void => {
    this.#fail(
      new DisconnectionError(
        'ERR_PEER_TIMEOUT',
        `peer ${this.remoteAddress} silent for ${silentMs} ms (${this.#heartbeat?.maxMissed} heartbeat intervals of ${this.#heartbeat?.intervalMs} ms)`,
      ),
    );
  };

  #socketOnEnd = (): void => {
    if (this.#state !== 'open') return;
    const midFrame = this.#decoder.hasPartialFrame;
    this.#fail(
      new DisconnectionError(
        midFrame ? 'ERR_EOF_MID_FRAME' : 'ERR_EOF',
        midFrame
          ? `peer ${this.remoteAddress} closed in the middle of a frame`
          : `peer ${this.remoteAddress} closed the connection`,
      ),
    );
  };

  #socketOnError = (err: NodeJS.ErrnoException): void => {
    this.#fail(disconnectionOf(err, this.remoteAddress));
  };

  #socketOnClose = (): void => {
    if (this.#closeTimer !== undefined) this.#clock.clearTimeout(this.#closeTimer);
    if (this.#state === 'closing') {
      this.#fail(new DisconnectionError('ERR_CLOSED', 'closed locally'));
    } else if (this.#state === 'open') {
      this.#fail(new DisconnectionError('ERR_EOF', `connection to ${this.remoteAddress} closed`));
    }
  };

  /** The one place a link dies: state, timers, pending requests, socket, event. */
  #fail(error: DisconnectionError, endGracefully = false): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#error = error;
    this.#heartbeat?.stop();
    if (this.#stallTimer !== undefined) this.#clock.clearTimeout(this.#stallTimer);
    this.#pending.rejectAll(error);
    if (endGracefully && !this.socket.destroyed) {
      this.socket.end();
      this.#closeTimer = this.#clock.setTimeout(() => this.socket.destroy(), this.#options.closeTimeoutMs);
      this.#closeTimer.unref?.();
    } else {
      this.socket.destroy();
    }
    this.emit('disconnect', error);
  }
}

const ERRNO_CODES: Record<string, DisconnectionCode> = {
  ECONNRESET: 'ERR_CONNECTION_RESET',
  EPIPE: 'ERR_BROKEN_PIPE',
  ECONNREFUSED: 'ERR_CONNECTION_REFUSED',
  ENETUNREACH: 'ERR_UNREACHABLE',
  EHOSTUNREACH: 'ERR_UNREACHABLE',
  ETIMEDOUT: 'ERR_PEER_TIMEOUT',
  ERR_STREAM_WRITE_AFTER_END: 'ERR_CLOSED',
  ERR_STREAM_DESTROYED: 'ERR_CLOSED',
};

/** Maps a socket error to the DisconnectionError that reports it. */
export function disconnectionOf(err: NodeJS.ErrnoException, peer: string): DisconnectionError {
  const code =
    (err.code !== undefined && Object.hasOwn(ERRNO_CODES, err.code) && ERRNO_CODES[err.code]) || 'ERR_SOCKET';
  return new DisconnectionError(code, `connection to ${peer} failed: ${err.message}`, { cause: err });
}

function remoteErrorOf(payload: unknown): RemoteError {
  const { code, message } = (payload ?? {}) as { code?: unknown; message?: unknown };
  return new RemoteError(String(code ?? 'ERR_REMOTE'), String(message ?? 'the peer replied with an error'));
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// One framed link over a socket (net or TLS): one-way `send`, correlated `request` with timeout,
// request handlers, heartbeats, close. The write side (batching, bounded queue, backpressure,
// stall watch) is its `FrameWriter`, as ws keeps its `Sender` apart from its `Receiver`; answering
// requests is its `RequestResponder`; the read side may be rate-limited by a gate (rate-gate.ts).
// Every way the link can fail ends in exactly one 'disconnect' event carrying a
// DisconnectionError, and every pending request is rejected with that same error.
// Socket listeners are named methods (as ws does), state is one field changed in one place.

import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { definedOnly } from '../common/defined-only.js';
import { type Logger, silentLogger } from '../common/logger.js';
import {
  BackpressureError,
  DisconnectionError,
  type ProtocolError,
  RemoteError,
  wireErrorMessage,
} from '../protocol/errors.js';
import { FrameDecoder } from '../protocol/frame-decoder.js';
import type { Message, MessageType, PayloadOf } from '../protocol/messages.js';
import { type Clock, systemClock, type Timer } from './clock.js';
import {
  type ConnectionEvents,
  type ConnectionOptions,
  type ConnectionState,
  DEFAULT_CONNECTION,
  type RequestHandler,
  type RequestOptions,
} from './connection-options.js';
import { FrameWriter } from './frame-writer.js';
import { Heartbeat } from './heartbeat.js';
import { formatPeerAddress } from './peer-address.js';
import { PendingRequests } from './pending-requests.js';
import { type InboundGate, ReadPause } from './rate-gate.js';
import { RequestResponder } from './request-responder.js';
import { disconnectionOf } from './socket-errors.js';

export class Connection extends EventEmitter<ConnectionEvents> {
  readonly socket: Socket;
  readonly remoteAddress: string;
  readonly #options: Required<Omit<ConnectionOptions, 'head' | 'heartbeat' | 'clock' | 'logger'>>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #decoder: FrameDecoder;
  readonly #writer: FrameWriter;
  readonly #pending: PendingRequests;
  readonly #responder: RequestResponder;
  readonly #heartbeat: Heartbeat | undefined;
  #state: ConnectionState = 'open';
  #error: DisconnectionError | undefined;
  #closeTimer: Timer | undefined;
  #closed: Promise<void> | undefined;
  #gate: InboundGate | undefined;
  #pause: ReadPause | undefined;

  constructor(socket: Socket, options: ConnectionOptions = {}) {
    super();
    this.socket = socket;
    this.remoteAddress = formatPeerAddress(socket.remoteAddress, socket.remotePort);
    this.#options = { ...DEFAULT_CONNECTION, ...definedOnly(options) };
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? silentLogger;
    this.#decoder = new FrameDecoder({ maxFrameBytes: this.#options.maxFrameBytes });
    this.#pending = new PendingRequests(this.#clock, this.#options.maxPendingRequests);
    this.#responder = new RequestResponder((m) => this.#writer.enqueue(m), this.#log, this.remoteAddress);
    if (options.heartbeat !== false) {
      this.#heartbeat = new Heartbeat({
        ...options.heartbeat,
        clock: this.#clock,
        sendPing: () => this.#writer.enqueue({ t: 'ping', p: {} }),
        onStale: this.#onStale,
      });
    }
    this.#writer = new FrameWriter(socket, {
      maxFrameBytes: this.#options.maxFrameBytes,
      maxQueuedBytes: this.#options.maxQueuedBytes,
      writeTimeoutMs: this.#writeTimeoutMs(),
      clock: this.#clock,
      onWrite: () => this.#heartbeat?.sent(),
      onDrain: () => this.emit('drain'),
      onStall: this.#onStall,
    });
    socket.setNoDelay(true);
    socket.on('data', this.#socketOnData);
    socket.on('end', this.#socketOnEnd);
    socket.on('error', this.#socketOnError);
    socket.on('close', this.#socketOnClose);
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
    return this.#writer.queuedBytes;
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
    this.#writer.writeTimeoutMs = this.#writeTimeoutMs();
  }

  /** Rates the peer's messages from now on (see rate-gate.ts); undefined: none. */
  setInboundGate(gate: InboundGate | undefined): void {
    this.#gate = gate;
  }

  /** Changes the largest frame accepted from the peer (and sent to it). */
  setMaxFrameBytes(maxFrameBytes: number): void {
    this.#decoder.maxFrameBytes = maxFrameBytes;
    this.#writer.maxFrameBytes = maxFrameBytes;
  }

  /** Registers the handler for requests of type `type` (one per type). */
  handle(type: string, handler: RequestHandler): this {
    this.#responder.set(type, handler);
    return this;
  }

  /**
   * Registers the handler for request types with no handler of their own. Without one, such a
   * request gets an ERR_UNKNOWN_TYPE error reply and the link stays up.
   */
  handleUnknown(handler: RequestHandler | undefined): this {
    this.#responder.fallback = handler;
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
    return this.#writer.enqueue(payload === undefined ? { t: type } : { t: type, p: payload });
  }

  /**
   * Sends a request and resolves with the reply's payload.
   * Rejects with TimeoutError, DisconnectionError, RemoteError (the peer replied `error`),
   * BackpressureError (queue or in-flight bound reached) or the signal's reason.
   */
  request(type: string, payload: unknown = {}, options: RequestOptions = {}): Promise<unknown> {
    try {
      this.#assertOpen();
      // A signal aborted already throws here: nothing is registered, nothing is sent.
      const { id, reply } = this.#pending.add(
        type,
        options.timeoutMs ?? this.#options.requestTimeoutMs,
        options.signal,
      );
      let queued: boolean;
      try {
        queued = this.#writer.enqueue({ t: type, id, p: payload });
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
      this.#writer.end();
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

  /** A peer that stops reading is cut off after this long: 3 heartbeat intervals by default. */
  #writeTimeoutMs(): number {
    return this.#options.writeTimeoutMs || 3 * (this.#heartbeat?.intervalMs ?? 5_000);
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
      try {
        const pauseMs = this.#gate?.admit(message, this.#clock.monotonicMs()) ?? 0;
        if (pauseMs > 0) {
          this.#pause ??= new ReadPause(this.socket, this.#clock);
          this.#pause.extend(pauseMs);
        }
      } catch (err) {
        this.#onProtocolError(err as ProtocolError); // ERR_RATE_LIMITED
        return;
      }
      this.#dispatch(message);
    }
  };

  #dispatch(message: Message): void {
    if (message.re !== undefined) {
      const matched =
        message.t === 'error'
          ? this.#pending.reject(message.re, RemoteError.of(message.p))
          : this.#pending.resolve(message.re, message.p);
      // A late reply (after its timeout) or one for an id never sent: drop it (FAULT-SCENARIOS #14).
      if (!matched)
        this.#log.debug({ peer: this.remoteAddress, re: message.re, t: message.t }, 'dropped unmatched reply');
    } else if (message.t === 'ping') {
      this.#writer.enqueue({ t: 'pong', p: {} });
    } else if (message.t === 'pong') {
      // Its arrival already counted as a sign of life.
    } else if (message.id !== undefined) {
      this.#responder.answer(message, message.id, this);
    } else {
      try {
        this.emit('message', message);
      } catch (err) {
        // A listener's bug must not take the process down from inside a socket callback.
        this.#log.error({ err, peer: this.remoteAddress, t: message.t }, 'message listener failed');
      }
    }
  }

  #onProtocolError(err: ProtocolError): void {
    this.#log.debug({ peer: this.remoteAddress, code: err.code }, err.message);
    // Tell the peer why, then end politely; the link counts as gone from now on. Telling it must
    // not throw out of the socket's callback, whatever its input made of the message.
    try {
      this.#writer.enqueue({ t: 'error', p: { code: err.code, message: wireErrorMessage(err.message) } });
    } catch (sendErr) {
      this.#log.debug({ peer: this.remoteAddress, err: sendErr }, 'could not tell the peer why the link closes');
    }
    this.#writer.end();
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

  #onStall = (stalledMs: number): void => {
    this.#fail(
      new DisconnectionError(
        'ERR_PEER_TIMEOUT',
        `peer ${this.remoteAddress} read nothing for ${stalledMs} ms with ${this.queuedBytes} bytes waiting for it`,
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
    this.#pause?.stop();
    this.#writer.stop();
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

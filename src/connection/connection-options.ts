// The options of a `Connection` (connection.ts) with every default in one frozen object, its
// states and events, and the shape of request handlers; kept apart as secondary-options.ts is.

import { DEFAULTS } from '../common/defaults.js';
import type { Logger } from '../common/logger.js';
import type { DisconnectionError } from '../protocol/errors.js';
import { DEFAULT_MAX_FRAME_BYTES } from '../protocol/frame-decoder.js';
import type { Message } from '../protocol/messages.js';
import type { Clock } from './clock.js';
import type { Connection } from './connection.js';
import type { HeartbeatOptions } from './heartbeat.js';

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

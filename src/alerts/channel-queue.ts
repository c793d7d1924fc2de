// One channel's delivery: a bounded queue sent one message at a time, each try cut off after a
// timeout and retried with a doubling backoff; quiet hours hold messages back and send them as one
// digest when they end. Every channel has its own queue: a slow or dead one never delays another,
// nor the primary (nothing here is awaited by the engine).

import { deadline } from '../common/deadline.js';
import { LogLimiter } from '../common/log-limiter.js';
import type { Logger } from '../common/logger.js';
import { type Channel, scrubbed } from './channels.js';
import type { EngineClock } from './engine.js';
import { type AlertMessage, digestOf } from './message.js';
import type { QuietHours } from './quiet-hours.js';

export interface ChannelStats {
  /** Messages the receiver accepted. */
  sent: number;
  /** Messages given up on after every retry. */
  failed: number;
  /** Tries that failed and were retried. */
  retried: number;
  /** Messages dropped because the queue was full (the oldest go first). */
  dropped: number;
  lastError: string | null;
  lastErrorAt: number | null;
  lastSentAt: number | null;
}

export interface ChannelQueueOptions {
  clock: EngineClock;
  log: Logger;
  quietHours?: QuietHours;
  /** Retries after the first try. Default 5. */
  retries?: number;
  /** The first backoff, doubled at each retry up to 5 min. Default 1 s. */
  retryMs?: number;
  /** Messages waiting at most. Default 100. */
  maxQueue?: number;
  /** One try at most. Default 10 s. */
  timeoutMs?: number;
  /** HA: whether this primary still leads, read right before each send; a deposed one sends nothing. */
  mayAct?: () => boolean;
}

const MAX_BACKOFF_MS = 300_000;

export class ChannelQueue {
  readonly channel: Channel;
  readonly stats: ChannelStats = {
    sent: 0,
    failed: 0,
    retried: 0,
    dropped: 0,
    lastError: null,
    lastErrorAt: null,
    lastSentAt: null,
  };
  readonly quietHours: QuietHours | undefined;
  readonly #o: Required<Omit<ChannelQueueOptions, 'quietHours' | 'mayAct'>> & Pick<ChannelQueueOptions, 'mayAct'>;
  readonly #queue: AlertMessage[] = [];
  /** Held by quiet hours, for the digest. */
  readonly #held: AlertMessage[] = [];
  #sending = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #abort = new AbortController();
  readonly #limited: LogLimiter;
  #closed = false;

  constructor(channel: Channel, options: ChannelQueueOptions) {
    this.channel = channel;
    this.quietHours = options.quietHours;
    this.#limited = new LogLimiter(options.log);
    this.#o = {
      clock: options.clock,
      log: options.log,
      retries: options.retries ?? 5,
      retryMs: options.retryMs ?? 1000,
      maxQueue: options.maxQueue ?? 100,
      timeoutMs: options.timeoutMs ?? 10_000,
      mayAct: options.mayAct,
    };
  }

  /** Waiting to be sent (the one being tried included), and held by quiet hours. */
  get queued(): number {
    return this.#queue.length;
  }

  get held(): number {
    return this.#held.length;
  }

  get quietNow(): boolean {
    return this.quietHours?.isQuiet(this.#o.clock.wallMs()) === true;
  }

  push(message: AlertMessage): void {
    if (this.#closed) return;
    const bypass = message.severity === 'critical' && this.quietHours?.allowCritical === true;
    if (this.quietNow && !bypass) {
      this.#held.push(message);
      if (this.#held.length > this.#o.maxQueue) {
        this.#held.shift();
        this.#dropped('quiet hours: more held messages than maxQueue, dropped the oldest');
      }
      return;
    }
    this.#enqueue(message);
  }

  /** Called every engine tick: quiet hours that ended send their digest. */
  tick(): void {
    if (this.#held.length === 0 || this.quietNow) return;
    const held = this.#held.splice(0);
    this.#enqueue(digestOf(held, this.#o.clock.wallMs()));
  }

  /** One try of a message outside the queue (a test message); rejects with why it failed. */
  async sendNow(message: AlertMessage): Promise<void> {
    await this.#try(message);
  }

  /** Resolves once nothing waits to be sent (held digests aside), or after `ms`. */
  async drain(ms: number): Promise<void> {
    const deadline = performance.now() + ms;
    while (this.#queue.length > 0 && !this.#closed && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#abort.abort();
    this.channel.close();
  }

  #dropped(why: string): void {
    this.stats.dropped++;
    const fields = { channel: this.channel.name, maxQueue: this.#o.maxQueue, dropped: this.stats.dropped };
    this.#limited.warn('dropped', fields, `alert channel ${why}`);
  }

  #enqueue(message: AlertMessage): void {
    this.#queue.push(message);
    if (this.#queue.length > this.#o.maxQueue) {
      // The oldest waiting message goes; not the first while it is tried or waits for its retry
      // (its count of tries belongs to it).
      const trying = this.#sending || this.#retryTimer !== undefined;
      this.#queue.splice(trying ? 1 : 0, 1);
      this.#dropped('queue full: dropped the oldest message');
    }
    if (!this.#sending && this.#retryTimer === undefined) void this.#pump(0);
  }

  async #pump(attempt: number): Promise<void> {
    this.#retryTimer = undefined;
    const message = this.#queue[0];
    if (!message || this.#closed) return;
    if (this.#o.mayAct?.() === false) {
      // A deposed leader (HA): the new leader's engine notifies from its own view; nothing of this
      // term goes out. Counted as dropped.
      this.#queue.shift();
      this.stats.dropped++;
      this.#limited.warn(
        'not leading',
        { channel: this.channel.name },
        'no longer leading the cluster: notification not sent',
      );
      void this.#pump(0);
      return;
    }
    this.#sending = true;
    try {
      await this.#try(message);
      this.stats.sent++;
      this.stats.lastSentAt = this.#o.clock.wallMs();
      this.#queue.shift();
      this.#sending = false;
      void this.#pump(0);
    } catch (err) {
      this.#sending = false;
      if (this.#closed) return;
      const why = scrubbed((err as Error).message).slice(0, 300);
      this.stats.lastError = why;
      this.stats.lastErrorAt = this.#o.clock.wallMs();
      const fields = { channel: this.channel.name, type: this.channel.type, attempt: attempt + 1, error: why };
      if (attempt >= this.#o.retries) {
        this.stats.failed++;
        this.#queue.shift();
        this.#o.log.error(fields, `alert channel gave up on a message after ${attempt + 1} tries`);
        void this.#pump(0);
        return;
      }
      this.stats.retried++;
      // Full jitter under the doubling ceiling (STYLE.md): queues that failed together retry apart.
      const ceiling = Math.min(MAX_BACKOFF_MS, this.#o.retryMs * 2 ** attempt);
      const delay = Math.max(1, Math.round(Math.random() * ceiling));
      this.#o.log.warn({ ...fields, retryInMs: delay }, 'alert channel failed; retrying');
      this.#retryTimer = setTimeout(() => void this.#pump(attempt + 1), delay);
      this.#retryTimer.unref();
    }
  }

  async #try(message: AlertMessage): Promise<void> {
    const limit = deadline(
      this.#o.timeoutMs,
      () => new Error(`no answer within ${this.#o.timeoutMs} ms`),
      this.#abort.signal,
    );
    const signal = limit.signal;
    let onAbort: () => void = () => undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(this.#closed ? new Error('closed') : signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      // Raced as well: a channel that does not take the signal (SMTP) is cut off all the same.
      await Promise.race([this.channel.send(message, signal), aborted]);
    } finally {
      signal.removeEventListener('abort', onAbort);
      limit.clear();
    }
  }
}

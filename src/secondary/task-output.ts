// The output of a running task, two ways: the tail of each stream kept for its result (bounded in
// bytes; the head goes, `truncated` says so), and live `task.output` messages to the primary,
// coalesced (at most every ~100 ms, sooner once 16 KiB gathered) and only while online: live
// output is best effort, the result's tail is what is kept.

import type { Logger } from '../common/logger.js';
import type { Clock, Timer } from '../connection/clock.js';
import type { Connection } from '../connection/connection.js';
import type { ExecStream } from '../node/executor.js';
import { MAX_OUTPUT_BYTES } from '../protocol/tasks.js';

/** Live output waits at most this long to be sent with what follows it, ms. */
export const OUTPUT_FLUSH_MS = 100;
/** Live output this large is sent without waiting for the period, characters. */
export const OUTPUT_FLUSH_CHARS = 16 * 1024;
/** Two sends of one task's live output are at least this far apart, ms: a flood of output must not trip the primary's frame rate limit. */
const OUTPUT_MIN_GAP_MS = 25;

/** The last `maxBytes` bytes of UTF-8 text pushed in pieces. */
export class OutputTail {
  readonly #maxBytes: number;
  #chunks: Buffer[] = [];
  #bytes = 0;
  #truncated = false;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** True once some of the head was cut. */
  get truncated(): boolean {
    this.#trim();
    return this.#truncated;
  }

  push(text: string): void {
    const chunk = Buffer.from(text, 'utf8');
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    // Trimmed now and then, not at every push: a copy of the tail per line would be quadratic.
    if (this.#bytes > 2 * this.#maxBytes) this.#trim();
  }

  /** The tail: at most `maxBytes` bytes, starting on a whole character. */
  text(): string {
    this.#trim();
    return Buffer.concat(this.#chunks).toString('utf8');
  }

  #trim(): void {
    if (this.#bytes <= this.#maxBytes) return;
    const all = Buffer.concat(this.#chunks);
    let start = all.length - this.#maxBytes;
    while (start < all.length && ((all[start] as number) & 0xc0) === 0x80) start++; // a character's continuation bytes
    const tail = Buffer.from(all.subarray(start));
    this.#chunks = [tail];
    this.#bytes = tail.length;
    this.#truncated = true;
  }
}

export interface LiveOutputOptions {
  taskId: string;
  /** The link while online; undefined while offline (nothing is gathered then). */
  link: () => Connection | undefined;
  clock: Clock;
  logger: Logger;
}

/** Sends a task's output as `task.output` messages while it runs. */
export class LiveOutput {
  readonly #options: LiveOutputOptions;
  readonly #pending: Record<ExecStream, string> = { stdout: '', stderr: '' };
  #lastSentMs = Number.NEGATIVE_INFINITY;
  #timer: Timer | undefined;
  #timerAtMs = 0;
  /** Characters not streamed (dropped while the link was slow); the result's tail still has the end. */
  #skipped = 0;

  constructor(options: LiveOutputOptions) {
    this.#options = options;
  }

  get skipped(): number {
    return this.#skipped;
  }

  push(stream: ExecStream, text: string): void {
    if (text === '' || this.#options.link() === undefined) return;
    let pending = this.#pending[stream] + text;
    if (pending.length > MAX_OUTPUT_BYTES) {
      this.#skipped += pending.length - MAX_OUTPUT_BYTES;
      pending = pending.slice(-MAX_OUTPUT_BYTES);
    }
    this.#pending[stream] = pending;
    this.#schedule(pending.length >= OUTPUT_FLUSH_CHARS ? OUTPUT_MIN_GAP_MS : OUTPUT_FLUSH_MS);
  }

  /** Sends what is gathered now (before the task's result). */
  flush(): void {
    this.#cancelTimer();
    this.#lastSentMs = this.#options.clock.monotonicMs();
    const conn = this.#options.link();
    for (const stream of ['stdout', 'stderr'] as const) {
      const data = this.#pending[stream];
      if (data === '') continue;
      this.#pending[stream] = '';
      if (conn === undefined) continue;
      try {
        // false: the write queue is full; live output is best effort, the result keeps the tail.
        if (!conn.send('task.output', { taskId: this.#options.taskId, stream, data })) this.#skipped += data.length;
      } catch (err) {
        this.#skipped += data.length;
        this.#options.logger.debug({ err, taskId: this.#options.taskId }, 'live task output not sent');
      }
    }
  }

  /** Stops the timer; what is pending is dropped (call `flush` first to send it). */
  stop(): void {
    this.#cancelTimer();
    this.#pending.stdout = '';
    this.#pending.stderr = '';
  }

  /** Flushes `gapMs` after the last send: at once when that is past, else by a timer. */
  #schedule(gapMs: number): void {
    const { clock } = this.#options;
    const now = clock.monotonicMs();
    const atMs = Math.max(now, this.#lastSentMs + gapMs);
    if (this.#timer !== undefined && this.#timerAtMs <= atMs) return; // an earlier flush is due already
    this.#cancelTimer();
    if (atMs <= now) {
      this.flush();
      return;
    }
    this.#timerAtMs = atMs;
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, atMs - now);
  }

  #cancelTimer(): void {
    if (this.#timer === undefined) return;
    this.#options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

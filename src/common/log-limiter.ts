// Log lines a peer can cause, rate-limited: a flood of bad handshakes must not become a flood of
// log lines (each one a write). Per kind of line, at most `perMinute` lines a minute; the rest are
// counted, and the next line of that kind that goes out says how many were left out
// (`suppressed`). Time on the monotonic clock.

import type { Logger } from './logger.js';

type Level = 'info' | 'warn' | 'error';

interface Window {
  start: number;
  written: number;
  suppressed: number;
}

const WINDOW_MS = 60_000;
/** Kinds kept at once; the oldest goes past it (kinds are few: a fixed set of call sites). */
const MAX_KINDS = 256;

export class LogLimiter {
  readonly #log: Logger;
  readonly #perMinute: number;
  readonly #now: () => number;
  readonly #onSuppressed: () => void;
  readonly #windows = new Map<string, Window>();

  constructor(log: Logger, options: { perMinute?: number; now?: () => number; onSuppressed?: () => void } = {}) {
    this.#log = log;
    this.#perMinute = options.perMinute ?? 10;
    this.#now = options.now ?? (() => performance.now());
    this.#onSuppressed = options.onSuppressed ?? (() => {});
  }

  /** Logs the line unless `kind` already had its lines this minute; returns whether it went out. */
  log(level: Level, kind: string, fields: object, message: string): boolean {
    const now = this.#now();
    let window = this.#windows.get(kind);
    if (window === undefined || now - window.start >= WINDOW_MS) {
      const suppressed = window?.suppressed ?? 0;
      if (window === undefined && this.#windows.size >= MAX_KINDS) {
        this.#windows.delete(this.#windows.keys().next().value as string);
      }
      window = { start: now, written: 0, suppressed: 0 };
      this.#windows.set(kind, window);
      if (suppressed > 0) fields = { ...fields, suppressed };
    }
    if (window.written >= this.#perMinute) {
      window.suppressed++;
      this.#onSuppressed();
      return false;
    }
    window.written++;
    this.#log[level](fields, message);
    return true;
  }

  warn(kind: string, fields: object, message: string): boolean {
    return this.log('warn', kind, fields, message);
  }
}

// Keeps the vitals history in shape in the background: rolls up finished minutes and hours, then
// deletes what is past retention, one small chunk per event-loop turn so ingest and the API never
// wait long behind it.

import type { Logger } from '../common/logger.js';
import type { Store } from './store-api.js';

export class HistoryUpkeep {
  readonly #store: Store;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #stopped = false;

  constructor(store: Store, logger: Logger) {
    this.#store = store;
    this.#log = logger;
  }

  /** Runs the upkeep every `intervalMs`. */
  start(intervalMs: number): void {
    this.#timer = setInterval(() => void this.run(), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }

  /** One full pass (rollups, then pruning); a pass already running makes this a no-op. */
  async run(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    const started = performance.now();
    let removed = 0;
    const yieldToLoop = () => new Promise((resolve) => setImmediate(resolve));
    try {
      while (!this.#stopped && (await this.#store.rollupStep(Date.now()))) await yieldToLoop();
      // The seqs the raw samples prove go to the nodes table before any of those samples go.
      if (!this.#stopped) await this.#store.catchUpNodes();
      for (;;) {
        if (this.#stopped) return;
        const n = await this.#store.pruneChunk(Date.now());
        removed += n;
        if (n === 0) break;
        await yieldToLoop();
      }
    } catch (err) {
      this.#log.error({ err }, 'history upkeep failed; will retry at the next interval');
      return;
    } finally {
      this.#running = false;
    }
    if (removed > 0) this.#log.debug({ removed, ms: Math.round(performance.now() - started) }, 'pruned history');
  }
}

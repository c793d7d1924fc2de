// Which rows of the raw vitals log belong to which node, kept in memory (the log has no index on
// disk: raw-vitals.ts): each node's row ids, times and seqs in the order they came, and how fast
// rows come in, which decides how long the rounds of its upkeep are.

/** How fast rows come in is counted per window of this length (by receive time). */
const RATE_WINDOW_MS = 10 * 60_000;
/**
 * A log that took at most this many rows in a window (100 nodes at the default period) is small:
 * its samples' rest is stored deflated (log-rows.ts), a dozen microseconds of CPU each.
 */
const SMALL_RATE = 6000;
/**
 * Rows a round may bring in at most. The log is rolled up and moved into chunks in rounds
 * (vitals-history.ts, raw-vitals.ts); each round rewrites a page or so of every node's rollups and
 * chunk index whatever it holds, so a small fleet's rounds are long (20 nodes make 7,200 rows an
 * hour: 2-hour rounds), from 10 minutes (420 nodes and more: an hour of 10,000 nodes would be 3.6
 * million rows held here) to 2 hours. The log then holds two rounds at most, which one transaction
 * moves (raw-vitals' SMALL_LOG).
 */
const ROUND_ROWS = 25_000;
const MAX_ROUND_WINDOWS = 12;

/** One node's rows in the log. */
export interface NodeLog {
  ids: number[];
  ts: number[];
  seqs: number[];
}

export class LogIndex {
  readonly #nodes = new Map<number, NodeLog>();
  #rows = 0;
  /** Rows received in the current window of RATE_WINDOW_MS (by receive time) and in the one before. */
  #rate = { window: 0, count: 0, previous: 0 };

  /** Rows in the log. */
  get rows(): number {
    return this.#rows;
  }

  /** Whether few rows come in (see SMALL_RATE). */
  get small(): boolean {
    return this.#perWindow() <= SMALL_RATE;
  }

  /** How long a round of the log's upkeep is at the current rate, ms (see ROUND_ROWS). */
  get roundMs(): number {
    const windows = Math.floor(ROUND_ROWS / Math.max(1, this.#perWindow()));
    return Math.min(MAX_ROUND_WINDOWS, Math.max(1, windows)) * RATE_WINDOW_MS;
  }

  /** Rows in the current window or the one before, whichever has more. */
  #perWindow(): number {
    return Math.max(this.#rate.count, this.#rate.previous);
  }

  clear(): void {
    this.#nodes.clear();
    this.#rows = 0;
    this.#rate = { window: 0, count: 0, previous: 0 };
  }

  add(key: number, id: number, t: number, seq: number, receivedAt: number): void {
    let log = this.#nodes.get(key);
    if (log === undefined) {
      log = { ids: [], ts: [], seqs: [] };
      this.#nodes.set(key, log);
    }
    log.ids.push(id);
    log.ts.push(t);
    log.seqs.push(seq);
    this.#rows++;
    const window = Math.floor(receivedAt / RATE_WINDOW_MS);
    if (window > this.#rate.window) {
      this.#rate = { window, count: 0, previous: window === this.#rate.window + 1 ? this.#rate.count : 0 };
    }
    if (window === this.#rate.window) this.#rate.count++;
  }

  get(key: number): NodeLog | undefined {
    return this.#nodes.get(key);
  }

  keys(): number[] {
    return [...this.#nodes.keys()];
  }

  /** Row ids of the given nodes with t in [from, to). */
  ids(keys: readonly number[], from: number, to: number): number[] {
    const out: number[] = [];
    for (const key of keys) {
      const log = this.#nodes.get(key);
      if (log === undefined) continue;
      for (let i = 0; i < log.ids.length; i++) {
        const t = log.ts[i] as number;
        if (t >= from && t < to) out.push(log.ids[i] as number);
      }
    }
    return out;
  }

  /** Nodes with rows with t in [from, to), ascending. */
  nodes(from: number, to: number): number[] {
    const keys: number[] = [];
    for (const [key, log] of this.#nodes) if (log.ts.some((t) => t >= from && t < to)) keys.push(key);
    return keys.sort((a, b) => a - b);
  }

  /** The smallest t at or after `from` (null: none). */
  oldestT(from = Number.NEGATIVE_INFINITY): number | null {
    let oldest: number | null = null;
    for (const log of this.#nodes.values())
      for (const t of log.ts) if (t >= from && (oldest === null || t < oldest)) oldest = t;
    return oldest;
  }

  /** Whether any row id is below `id`. */
  anyBelow(id: number): boolean {
    for (const log of this.#nodes.values()) for (const own of log.ids) if (own < id) return true;
    return false;
  }

  /** A node's rows are gone; their ids. */
  forget(key: number): number[] {
    const ids = this.#nodes.get(key)?.ids ?? [];
    this.#rows -= ids.length;
    this.#nodes.delete(key);
    return ids;
  }

  /** After a committed move: rows of `keys` in `moved` are gone, those in `renamed` have new ids. */
  drop(keys: readonly number[], moved: ReadonlySet<number>, renamed?: ReadonlyMap<number, number>): void {
    for (const key of keys) {
      const log = this.#nodes.get(key);
      if (log === undefined) continue;
      const keep = log.ids.map((id, i) => (moved.has(id) ? -1 : i)).filter((i) => i >= 0);
      this.#rows -= log.ids.length - keep.length;
      if (keep.length === 0) this.#nodes.delete(key);
      else
        this.#nodes.set(key, {
          ids: keep.map((i) => {
            const id = log.ids[i] as number;
            return renamed?.get(id) ?? id;
          }),
          ts: keep.map((i) => log.ts[i] as number),
          seqs: keep.map((i) => log.seqs[i] as number),
        });
    }
  }
}

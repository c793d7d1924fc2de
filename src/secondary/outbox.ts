// The secondary's durable outbox of vitals (ARCHITECTURE.md, "Vitals"): numbered samples kept
// until the primary acknowledges them as stored. An append-only file of JSON lines in the data
// dir (no native dependency on the agent), rewritten compactly now and then. Bounded: when full,
// the oldest sample goes and the dropped counter grows.
//
// Lines: {"s": sample} a new sample; {"a": seq} acknowledged up to seq; {"h": {lastSeq, dropped}}
// the header a compaction writes first. A torn last line (a crash mid-write) is skipped.

import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { DEFAULTS } from '../common/defaults.js';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import type { VitalsPayload } from '../protocol/messages.js';

type Line = { s: VitalsPayload } | { a: number } | { h: { lastSeq: number; dropped: number } };

export class Outbox {
  readonly file: string;
  readonly maxSamples: number;
  #samples: VitalsPayload[] = [];
  #lastSeq = 0;
  #dropped = 0;
  #fd: number;
  #lines = 0;
  readonly #log: Logger;

  constructor(file: string, options: { maxSamples?: number; logger?: Logger } = {}) {
    this.file = file;
    this.maxSamples = options.maxSamples ?? DEFAULTS.outboxMaxSamples;
    if (!(this.maxSamples >= 1)) throw new RangeError(`outbox maxSamples must be >= 1, got ${this.maxSamples}`);
    this.#log = options.logger ?? silentLogger;
    if (existsSync(file)) this.#load(readFileSync(file, 'utf8'));
    this.#compact();
    this.#fd = openSync(file, 'a', 0o600);
  }

  /** Highest seq ever given to a sample. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Samples dropped because the outbox was full, since this node's first start. */
  get dropped(): number {
    return this.#dropped;
  }

  get size(): number {
    return this.#samples.length;
  }

  /** Up to `limit` unacknowledged samples with seq > `afterSeq`, oldest first. */
  after(afterSeq: number, limit = Number.POSITIVE_INFINITY): VitalsPayload[] {
    const samples = this.#samples;
    let lo = 0;
    let hi = samples.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((samples[mid] as VitalsPayload).seq > afterSeq) hi = mid;
      else lo = mid + 1;
    }
    return samples.slice(lo, Math.min(samples.length, lo + limit));
  }

  /** Numbers a new sample, keeps it, and returns it. */
  append(sample: Omit<VitalsPayload, 'seq' | 'dropped'>): VitalsPayload {
    const numbered: VitalsPayload = { ...sample, seq: this.#lastSeq + 1 };
    this.#lastSeq = numbered.seq;
    this.#samples.push(numbered);
    if (this.#samples.length > this.maxSamples) {
      const gone = this.#samples.length - this.maxSamples;
      this.#samples.splice(0, gone);
      this.#dropped += gone;
    }
    if (this.#dropped > 0) numbered.dropped = this.#dropped;
    this.#write({ s: numbered });
    // Offline, only appends happen: compact here too, or the file grows past the bound.
    if (this.#lines > 2 * this.maxSamples + 1000) this.#rewrite();
    return numbered;
  }

  /**
   * Renumbers the samples made after `startSeq` (this process's, never sent) to follow
   * `primaryLastSeq`, when the primary already has seqs up to there. Rewrites the file.
   */
  renumberUnsent(startSeq: number, primaryLastSeq: number): void {
    if (primaryLastSeq <= startSeq) return;
    const fresh = this.#samples.filter((s) => s.seq > startSeq);
    if (fresh.length === 0) return;
    for (const s of fresh) s.seq += primaryLastSeq - startSeq;
    this.#lastSeq = Math.max(this.#lastSeq, ...fresh.map((s) => s.seq));
    this.#rewrite();
  }

  /** The primary stored everything up to `seq`: forget those samples. */
  ack(seq: number): void {
    const first = this.#samples[0];
    if (first === undefined || first.seq > seq) return;
    let n = 0;
    while (n < this.#samples.length && (this.#samples[n] as VitalsPayload).seq <= seq) n++;
    this.#samples.splice(0, n);
    this.#write({ a: seq });
    if (this.#lines > 2 * this.maxSamples + 1000) this.#rewrite();
  }

  /** After `welcome`: continue numbering past what the primary has stored. */
  advanceTo(seq: number): void {
    if (seq > this.#lastSeq) {
      this.#lastSeq = seq;
      this.#write({ h: { lastSeq: seq, dropped: this.#dropped } });
    }
  }

  close(): void {
    if (this.#fd < 0) return;
    try {
      fsyncSync(this.#fd);
    } finally {
      closeSync(this.#fd);
      this.#fd = -1;
    }
  }

  #write(line: Line): void {
    writeSync(this.#fd, `${JSON.stringify(line)}\n`);
    this.#lines++;
  }

  #load(text: string): void {
    let skipped = 0;
    for (const raw of text.split('\n')) {
      if (raw === '') continue;
      let line: Line;
      try {
        line = JSON.parse(raw) as Line;
      } catch {
        skipped++; // a torn write at a crash: the sample it held was never sent, so never acked
        continue;
      }
      if ('s' in line) {
        if (line.s.seq > this.#lastSeq) {
          this.#samples.push(line.s);
          this.#lastSeq = line.s.seq;
        }
        if (this.#samples.length > this.maxSamples) {
          this.#samples.shift();
          this.#dropped++;
        }
      } else if ('a' in line) {
        while (this.#samples.length > 0 && (this.#samples[0] as VitalsPayload).seq <= line.a) this.#samples.shift();
      } else if ('h' in line) {
        this.#lastSeq = Math.max(this.#lastSeq, line.h.lastSeq);
        this.#dropped = Math.max(this.#dropped, line.h.dropped);
      }
    }
    if (skipped > 0) this.#log.warn({ file: this.file, skipped }, 'skipped unreadable outbox lines');
  }

  /** Writes the live state to a new file and swaps it in atomically. */
  #compact(): void {
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      const lines = [{ h: { lastSeq: this.#lastSeq, dropped: this.#dropped } }, ...this.#samples.map((s) => ({ s }))];
      writeSync(fd, lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    this.#lines = 1 + this.#samples.length;
  }

  #rewrite(): void {
    closeSync(this.#fd);
    try {
      this.#compact();
    } finally {
      // Reopen whatever happened, so later appends do not fail on a closed descriptor.
      this.#fd = openSync(this.file, 'a', 0o600);
    }
  }
}

// The secondary's durable outbox of vitals (ARCHITECTURE.md, "Vitals"): numbered samples kept
// until the primary acknowledges them as stored. An append-only file of records in the data dir
// (no native dependency on the agent), rewritten compactly now and then. Bounded: when full, the
// oldest sample goes and the dropped counter grows.
//
// The file is a RecordLog (record-log.ts): one checksummed line per record. {"s": sample} a new
// sample; {"a": seq} acknowledged up to seq; {"h": {lastSeq, dropped}} the header a compaction
// writes first. A damaged record costs that record only; a compaction is a rewrite by rename, so a
// crash at any point leaves either the old file or the new one, both whole. On a full disk
// (ENOSPC, or a write cut short) the samples stay in memory, within the same bound, the records
// already in the file stay as they are, and the next append tries a compaction, which puts
// everything back on disk once there is room.

import { DEFAULTS } from '../common/defaults.js';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import type { VitalsPayload } from '../protocol/messages.js';
import { isNoSpace, type RecordFs, RecordLog } from './record-log.js';

type Line = { s: VitalsPayload } | { a: number } | { h: { lastSeq: number; dropped: number } };

/** The file operations the outbox uses (tests put faults in them: a full disk, a crash mid-way). */
export type OutboxFs = RecordFs;

export interface OutboxOptions {
  /** Unacknowledged samples kept at most; the oldest go first. Default 10,000. */
  maxSamples?: number;
  logger?: Logger;
  fs?: OutboxFs;
}

export class Outbox {
  readonly file: string;
  readonly maxSamples: number;
  #samples: VitalsPayload[] = [];
  #lastSeq = 0;
  #dropped = 0;
  #damaged = 0;
  /** True while the file lacks what memory holds (a write failed): the next append compacts. */
  #behind = false;
  readonly #log: Logger;
  readonly #file: RecordLog<Line>;

  constructor(file: string, options: OutboxOptions = {}) {
    this.file = file;
    this.maxSamples = options.maxSamples ?? DEFAULTS.outboxMaxSamples;
    if (!(this.maxSamples >= 1)) throw new RangeError(`outbox maxSamples must be >= 1, got ${this.maxSamples}`);
    this.#log = options.logger ?? silentLogger;
    this.#file = new RecordLog(file, options.fs);
    this.#load();
    try {
      this.#compact();
    } catch (err) {
      // A full disk at start: what was read stays in memory, and the old file as it was.
      if (!isNoSpace(err)) throw err;
      this.#fellBehind(err);
    }
    this.#file.open();
  }

  /** Highest seq ever given to a sample. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Samples dropped because the outbox was full, since this node's first start. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Records skipped at start because they were damaged. */
  get damaged(): number {
    return this.#damaged;
  }

  /** True while some samples are in memory only (the disk was full). */
  get behind(): boolean {
    return this.#behind;
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

  /** Numbers a new sample, keeps it, and returns it (kept in memory even when the disk is full). */
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
    // Behind (a full disk): a compaction writes everything at once when there is room again.
    // Offline, only appends happen: compact here too, or the file grows past the bound.
    if (this.#behind || this.#file.lines > 2 * this.maxSamples + 1000) this.#rewrite();
    else this.#write({ s: numbered });
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
    if (this.#behind || this.#file.lines > 2 * this.maxSamples + 1000) this.#rewrite();
    else this.#write({ a: seq });
  }

  /** After `welcome`: continue numbering past what the primary has stored. */
  advanceTo(seq: number): void {
    if (seq > this.#lastSeq) {
      this.#lastSeq = seq;
      this.#write({ h: { lastSeq: seq, dropped: this.#dropped } });
    }
  }

  close(): void {
    this.#file.close();
  }

  /** Appends one record; on a full disk the outbox falls behind (memory only) instead of failing. */
  #write(line: Line): void {
    if (this.#behind) return; // the next compaction writes it
    try {
      this.#file.append(line);
    } catch (err) {
      if (!isNoSpace(err)) throw err;
      this.#fellBehind(err);
    }
  }

  #fellBehind(err: unknown): void {
    if (!this.#behind) {
      this.#log.error(
        { err, file: this.file, samples: this.#samples.length },
        'the disk is full: new vitals samples are kept in memory only (the newest, up to the outbox bound) until it has room again',
      );
    }
    this.#behind = true;
  }

  #load(): void {
    const { records, damaged } = this.#file.read();
    this.#damaged = damaged;
    // Samples are kept in seq order, each once. Compared with the highest sample read, not with
    // lastSeq: a compaction writes its header (lastSeq) before the samples it keeps.
    let lastSample = 0;
    for (const line of records) {
      if ('s' in line) {
        if (line.s.seq > lastSample) {
          this.#samples.push(line.s);
          lastSample = line.s.seq;
          this.#lastSeq = Math.max(this.#lastSeq, line.s.seq);
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
    if (this.#damaged > 0) {
      this.#log.warn(
        { file: this.file, damaged: this.#damaged, kept: this.#samples.length },
        'skipped damaged outbox records (a crash mid-write, or damage on the disk); every other record was read',
      );
    }
  }

  /** Writes the live state to a new file and swaps it in: the old file stays whole until the rename. */
  #compact(): void {
    this.#file.rewrite([
      { h: { lastSeq: this.#lastSeq, dropped: this.#dropped } },
      ...this.#samples.map((s) => ({ s })),
    ]);
  }

  #rewrite(): void {
    const wasBehind = this.#behind;
    try {
      this.#compact();
      this.#behind = false;
      if (wasBehind) {
        this.#log.info(
          { file: this.file, samples: this.#samples.length },
          'the disk has room again: the samples kept in memory are in the outbox file now',
        );
      }
    } catch (err) {
      if (!isNoSpace(err)) throw err;
      this.#fellBehind(err);
    } finally {
      // Reopen whatever happened, so later appends do not fail on a closed descriptor.
      this.#file.open();
    }
  }
}

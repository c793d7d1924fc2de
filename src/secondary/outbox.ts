// The secondary's durable outbox of vitals (ARCHITECTURE.md, "Vitals"): numbered samples kept
// until the primary acknowledges them as stored. An append-only file of records in the data dir
// (no native dependency on the agent), rewritten compactly now and then. Bounded: when full, the
// oldest sample goes and the dropped counter grows.
//
// The file is a RecordLog (record-log.ts): one checksummed line per record. {"s": sample} a new
// sample; {"a": seq} acknowledged up to seq; {"h": {lastSeq, dropped, neverSentAfter?}} the header
// a compaction writes first. `neverSentAfter` marks the samples no link has seen: set when the
// outbox opens (to the last seq, or kept lower from a life that never reached a primary), cleared
// at the first `welcome`, which renumbers them past the primary's lastSeq when it has those seqs
// already (our outbox was lost or rolled back): they are never taken for duplicates and dropped,
// however many restarts came before the first welcome. A last header without it (a welcome since,
// or an older picluster) leaves the mark at the last seq at open.
//
// A damaged record costs that record only; a compaction is a rewrite by rename, so a crash at any
// point leaves either the old file or the new one, both whole. On a full disk (ENOSPC, or a write
// cut short) the samples stay in memory, within the same bound, the records already in the file
// stay as they are, and the next append tries a compaction, which puts everything back on disk
// once there is room.
//
// Appends are not fsynced: a sample is sent as soon as it is taken, and it is the primary's ack
// that says "stored". A power cut loses at most the tail the kernel had not written yet (the last
// few samples of a node that was losing power, or acks, whose loss only resends samples the primary
// ignores), and a lost tail is what the never-sent mark and the renumbering are for; an fsync
// every sample would block the agent's event loop for as long as the SD card takes, every period.
// The one append that is fsynced is the cleared mark (see `welcomed`).

import { DEFAULTS } from '../common/defaults.js';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import type { VitalsPayload } from '../protocol/messages.js';
import { isNoSpace, type RecordFs, RecordLog } from './record-log.js';

interface Header {
  lastSeq: number;
  dropped: number;
  /** Samples with a higher seq were never sent on any link (absent: none of the samples read). */
  neverSentAfter?: number;
}

type Line = { s: VitalsPayload } | { a: number } | { h: Header };

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
  /** Samples with a higher seq were never sent on any link; undefined after the first welcome. */
  #neverSentAfter: number | undefined;
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
    const kept = this.#load();
    // What this process samples is unsent too, as is what an earlier life never sent.
    this.#neverSentAfter = Math.min(kept ?? this.#lastSeq, this.#lastSeq);
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
   * A primary welcomed this node and has stored its samples up to `primaryLastSeq`. At the first
   * welcome since the outbox opened, the samples no link has seen are renumbered to follow
   * `primaryLastSeq` if the primary has their seqs already (our outbox lost its tail or was
   * rolled back), and that is on the disk before any of them is sent. Then those up to
   * `primaryLastSeq` are forgotten and numbering continues past it.
   */
  welcomed(primaryLastSeq: number): void {
    const mark = this.#neverSentAfter;
    if (mark === undefined) {
      this.ack(primaryLastSeq);
      this.advanceTo(primaryLastSeq);
      return;
    }
    this.#neverSentAfter = undefined;
    const shift = primaryLastSeq - mark;
    if (shift > 0) {
      for (const s of this.#samples) if (s.seq > mark) s.seq += shift;
      this.#lastSeq += shift; // mark <= lastSeq: at least primaryLastSeq
      this.#forget(primaryLastSeq);
      this.#rewrite();
      return;
    }
    this.#forget(primaryLastSeq);
    this.#lastSeq = Math.max(this.#lastSeq, primaryLastSeq);
    // The cleared mark must be on the disk before these samples go out: a restart reading the old
    // mark would renumber, and send twice, samples the primary has stored.
    this.#write({ a: primaryLastSeq });
    this.#write({ h: this.#header() }, true);
  }

  /** The primary stored everything up to `seq`: forget those samples. */
  ack(seq: number): void {
    if (!this.#forget(seq)) return;
    if (this.#behind || this.#file.lines > 2 * this.maxSamples + 1000) this.#rewrite();
    else this.#write({ a: seq });
  }

  /** After `welcome`: continue numbering past what the primary has stored. */
  advanceTo(seq: number): void {
    if (seq > this.#lastSeq) {
      this.#lastSeq = seq;
      this.#write({ h: this.#header() });
    }
  }

  close(): void {
    this.#file.close();
  }

  /** Forgets the samples up to `seq` (in memory); false when there were none. */
  #forget(seq: number): boolean {
    let n = 0;
    while (n < this.#samples.length && (this.#samples[n] as VitalsPayload).seq <= seq) n++;
    this.#samples.splice(0, n);
    return n > 0;
  }

  #header(): Header {
    return { lastSeq: this.#lastSeq, dropped: this.#dropped, neverSentAfter: this.#neverSentAfter };
  }

  /**
   * Appends one record (with `sync`, on the disk before it returns); on a full disk the outbox
   * falls behind (memory only) instead of failing.
   */
  #write(line: Line, sync = false): void {
    if (this.#behind) return; // the next compaction writes it
    try {
      this.#file.append(line, sync);
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

  /** Reads the file; returns the never-sent mark of its last header. */
  #load(): number | undefined {
    let neverSentAfter: number | undefined;
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
        neverSentAfter = typeof line.h.neverSentAfter === 'number' ? line.h.neverSentAfter : undefined;
      }
    }
    if (this.#damaged > 0) {
      this.#log.warn(
        { file: this.file, damaged: this.#damaged, kept: this.#samples.length },
        'skipped damaged outbox records (a crash mid-write, or damage on the disk); every other record was read',
      );
    }
    return neverSentAfter;
  }

  /** Writes the live state to a new file and swaps it in: the old file stays whole until the rename. */
  #compact(): void {
    this.#file.rewrite([{ h: this.#header() }, ...this.#samples.map((s) => ({ s }))]);
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

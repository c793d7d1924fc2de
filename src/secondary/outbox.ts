// The secondary's durable outbox of vitals (ARCHITECTURE.md, "Vitals"): numbered samples kept
// until the primary acknowledges them as stored. An append-only file of records in the data dir
// (no native dependency on the agent), rewritten compactly now and then. Bounded: when full, the
// oldest sample goes and the dropped counter grows.
//
// A record is one line: the CRC-32 of its JSON as 8 hex digits, a space, the JSON, a newline.
// {"s": sample} a new sample; {"a": seq} acknowledged up to seq; {"h": {lastSeq, dropped}} the
// header a compaction writes first. A record that fails its checksum or does not parse (a torn
// write at a crash, a bad sector, a byte flipped on an SD card) costs that record only: it is
// skipped and counted, and every record after it is read. Lines without a checksum (written by
// an older picluster) are read as plain JSON.
//
// A compaction writes a new file, fsyncs it, renames it over the old one and fsyncs the directory:
// a crash at any point leaves either the old file or the new one, both whole. On a full disk
// (ENOSPC, or a write cut short) the samples stay in memory, within the same bound, the records
// already in the file stay as they are, and the next append tries a compaction, which puts
// everything back on disk once there is room.

import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import { DEFAULTS } from '../common/defaults.js';
import type { Logger } from '../common/logger.js';
import { silentLogger } from '../common/logger.js';
import type { VitalsPayload } from '../protocol/messages.js';

type Line = { s: VitalsPayload } | { a: number } | { h: { lastSeq: number; dropped: number } };

/** The file operations the outbox uses (tests put faults in them: a full disk, a crash mid-way). */
export interface OutboxFs {
  openSync: typeof openSync;
  writeSync: (fd: number, text: string) => number;
  fsyncSync: typeof fsyncSync;
  closeSync: typeof closeSync;
  renameSync: typeof renameSync;
  unlinkSync: typeof unlinkSync;
}

const realFs: OutboxFs = {
  openSync,
  writeSync: (fd, text) => writeSync(fd, text),
  fsyncSync,
  closeSync,
  renameSync,
  unlinkSync,
};

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
  #fd = -1;
  #lines = 0;
  /** True while the file lacks what memory holds (a write failed): the next append compacts. */
  #behind = false;
  /** True when the last write may have left a partial line: the next one starts on a new line. */
  #tornTail = false;
  readonly #log: Logger;
  readonly #fs: OutboxFs;

  constructor(file: string, options: OutboxOptions = {}) {
    this.file = file;
    this.maxSamples = options.maxSamples ?? DEFAULTS.outboxMaxSamples;
    if (!(this.maxSamples >= 1)) throw new RangeError(`outbox maxSamples must be >= 1, got ${this.maxSamples}`);
    this.#log = options.logger ?? silentLogger;
    this.#fs = options.fs ?? realFs;
    if (existsSync(file)) this.#load(readFileSync(file, 'utf8'));
    try {
      this.#compact();
    } catch (err) {
      // A full disk at start: what was read stays in memory, and the old file as it was.
      if (!isNoSpace(err)) throw err;
      this.#fellBehind(err);
    }
    this.#fd = this.#fs.openSync(file, 'a', 0o600);
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
    if (this.#behind || this.#lines > 2 * this.maxSamples + 1000) this.#rewrite();
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
    if (this.#behind || this.#lines > 2 * this.maxSamples + 1000) this.#rewrite();
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
    if (this.#fd < 0) return;
    try {
      this.#fs.fsyncSync(this.#fd);
    } finally {
      this.#fs.closeSync(this.#fd);
      this.#fd = -1;
    }
  }

  /** Appends one record; on a full disk the outbox falls behind (memory only) instead of failing. */
  #write(line: Line): void {
    if (this.#behind) return; // the next compaction writes it
    // After a write cut short, the next record starts on a line of its own.
    const text = `${this.#tornTail ? '\n' : ''}${recordOf(line)}`;
    try {
      const written = this.#fs.writeSync(this.#fd, text);
      if (written < Buffer.byteLength(text)) {
        this.#tornTail = true;
        throw Object.assign(new Error(`outbox write cut short (${written} bytes written)`), { code: 'ENOSPC' });
      }
      this.#tornTail = false;
      this.#lines++;
    } catch (err) {
      if (!isNoSpace(err)) throw err;
      this.#tornTail = true;
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

  #load(text: string): void {
    // Samples are kept in seq order, each once. Compared with the highest sample read, not with
    // lastSeq: a compaction writes its header (lastSeq) before the samples it keeps.
    let lastSample = 0;
    for (const raw of text.split('\n')) {
      if (raw === '') continue;
      const line = parseRecord(raw);
      if (line === undefined) {
        // A torn last line is a crash mid-write; any other is damage. Either costs that record only.
        this.#damaged++;
        continue;
      }
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
    const fs = this.#fs;
    const tmp = `${this.file}.tmp`;
    const lines = [{ h: { lastSeq: this.#lastSeq, dropped: this.#dropped } }, ...this.#samples.map((s) => ({ s }))];
    const text = lines.map(recordOf).join('');
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      if (fs.writeSync(fd, text) < Buffer.byteLength(text)) {
        throw Object.assign(new Error('outbox compaction cut short'), { code: 'ENOSPC' });
      }
      fs.fsyncSync(fd);
    } catch (err) {
      fs.closeSync(fd);
      // A half-written copy must not hold the disk's last bytes.
      fs.unlinkSync(tmp);
      throw err;
    }
    fs.closeSync(fd);
    fs.renameSync(tmp, this.file);
    syncDirectory(fs, dirname(this.file));
    this.#lines = lines.length;
    this.#tornTail = false;
  }

  #rewrite(): void {
    if (this.#fd >= 0) this.#fs.closeSync(this.#fd);
    this.#fd = -1;
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
      this.#fd = this.#fs.openSync(this.file, 'a', 0o600);
    }
  }
}

/** One record as a line: CRC-32 of the JSON (8 hex digits), a space, the JSON, a newline. */
function recordOf(line: Line): string {
  const json = JSON.stringify(line);
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
}

/** A record read back; undefined when it is damaged (a bad checksum, or not JSON). */
function parseRecord(raw: string): Line | undefined {
  let json = raw;
  if (/^[0-9a-f]{8} /.test(raw)) {
    json = raw.slice(9);
    if (crc32(json) !== Number.parseInt(raw.slice(0, 8), 16)) return undefined;
  } else if (!raw.startsWith('{')) {
    return undefined;
  }
  try {
    const line = JSON.parse(json) as Line;
    return line !== null && typeof line === 'object' ? line : undefined;
  } catch {
    return undefined; // damaged: counted by the caller
  }
}

/** After a rename: the directory's entry on disk too, or a power cut could bring back the old name. */
function syncDirectory(fs: OutboxFs, dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function isNoSpace(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG';
}

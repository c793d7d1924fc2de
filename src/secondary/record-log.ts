// The agent's durable files of records (the vitals outbox, the task journal): an append-only file
// of lines, rewritten compactly now and then. No native dependency on the agent.
//
// A record is one line: the CRC-32 of its JSON as 8 hex digits, a space, the JSON, a newline. A
// record that fails its checksum or does not parse (a torn write at a crash, a bad sector, a byte
// flipped on an SD card) costs that record only: it is skipped and counted, and every record after
// it is read. Lines without a checksum (written by an older picluster) are read as plain JSON.
//
// A rewrite writes a new file, fsyncs it, renames it over the old one and fsyncs the directory:
// a crash at any point leaves either the old file or the new one, both whole.

import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
// The default import, not `{ crc32 }`: on a Node.js without it (before 20.15) a named import fails
// while modules are linked, before the CLI's version check can say so in one line.
import zlib from 'node:zlib';

/** The file operations a record log uses (tests put faults in them: a full disk, a crash mid-way). */
export interface RecordFs {
  openSync: typeof openSync;
  writeSync: (fd: number, text: string) => number;
  fsyncSync: typeof fsyncSync;
  closeSync: typeof closeSync;
  renameSync: typeof renameSync;
  unlinkSync: typeof unlinkSync;
}

export const realRecordFs: RecordFs = {
  openSync,
  writeSync: (fd, text) => writeSync(fd, text),
  fsyncSync,
  closeSync,
  renameSync,
  unlinkSync,
};

export class RecordLog<R extends object> {
  readonly file: string;
  readonly #fs: RecordFs;
  #fd = -1;
  #lines = 0;
  #bytes = 0;
  /** True when the last write may have left a partial line: the next one starts on a new line. */
  #tornTail = false;
  /** Records appended without an fsync since the last one (see `sync`). */
  #unsynced = false;

  constructor(file: string, fs: RecordFs = realRecordFs) {
    this.file = file;
    this.#fs = fs;
  }

  /** Lines in the file since its last rewrite (the rewrite's own included). */
  get lines(): number {
    return this.#lines;
  }

  /** Bytes in the file since its last rewrite. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Every readable record of the file, oldest first, and how many damaged ones were skipped. */
  read(): { records: R[]; damaged: number } {
    const records: R[] = [];
    let damaged = 0;
    if (!existsSync(this.file)) return { records, damaged };
    for (const raw of readFileSync(this.file, 'utf8').split('\n')) {
      if (raw === '') continue;
      const record = parseRecord<R>(raw);
      // A torn last line is a crash mid-write; any other is damage. Either costs that record only.
      if (record === undefined) damaged++;
      else records.push(record);
    }
    return { records, damaged };
  }

  /** Opens the file for appends (after `rewrite`, which leaves it closed). */
  open(): void {
    if (this.#fd < 0) this.#fd = this.#fs.openSync(this.file, 'a', 0o600);
  }

  /**
   * Appends one record, and with `sync` waits until it is on the disk. A write cut short throws
   * with code ENOSPC; the next record then starts on a line of its own.
   */
  append(record: R, sync = false): void {
    const text = `${this.#tornTail ? '\n' : ''}${encodeRecord(record)}`;
    let written: number;
    try {
      written = this.#fs.writeSync(this.#fd, text);
    } catch (err) {
      if (isNoSpace(err)) this.#tornTail = true;
      throw err;
    }
    if (written < Buffer.byteLength(text)) {
      this.#tornTail = true;
      throw Object.assign(new Error(`${this.file}: write cut short (${written} bytes written)`), { code: 'ENOSPC' });
    }
    this.#tornTail = false;
    this.#lines++;
    this.#bytes += written;
    this.#unsynced = !sync;
    if (sync) this.#fs.fsyncSync(this.#fd);
  }

  /** Waits until every record appended so far is on the disk (one fsync for all of them). */
  sync(): void {
    if (!this.#unsynced || this.#fd < 0) return;
    this.#fs.fsyncSync(this.#fd);
    this.#unsynced = false;
  }

  /**
   * Replaces the file with `records`: written to a new file, fsynced, renamed over the old one.
   * The file is closed first; `open()` it again to append.
   */
  rewrite(records: readonly R[]): void {
    this.#closeFd();
    const fs = this.#fs;
    const tmp = `${this.file}.tmp`;
    const text = records.map(encodeRecord).join('');
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      if (fs.writeSync(fd, text) < Buffer.byteLength(text)) {
        throw Object.assign(new Error(`${this.file}: rewrite cut short`), { code: 'ENOSPC' });
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
    this.#lines = records.length;
    this.#bytes = Buffer.byteLength(text);
    this.#tornTail = false;
    this.#unsynced = false;
  }

  /** Flushes to the disk and closes. */
  close(): void {
    if (this.#fd < 0) return;
    try {
      this.#fs.fsyncSync(this.#fd);
    } finally {
      this.#closeFd();
    }
  }

  #closeFd(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    this.#fs.closeSync(fd);
  }
}

/** One record as a line: CRC-32 of the JSON (8 hex digits), a space, the JSON, a newline. */
export function encodeRecord(record: object): string {
  const json = JSON.stringify(record);
  return `${zlib.crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
}

/** A record read back; undefined when it is damaged (a bad checksum, or not a JSON object). */
export function parseRecord<R extends object>(raw: string): R | undefined {
  let json = raw;
  if (/^[0-9a-f]{8} /.test(raw)) {
    json = raw.slice(9);
    if (zlib.crc32(json) !== Number.parseInt(raw.slice(0, 8), 16)) return undefined;
  } else if (!raw.startsWith('{')) {
    return undefined;
  }
  try {
    const record = JSON.parse(json) as R;
    return record !== null && typeof record === 'object' ? record : undefined;
  } catch {
    return undefined; // damaged: counted by the caller
  }
}

/** After a rename: the directory's entry on disk too, or a power cut could bring back the old name. */
function syncDirectory(fs: RecordFs, dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** A full disk or quota: the data stays in memory until there is room. */
export function isNoSpace(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG';
}

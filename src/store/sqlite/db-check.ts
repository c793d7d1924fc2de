// Start-up checks of the database file, before anything opens it for writing: a file that is not
// an SQLite database, is shorter than its own header says, holds a damaged write-ahead log, fails
// SQLite's quick check, or belongs to another program or a newer picluster is refused with a
// message that says what was found and how to recover. Nothing here writes to the file: a
// refused database is left exactly as it was (the operator decides what to do with it).
//
// A write-ahead log whose header is damaged is refused: SQLite would ignore the whole log and with
// it every transaction committed since the last checkpoint. A log that ends in frames of no
// committed transaction is not refused: that is what a power cut during a write leaves (a Pi on an
// SD card; blocks may even reach the card out of order, so a bad frame followed by good ones is no
// proof of damage), SQLite drops them, and with synchronous = FULL no acknowledged sample was in
// them. From the bytes alone a truncated log looks the same; it is reported, never silently. A file
// shorter than its header says is refused only when the log holds no committed transaction: a
// checkpoint killed half-way leaves it so, with the missing pages still in the log (found by the
// scale benchmark's SIGKILL of a primary under load).

import { closeSync, existsSync, openSync, readSync, statSync, unlinkSync } from 'node:fs';
import Database from 'better-sqlite3';
import { StoreError } from '../../protocol/errors.js';

/** What the checks found that is worth a log line, when the database is accepted. */
export interface DatabaseCheck {
  /** Bytes at the end of the write-ahead log that belong to no committed transaction. */
  walTailBytes: number;
  /** Whether the full quick check ran (it is skipped, with the small tables checked, on big files). */
  fullCheck: boolean;
}

/** Above this size only the small tables get SQLite's quick check at start (it reads every page). */
export const FULL_CHECK_MAX_BYTES = 1024 * 1024 * 1024;

const SQLITE_HEADER = 'SQLite format 3\0';
const WAL_MAGIC_LE = 0x377f0682;
const WAL_MAGIC_BE = 0x377f0683;
const WAL_HEADER_BYTES = 32;
const WAL_FRAME_HEADER_BYTES = 24;

/**
 * Checks the database at `path` (and its `-wal`) without writing to either.
 * @param expectSchema the schema version this code writes (newer is refused)
 * @param ownTables tables a picluster database has once it has a schema
 * @throws StoreError ERR_STORE_CORRUPT or ERR_STORE_SCHEMA, saying what was found and what to do.
 */
export function checkDatabaseFile(path: string, expectSchema: number, ownTables: readonly string[]): DatabaseCheck {
  const result: DatabaseCheck = { walTailBytes: 0, fullCheck: true };
  if (!existsSync(path)) return result;
  const size = statSync(path).size;
  if (size === 0) return result; // made but never written: SQLite starts it afresh
  const head = readBytes(path, 0, 100);
  if (head.length < 100 || head.toString('latin1', 0, 16) !== SQLITE_HEADER) {
    throw corrupt(path, "is not an SQLite database (its first bytes are not SQLite's header)");
  }
  const rawPageSize = head.readUInt16BE(16);
  const pageSize = rawPageSize === 1 ? 65536 : rawPageSize;
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
    throw corrupt(path, `has a damaged header (page size ${rawPageSize})`);
  }
  const wal = `${path}-wal`;
  const log = existsSync(wal) && statSync(wal).size > 0 ? checkWal(path, wal, pageSize) : undefined;
  result.walTailBytes = log?.tailBytes ?? 0;
  // With committed transactions in the log, the file alone may be short: a checkpoint killed
  // half-way (a power cut) copies page 1, whose header counts every page, before the highest
  // pages, and those are still in the log, which SQLite replays. Without any, the file is all.
  if (!log?.committed) {
    // The header's page count is valid when its "version valid for" matches the change counter.
    const pages = head.readUInt32BE(28);
    if (head.readUInt32BE(92) === head.readUInt32BE(24) && pages * pageSize > size) {
      throw corrupt(
        path,
        `is shorter than its own header says (${size} bytes for ${pages} pages of ${pageSize}): truncated`,
      );
    }
    if (size % pageSize !== 0) {
      throw corrupt(path, `ends in a partial page (${size} bytes, pages of ${pageSize}): truncated or damaged`);
    }
  }
  // A read-only connection to a database in WAL mode makes an empty -wal and -shm when they are
  // not there; those it made are removed again, so the check leaves the directory as it was.
  const madeHere = ['-wal', '-shm'].filter((suffix) => !existsSync(`${path}${suffix}`));
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw corrupt(path, `cannot be opened (${(err as Error).message})`, err);
  }
  try {
    const version = db.pragma('user_version', { simple: true }) as number;
    const tables = new Set(
      (db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").all() as Array<{ name: string }>).map(
        (r) => r.name,
      ),
    );
    if (version > expectSchema) {
      throw new StoreError(
        'ERR_STORE_SCHEMA',
        `database ${path} has schema version ${version}, newer than this picluster understands (${expectSchema}): upgrade picluster or use another --data-dir`,
      );
    }
    const missing = ownTables.filter((t) => !tables.has(t));
    if ((version === 0 && tables.size > 0) || (version > 0 && missing.length > 0)) {
      throw corrupt(
        path,
        `is an SQLite database of another program (schema version ${version}, tables ${[...tables].slice(0, 5).join(', ') || 'none'})`,
      );
    }
    result.fullCheck = size + (existsSync(wal) ? statSync(wal).size : 0) <= FULL_CHECK_MAX_BYTES;
    const problems = result.fullCheck
      ? quickCheck(db, undefined)
      : ownTables.filter((t) => t !== 'vitals').flatMap((t) => quickCheck(db, t));
    if (problems.length > 0) {
      throw corrupt(path, `fails SQLite's quick check: ${problems.slice(0, 3).join('; ').slice(0, 500)}`);
    }
  } catch (err) {
    if (err instanceof StoreError) throw err;
    throw corrupt(path, `cannot be read (${(err as Error).message})`, err);
  } finally {
    db.close();
    // The -shm is the log's index in shared memory, rebuilt by the next connection: nothing is lost.
    for (const suffix of madeHere) removeMade(`${path}${suffix}`, suffix === '-wal');
  }
  return result;
}

function removeMade(file: string, onlyIfEmpty: boolean): void {
  try {
    if (!onlyIfEmpty || statSync(file).size === 0) unlinkSync(file);
  } catch {
    // Not made after all, or gone already: nothing to tidy.
  }
}

/** SQLite's quick check of the whole file, or of one table; the problems it lists ('ok': none). */
function quickCheck(db: Database.Database, table: string | undefined): string[] {
  const rows = db.pragma(table === undefined ? 'quick_check(10)' : `quick_check("${table}")`) as Array<{
    quick_check: string;
  }>;
  return rows.map((r) => r.quick_check).filter((r) => r !== 'ok');
}

/**
 * Walks the write-ahead log's frames (salts and cumulative checksums, as SQLite does) and returns
 * the bytes past its last committed transaction.
 * @throws StoreError when it is not a log of this database, or valid frames follow a damaged one.
 */
/** The log's bytes past its last committed transaction, and whether it holds one at all. */
function checkWal(path: string, wal: string, pageSize: number): { tailBytes: number; committed: boolean } {
  const fd = openSync(wal, 'r');
  try {
    const size = statSync(wal).size;
    const header = Buffer.alloc(WAL_HEADER_BYTES);
    if (readSync(fd, header, 0, WAL_HEADER_BYTES, 0) < WAL_HEADER_BYTES) {
      throw corrupt(path, `has a write-ahead log (${wal}) too short to hold its own header (${size} bytes)`);
    }
    const magic = header.readUInt32BE(0);
    if (magic !== WAL_MAGIC_LE && magic !== WAL_MAGIC_BE) {
      throw corrupt(path, `has a write-ahead log (${wal}) that is not one (bad magic number)`);
    }
    const bigEndian = magic === WAL_MAGIC_BE;
    let [s0, s1] = walChecksum(header.subarray(0, 24), 0, 0, bigEndian);
    if (s0 !== header.readUInt32BE(24) || s1 !== header.readUInt32BE(28)) {
      throw corrupt(path, `has a write-ahead log (${wal}) with a damaged header (checksum)`);
    }
    if (header.readUInt32BE(8) !== pageSize) {
      throw corrupt(
        path,
        `has a write-ahead log (${wal}) of another page size (${header.readUInt32BE(8)}, not ${pageSize})`,
      );
    }
    const salt1 = header.readUInt32BE(16);
    const salt2 = header.readUInt32BE(20);
    const frameBytes = WAL_FRAME_HEADER_BYTES + pageSize;
    const frame = Buffer.alloc(frameBytes);
    let committedEnd = WAL_HEADER_BYTES;
    // The frames of this log's generation (its salts) run to `end`; SQLite replays them up to the
    // first one whose checksum does not follow, and keeps the transactions committed by then.
    // Frames of an earlier generation past them (other salts) are normal leftovers, not a tail.
    let end = WAL_HEADER_BYTES;
    let chained = true;
    let offset = WAL_HEADER_BYTES;
    for (; offset < size; offset += frameBytes) {
      const n = readSync(fd, frame, 0, frameBytes, offset);
      if (n >= 16 && (frame.readUInt32BE(8) !== salt1 || frame.readUInt32BE(12) !== salt2)) break;
      end = offset + n;
      if (n < frameBytes) break; // a partial frame: a write cut short
      if (!chained) continue;
      [s0, s1] = walChecksum(frame.subarray(0, 8), s0, s1, bigEndian);
      [s0, s1] = walChecksum(frame.subarray(WAL_FRAME_HEADER_BYTES), s0, s1, bigEndian);
      if (s0 !== frame.readUInt32BE(16) || s1 !== frame.readUInt32BE(20)) chained = false;
      else if (frame.readUInt32BE(4) !== 0) committedEnd = end; // a commit frame
    }
    return { tailBytes: end - committedEnd, committed: committedEnd > WAL_HEADER_BYTES };
  } finally {
    closeSync(fd);
  }
}

/** SQLite's WAL checksum over `data` (pairs of 32-bit words), continuing from (s0, s1). */
function walChecksum(data: Buffer, s0: number, s1: number, bigEndian: boolean): [number, number] {
  let a = s0;
  let b = s1;
  for (let i = 0; i + 8 <= data.length; i += 8) {
    const x0 = bigEndian ? data.readUInt32BE(i) : data.readUInt32LE(i);
    const x1 = bigEndian ? data.readUInt32BE(i + 4) : data.readUInt32LE(i + 4);
    a = (a + x0 + b) >>> 0;
    b = (b + x1 + a) >>> 0;
  }
  return [a, b];
}

function readBytes(path: string, position: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const n = readSync(fd, buffer, 0, length, position);
    return buffer.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

function corrupt(path: string, found: string, cause?: unknown): StoreError {
  return new StoreError(
    'ERR_STORE_CORRUPT',
    `database ${path} ${found}. picluster leaves it untouched: move it aside (mv ${path} ${path}.bad, and its -wal and -shm) to start with an empty history, or try to rescue it with: sqlite3 ${path} .recover | sqlite3 ${path}.recovered`,
    cause === undefined ? undefined : { cause },
  );
}

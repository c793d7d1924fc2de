// An online backup of the primary's database through SQLite's backup API: a consistent copy taken
// while the primary runs (it copies pages in steps and starts over on its own if a write lands
// meanwhile), written beside its destination and renamed into place once whole and checked.

import { chmodSync, closeSync, existsSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { StoreError } from '../../protocol/errors.js';

export interface BackupResult {
  bytes: number;
  pages: number;
  /** SQLite's quick check of the copy: "ok". */
  check: string;
}

/**
 * Pages copied per step: all of them, in one step. SQLite restarts a stepped backup from the first
 * page whenever another connection writes between two steps, and the primary writes every few
 * milliseconds: a stepped copy of a large database would never end. One step is one read
 * transaction, which in WAL mode does not hold the primary's writes back.
 */
const PAGES_PER_STEP = 0x7fffffff;

export interface BackupOptions {
  onProgress?: (copiedPages: number, totalPages: number) => void;
  /**
   * No other process can open the database meanwhile (the caller holds the data dir's lock): the
   * `-wal` and `-shm` files the read-only open makes are removed afterwards. Without it they stay:
   * a primary that started meanwhile would be writing its log into them.
   */
  exclusive?: boolean;
}

/**
 * Copies the database at `source` to `destination` (which must not exist), mode 0600: it holds
 * the node secrets.
 * @throws StoreError naming what is wrong; nothing is left at `destination` then.
 */
export async function backupDatabase(
  source: string,
  destination: string,
  options: BackupOptions = {},
): Promise<BackupResult> {
  const { onProgress, exclusive = false } = options;
  if (!existsSync(source)) {
    throw new StoreError('ERR_STORE', `no database at ${source}: is --data-dir the primary's data directory?`);
  }
  if (existsSync(destination)) throw new StoreError('ERR_STORE', `${destination} exists: give a new file name`);
  const partial = `${destination}.partial`;
  rmSync(partial, { force: true });
  // Made empty and private first: the copy holds node secrets from its first page on.
  closeSync(openSync(partial, 'wx', 0o600));
  // A read-only open makes -wal and -shm files when the primary is not running: they go again,
  // but only when no primary can have started meanwhile (it would be using them).
  const made = exclusive ? ['-wal', '-shm'].filter((suffix) => !existsSync(`${source}${suffix}`)) : [];
  let db: Database.Database;
  try {
    db = new Database(source, { readonly: true, fileMustExist: true });
  } catch (err) {
    rmSync(partial, { force: true });
    throw new StoreError('ERR_STORE', `cannot open ${source}: ${(err as Error).message}`);
  }
  try {
    let pages = 0;
    await db.backup(partial, {
      progress: ({ totalPages, remainingPages }) => {
        pages = totalPages;
        onProgress?.(totalPages - remainingPages, totalPages);
        return PAGES_PER_STEP;
      },
    });
    chmodSync(partial, 0o600);
    const copy = new Database(partial, { readonly: true, fileMustExist: true });
    let check: string;
    try {
      check = copy.pragma('quick_check', { simple: true }) as string;
    } finally {
      copy.close();
      // The check's own -wal and -shm: nobody else opens the copy.
      for (const suffix of ['-wal', '-shm']) rmSync(`${partial}${suffix}`, { force: true });
    }
    if (check !== 'ok') throw new StoreError('ERR_STORE_CORRUPT', `the copy fails SQLite's quick check: ${check}`);
    renameSync(partial, destination);
    return { bytes: statSync(destination).size, pages, check };
  } catch (err) {
    rmSync(partial, { force: true });
    if (err instanceof StoreError) throw err;
    throw new StoreError('ERR_STORE', `backup of ${source} failed: ${(err as Error).message}`);
  } finally {
    db.close();
    // Absent before, and no primary could start meanwhile: nobody is using these.
    for (const suffix of made) rmSync(`${source}${suffix}`, { force: true });
  }
}

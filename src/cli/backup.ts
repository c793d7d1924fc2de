// `picluster backup FILE`: an online copy of the primary's database (its nodes, secrets, history,
// tasks and alerts), taken while the primary runs. The other files of the data dir (the token,
// primary-id, tls/) are small and never change on their own: the README says to copy them too.

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DataDirLock } from '../node/data-dir-lock.js';
import { StoreError } from '../protocol/errors.js';
import { backupDatabase } from '../store/sqlite/backup.js';

/**
 * The data dir's lock when no primary holds it (kept for the whole copy: a primary started
 * meanwhile is refused instead of writing into files the backup removes), else undefined.
 */
async function lockIfFree(dataDir: string): Promise<DataDirLock | undefined> {
  if (!existsSync(dataDir)) return undefined;
  try {
    return await DataDirLock.acquire(dataDir, 'backup');
  } catch {
    return undefined; // held by a running primary (or not ours to take): copy alongside it
  }
}

export async function runBackup(file: string, options: { dataDir: string }): Promise<number> {
  const source = join(resolve(options.dataDir), 'primary.db');
  const destination = resolve(file);
  const tty = process.stderr.isTTY === true;
  let shown = -1;
  const lock = await lockIfFree(resolve(options.dataDir));
  try {
    const result = await backupDatabase(source, destination, {
      exclusive: lock !== undefined,
      onProgress: (copied, total) => {
        const percent = total > 0 ? Math.floor((100 * copied) / total) : 100;
        // A line per 10 % at most; on a terminal the same line, rewritten.
        if (percent - shown < 10 && percent < 100) return;
        shown = percent;
        process.stderr.write(
          tty ? `\rcopied ${percent} % of ${total} pages` : `copied ${percent} % of ${total} pages\n`,
        );
      },
    });
    if (tty && shown >= 0) process.stderr.write('\n');
    const mib = (result.bytes / 1024 / 1024).toFixed(1);
    process.stdout.write(`${source} backed up to ${destination} (${mib} MiB, quick check ${result.check})\n`);
    return 0;
  } catch (err) {
    if (tty && shown >= 0) process.stderr.write('\n');
    if (!(err instanceof StoreError)) throw err;
    process.stderr.write(`picluster: ${err.message}\n`);
    return 1;
  } finally {
    await lock?.release();
  }
}

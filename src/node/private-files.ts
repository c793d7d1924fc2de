// Files that hold secrets live in private places: a data dir is made 0700, and a data dir or a
// secret file already there with group or other bits gets one warning naming it (picluster does not
// change modes an operator set: a group-readable backup may be on purpose). Small state files are
// replaced whole (writeAtomic), so a power cut leaves the old one or the new one, never half.

import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../common/logger.js';

/** Makes `dir` (and its parents) with mode 0700 when it does not exist. */
export function makePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** Those of `paths` that exist and can be read or written by group or others. */
export function loosePaths(paths: readonly string[]): string[] {
  return paths.filter((path) => {
    try {
      return (statSync(path).mode & 0o077) !== 0;
    } catch {
      return false; // not there (yet): nothing to say
    }
  });
}

/** One warning naming every one of `paths` that is open to group or others. */
export function warnLoosePaths(paths: readonly string[], log: Logger): void {
  const loose = loosePaths(paths);
  if (loose.length === 0) return;
  log.warn(
    { paths: loose },
    `readable by other users: ${loose.join(', ')}; they hold this node's secrets or history (chmod go-rwx)`,
  );
}

/** Write, fsync, rename, fsync the directory: a power cut leaves the old file or the new one. */
export function writeAtomic(file: string, text: string, mode: number): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, mode);
  renameSync(tmp, file);
  const dir = openSync(dirname(file), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

// One process per data dir: a primary or secondary holds its data dir's lock for as long as it
// runs. The lock is a listening Unix socket in Linux's abstract namespace, named after the dir's
// real path: binding it is atomic, and the kernel lets go of it when the process ends, however it
// ends (SIGKILL, a power cut), so a stale lock can never block a restart and there is no file to
// clean up. A second process finds the name taken, asks the holder who it is (the socket answers
// with one JSON line) and refuses to start. The abstract namespace belongs to a network namespace:
// two processes in different network namespaces (containers) are not kept apart by it. Abstract
// names have no permissions, so the name is also keyed by a random key kept in the data dir
// (0600): another local user cannot work it out and bind it first to keep the daemon from starting.

import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  fchownSync,
  fsyncSync,
  linkSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { DataDirLockedError } from '../protocol/errors.js';

/** Who holds a data dir: what the lock's socket answers (`since`: when it took it, epoch ms). */
export type LockHolder = NonNullable<DataDirLockedError['holder']>;

/** How long a holder has to say who it is before it is reported as not answering, ms. */
const ASK_TIMEOUT_MS = 1_000;

export class DataDirLock {
  readonly dataDir: string;
  readonly #server: net.Server;

  private constructor(dataDir: string, server: net.Server) {
    this.dataDir = dataDir;
    this.#server = server;
  }

  /**
   * Takes the lock of `dataDir` (which must exist) for `role`.
   * @throws DataDirLockedError naming the dir and the process that holds it.
   */
  static async acquire(dataDir: string, role: string): Promise<DataDirLock> {
    const real = realpathSync(dataDir);
    const name = lockNameOf(real, lockKeyOf(real));
    const holder: LockHolder = { pid: process.pid, role, dataDir: real, since: Date.now() };
    const answer = `${JSON.stringify(holder)}\n`;
    const server = net.createServer((socket) => {
      socket.on('error', () => socket.destroy()); // an asker that went away: nothing to do
      socket.end(answer);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ path: name, exclusive: true }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      const other = await askHolder(name);
      throw new DataDirLockedError(describeHolder(real, other), other);
    }
    // The lock must not keep the process alive by itself.
    server.unref();
    return new DataDirLock(real, server);
  }

  /** Lets go of the lock (stop); the kernel does it anyway when the process ends. */
  release(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** The abstract socket name of a data dir: its real path and key, hashed (names are at most 107 bytes). */
export function lockNameOf(realDataDir: string, key: string): string {
  const hash = createHash('sha256').update(`${realDataDir}\0${key}`).digest('hex');
  return `\0picluster-data-dir-${hash.slice(0, 40)}`;
}

/** The file in a data dir holding its lock key. */
export const LOCK_KEY_FILE = '.lock-key';

/**
 * The data dir's lock key, made on first use. Two processes starting at once agree on one: the
 * key is written and synced to a file of its own, then linked into place (link fails when the
 * name exists). An empty key file (a power cut on a file system that lost its data) is replaced.
 */
export function lockKeyOf(realDataDir: string): string {
  const path = join(realDataDir, LOCK_KEY_FILE);
  const read = (): string | undefined => {
    try {
      return readFileSync(path, 'utf8').trim() || undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  };
  const existing = read();
  if (existing !== undefined) return existing;
  const draft = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  const fd = openSync(draft, 'wx', 0o600);
  try {
    writeSync(fd, `${randomBytes(16).toString('hex')}\n`);
    fsyncSync(fd);
    // Made by root (`sudo picluster backup`): the daemon's user, who owns the dir, must read it.
    if (process.getuid?.() === 0) {
      const dir = statSync(realDataDir);
      fchownSync(fd, dir.uid, dir.gid);
    }
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(draft, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Another first start linked its key meanwhile (it may hold the lock by it already): that
    // one stands. Only an empty file is replaced.
    if (read() === undefined) renameSync(draft, path);
  } finally {
    rmSync(draft, { force: true });
  }
  const key = read();
  if (key === undefined) throw new Error(`cannot keep a lock key in ${path}: the file stays empty`);
  return key;
}

/** What the holder of `name` says it is; undefined when it does not answer (stopped, or not ours). */
function askHolder(name: string): Promise<LockHolder | undefined> {
  return new Promise((resolve) => {
    let text = '';
    const socket = net.connect({ path: name });
    const done = (holder: LockHolder | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(holder);
    };
    const timer = setTimeout(() => done(undefined), ASK_TIMEOUT_MS);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > 4096) done(undefined);
    });
    socket.on('end', () => {
      try {
        const parsed = JSON.parse(text) as LockHolder;
        done(Number.isInteger(parsed.pid) ? parsed : undefined);
      } catch {
        done(undefined); // not a picluster lock, or a torn answer: reported as unknown
      }
    });
    socket.on('error', () => done(undefined));
  });
}

function describeHolder(dataDir: string, holder: LockHolder | undefined): string {
  if (!holder) {
    return `data dir ${dataDir} is in use by another process that does not say which (stopped?); stop it or use another --data-dir`;
  }
  const who = holder.pid === process.pid ? 'this process' : `process ${holder.pid}`;
  return `data dir ${dataDir} is in use by ${who} (picluster ${holder.role}, since ${new Date(holder.since).toISOString()}); stop it or use another --data-dir`;
}

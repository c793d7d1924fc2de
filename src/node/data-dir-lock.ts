// One process per data dir: a primary or secondary holds its data dir's lock for as long as it
// runs. The lock is a listening Unix socket in Linux's abstract namespace, named after the dir's
// real path: binding it is atomic, and the kernel lets go of it when the process ends, however it
// ends (SIGKILL, a power cut), so a stale lock can never block a restart and there is no file to
// clean up. A second process finds the name taken, asks the holder who it is (the socket answers
// with one JSON line) and refuses to start. The abstract namespace belongs to a network namespace:
// two processes in different network namespaces (containers) are not kept apart by it.

import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import net from 'node:net';
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
    const name = lockNameOf(real);
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

/** The abstract socket name of a data dir: its real path, hashed (names are at most 107 bytes). */
export function lockNameOf(realDataDir: string): string {
  return `\0picluster-data-dir-${createHash('sha256').update(realDataDir).digest('hex').slice(0, 40)}`;
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

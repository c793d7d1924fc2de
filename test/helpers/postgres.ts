// A real PostgreSQL server for tests: initdb in a temp dir, `postgres` on a free 127.0.0.1 port
// (its socket in the same dir), fsync on, waited for by connecting until it answers (bounded).
// PostgreSQL refuses to run as root: as root, the dir goes to the `postgres` user and initdb and
// the server run as that user (spawned with its uid/gid, so the server's pid is the postmaster's
// own and a kill reaches it). The server is killed when the test process ends, whichever way, and
// stopped with its dir removed at t.after (or by the caller's `stop()`), even on failure. Without
// the binaries a test skips with the reason, or fails under CI=true (require-tool.ts).
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { killOnExit } from './child.js';
import { freePort } from './cluster.js';
import { findProgram, skipOrFail } from './require-tool.js';

export const PG_INSTALL = 'apt-get install -y --no-install-recommends postgresql';
const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;
const USER = 'picluster';

const run = promisify(execFile);

export interface PostgresBinaries {
  initdb: string;
  postgres: string;
  /** The user and group the server runs as when this process is root (PostgreSQL refuses root). */
  owner?: { uid: number; gid: number };
}

/** The newest installed PostgreSQL's binaries (Debian's /usr/lib/postgresql/N/bin, else PATH), or why not. */
export function findPostgres(): PostgresBinaries | string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  let found: PostgresBinaries | undefined;
  for (const v of versions) {
    const bin = join(root, v, 'bin');
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'postgres'))) {
      found = { initdb: join(bin, 'initdb'), postgres: join(bin, 'postgres') };
      break;
    }
  }
  if (found === undefined) {
    const initdb = findProgram('initdb');
    const postgres = findProgram('postgres');
    if (initdb === undefined || postgres === undefined)
      return `needs PostgreSQL's initdb and postgres (install: ${PG_INSTALL})`;
    found = { initdb, postgres };
  }
  if (process.getuid?.() !== 0) return found;
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    return { ...found, owner: { uid: id('-u'), gid: id('-g') } };
  } catch (err) {
    return `runs as root and needs a "postgres" user to run PostgreSQL as (${(err as Error).message.trim()}; install: ${PG_INSTALL})`;
  }
}

export class PostgresServer {
  readonly dir: string;
  readonly port: number;
  readonly #bins: PostgresBinaries;
  #child: ChildProcess | undefined;
  #output = '';

  constructor(bins: PostgresBinaries, dir: string, port: number) {
    this.#bins = bins;
    this.dir = dir;
    this.port = port;
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  get alive(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** The last few KB the server printed (for failure messages). */
  get output(): string {
    return this.#output;
  }

  /** The URL of database `db` (trust authentication: no password). */
  url(db: string): string {
    return `postgres://${USER}@127.0.0.1:${this.port}/${db}`;
  }

  async init(): Promise<void> {
    const { owner } = this.#bins;
    if (owner) chownSync(this.dir, owner.uid, owner.gid);
    // -N: initdb's own files unsynced (a test cluster); the server itself runs with fsync on.
    const args = ['-D', this.dataDir, '-A', 'trust', '-U', USER, '-E', 'UTF8', '--locale=C', '-N'];
    await run(this.#bins.initdb, args, { ...owner, env: { ...process.env, LC_ALL: 'C' } }).catch((err) => {
      throw new Error(`initdb failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
    });
  }

  /** Starts the server (again, on its data dir) and waits until it accepts connections. */
  async start(): Promise<void> {
    if (this.alive) throw new Error('postgres is already running');
    const args = ['-D', this.dataDir, '-p', String(this.port), '-k', this.dir];
    args.push('-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=on');
    const child = spawn(this.#bins.postgres, args, {
      ...this.#bins.owner,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    this.#child = child;
    killOnExit(child);
    const keep = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString('utf8')).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    await this.#waitReady();
  }

  async #waitReady(): Promise<void> {
    const deadline = performance.now() + READY_TIMEOUT_MS;
    let last: unknown;
    for (;;) {
      if (!this.alive)
        throw new Error(`postgres exited (${this.#child?.exitCode ?? this.#child?.signalCode}): ${this.#output}`);
      const client = new pg.Client({ connectionString: this.url('postgres'), connectionTimeoutMillis: 1000 });
      client.on('error', (err) => {
        last = err; // a connection dropped while starting up: the next attempt tells
      });
      try {
        await client.connect();
        await client.query('SELECT 1');
        await client.end();
        return;
      } catch (err) {
        last = err;
        await client.end().catch(() => undefined); // not connected: nothing to end
      }
      if (performance.now() > deadline) {
        throw new Error(`postgres not ready within ${READY_TIMEOUT_MS} ms (${String(last)}): ${this.#output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Creates database `name` unless it exists; its URL. */
  async createDatabase(name: string): Promise<string> {
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
    const client = new pg.Client({ connectionString: this.url('postgres') });
    client.on('error', (err) => {
      void err; // the query under way fails with it
    });
    await client.connect();
    try {
      const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (found.rowCount === 0) {
        await client.query(`CREATE DATABASE ${name}`).catch((err: { code?: string }) => {
          if (err.code !== '42P04') throw err; // created meanwhile by another caller: fine
        });
      }
    } finally {
      await client.end();
    }
    return this.url(name);
  }

  /** Fast shutdown (SIGINT: sessions are ended, then a checkpoint), SIGKILL if it takes too long. */
  async halt(): Promise<void> {
    const child = this.#child;
    if (child === undefined || !this.alive) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }

  /** SIGKILL, no shutdown. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined || !this.alive) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Stops the server and removes its dir. */
  async stop(): Promise<void> {
    await this.halt();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Starts a PostgreSQL server in a temp dir. With `t`: skips the test (or fails it under CI=true)
 * when PostgreSQL is not installed, resolving to undefined, and stops the server at t.after.
 * Without: throws when it is not installed; the caller stops it.
 */
export async function startPostgres(t: TestContext): Promise<PostgresServer | undefined>;
export async function startPostgres(): Promise<PostgresServer>;
export async function startPostgres(t?: TestContext): Promise<PostgresServer | undefined> {
  const bins = findPostgres();
  if (typeof bins === 'string') {
    if (t) return skipOrFail(t, bins);
    throw new Error(bins);
  }
  const dir = mkdtempSync(join(tmpdir(), 'postgres-'));
  const server = new PostgresServer(bins, dir, await freePort());
  t?.after(() => server.stop());
  try {
    await server.init();
    await server.start();
  } catch (err) {
    if (!t) await server.stop();
    throw err;
  }
  return server;
}

// A real influxd (InfluxDB 1.x) for integration tests: its own temp dirs and free 127.0.0.1 ports
// (the RPC listener too, whose default :8088 would clash), quiet logs, no phoning home; it can be
// paused, killed and started again on the same dirs and ports, and is always killed and removed
// when the test ends, even on failure.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { freePort } from './cluster.js';

const READY_TIMEOUT_MS = 20_000;

export interface QueryResult {
  columns: string[];
  /** Each row as an object keyed by column. */
  rows: Array<Record<string, unknown>>;
}

export class Influxd {
  readonly url: string;
  readonly dir: string;
  readonly #bin: string;
  readonly #config: string;
  #child: ChildProcess | undefined;
  #output = '';

  constructor(bin: string, dir: string, httpPort: number, rpcPort: number) {
    this.#bin = bin;
    this.dir = dir;
    this.url = `http://127.0.0.1:${httpPort}`;
    this.#config = join(dir, 'influxdb.conf');
    writeFileSync(
      this.#config,
      [
        'reporting-disabled = true',
        `bind-address = "127.0.0.1:${rpcPort}"`,
        '[meta]',
        `  dir = "${join(dir, 'meta')}"`,
        '  logging-enabled = false',
        '[data]',
        `  dir = "${join(dir, 'data')}"`,
        `  wal-dir = "${join(dir, 'wal')}"`,
        '  query-log-enabled = false',
        '[monitor]',
        '  store-enabled = false',
        '[http]',
        `  bind-address = "127.0.0.1:${httpPort}"`,
        '  log-enabled = false',
        '[continuous_queries]',
        '  log-enabled = false',
        '[logging]',
        '  level = "error"',
        '  suppress-logo = true',
        '',
      ].join('\n'),
    );
  }

  get alive(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Starts influxd and waits until GET /ping answers 204. */
  async start(): Promise<void> {
    if (this.alive) throw new Error('influxd is already running');
    const child = spawn(this.#bin, ['-config', this.#config], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    const keep = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString('utf8')).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let last: unknown;
    while (Date.now() < deadline) {
      if (!this.alive) throw new Error(`influxd exited (${child.exitCode ?? child.signalCode}): ${this.#output}`);
      try {
        const res = await fetch(`${this.url}/ping`, { signal: AbortSignal.timeout(1000) });
        if (res.status === 204) return;
        last = `HTTP ${res.status}`;
      } catch (err) {
        last = err; // not listening yet: try again shortly; the last error goes into the timeout's message
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`influxd did not answer /ping within ${READY_TIMEOUT_MS} ms (${String(last)}): ${this.#output}`);
  }

  /** Kills influxd (SIGKILL: no clean shutdown) and waits for it to exit. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined || !this.alive) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** SIGSTOP: the kernel still accepts connections, nobody answers them. */
  pause(): void {
    this.#child?.kill('SIGSTOP');
  }

  resume(): void {
    this.#child?.kill('SIGCONT');
  }

  /** Runs an InfluxQL query; times in ms since the epoch. Throws on an error in the answer. */
  async query(db: string, q: string): Promise<QueryResult> {
    const url = new URL('/query', this.url);
    url.search = new URLSearchParams({ db, q, epoch: 'ms' }).toString();
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as {
      error?: string;
      results?: Array<{ error?: string; series?: Array<{ columns: string[]; values: unknown[][] }> }>;
    };
    const error = body.error ?? body.results?.find((r) => r.error)?.error;
    if (!res.ok || error) throw new Error(`query ${q} failed (${res.status}): ${error}`);
    const series = body.results?.[0]?.series ?? [];
    const columns = series[0]?.columns ?? [];
    const rows = series.flatMap((s) => s.values.map((v) => Object.fromEntries(s.columns.map((c, i) => [c, v[i]]))));
    return { columns, rows };
  }
}

/** Starts an influxd in a temp dir that the end of the test removes, with influxd killed first. */
export async function startInfluxd(t: TestContext, bin: string): Promise<Influxd> {
  const dir = mkdtempSync(join(tmpdir(), 'influxd-'));
  const httpPort = await freePort();
  let rpcPort = await freePort();
  while (rpcPort === httpPort) rpcPort = await freePort();
  const influxd = new Influxd(bin, dir, httpPort, rpcPort);
  t.after(async () => {
    await influxd.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  await influxd.start();
  return influxd;
}

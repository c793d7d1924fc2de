// Helpers shared by bench/reconnect-storm.ts, bench/agent-cost.ts and bench/scale.ts: reading a
// process's memory, CPU and open-files limits from /proc, starting the picluster CLI and bench
// workers as real processes (under tsx or from dist/), polling HTTP, and a cleanup registry that
// kills every child it started (by its own handle, never by name) and removes every temp dir, on
// success, error, Ctrl-C or exit.

import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (this file lives in bench/). */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CLI_TS = join(ROOT, 'src/cli/main.ts');
export const CLI_DIST = join(ROOT, 'dist/cli/main.js');
/** The installed command: a launcher that starts node on CLI_DIST with the command's flags. */
export const CLI_BIN = join(ROOT, 'bin/picluster');

export type Flavor = 'tsx' | 'dist';

// ---------------------------------------------------------------- /proc

let clkTck: number | undefined;

/** Kernel clock ticks per second (the unit of utime/stime in /proc/PID/stat). */
export function clockTicksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

export interface MemStatus {
  /** Resident set size now, bytes. */
  rssBytes: number;
  /** Peak resident set size since the process started, bytes. */
  hwmBytes: number;
}

/** VmRSS and VmHWM of a live process. */
export function readMem(pid: number): MemStatus {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => {
    const match = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    if (!match) throw new Error(`/proc/${pid}/status has no ${key}`);
    return Number(match[1]) * 1024;
  };
  return { rssBytes: kb('VmRSS'), hwmBytes: kb('VmHWM') };
}

export interface CpuTicks {
  /** utime + stime of the process itself, clock ticks. */
  self: number;
  /** cutime + cstime: children it has waited for (e.g. commands it ran), clock ticks. */
  children: number;
}

/** CPU time a live process has used, from /proc/PID/stat. */
export function readCpu(pid: number): CpuTicks {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses: fields after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14, stime 15, cutime 16, cstime 17.
  const field = (n: number): number => Number(rest[n - 3]);
  return { self: field(14) + field(15), children: field(16) + field(17) };
}

/** CPU seconds between two readings. */
export function cpuSeconds(from: CpuTicks, to: CpuTicks, which: keyof CpuTicks = 'self'): number {
  return (to[which] - from[which]) / clockTicksPerSecond();
}

/** % of one core between two readings `ms` apart (0 when no time passed), one decimal. */
export function cpuPercent(from: CpuTicks, to: CpuTicks, ms: number): number {
  return ms > 0 ? round((cpuSeconds(from, to) / (ms / 1000)) * 100) : 0;
}

/** The soft and hard limits on open files of a process (children inherit them); default this one. */
export function readFileLimits(pid: number | 'self' = 'self'): { soft: number; hard: number } {
  const match = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(
    readFileSync(`/proc/${pid}/limits`, 'utf8'),
  );
  const num = (s: string | undefined) => (s === undefined || s === 'unlimited' ? Number.POSITIVE_INFINITY : Number(s));
  return { soft: num(match?.[1]), hard: num(match?.[2]) };
}

/**
 * CPU ticks of each of `pid`'s threads, user and system apart, summed by thread name (`node` is
 * the event loop; V8's helpers are "V8 DefaultWorke", libuv's "libuv-worker").
 */
export function threadTicks(pid: number): Map<string, { user: number; system: number }> {
  const byName = new Map<string, { user: number; system: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = tid === String(pid) ? 'main' : text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
      const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
      const entry = byName.get(name) ?? { user: 0, system: 0 };
      entry.user += Number(rest[11]);
      entry.system += Number(rest[12]);
      byName.set(name, entry);
    } catch {
      // the thread ended
    }
  }
  return byName;
}

/** % of one core per thread name and user/system between two readings `ms` apart. */
export function threadCpu(
  from: Map<string, { user: number; system: number }>,
  to: Map<string, { user: number; system: number }>,
  ms: number,
): Record<string, { user: number; system: number }> {
  const hz = clockTicksPerSecond();
  const pct = (ticks: number) => round(((ticks / hz) * 1000 * 100) / ms, 1);
  const out: Record<string, { user: number; system: number }> = {};
  for (const [name, end] of to) {
    const start = from.get(name) ?? { user: 0, system: 0 };
    out[name] = { user: pct(end.user - start.user), system: pct(end.system - start.system) };
  }
  return out;
}

/** /proc/PID/io: write syscalls (sockets included) and bytes sent to the block device. */
export function procIo(pid: number): { syscw: number; wchar: number; writeBytes: number } {
  const text = readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (key: string) => Number(new RegExp(`^${key}: (\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { syscw: field('syscw'), wchar: field('wchar'), writeBytes: field('write_bytes') };
}

// ---------------------------------------------------------------- cleanup

const children = new Set<ChildProcess>();
const dirs = new Set<string>();
let handlersInstalled = false;

/** Neither exited nor killed by a signal yet. */
export function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Kills every child still alive and removes every temp dir. Synchronous, safe to call twice. */
export function cleanupSync(): void {
  for (const child of children) {
    if (alive(child)) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  children.clear();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  dirs.clear();
}

/** Kills every child, waits (bounded) until they are gone, then removes the temp dirs. */
export async function cleanup(): Promise<void> {
  const waits = [...children].filter(alive).map(
    (child) =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        setTimeout(resolve, 3_000).unref();
      }),
  );
  for (const child of children) if (alive(child)) child.kill('SIGKILL');
  await Promise.all(waits);
  cleanupSync();
}

/** Ctrl-C, SIGTERM, SIGHUP and a normal exit all clean up. */
export function installCleanupHandlers(log: (line: string) => void): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', cleanupSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      log(`${signal}: killing child processes and removing temp dirs`);
      cleanupSync();
      process.exit(130);
    });
  }
}

/** A child to kill at cleanup. */
export function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** A temp dir to remove at cleanup. */
export function trackDir(dir: string): string {
  dirs.add(dir);
  return dir;
}

// ---------------------------------------------------------------- processes

/**
 * Starts `picluster ARGS` as a real process; stdout and stderr go to `logFile`. `nodeFlags` go to
 * node before the entry point (e.g. `--cpu-prof`); default none. `viaBin` (dist only) starts it
 * the way users do, through `bin/picluster` (which picks node's flags per command; `nodeFlags`,
 * when given, replace them).
 */
export function spawnCli(
  flavor: Flavor,
  args: string[],
  logFile: string,
  options: { nodeFlags?: string[]; viaBin?: boolean } = {},
): ChildProcess {
  const entry = flavor === 'tsx' ? ['--import', 'tsx', CLI_TS] : [CLI_DIST];
  const fd = openSync(logFile, 'a');
  try {
    const viaBin = options.viaBin === true && flavor === 'dist';
    const flags = options.nodeFlags;
    const child = viaBin
      ? spawn(CLI_BIN, args, {
          cwd: ROOT,
          stdio: ['ignore', fd, fd],
          env: flags === undefined ? process.env : { ...process.env, PICLUSTER_NODE_FLAGS: flags.join(' ') },
        })
      : spawn(process.execPath, [...(flags ?? []), ...entry, ...args], {
          cwd: ROOT,
          stdio: ['ignore', fd, fd],
        });
    return track(child);
  } finally {
    closeSync(fd);
  }
}

/** Forks a bench worker script (TypeScript, under tsx) with an IPC channel, to kill at cleanup. */
export function forkWorker(script: URL): ChildProcess {
  return track(
    fork(fileURLToPath(script), [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      // Worker stdout goes to our stderr: with --json, stdout carries the JSON only.
      stdio: ['ignore', 2, 2, 'ipc'],
    }),
  );
}

/** The last `chars` characters of a log file (for error messages). */
export function tail(file: string, chars = 1_500): string {
  if (!existsSync(file)) return '';
  const text = readFileSync(file, 'utf8');
  return text.slice(-chars);
}

/** Rejects once `child` exits (for racing against waits). */
export function exitOf(child: ChildProcess, what: string): Promise<never> {
  return new Promise((_, reject) => {
    const fail = () => reject(new Error(`${what} exited early (code ${child.exitCode}, signal ${child.signalCode})`));
    if (!alive(child)) fail();
    else child.once('exit', fail);
  });
}

/** A port free right now on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** GET `url` and parse JSON; undefined on any failure (connection refused, non-2xx, timeout). */
export async function getJson<T>(url: string, timeoutMs = 5_000): Promise<T | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) {
      await response.body?.cancel();
      return undefined;
    }
    return (await response.json()) as T;
  } catch {
    return undefined;
  }
}

/**
 * Polls GET `api`/healthz every `intervalMs` until it answers 200; returns Date.now() of that
 * answer. Throws after `timeoutMs`, or when `child` exits.
 */
export async function waitHealthy(
  api: string,
  child: ChildProcess,
  timeoutMs: number,
  intervalMs = 20,
  logFile?: string,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!alive(child)) {
      throw new Error(
        `primary exited before /healthz answered (code ${child.exitCode}, signal ${child.signalCode})${logFile ? `\n${tail(logFile)}` : ''}`,
      );
    }
    try {
      const response = await fetch(`${api}/healthz`, { signal: AbortSignal.timeout(1_000) });
      await response.body?.cancel();
      if (response.status === 200) return Date.now();
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new Error(
        `primary /healthz did not answer 200 within ${timeoutMs} ms${logFile ? `\n${tail(logFile)}` : ''}`,
      );
    }
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------- numbers

export const mb = (bytes: number): number => Math.round((bytes / (1024 * 1024)) * 10) / 10;
export const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

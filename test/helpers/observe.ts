// What the fault suite looks at from outside the processes: the primary's API (over TCP, or over a
// unix socket relayed into a network namespace), its Prometheus counters, the JSON log lines of
// the daemons, and /proc (open fds, RSS, CPU time) of any process.
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { NodeView } from '../../src/primary/registry.js';

export interface ApiClient {
  /** GET `path`; resolves with the status and body, rejects if the server is unreachable. */
  get(path: string, timeoutMs?: number): Promise<{ status: number; body: string }>;
}

/** The API at an http:// URL (a primary on 127.0.0.1). */
export function urlApi(base: string): ApiClient {
  return {
    async get(path, timeoutMs = 5000) {
      const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
      return { status: response.status, body: await response.text() };
    },
  };
}

/** The API behind a unix socket (the relay into a primary's network namespace). */
export function unixApi(socketPath: string): ApiClient {
  return {
    get(path, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const req = http.get({ socketPath, path, timeout: timeoutMs, agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            body += d;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out after ${timeoutMs} ms`)));
        req.on('error', reject);
      });
    },
  };
}

export async function apiNodes(api: ApiClient): Promise<NodeView[]> {
  const { status, body } = await api.get('/api/nodes');
  if (status !== 200) throw new Error(`GET /api/nodes: ${status} ${body}`);
  return (JSON.parse(body) as { nodes: NodeView[] }).nodes;
}

export async function healthy(api: ApiClient): Promise<boolean> {
  try {
    return (await api.get('/healthz', 2000)).status === 200;
  } catch {
    return false;
  }
}

/** Unlabelled series of /metrics by name (labelled ones under `name{labels}`). */
export async function apiMetrics(api: ApiClient): Promise<Map<string, number>> {
  const { status, body } = await api.get('/metrics');
  if (status !== 200) throw new Error(`GET /metrics: ${status}`);
  const out = new Map<string, number>();
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return out;
}

/** Open file descriptors of a process (sockets, files, pipes, eventfds). */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Resident memory of a process, in bytes. */
export function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0) * 1024;
}

/** User + system CPU time of a process, in ms. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[11] = utime, fields[12] = stime (after pid and comm), in clock ticks of 1/100 s.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

export interface LogLine {
  time: number;
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** The JSON log lines (pino) of a daemon's stderr, in order; other lines are skipped. */
export function logLines(stderr: readonly string[]): LogLine[] {
  const out: LogLine[] = [];
  for (const line of stderr.join('').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      // a line cut at the end of the buffer
    }
  }
  return out;
}

/** The first log line after `since` (epoch ms) whose message contains `text`. */
export function findLog(stderr: readonly string[], text: string, since = 0): LogLine | undefined {
  return logLines(stderr).find((l) => l.time >= since && l.msg.includes(text));
}

/** All log lines after `since` whose message contains `text`. */
export function findLogs(stderr: readonly string[], text: string, since = 0): LogLine[] {
  return logLines(stderr).filter((l) => l.time >= since && l.msg.includes(text));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `fn` until it returns a value (not undefined/false); rejects after `timeoutMs` naming `what`. */
export async function waitForValue<T>(
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(20);
  }
}

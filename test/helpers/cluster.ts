// Real picluster processes for integration tests: primaries and secondaries started through the
// CLI (src/cli/main.ts under tsx), fast timers, temp data dirs, everything killed and removed
// when the test ends.
import { execFile, execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { NodeView } from '../../src/primary/registry.js';
import { type Child, spawnChild } from './child.js';

export const CLI = new URL('../../src/cli/main.ts', import.meta.url).pathname;

/** Fast timers for tests: heartbeat H, vitals every 200 ms, quick reconnects. */
export const FAST = {
  heartbeatMs: 300,
  vitalsMs: 200,
  reconnect: ['--reconnect-initial-delay-ms', '50', '--reconnect-max-delay-ms', '500'],
};

/**
 * For primaries made in-process (a library reads no environment): the short vitals commit window
 * the test runner gives the daemons (scripts/run-tests.mjs), so samples are acknowledged and
 * stored within a fraction of a second as before issue 16's two-minute default.
 */
export const FAST_COMMIT = { vitalsCommitMs: Number(process.env.PICLUSTER_VITALS_COMMIT_MS || 250) };

export function tempDir(t: TestContext, prefix = 'picluster-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => {
    // A test may have mounted a small disk inside (the full-disk faults): unmount it first.
    for (const mount of mountsUnder(dir)) execFileSync('umount', ['-l', mount]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Mount points at or under `dir`, deepest first (from /proc/mounts). */
function mountsUnder(dir: string): string[] {
  if (!existsSync('/proc/mounts')) return [];
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((mount) => mount === dir || mount.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * A port free right now on 127.0.0.1, for a child process to listen on (and to listen on again
 * after a restart). Picked below the kernel's ephemeral range (32768 up), which every `listen(0)`
 * and outgoing connection of the other test files draws from: one of those could take a port the
 * kernel had just handed out here before the child binds it.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const server = net.createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (bound) {
      await new Promise((resolve) => server.close(resolve));
      return port;
    }
    if (attempt >= 50) throw new Error('no free port in 20000-31999 after 50 tries');
  }
}

/**
 * The fingerprint of the certificate a primary made in `dataDir` (undefined before it made one:
 * a primary run with --no-tls), for a secondary to pin.
 */
export function fingerprintOf(primaryDataDir: string): string | undefined {
  const file = join(primaryDataDir, 'tls', 'cert.pem');
  if (!existsSync(file)) return undefined;
  return `sha256:${createHash('sha256')
    .update(new X509Certificate(readFileSync(file)).raw)
    .digest('hex')}`;
}

/** The flags that make a secondary trust the primary of `primaryDataDir` (or speak plaintext to one without TLS). */
export function trustArgs(primaryDataDir: string, args: readonly string[] = []): string[] {
  const trustGiven = ['--no-tls', '--primary-fingerprint', '--trust-first-use', '--tls-ca-file'];
  if (args.some((a) => trustGiven.includes(a))) return [];
  const fingerprint = fingerprintOf(primaryDataDir);
  return fingerprint === undefined ? ['--no-tls'] : ['--primary-fingerprint', fingerprint];
}

export interface PrimaryProcess {
  child: Child;
  port: number;
  webPort: number;
  dataDir: string;
  api: string;
}

export async function startPrimary(
  t: TestContext,
  options: {
    dataDir: string;
    port?: number;
    webPort?: number;
    args?: string[];
    env?: Record<string, string>;
    /** What to wait for: /healthz 200 (default), or 'listening': any answer of the web port (an HA standby answers 503). */
    ready?: 'healthy' | 'listening';
  },
): Promise<PrimaryProcess> {
  const port = options.port ?? (await freePort());
  const webPort = options.webPort ?? (await freePort());
  const child = spawnChild(
    t,
    CLI,
    [
      'primary',
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--web-port',
      String(webPort),
      '--data-dir',
      options.dataDir,
      '--heartbeat-interval-ms',
      String(FAST.heartbeatMs),
      ...(options.args ?? []),
    ],
    options.env,
  );
  const api = `http://127.0.0.1:${webPort}`;
  const listening = options.ready === 'listening';
  // 30 s: a first start on a loaded 2-core CI machine (two test files, one of them the HA suite)
  // took past 15 s once. The wait ends as soon as it answers; a failure says what the primary said.
  await waitUntil(
    async () => {
      if (!child.alive) return true;
      const response = await fetch(`${api}/healthz`).catch(() => undefined);
      return listening ? response !== undefined : response?.ok === true;
    },
    30_000,
    'primary /healthz',
  ).catch((err: Error) => {
    throw new Error(`${err.message}; the primary's last output: ${child.stderr.join('').slice(-2000)}`);
  });
  if (!child.alive) {
    // 'exit' may come before the last of its stderr: read it after 'close'.
    await new Promise((resolve) => {
      child.process.once('close', resolve);
      setTimeout(resolve, 2000).unref();
    });
    throw new Error(`the primary exited before it was ready: ${child.stderr.join('').slice(-2000)}`);
  }
  return { child, port, webPort, dataDir: options.dataDir, api };
}

export function startSecondary(
  t: TestContext,
  primary: { port: number; dataDir: string },
  options: { dataDir: string; name: string; args?: string[]; tokenFile?: string; env?: Record<string, string> },
): Child {
  return spawnChild(
    t,
    CLI,
    [
      'secondary',
      '--primary',
      `127.0.0.1:${primary.port}`,
      '--data-dir',
      options.dataDir,
      '--name',
      options.name,
      '--token-file',
      options.tokenFile ?? join(primary.dataDir, 'token'),
      '--heartbeat-interval-ms',
      String(FAST.heartbeatMs),
      '--vitals-period-ms',
      String(FAST.vitalsMs),
      ...FAST.reconnect,
      ...trustArgs(primary.dataDir, options.args),
      ...(options.args ?? []),
    ],
    options.env,
  );
}

export async function getNodes(api: string): Promise<NodeView[]> {
  const response = await fetch(`${api}/api/nodes`);
  return ((await response.json()) as { nodes: NodeView[] }).nodes;
}

/** Waits until every named node is online with its machine info in (the API's view). */
export async function nodesOnline(api: string, names: readonly string[], timeoutMs = 20_000): Promise<void> {
  await waitUntil(
    async () => {
      const nodes = await getNodes(api);
      return names.every((name) => nodes.some((n) => n.name === name && n.state === 'online' && n.info));
    },
    timeoutMs,
    `${names.join(', ')} online`,
  );
}

/** A JSON API call's answer; rejects with `METHOD PATH: STATUS BODY` when it is not a success. */
export async function apiJson<T>(api: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${api}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await response.json()) as T;
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

/** Polls `fn` until it returns truthy; rejects after `timeoutMs` naming `what`. */
export async function waitUntil<T>(fn: () => Promise<T> | T, timeoutMs: number, what: string): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The node id a secondary keeps in its data dir. */
export function nodeIdOf(dataDir: string): string {
  return (JSON.parse(readFileSync(join(dataDir, 'node-id.json'), 'utf8')) as { nodeId: string }).nodeId;
}

/** Runs the CLI to completion and returns its exit code and output. */
export function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', CLI, ...args],
      { env: { ...process.env, ...env }, timeout: 30_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** Waits for the child to exit and returns its exit code (or signal). */
export async function exitOf(child: Child, timeoutMs = 10_000): Promise<number | string> {
  const p = child.process;
  if (p.exitCode !== null || p.signalCode !== null) return p.exitCode ?? (p.signalCode as string);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`process ${child.pid} did not exit in ${timeoutMs} ms`)),
      timeoutMs,
    );
    p.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? (signal as string));
    });
  });
}

// `node --import tsx bench/scale-floor.ts --nodes N` (alone), or `npm run -s bench:scale -- --floor`
// (after each level, beside the primary's figures): the floor peer of bench:scale. The CPU a plain
// Node.js server spends on the primary's socket traffic for N nodes and nothing else (see
// bench/scale-floor-server.ts: the same frames and the same events per node under the contract's
// heartbeat rule; no handshake, TLS, validation, store, logging or metrics), measured the way
// bench:scale measures the primary: utime + stime over a steady window (by thread, user and system
// apart), write syscalls, RSS per node. Agents: plain sockets in W worker processes at nice 10
// (bench/scale-floor-agents.ts). The primary's CPU over this floor is what picluster adds; the
// floor itself is what Node's sockets, timers and JSON cost on this machine for that traffic.

import type { ChildProcess } from 'node:child_process';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { DEFAULTS } from '../src/common/defaults.js';
import {
  cpuPercent,
  forkWorker,
  installCleanupHandlers,
  procIo,
  readCpu,
  readFileLimits,
  readMem,
  round,
  sleep,
  threadCpu,
  threadTicks,
} from './storm-proc.js';

export interface FloorOptions {
  nodes: number;
  workers: number;
  settleMs: number;
  windowMs: number;
  workerNice: number;
  log: (line: string) => void;
}

export interface FloorResult {
  nodes: number;
  cpuPercent: number;
  threadsCpuPercent: Record<string, { user: number; system: number }>;
  framesInPerS: number;
  framesOutPerS: number;
  writeSyscallsPerS: number;
  idleRssBytes: number;
  settledRssBytes: number;
  perNodeKiB: number;
  connectedAtEnd: number;
  droppedInWindow: number;
  agentErrors: number;
  workersCpuPercent: number;
  loadavg: number[];
}

interface ServerStats {
  kind: 'stats';
  framesIn: number;
  framesOut: number;
  connected: number;
  dropped: number;
}

/** The next IPC message of `kind` from `child`, failing when it exits or after `timeoutMs`. */
function next<T>(child: ChildProcess, kind: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const onMessage = (message: { kind?: string; message?: string }): void => {
      if (message.kind === 'error') {
        done();
        reject(new Error(`floor worker: ${message.message}`));
      } else if (message.kind === kind) {
        done();
        resolve(message as T);
      }
    };
    const onExit = (): void => {
      done();
      reject(new Error(`a floor process exited (code ${child.exitCode}, signal ${child.signalCode})`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no '${kind}' from a floor process within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

function ask<T>(child: ChildProcess, kind: string): Promise<T> {
  const answer = next<T>(child, kind, 10_000);
  child.send('stats');
  return answer;
}

async function stop(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

export async function runFloor(options: FloorOptions): Promise<FloorResult> {
  const { nodes: N, log } = options;
  const W = Math.min(options.workers, N);
  const server = forkWorker(new URL('./scale-floor-server.ts', import.meta.url));
  const workers: ChildProcess[] = [];
  try {
    const { port } = await next<{ port: number }>(server, 'listening', 30_000);
    const pid = server.pid as number;
    await sleep(2_000);
    const idle = readMem(pid);
    log(
      `floor: server ${pid} on port ${port}, idle RSS ${round(idle.rssBytes / 2 ** 20)} MiB; ${N} sockets from ${W} workers`,
    );
    const perWorker = Math.ceil(N / W);
    const t0 = Date.now();
    const ready: Array<Promise<unknown>> = [];
    for (let w = 0; w < W; w++) {
      const count = Math.min(perWorker, N - w * perWorker);
      if (count <= 0) break;
      const worker = forkWorker(new URL('./scale-floor-agents.ts', import.meta.url));
      workers.push(worker);
      if (options.workerNice !== 0) os.setPriority(worker.pid as number, options.workerNice);
      ready.push(next(worker, 'ready', 120_000));
      worker.send({
        cmd: 'start',
        port,
        count,
        firstNode: w * perWorker,
        vitalsPeriodMs: DEFAULTS.vitalsPeriodMs,
        heartbeatMs: DEFAULTS.heartbeatIntervalMs,
      });
    }
    await Promise.all(ready);
    log(`floor: ${N} connected in ${Date.now() - t0} ms; settling ${options.settleMs / 1000} s`);
    await sleep(options.settleMs);
    const settled = readMem(pid);
    const s0 = await ask<ServerStats>(server, 'stats');
    const cpu0 = readCpu(pid);
    const threads0 = threadTicks(pid);
    const io0 = procIo(pid);
    const wcpu0 = workers.map((w) => readCpu(w.pid as number));
    const w0 = Date.now();
    await sleep(options.windowMs);
    const cpu1 = readCpu(pid);
    const threads1 = threadTicks(pid);
    const io1 = procIo(pid);
    const wcpu1 = workers.map((w) => readCpu(w.pid as number));
    const w1 = Date.now();
    const s1 = await ask<ServerStats>(server, 'stats');
    let agentErrors = 0;
    for (const worker of workers) agentErrors += (await ask<{ errors: number }>(worker, 'stats')).errors;
    const seconds = (w1 - w0) / 1000;
    const workersCpu = wcpu0.reduce((sum, from, i) => sum + cpuPercent(from, wcpu1[i] as typeof from, w1 - w0), 0);
    const result: FloorResult = {
      nodes: N,
      cpuPercent: cpuPercent(cpu0, cpu1, w1 - w0),
      threadsCpuPercent: threadCpu(threads0, threads1, w1 - w0),
      framesInPerS: Math.round((s1.framesIn - s0.framesIn) / seconds),
      framesOutPerS: Math.round((s1.framesOut - s0.framesOut) / seconds),
      writeSyscallsPerS: Math.round((io1.syscw - io0.syscw) / seconds),
      idleRssBytes: idle.rssBytes,
      settledRssBytes: settled.rssBytes,
      perNodeKiB: round((settled.rssBytes - idle.rssBytes) / N / 1024),
      connectedAtEnd: s1.connected,
      droppedInWindow: s1.dropped - s0.dropped,
      agentErrors,
      workersCpuPercent: round(workersCpu),
      loadavg: os.loadavg().map((x) => round(x, 2)),
    };
    log(`floor: ${formatFloor(result)}`);
    return result;
  } finally {
    await stop([...workers, server]);
  }
}

export function formatFloor(r: FloorResult): string {
  const main = r.threadsCpuPercent.main ?? { user: 0, system: 0 };
  let helpers = 0;
  for (const [name, t] of Object.entries(r.threadsCpuPercent)) if (name !== 'main') helpers += t.user + t.system;
  return (
    `${r.nodes} nodes: CPU ${r.cpuPercent}% (main ${main.user} user + ${main.system} system, other threads ${round(helpers)}); ` +
    `${r.framesInPerS} frames/s in, ${r.framesOutPerS} out, ${r.writeSyscallsPerS} write syscalls/s; ` +
    `RSS ${r.perNodeKiB} KiB/node above idle; connected ${r.connectedAtEnd}, ${r.droppedInWindow} dropped, ${r.agentErrors} agent errors; ` +
    `workers ${r.workersCpuPercent}%; load ${r.loadavg.join(' ')}`
  );
}

// ---------------------------------------------------------------- alone

if (import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '10000' },
      workers: { type: 'string', default: '4' },
      'settle-s': { type: 'string', default: '20' },
      'window-s': { type: 'string', default: '60' },
      'worker-nice': { type: 'string', default: '10' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  installCleanupHandlers(log);
  const nodes = Number(values.nodes);
  const limit = readFileLimits();
  try {
    if (!(Number.isInteger(nodes) && nodes >= 1)) throw new Error('--nodes must be a positive integer');
    if (limit.soft < nodes + 512)
      throw new Error(`${nodes} sockets need ${nodes + 512} open files; the soft limit is ${limit.soft} (ulimit -n)`);
    const result = await runFloor({
      nodes,
      workers: Number(values.workers),
      settleMs: Number(values['settle-s']) * 1000,
      windowMs: Number(values['window-s']) * 1000,
      workerNice: Number(values['worker-nice']),
      log,
    });
    process.stdout.write(values.json ? `${JSON.stringify(result)}\n` : `floor peer, ${formatFloor(result)}\n`);
  } catch (err) {
    process.stderr.write(`scale-floor: FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
  process.exit();
}

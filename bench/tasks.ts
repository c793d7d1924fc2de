// `npm run bench:tasks [-- --agents 10 --tasks 10000 --window 500 --latency 300 --rounds 2 --json]`
//
// Tasks through the scheduler with durable state: a real Primary (in this process, its SQLite
// store on disk, synchronous = FULL) and N agents (library Secondaries in a second process,
// bench/tasks-agents.ts), TLS off on both sides. Trivial tasks (node.time on `any`):
//   - throughput: `--tasks` tasks with `--window` in flight, submitted through the scheduler
//     (primary.tasks.submit, as the API does) and counted done at their final `task` event;
//   - latency: `--latency` tasks one after another, submit to final state.
// The peer, measured in the same run on the same agents and link: a durable job done by hand,
// the least a task system with the same promises must do: the job stored (its own SQLite file,
// FULL, grouped by the same NodeWriter), one request to an agent that puts a journal line on the
// disk before the work and one after (fsyncs grouped as picluster's agent groups them), the
// outcome stored. Rounds alternate picluster and peer; the figures are medians of the rounds.
// Targets (the tasks issue): >= 5,000 tasks/s, p50 <= 5 ms for one task on loopback.
// A measurement, not a test: prints figures and exits 0.

import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { silentLogger } from '../src/common/logger.js';
import { Primary } from '../src/primary/primary.js';
import { NOT_RUN } from '../src/primary/task-placement.js';
import { NodeWriter } from '../src/store/node-writer.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { TaskRow } from '../src/store/store-api.js';

const { values: opts } = parseArgs({
  options: {
    agents: { type: 'string', default: '10' },
    tasks: { type: 'string', default: '10000' },
    window: { type: 'string', default: '500' },
    latency: { type: 'string', default: '300' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
  strict: true,
});
const AGENTS = Number(opts.agents);
const TASKS = Number(opts.tasks);
const WINDOW = Number(opts.window);
const LATENCY = Number(opts.latency);
const ROUNDS = Number(opts.rounds);
const log = (line: string) => (opts.json ? process.stderr : process.stdout).write(`${line}\n`);
const FINAL = new Set(['succeeded', 'failed', 'timed_out', 'cancelled']);

const dir = mkdtempSync(join(os.tmpdir(), 'picluster-bench-tasks-'));
const token = randomUUID() + randomUUID();
const primary = new Primary({
  dataDir: join(dir, 'primary'),
  port: 0,
  bind: '127.0.0.1',
  tls: false,
  token,
  tasksPerNode: 1000,
  logger: silentLogger,
});
let agents: ChildProcess | undefined;
const peerStore = new SqliteStore(join(dir, 'peer.db'));
const peerWriter = new NodeWriter(peerStore, { logger: silentLogger, flushMs: 0 });

async function main(): Promise<void> {
  await primary.start();
  const { writeFileSync } = await import('node:fs');
  const tokenFile = join(dir, 'token-copy');
  writeFileSync(tokenFile, token);
  agents = fork(
    new URL('./tasks-agents.ts', import.meta.url).pathname,
    [String(primary.port), tokenFile, join(dir, 'agents'), String(AGENTS)],
    {
      execArgv: [
        '--import',
        'tsx',
        ...(process.env.BENCH_AGENTS_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_AGENTS_PROF}`] : []),
      ],
    },
  );
  await new Promise<void>((resolve, reject) => {
    agents?.once('message', () => resolve());
    agents?.once('exit', (code) => reject(new Error(`the agents exited (${code})`)));
  });
  // Every agent ready for tasks (its first message in): a broadcast that completes says so.
  await waitFinal((await primary.tasks.submit({ kind: 'node.time', on: 'all' }, 'bench')).id);
  const nodeIds = primary.nodes().map((n) => n.id);
  log(`${AGENTS} agents online; ${TASKS} tasks, ${WINDOW} in flight; latency over ${LATENCY} tasks one at a time`);

  const results: Record<'picluster' | 'peer', { perSecond: number[]; p50: number[]; p99: number[] }> = {
    picluster: { perSecond: [], p50: [], p99: [] },
    peer: { perSecond: [], p50: [], p99: [] },
  };
  let next = 0;
  const runs = {
    picluster: async () => waitFinal((await primary.tasks.submit({ kind: 'node.time', on: 'any' }, 'bench')).id),
    peer: () => peerJob(nodeIds[next++ % nodeIds.length] as string),
  };
  for (let round = 1; round <= ROUNDS; round++) {
    for (const impl of ['picluster', 'peer'] as const) {
      const perSecond = await throughput(runs[impl]);
      const { p50, p99 } = await latency(runs[impl]);
      results[impl].perSecond.push(perSecond);
      results[impl].p50.push(p50);
      results[impl].p99.push(p99);
      log(
        `round ${round} ${impl.padEnd(9)} ${Math.round(perSecond)} tasks/s; one task p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms`,
      );
    }
  }
  const med = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = sorted.length / 2;
    return Number.isInteger(mid)
      ? ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
      : (sorted[Math.floor(mid)] as number);
  };
  const summary = {
    agents: AGENTS,
    tasks: TASKS,
    window: WINDOW,
    picluster: {
      perSecond: med(results.picluster.perSecond),
      p50Ms: med(results.picluster.p50),
      p99Ms: med(results.picluster.p99),
    },
    peer: { perSecond: med(results.peer.perSecond), p50Ms: med(results.peer.p50), p99Ms: med(results.peer.p99) },
  };
  log(
    `median: picluster ${Math.round(summary.picluster.perSecond)} tasks/s (${(summary.picluster.perSecond / summary.peer.perSecond).toFixed(2)}x the peer's ${Math.round(summary.peer.perSecond)}); p50 ${summary.picluster.p50Ms.toFixed(2)} ms (peer ${summary.peer.p50Ms.toFixed(2)}), p99 ${summary.picluster.p99Ms.toFixed(2)} ms (peer ${summary.peer.p99Ms.toFixed(2)})`,
  );
  log(
    `targets: >= 5000 tasks/s ${summary.picluster.perSecond >= 5000 ? 'met' : 'MISSED'}; p50 <= 5 ms ${summary.picluster.p50Ms <= 5 ? 'met' : 'MISSED'}`,
  );
  if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
}

const waiters = new Map<string, () => void>();
primary.on('task', (row: TaskRow) => {
  if (FINAL.has(row.state)) waiters.get(row.id)?.();
});

function waitFinal(id: string): Promise<void> {
  return new Promise((resolve) => {
    waiters.set(id, () => {
      waiters.delete(id);
      resolve();
    });
  });
}

/** The peer: the job stored, one durable request, the outcome stored. */
async function peerJob(nodeId: string): Promise<void> {
  const id = randomUUID();
  const row: TaskRow = {
    ...NOT_RUN,
    id,
    parent: null,
    kind: 'x-job',
    args: {},
    on: `node:${nodeId}`,
    nodeId,
    reason: null,
    attempt: 1,
    maxAttempts: 1,
    key: id,
    timeoutMs: 60_000,
    ttlMs: 60_000,
    createdAt: Date.now(),
    submittedBy: 'bench',
  };
  await peerWriter.write([{ op: 'task', task: row }]);
  const result = await primary.request(nodeId, 'x-job', { id });
  await peerWriter.write([{ op: 'task', task: { ...row, state: 'succeeded', result } }]);
}

async function throughput(run: () => Promise<void>): Promise<number> {
  const started = performance.now();
  let issued = 0;
  await Promise.all(
    Array.from({ length: WINDOW }, async () => {
      while (issued < TASKS) {
        issued++;
        await run();
      }
    }),
  );
  return (TASKS * 1000) / (performance.now() - started);
}

async function latency(run: () => Promise<void>): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < LATENCY; i++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(times.length / 2)] as number, p99: times[Math.floor(times.length * 0.99)] as number };
}

try {
  await main();
} finally {
  if (agents?.connected) agents.disconnect();
  await new Promise((r) => setTimeout(r, 300));
  agents?.kill('SIGKILL');
  await primary.stop();
  await peerWriter.close();
  await peerStore.close();
  rmSync(dir, { recursive: true, force: true });
}

// `npm run bench:store [-- --json] [--seconds N] [--quick]`: the vitals store as it runs, on a
// real disk (a directory under .bench-out/, not /tmp, so the kernel counts the bytes written):
//  1. Offered load through the real VitalsWriter (10,000 nodes; 1k, 10k, 50k and 100k samples/s
//     offered): committed samples/s, ack latency (add → commit) p50/p99, bytes written to disk per
//     sample (/proc/self/io write_bytes) and fsyncs per second (perf's syscall tracepoints, when
//     perf can attach; else "–").
//  2. The history upkeep at 10,000 nodes: 12 minutes of samples rolled up and moved out of the
//     log, bytes written per sample; with (1) at 1k/s, the all-in figure per sample.
//  3. A 20-node fleet at the default 10 s period over a simulated day: a day of raw history and
//     the rollups out to their retention first (a primary that has run for a year), then 24 hours
//     (6 with --quick) with the samples committed as the writer commits them at this rate (one
//     commit per window: the default `vitals.commitMs`, and shorter ones for comparison) and the
//     upkeep every 30 s; bytes written, scaled to a day.
//  4. Database size per raw sample and per node at the default retention.
// `--stores=sqlite,postgres` runs (1) on each backend in turn (PostgreSQL: a server of its own in a
// temp dir, as the tests start one; its disk bytes are the server's, not counted here: "–").
// A measurement, not a test: prints figures and exits 0.

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { DEFAULTS } from '../src/common/defaults.js';
import { silentLogger } from '../src/common/logger.js';
import type { VitalsPayload } from '../src/protocol/messages.js';
import { openPostgresStore } from '../src/store/postgres/open.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { NodeChange, ReceivedVitals, Store, StoredSample } from '../src/store/store-api.js';
import { VitalsWriter } from '../src/store/vitals-writer.js';
import { type PostgresServer, startPostgres } from '../test/helpers/postgres.js';

const args = process.argv.slice(2);
const asJson = args.includes('--json');
const quick = args.includes('--quick');
const secondsArg = args.find((a) => a.startsWith('--seconds'));
const SECONDS = secondsArg ? Number(secondsArg.split('=')[1] ?? args[args.indexOf(secondsArg) + 1]) : quick ? 5 : 15;
const NODES = 10_000;
const PERIOD_MS = 10_000;
const MINUTE = 60_000;
const HOUR = 3_600_000;
const log = (line: string) => (asJson ? process.stderr : process.stdout).write(`${line}\n`);
const OUT = resolve('.bench-out');
/** `--only=offered,upkeep,fleet,size`: run a subset. */
const SECTIONS = ['offered', 'upkeep', 'fleet', 'size'] as const;
const onlyArg = args.find((a) => a.startsWith('--only='));
const only = new Set<string>(onlyArg === undefined ? SECTIONS : onlyArg.slice('--only='.length).split(','));
for (const o of only)
  if (!(SECTIONS as readonly string[]).includes(o))
    throw new Error(`--only: unknown section "${o}" (${SECTIONS.join(', ')})`);
const windowsArg = args.find((a) => a.startsWith('--windows='));
/** `--flush-ms=N`: the VitalsWriter's commit window in the offered-load runs (default: its own, 20 ms). */
const flushArg = args.find((a) => a.startsWith('--flush-ms='));
const FLUSH_MS = flushArg === undefined ? undefined : Number(flushArg.slice('--flush-ms='.length));

function sample(seq: number, ts: number): VitalsPayload {
  return {
    seq,
    ts,
    cpuPercent: Math.round(Math.random() * 10000) / 100,
    cpuMhz: 1500,
    ramAvailableBytes: 3_000_000_000 + Math.floor(Math.random() * 1e8),
    swapFreeBytes: 100_000_000,
    load1: Math.random() * 4,
    load5: 0.5,
    load15: 0.4,
    uptimeS: 123_456 + seq * 10,
    tempC: 40 + Math.random() * 20,
    throttled: { now: [], sinceBoot: ['under-voltage'] },
    disks: [{ mount: '/', freeBytes: 20_000_000_000, totalBytes: 31_000_000_000 }],
    nets: [
      { iface: 'eth0', rxBytes: 123_456_789 + seq, txBytes: 98_765_432 + seq },
      { iface: 'wlan0', rxBytes: 0, txBytes: 0 },
    ],
  };
}

/** The sample as the primary keeps it: `receivedAt` set on it, not a copy (see VitalsIngest.receive). */
function received(s: VitalsPayload, receivedAt: number): ReceivedVitals {
  const vitals = s as ReceivedVitals;
  vitals.receivedAt = receivedAt;
  return vitals;
}

const idOf = (i: number) => `5b0e${String(i).padStart(4, '0')}-7c1d-4c8e-9a53-2f64c1d0a7b9`; // UUID-sized ids

type Backend = 'sqlite' | 'postgres';
const storesArg = args.find((a) => a.startsWith('--stores='));
const BACKENDS = (storesArg === undefined ? ['sqlite'] : storesArg.slice('--stores='.length).split(',')) as Backend[];
for (const b of BACKENDS) if (b !== 'sqlite' && b !== 'postgres') throw new Error(`--stores: unknown store "${b}"`);
let postgres: PostgresServer | undefined;
let databases = 0;

/** A store of `backend` with `nodes` nodes joined (PostgreSQL: a new database on the bench's own server). */
async function openBackend(nodes: number, backend: Backend): Promise<{ store: Store; cleanup(): Promise<void> }> {
  if (backend === 'sqlite') return openStore(nodes);
  postgres ??= await startPostgres();
  const url = await postgres.createDatabase(`bench_${databases++}`);
  const store = await openPostgresStore({ dataDir: OUT, url, poolSize: 4 });
  await store.applyNodeChanges(Array.from({ length: nodes }, (_, i) => joinChange(idOf(i))));
  return { store, cleanup: () => store.close() };
}

function joinChange(id: string): NodeChange {
  return {
    op: 'upsert',
    node: {
      id,
      name: id.slice(0, 8),
      labels: {},
      address: null,
      legacy: false,
      state: 'online',
      now: 0,
      connectedSince: 0,
    },
  };
}

async function openStore(nodes: number): Promise<{ store: SqliteStore; path: string; cleanup(): Promise<void> }> {
  mkdirSync(OUT, { recursive: true });
  const dir = mkdtempSync(join(OUT, 'store-'));
  const store = new SqliteStore(join(dir, 'primary.db'));
  await store.applyNodeChanges(Array.from({ length: nodes }, (_, i) => joinChange(idOf(i))));
  // What the set-up wrote goes to the database file now, not into the measured window.
  const side = new Database(join(dir, 'primary.db'));
  side.pragma('wal_checkpoint(TRUNCATE)');
  side.close();
  return {
    store,
    path: join(dir, 'primary.db'),
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function writtenBytes(): number {
  const m = /write_bytes:\s*(\d+)/.exec(readFileSync('/proc/self/io', 'utf8'));
  return Number(m?.[1] ?? 0);
}

/** Counts this process's fsync/fdatasync calls for `seconds` through perf; undefined if perf cannot. */
function countFsyncs(seconds: number): Promise<number | undefined> {
  return new Promise((done) => {
    const perf = spawn(
      'perf',
      [
        'stat',
        '-x,',
        '-e',
        'syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync',
        '-p',
        String(process.pid),
        '--',
        'sleep',
        String(seconds),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    perf.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    perf.on('error', () => done(undefined));
    perf.on('close', () => {
      const counts = err
        .split('\n')
        .map((l) => l.split(','))
        .filter((f) => /sys_enter_f(data)?sync/.test(f[2] ?? ''))
        .map((f) => Number(f[0]));
      done(counts.length === 2 && counts.every(Number.isFinite) ? counts.reduce((a, b) => a + b, 0) : undefined);
    });
  });
}

/** The next seq of node `i`. */
function bump(seqs: { [i: number]: number }, i: number): number {
  seqs[i] = (seqs[i] ?? 0) + 1;
  return seqs[i] ?? 0;
}

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
};

/** Offers `rate` samples/s from 10,000 nodes to the real VitalsWriter for SECONDS after a 2 s warm-up. */
async function offered(rate: number, backend: Backend) {
  const { store, cleanup } = await openBackend(NODES, backend);
  const addedAt: number[] = [];
  let head = 0;
  let committed = 0;
  let measuring = false;
  const latencies: number[] = [];
  let failures = 0;
  const writer = new VitalsWriter(store, {
    ...(FLUSH_MS === undefined ? {} : { flushMs: FLUSH_MS }),
    logger: silentLogger,
    onStored: (_stored, batch) => {
      const now = performance.now();
      for (let i = 0; i < batch.length; i++) {
        const at = addedAt[head++] as number;
        if (measuring) latencies.push(now - at);
      }
      if (measuring) committed += batch.length;
      if (head > 1_000_000) {
        addedAt.splice(0, head);
        head = 0;
      }
    },
    onFailed: (_ids, err) => {
      // A failed commit is not acknowledged (the node resends); here it is counted and said once.
      if (failures++ === 0) log(`${backend}: a commit failed: ${(err as Error).message}`);
    },
  });
  const seqs = new Uint32Array(NODES);
  let next = 0;
  let sent = 0;
  const started = performance.now();
  const t0 = Date.now() - 60 * MINUTE;
  const offer = () => {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    const now = performance.now();
    for (; sent < due; sent++) {
      const node = next;
      next = (next + 1) % NODES;
      const seq = bump(seqs, node);
      const ts = t0 + seq * PERIOD_MS;
      addedAt.push(now);
      writer.add(idOf(node), received(sample(seq, ts), ts));
    }
  };
  const timer = setInterval(offer, 2);
  await new Promise((r) => setTimeout(r, 2000));
  measuring = true;
  const bytes0 = writtenBytes();
  const cpu0 = process.cpuUsage();
  const fsyncs = countFsyncs(SECONDS);
  const w0 = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const wallS = (performance.now() - w0) / 1000;
  measuring = false;
  const bytes = writtenBytes() - bytes0;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(timer);
  const fsyncCount = await fsyncs;
  await writer.close();
  await cleanup();
  if (failures > 0)
    log(
      `${backend}: ${failures} commits failed${postgres ? `; the server said: ${postgres.output.slice(-1500)}` : ''}`,
    );
  return {
    store: backend,
    offered: rate,
    committedPerS: Math.round(committed / wallS),
    ackP50Ms: pct(latencies, 50),
    ackP99Ms: pct(latencies, 99),
    bytesPerSample: committed > 0 && backend === 'sqlite' ? bytes / committed : Number.NaN,
    fsyncsPerS: fsyncCount === undefined || backend !== 'sqlite' ? undefined : fsyncCount / SECONDS,
    cpuPercent: (100 * (cpu.user + cpu.system)) / 1e6 / wallS,
  };
}

/** The upkeep at 10,000 nodes: 12 minutes of samples (inserted unmeasured), then rollups and the move out of the log, measured. */
async function upkeep10k() {
  const { store, cleanup } = await openStore(NODES);
  const base = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
  const rounds = (12 * MINUTE) / PERIOD_MS;
  for (let r = 1; r <= rounds; r++) {
    const batch: StoredSample[] = [];
    for (let n = 0; n < NODES; n++) {
      const ts = base + r * PERIOD_MS + ((n * 7) % PERIOD_MS);
      batch.push({ nodeId: idOf(n), vitals: received(sample(r, ts), ts) });
    }
    await store.insertVitals(batch);
  }
  const now = base + rounds * PERIOD_MS + 3 * MINUTE;
  const bytes0 = writtenBytes();
  const t = performance.now();
  while (await store.rollupStep(now)) await new Promise((r) => setImmediate(r));
  await store.catchUpNodes(now);
  const ms = performance.now() - t;
  const bytes = writtenBytes() - bytes0;
  await cleanup();
  const samples = NODES * rounds;
  return { samples, bytesPerSample: bytes / samples, msPerSample: ms / samples };
}

/**
 * A 20-node fleet over a simulated day: 24 h of history first, then `hours` hours where every
 * `window` ms of samples is one commit (the writer's window; 250 ms: each sample alone), and the
 * upkeep runs every 30 s. Bytes written scaled to a day.
 */
async function fleetDay(windowMs: number, hours: number) {
  const nodes = 20;
  const { store, path, cleanup } = await openStore(nodes);
  const start = Date.UTC(2026, 0, 2);
  const seqs = new Array<number>(nodes).fill(0);
  // Node n reports at start + k·10 s + n·500 ms: 2 samples a second, evenly spread.
  const at = (k: number, n: number) => start + k * PERIOD_MS + n * 500;
  const upkeepBytes = { rollup: 0, prune: 0 };
  const upkeep = async (now: number) => {
    const b0 = writtenBytes();
    while (await store.rollupStep(now)) {}
    await store.catchUpNodes(now);
    const b1 = writtenBytes();
    while ((await store.pruneChunk(now)) > 0) {}
    upkeepBytes.rollup += b1 - b0;
    upkeepBytes.prune += writtenBytes() - b1;
  };
  // A day of history before the measured hours, in big batches, the upkeep every 10 min.
  const perDay = (24 * HOUR) / PERIOD_MS;
  for (let k = -perDay; k < 0; k += 60) {
    const batch: StoredSample[] = [];
    for (let j = k; j < k + 60; j++)
      for (let n = 0; n < nodes; n++)
        batch.push({ nodeId: idOf(n), vitals: received(sample(bump(seqs, n), at(j, n)), at(j, n)) });
    await store.insertVitals(batch);
    await upkeep(at(k + 60, 0));
  }
  seedRollups(path, start);
  const bytes0 = writtenBytes();
  upkeepBytes.rollup = 0;
  upkeepBytes.prune = 0;
  const t = performance.now();
  let batch: StoredSample[] = [];
  let windowEnd = Number.NEGATIVE_INFINITY;
  let nextUpkeep = start + 30_000;
  let commits = 0;
  for (let k = 0; k < (hours * HOUR) / PERIOD_MS; k++) {
    for (let n = 0; n < nodes; n++) {
      const ts = at(k, n);
      if (ts >= windowEnd && batch.length > 0) {
        await store.insertVitals(batch);
        commits++;
        batch = [];
      }
      if (batch.length === 0) windowEnd = ts + windowMs;
      batch.push({ nodeId: idOf(n), vitals: received(sample(bump(seqs, n), ts), ts) });
      if (ts >= nextUpkeep) {
        await upkeep(ts);
        nextUpkeep += 30_000;
      }
    }
  }
  if (batch.length > 0) await store.insertVitals(batch);
  const bytes = writtenBytes() - bytes0;
  const ms = performance.now() - t;
  const dbBytes = await store.sizeBytes();
  await cleanup();
  return {
    windowMs,
    commitsPerDay: (commits * 24) / hours,
    mbPerDay: (bytes * 24) / hours / 1e6,
    upkeepMbPerDay: { rollup: (upkeepBytes.rollup * 24) / hours / 1e6, prune: (upkeepBytes.prune * 24) / hours / 1e6 },
    simulatedMs: ms,
    dbBytes,
  };
}

/**
 * Fills the rollups out to their retention (minutes 7 days back, hours a year), as a primary that
 * has run that long has them, so the fleet's day also deletes the minutes and hours that age out.
 * Written time first, every node in each bucket, as the upkeep writes them.
 */
function seedRollups(path: string, start: number): void {
  const side = new Database(path);
  const keys = (side.prepare('SELECT key FROM node_keys ORDER BY key').all() as Array<{ key: number }>).map(
    (r) => r.key,
  );
  for (const [table, bucketMs, from] of [
    ['vitals_1m', MINUTE, start - 7 * 24 * HOUR],
    ['vitals_1h', HOUR, start - 365 * 24 * HOUR],
  ] as const) {
    const template = side.prepare(`SELECT * FROM ${table} ORDER BY bucket LIMIT 1`).get() as Record<string, number>;
    const oldest = template.bucket as number;
    const cols = Object.keys(template);
    const insert = side.prepare(
      `INSERT OR IGNORE INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
    );
    side.transaction(() => {
      for (let bucket = from; bucket < oldest; bucket += bucketMs)
        for (const key of keys)
          insert.run(...cols.map((c) => (c === 'node' ? key : c === 'bucket' ? bucket : template[c])));
    })();
  }
  side.pragma('wal_checkpoint(TRUNCATE)');
  side.close();
}

/** Bytes per raw sample (chunks), per rollup row, and per node at the default retention. */
async function sizes() {
  const nodes = 10;
  const { store, cleanup } = await openStore(nodes);
  const before = await store.sizeBytes();
  const day0 = Date.UTC(2026, 0, 1);
  for (let n = 0; n < nodes; n++) {
    const batch: StoredSample[] = [];
    for (let i = 1; i <= 8640; i++)
      batch.push({ nodeId: idOf(n), vitals: received(sample(i, day0 + i * PERIOD_MS), day0 + i * PERIOD_MS) });
    await store.insertVitals(batch);
  }
  const later = day0 + 3 * 24 * HOUR;
  while (await store.rollupStep(later)) {}
  const dayAll = ((await store.sizeBytes()) - before) / nodes; // raw + its 1m and 1h rollups, per node-day
  while ((await store.pruneChunk(later, 5000)) > 0) {}
  const rollupsDay = ((await store.sizeBytes()) - before) / nodes;
  await cleanup();
  const rawDay = dayAll - rollupsDay;
  const perRollupRow = rollupsDay / (1440 + 24);
  const steadyPerNode = rawDay + 7 * 1440 * perRollupRow + 365 * 24 * perRollupRow;
  return {
    rawBytesPerSample: rawDay / 8640,
    rawBytesPerNodeDay: Math.round(rawDay),
    rollupBytesPerRow: perRollupRow,
    steadyBytesPerNode: Math.round(steadyPerNode),
  };
}

log(
  `store — ${os.cpus()[0]?.model ?? '?'}, ${os.cpus().length} cpus, node ${process.version}, load ${os.loadavg()[0]?.toFixed(1)}`,
);
const ratesArg = args.find((a) => a.startsWith('--rates='));
const rates = !only.has('offered')
  ? []
  : ratesArg
    ? ratesArg.slice('--rates='.length).split(',').map(Number)
    : quick
      ? [1000, 50_000]
      : [1000, 10_000, 50_000, 100_000];
const runs = [];
for (const backend of BACKENDS)
  for (const rate of rates) {
    const r = await offered(rate, backend);
    runs.push(r);
    log(
      `${BACKENDS.length > 1 ? `${backend.padEnd(8)} ` : ''}offered ${String(rate.toLocaleString('en')).padStart(7)}/s: committed ${r.committedPerS.toLocaleString('en')}/s, ack p50 ${r.ackP50Ms.toFixed(0)} ms p99 ${r.ackP99Ms.toFixed(0)} ms, ${Number.isNaN(r.bytesPerSample) ? '–' : r.bytesPerSample.toFixed(0)} B written per sample, ${r.fsyncsPerS === undefined ? '–' : r.fsyncsPerS.toFixed(0)} fsyncs/s, CPU ${r.cpuPercent.toFixed(0)}%`,
    );
  }
const up = only.has('upkeep') ? await upkeep10k() : undefined;
await postgres?.stop();
const ingest1k = runs.find((r) => r.offered === 1000 && r.store === 'sqlite');
const allIn = (ingest1k?.bytesPerSample ?? Number.NaN) + (up?.bytesPerSample ?? Number.NaN);
if (up)
  log(
    `10,000 nodes upkeep (rollups + move out of the log): ${up.bytesPerSample.toFixed(0)} B written per sample, ${(up.msPerSample * 1000).toFixed(1)} µs per sample; all in at 1k/s: ${allIn.toFixed(0)} B per sample (target <= 2048: ${allIn <= 2048 ? 'PASS' : 'MISS'})`,
  );
const fleet = [];
const windows = windowsArg
  ? windowsArg.slice('--windows='.length).split(',').map(Number)
  : quick
    ? [DEFAULTS.vitalsCommitMs]
    : [250, 10_000, 60_000, DEFAULTS.vitalsCommitMs];
for (const windowMs of only.has('fleet') ? windows : []) {
  const f = await fleetDay(windowMs, quick ? 6 : 24);
  fleet.push(f);
  log(
    `20 nodes, commit window ${String(windowMs).padStart(5)} ms: ${Math.round(f.commitsPerDay).toLocaleString('en')} commits/day, ${f.mbPerDay.toFixed(0)} MB written per day, of which rollups and moves ${f.upkeepMbPerDay.rollup.toFixed(0)}, pruning ${f.upkeepMbPerDay.prune.toFixed(0)} (target <= 100${windowMs === DEFAULTS.vitalsCommitMs ? ", the writer's default at this rate" : ''})`,
  );
}
const size = only.has('size') ? await sizes() : undefined;
if (size)
  log(
    `size: ${size.rawBytesPerSample.toFixed(0)} B per raw sample with its indexes (target <= 200), ${size.rollupBytesPerRow.toFixed(0)} B per rollup row, ${(size.steadyBytesPerNode / 1024 / 1024).toFixed(1)} MiB per node at the default retention (raw 24 h, 1m 7 d, 1h 1 y)`,
  );
if (asJson)
  console.log(JSON.stringify({ seconds: SECONDS, runs, upkeep: up, allInBytesPerSample: allIn, fleet, size }));

// `npm run bench:store [-- --json]`: vitals ingest into SQLite through the real store (SqliteStore
// behind the store seam: WAL file, synchronous = FULL, one transaction per batch), as 10,000 nodes
// reporting every 10 s would feed it, then the rollup job over what was ingested; and the database
// size per node per day at the default retention.
// A measurement, not a test: prints figures and exits 0.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { VitalsPayload } from '../src/protocol/messages.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { NodeChange, ReceivedVitals, StoredSample } from '../src/store/store-api.js';

const asJson = process.argv.includes('--json');
const NODES = 10_000;
const PERIOD_MS = 10_000;
const log = (line: string) => (asJson ? process.stderr : process.stdout).write(`${line}\n`);

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

function openStore(): { store: SqliteStore; cleanup(): Promise<void> } {
  const dir = mkdtempSync(join(os.tmpdir(), 'picluster-bench-store-'));
  const store = new SqliteStore(join(dir, 'primary.db'));
  const cleanup = async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { store, cleanup };
}

const join1 = (id: string): NodeChange => ({
  op: 'upsert',
  node: { id, name: id, labels: {}, address: null, legacy: false, state: 'online', now: 0, connectedSince: 0 },
});

/** Ingest `rounds` vitals periods of all nodes in batches of `batchSize`; samples/s and CPU. */
async function ingest(batchSize: number, rounds: number) {
  const { store, cleanup } = openStore();
  const ids = Array.from({ length: NODES }, (_, i) => `node-${String(i).padStart(5, '0')}`);
  await store.applyNodeChanges(ids.map(join1));
  const t0 = Date.now() - rounds * PERIOD_MS;
  let batch: StoredSample[] = [];
  let samples = 0;
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  for (let round = 1; round <= rounds; round++) {
    for (const id of ids) {
      const ts = t0 + round * PERIOD_MS;
      batch.push({ nodeId: id, vitals: received(sample(round, ts), ts) });
      if (batch.length === batchSize) {
        await store.insertVitals(batch);
        samples += batch.length;
        batch = [];
      }
    }
  }
  if (batch.length) {
    await store.insertVitals(batch);
    samples += batch.length;
  }
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpu0);
  // The rollup job's share: aggregate every finished minute and hour of what was ingested.
  const rollupStarted = performance.now();
  while (await store.rollupStep(t0 + rounds * PERIOD_MS + 3 * 3_600_000)) {}
  const rollupMs = performance.now() - rollupStarted;
  await cleanup();
  return {
    batchSize,
    samples,
    samplesPerS: Math.round(samples / (wallMs / 1000)),
    cpuUsPerSample: (cpu.user + cpu.system) / samples,
    rollupUsPerSample: (rollupMs * 1000) / samples,
  };
}

/** Bytes per raw row, per-minute row and per-hour row, from a day of one node's samples. */
async function sizes() {
  const { store, cleanup } = openStore();
  const nodes = 10;
  await store.applyNodeChanges(Array.from({ length: nodes }, (_, n) => join1(`n${n}`)));
  const before = await store.sizeBytes();
  const day0 = Date.UTC(2026, 0, 1);
  for (let n = 0; n < nodes; n++) {
    const batch: StoredSample[] = [];
    for (let i = 1; i <= 8640; i++)
      batch.push({ nodeId: `n${n}`, vitals: received(sample(i, day0 + i * PERIOD_MS), day0 + i * PERIOD_MS) });
    await store.insertVitals(batch);
  }
  const later = day0 + 3 * 24 * 3_600_000;
  while (await store.rollupStep(later)) {}
  const dayAll = ((await store.sizeBytes()) - before) / nodes; // raw + its 1m and 1h rollups, per node-day
  // Prune the raw rows (retention passed) to see what the rollups alone take.
  while ((await store.pruneChunk(later, 5000)) > 0) {}
  const rollupsDay = ((await store.sizeBytes()) - before) / nodes;
  await cleanup();
  const rawDay = dayAll - rollupsDay;
  // Rollup bytes per day split by row count: 1,440 per-minute rows and 24 per-hour rows.
  const perRollupRow = rollupsDay / (1440 + 24);
  const steadyPerNode = rawDay + 7 * 1440 * perRollupRow + 365 * 24 * perRollupRow;
  return {
    rawBytesPerNodeDay: Math.round(rawDay),
    rollupBytesPerNodeDay: Math.round(rollupsDay),
    steadyBytesPerNode: Math.round(steadyPerNode),
    steadyBytes10Nodes: Math.round(steadyPerNode * 10),
    steadyBytes10kNodes: Math.round(steadyPerNode * 10_000),
  };
}

log(`store ingest — ${os.cpus()[0]?.model ?? '?'}, ${os.cpus().length} cpus, node ${process.version}`);
const runs = [];
for (const b of [20, 1000, 5000]) runs.push(await ingest(b, b === 20 ? 2 : 6));
for (const r of runs)
  log(
    `batch ${String(r.batchSize).padStart(5)}: ${r.samplesPerS.toLocaleString('en')} samples/s committed, ${r.cpuUsPerSample.toFixed(1)} µs CPU per sample, + rollup job ${r.rollupUsPerSample.toFixed(1)} µs per sample (${r.samples} samples)`,
  );
const need = NODES / (PERIOD_MS / 1000);
const best = Math.max(...runs.map((r) => r.samplesPerS));
log(
  `10,000 nodes every 10 s = ${need.toLocaleString('en')} samples/s = ${((100 * need) / best).toFixed(1)}% of the best rate; target >= 50,000 samples/s: ${best >= 50_000 ? 'PASS' : 'MISS'}`,
);
const size = await sizes();
const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;
log(
  `size: raw ${mib(size.rawBytesPerNodeDay)} and rollups ${(size.rollupBytesPerNodeDay / 1024).toFixed(0)} KiB per node per day`,
);
log(
  `at the default retention (raw 24 h, 1m 7 d, 1h 1 y): ${mib(size.steadyBytesPerNode)} per node, ${mib(size.steadyBytes10Nodes)} for 10 nodes, ${(size.steadyBytes10kNodes / 1024 ** 3).toFixed(1)} GiB for 10,000`,
);
if (asJson) console.log(JSON.stringify({ runs, targetSamplesPerS: 50_000, pass: best >= 50_000, size }));

// The primary's vitals ingest: duplicates acknowledged again without a write, samples shown at
// receipt but acknowledged only once committed (a resend before the commit shown once), nothing
// taken from a node being forgotten, and a node's clock marked off past the threshold and
// unmarked once back within half of it; the link's clock offset goes to the store beside each sample.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { silentLogger } from '../../../src/common/logger.js';
import type { InfluxSink } from '../../../src/primary/influx-sink.js';
import type { PrimaryStats } from '../../../src/primary/node-host.js';
import { type NodeRecord, Registry } from '../../../src/primary/registry.js';
import { VitalsIngest } from '../../../src/primary/vitals-ingest.js';
import type { Store, StoredSample } from '../../../src/store/store-api.js';
import { waitUntil } from '../../helpers/cluster.js';

function setup(options: { commitMs?: number; influx?: InfluxSink } = {}) {
  const committed: StoredSample[][] = [];
  let release: (() => void) | undefined;
  const store = {
    insertVitals: async (batch: readonly StoredSample[]) => {
      await new Promise<void>((r) => {
        release = r;
      });
      committed.push([...batch]);
      return new Map(batch.map((s) => [s.nodeId, s.vitals.seq]));
    },
  } as unknown as Store;
  const acks: number[] = [];
  const record = {
    id: 'n1',
    name: 'n1',
    lastSeq: 5,
    vitals: null,
    clockSkewMs: null,
    clockSkewed: false,
    session: { state: 'open', send: (_t: string, p: { seq: number }) => acks.push(p.seq) },
  } as unknown as NodeRecord;
  const registry = new Registry();
  registry.set(record);
  const stats = { duplicates: 0 } as PrimaryStats;
  const marks: boolean[] = [];
  const latest: number[] = [];
  const ingest = new VitalsIngest({
    store,
    registry,
    stats,
    logger: silentLogger,
    ...options,
    onLatest: (nodeId, vitals) => {
      assert.equal(nodeId, 'n1');
      latest.push(vitals.seq);
    },
    clockSkewThresholdMs: 1000,
    onClockSkew: (_r, skewed) => marks.push(skewed),
    onStoreFull: () => {},
  });
  return {
    ingest,
    record,
    registry,
    acks,
    stats,
    committed,
    marks,
    latest,
    /** The writer is in its commit (the store holds it until `commit`). */
    writing: () => release !== undefined,
    commit: () => release?.(),
  };
}

const sample = (seq: number) => ({
  seq,
  ts: 1,
  cpuPercent: 1,
  ramAvailableBytes: 1,
  swapFreeBytes: 0,
  load1: 0,
  load5: 0,
  load15: 0,
  uptimeS: 1,
  disks: [],
  nets: [],
});

it('acknowledges a stored seq again at once, and a new one only after its commit', async () => {
  const { ingest, record, acks, stats, committed, writing, commit } = setup({ commitMs: 10 });
  ingest.receive(record, sample(5));
  assert.deepEqual([acks, stats.duplicates], [[5], 1]);
  ingest.receive(record, sample(6), 1234);
  await waitUntil(writing, 2000, 'the commit under way');
  assert.deepEqual(acks, [5], 'not acknowledged before the commit');
  commit();
  await waitUntil(() => acks.length === 2, 2000, 'the ack after the commit');
  assert.deepEqual(acks, [5, 6]);
  assert.equal(committed[0]?.[0]?.vitals.receivedAt, 1234);
  assert.equal(record.vitals?.seq, 6);
  await ingest.close();
});

it('shows a sample at receipt (the latest, the event) while its ack waits for the commit window', async () => {
  // The default window (two minutes): nothing but a flush commits within this test.
  const { ingest, record, acks, latest, writing, commit } = setup();
  ingest.receive(record, sample(6));
  assert.equal(record.vitals?.seq, 6, 'the latest at receipt');
  assert.deepEqual(latest, [6], 'the event at receipt');
  assert.deepEqual([acks, record.lastSeq, writing()], [[], 5, false], 'no ack, no stored seq, no commit yet');
  const flushed = ingest.flushNode('n1');
  await waitUntil(writing, 2000, 'the commit under way');
  assert.deepEqual(acks, [], 'not acknowledged before the commit ends');
  commit();
  await flushed;
  assert.deepEqual([acks, record.lastSeq], [[6], 6]);
  await ingest.close();
});

it('shows a sample received twice before its commit (a resend after a reconnect) once, and stores and acknowledges it', async () => {
  const { ingest, record, acks, latest, stats, committed, writing, commit } = setup();
  ingest.receive(record, sample(6));
  ingest.receive(record, sample(7));
  ingest.receive(record, sample(6));
  ingest.receive(record, sample(7));
  assert.deepEqual(latest, [6, 7], 'each sample shown once');
  assert.equal(record.vitals?.seq, 7);
  assert.deepEqual([acks, stats.duplicates], [[], 0], 'not stored yet: not a duplicate, not acknowledged');
  const flushed = ingest.flushNode('n1');
  await waitUntil(writing, 2000, 'the commit under way');
  commit();
  await flushed;
  assert.deepEqual(acks, [7]);
  // The store skips a seq it has (VitalsHistory.insertAll): the resends are there for it to skip.
  assert.deepEqual(
    committed.flat().map((s) => s.vitals.seq),
    [6, 7, 6, 7],
  );
  ingest.receive(record, sample(7));
  assert.deepEqual([acks, stats.duplicates, latest], [[7, 7], 1, [6, 7]], 'stored now: acknowledged again, not shown');
  await ingest.close();
});

it("hands the store each sample's link clock offset beside it, never in the sample served", async () => {
  const { ingest, record, committed, writing, commit } = setup();
  const threeDaysBehind = -3 * 86_400_000;
  ingest.receive(record, sample(6), 1234, threeDaysBehind);
  ingest.receive(record, sample(7), 1235); // a node that did not say (no sentAt)
  const flushed = ingest.flushNode('n1');
  await waitUntil(writing, 2000, 'the commit under way');
  commit();
  await flushed;
  assert.deepEqual(
    committed.flat().map((s) => [s.vitals.seq, s.clockOffsetMs]),
    [
      [6, threeDaysBehind],
      [7, undefined],
    ],
  );
  assert.equal(Object.hasOwn(record.vitals ?? {}, 'clockOffsetMs'), false, 'not part of the sample');
  await ingest.close();
});

it("hands InfluxDB the link's clock offset with a sample it copies, to file it where the stores do", async () => {
  const written: Array<[number, number | undefined]> = [];
  const influx = {
    write: (_node: unknown, vitals: { seq: number }, clockOffsetMs?: number) =>
      written.push([vitals.seq, clockOffsetMs]),
  } as unknown as InfluxSink;
  const { ingest, record, writing, commit } = setup({ influx });
  ingest.receive(record, sample(6), 1234, -40);
  ingest.receive(record, sample(7), 1235);
  assert.deepEqual(written, [
    [6, -40],
    [7, undefined],
  ]);
  const flushed = ingest.flushNode('n1');
  await waitUntil(writing, 2000, 'the commit under way');
  commit();
  await flushed;
  await ingest.close();
});

it('takes nothing from a node being forgotten (out of the registry, its session still open): stored later, it would bring its history back', async () => {
  const { ingest, record, acks, latest, committed, registry } = setup();
  registry.delete('n1');
  ingest.receive(record, sample(6));
  assert.deepEqual([record.vitals, latest, acks], [null, [], []]);
  await ingest.flushNode('n1');
  await ingest.close();
  assert.deepEqual(committed, [], 'nothing to store');
});

it("marks a node's clock off past the threshold, and unmarks it only within half of it", () => {
  const { ingest, record, marks } = setup();
  for (const skew of [200, -900, 1001, 800, 600, -1500, 499, -400, 1200]) ingest.clockOf(record, skew);
  assert.deepEqual(marks, [true, false, true]);
  assert.equal(record.clockSkewMs, 1200);
  assert.equal(record.clockSkewed, true);
});

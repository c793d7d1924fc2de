// The contract of the store seam (src/store/store-api.ts), run against any implementation from its
// factory: `storeContract('sqlite', openSqliteStore)`. A second backend passes the same suite
// unchanged. Only the seam is used here; what one backend does inside (query plans, migrations of
// its own schema) is tested beside it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import fc from 'fast-check';
import type { VitalsPayload } from '../../../src/protocol/messages.js';
import {
  type AlertRow,
  HOUR_MS,
  MINUTE_MS,
  type NodeUpsert,
  type Retention,
  type ScheduleRow,
  type Store,
  type StoredSample,
  type StoreFactory,
  type TaskRow,
} from '../../../src/store/store-api.js';

export function sample(seq: number, ts: number, fields: Partial<VitalsPayload> = {}): VitalsPayload {
  return {
    seq,
    ts,
    cpuPercent: 10,
    ramAvailableBytes: 1000,
    swapFreeBytes: 0,
    load1: 0.5,
    load5: 0.4,
    load15: 0.3,
    uptimeS: 100,
    disks: [],
    nets: [],
    ...fields,
  };
}

/** A stored sample of `nodeId` received at `receivedAt`; with the link's clock offset if the node sent one. */
export const stored = (nodeId: string, receivedAt: number, s: VitalsPayload, clockOffsetMs?: number): StoredSample => ({
  nodeId,
  vitals: { ...s, receivedAt },
  ...(clockOffsetMs === undefined ? {} : { clockOffsetMs }),
});

export const upsert = (id: string, fields: Partial<NodeUpsert> = {}): NodeUpsert => ({
  id,
  name: id,
  labels: {},
  address: null,
  legacy: false,
  state: 'online',
  now: 0,
  connectedSince: 0,
  ...fields,
});

export const taskRow = (id: string, fields: Partial<TaskRow> = {}): TaskRow => ({
  id,
  parent: null,
  kind: 'node.time',
  args: {},
  on: 'any',
  nodeId: null,
  state: 'queued',
  reason: null,
  attempt: 0,
  maxAttempts: 3,
  key: `${id}:0`,
  timeoutMs: 60_000,
  ttlMs: 3_600_000,
  createdAt: 1,
  assignedAt: null,
  startedAt: null,
  endedAt: null,
  result: null,
  error: null,
  stdout: null,
  stderr: null,
  truncated: false,
  submittedBy: 'test',
  ...fields,
});

/** Runs the rollup job until everything due at `now` is rolled up. */
async function rollUp(store: Store, now: number): Promise<void> {
  while (await store.rollupStep(now)) {}
}

export const alertRow = (id: string, fields: Partial<AlertRow> = {}): AlertRow => ({
  id,
  rule: 'cpu-hot',
  kind: 'vital',
  severity: 'warning',
  node: 'n1',
  nodeName: 'pi-1',
  subject: '',
  state: 'firing',
  since: 10,
  startedAt: 5,
  firedAt: 10,
  resolvedAt: null,
  value: 81.5,
  threshold: 80,
  detail: '81.5 °C',
  flapping: false,
  silenced: false,
  notified: 1,
  suppressed: 0,
  lastNotifiedAt: 10,
  ...fields,
});

export const scheduleRow = (id: string, fields: Partial<ScheduleRow> = {}): ScheduleRow => ({
  id,
  name: `schedule ${id}`,
  kind: 'node.time',
  args: {},
  on: 'all',
  enabled: true,
  createdAt: 10,
  createdBy: 'test',
  lastRunAt: null,
  ...fields,
});

export function storeContract(name: string, factory: StoreFactory): void {
  /** A data dir removed after the test, and a function opening a store on it (closed after the test). */
  function dataDir(t: TestContext) {
    const dir = mkdtempSync(join(tmpdir(), `store-${name}-`));
    const opened: Store[] = [];
    t.after(async () => {
      for (const s of opened) await s.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return async (retention?: Partial<Retention>) => {
      const store = await factory({ dataDir: dir, retention });
      opened.push(store);
      return store;
    };
  }

  async function open(t: TestContext, retention?: Partial<Retention>): Promise<Store> {
    const store = await dataDir(t)(retention);
    await store.applyNodeChanges([{ op: 'upsert', node: upsert('n1') }]);
    return store;
  }

  describe(`store contract: ${name}`, () => {
    it('gives back the latest sample exactly as it was sent, with its receive time', async (t) => {
      const store = await open(t);
      const s = sample(1, 5000, {
        tempC: 51.5,
        cpuMhz: 1500,
        throttled: { now: ['throttled'], sinceBoot: [] },
        dropped: 3,
      });
      await store.insertVitals([stored('n1', 6000, s)]);
      assert.deepEqual(await store.latestVitals('n1'), { ...s, receivedAt: 6000 });
      assert.deepEqual((await store.loadNodes()).find((n) => n.id === 'n1')?.vitals, { ...s, receivedAt: 6000 });
    });

    it('answers insertVitals with the highest seq stored per node, and stores a resent sample once', async (t) => {
      const store = await open(t);
      await store.applyNodeChanges([{ op: 'upsert', node: upsert('n2') }]);
      const first = await store.insertVitals([
        stored('n1', 1000, sample(1, 1000)),
        stored('n1', 2000, sample(2, 2000)),
        stored('n2', 1500, sample(7, 1500)),
      ]);
      assert.deepEqual([...first].sort(), [
        ['n1', 2],
        ['n2', 7],
      ]);
      await store.insertVitals([stored('n1', 3000, sample(2, 2000)), stored('n1', 3000, sample(3, 3000))]);
      assert.deepEqual(await store.storedSeqs('n1'), [1, 2, 3]);
    });

    it('keeps nodes, history and events across a reopen, and catches a node up to its newest sample', async (t) => {
      const reopen = dataDir(t);
      const a = await reopen();
      await a.applyNodeChanges([
        { op: 'upsert', node: upsert('n1', { name: 'pi', labels: { rack: '1' }, address: '10.0.0.2:5000', now: 500 }) },
        { op: 'event', ts: 500, nodeId: 'n1', type: 'joined', data: { name: 'pi' } },
      ]);
      await a.insertVitals([1, 2, 3].map((seq) => stored('n1', 1000 * seq, sample(seq, 1000 * seq))));
      await a.close();
      const b = await reopen();
      assert.deepEqual(await b.storedSeqs('n1'), [1, 2, 3]);
      // No state change was written after the samples (a crash): the open catches up from them.
      const node = await b.getNode('n1');
      assert.deepEqual(
        [node?.name, node?.labels, node?.address, node?.lastSeq, node?.lastSeen],
        ['pi', { rack: '1' }, '10.0.0.2:5000', 3, 3000],
      );
      assert.equal((await b.latestVitals('n1'))?.seq, 3);
      assert.deepEqual(
        (await b.events()).map((e) => [e.type, e.node, e.name]),
        [['joined', 'n1', 'pi']],
      );
    });

    it('applies node changes in order, in one transaction: all or none', async (t) => {
      const store = await open(t);
      await store.applyNodeChanges([
        { op: 'state', id: 'n1', state: 'lost', at: 10, connectedSince: null, lastSeq: 5 },
        { op: 'state', id: 'n1', state: 'online', at: 20, connectedSince: 20, lastSeq: 4 },
        {
          op: 'info',
          id: 'n1',
          info: {
            hostname: 'h',
            os: 'o',
            kernel: 'k',
            arch: 'a',
            cpuModel: 'c',
            cpuCores: 4,
            ramTotalBytes: 1,
            swapTotalBytes: 0,
            version: '1',
          },
        },
      ]);
      const node = await store.getNode('n1');
      assert.deepEqual(
        [node?.state, node?.lastSeen, node?.connectedSince, node?.lastSeq, node?.info?.cpuCores],
        [
          'online',
          20,
          20,
          5, // the stored seq only grows
          4,
        ],
      );
      await assert.rejects(
        store.applyNodeChanges([
          { op: 'upsert', node: upsert('n3') },
          { op: 'event', ts: 1, nodeId: 'n3', type: 'joined' },
          // A node without a name breaks the batch: nothing of it may stay.
          { op: 'upsert', node: upsert('n4', { name: null as unknown as string }) },
        ]),
        (err: { code?: string }) => err.code === 'ERR_STORE',
      );
      assert.equal(await store.getNode('n3'), undefined);
      assert.deepEqual(await store.events({ node: 'n3' }), []);
    });

    it('keeps what an upsert does not name: info and machine id', async (t) => {
      const store = await open(t);
      const info = {
        hostname: 'h',
        os: 'o',
        kernel: 'k',
        arch: 'a',
        cpuModel: 'c',
        cpuCores: 2,
        ramTotalBytes: 1,
        swapTotalBytes: 0,
        version: '1',
      };
      await store.applyNodeChanges([{ op: 'upsert', node: upsert('n1', { info, machineId: 'm1' }) }]);
      await store.applyNodeChanges([{ op: 'upsert', node: upsert('n1', { name: 'renamed', now: 9 }) }]);
      const node = await store.getNode('n1');
      assert.deepEqual(
        [node?.name, node?.info?.cpuCores, node?.machineId, node?.lastSeen, node?.firstSeen],
        ['renamed', 2, 'm1', 9, 0],
      );
    });

    it('issues a node secret unconfirmed, confirms it on first use, and re-issues it unconfirmed', async (t) => {
      const store = await open(t);
      assert.equal(await store.nodeSecret('n1'), undefined);
      assert.equal(await store.nodeSecret('nobody'), undefined);
      await store.applyNodeChanges([{ op: 'issue-secret', id: 'n1', secret: 'a'.repeat(64) }]);
      assert.deepEqual(await store.nodeSecret('n1'), { secret: 'a'.repeat(64), confirmed: false });
      await store.applyNodeChanges([{ op: 'confirm-secret', id: 'n1' }]);
      assert.deepEqual(await store.nodeSecret('n1'), { secret: 'a'.repeat(64), confirmed: true });
      await store.applyNodeChanges([{ op: 'issue-secret', id: 'n1', secret: 'b'.repeat(64) }]);
      assert.deepEqual(await store.nodeSecret('n1'), { secret: 'b'.repeat(64), confirmed: false });
    });

    it('drops an unconfirmed secret only if it is still the one named, and never a confirmed one', async (t) => {
      const store = await open(t);
      await store.applyNodeChanges([{ op: 'issue-secret', id: 'n1', secret: 'a'.repeat(64) }]);
      await store.applyNodeChanges([{ op: 'drop-secret', id: 'n1', secret: 'b'.repeat(64) }]);
      assert.deepEqual(await store.nodeSecret('n1'), { secret: 'a'.repeat(64), confirmed: false }, 'another secret');
      await store.applyNodeChanges([{ op: 'drop-secret', id: 'n1', secret: 'a'.repeat(64) }]);
      assert.equal(await store.nodeSecret('n1'), undefined, 'dropped');
      await store.applyNodeChanges([
        { op: 'issue-secret', id: 'n1', secret: 'c'.repeat(64) },
        { op: 'confirm-secret', id: 'n1' },
        { op: 'drop-secret', id: 'n1', secret: 'c'.repeat(64) },
      ]);
      assert.deepEqual(await store.nodeSecret('n1'), { secret: 'c'.repeat(64), confirmed: true }, 'confirmed: kept');
    });

    it('revokes a secret whether confirmed or not, and keeps pending and denied states', async (t) => {
      const store = await open(t);
      await store.applyNodeChanges([
        { op: 'issue-secret', id: 'n1', secret: 'a'.repeat(64) },
        { op: 'confirm-secret', id: 'n1' },
        { op: 'revoke-secret', id: 'n1' },
        { op: 'state', id: 'n1', state: 'denied', at: 5, connectedSince: null, lastSeq: 0 },
        { op: 'upsert', node: upsert('p1', { state: 'pending', connectedSince: null, machineId: 'm-p1' }) },
      ]);
      assert.equal(await store.nodeSecret('n1'), undefined);
      assert.equal((await store.getNode('n1'))?.state, 'denied');
      assert.deepEqual(
        [(await store.getNode('p1'))?.state, (await store.getNode('p1'))?.machineId],
        ['pending', 'm-p1'],
      );
    });

    it('forgets a node: its row and secret, and its samples, rollups and events only when asked', async (t) => {
      const store = await open(t);
      const day = 24 * HOUR_MS;
      await store.applyNodeChanges([
        { op: 'upsert', node: upsert('n2') },
        { op: 'issue-secret', id: 'n1', secret: 'a'.repeat(64) },
        { op: 'event', ts: 1000, nodeId: 'n1', type: 'joined' },
        { op: 'event', ts: 1000, nodeId: 'n2', type: 'joined' },
      ]);
      for (const id of ['n1', 'n2'])
        await store.insertVitals(
          [1, 2].map((seq) => stored(id, day + seq * MINUTE_MS, sample(seq, day + seq * MINUTE_MS))),
        );
      await rollUp(store, day + 3 * HOUR_MS);
      const series = (id: string) => store.vitalsSeries(id, 0, day + 3 * HOUR_MS, HOUR_MS, day + 3 * HOUR_MS);
      assert.ok((await series('n1')).points.length > 0);

      await store.applyNodeChanges([{ op: 'forget', id: 'n1', history: false }]);
      assert.equal(await store.getNode('n1'), undefined);
      assert.equal(await store.nodeSecret('n1'), undefined);
      assert.deepEqual(await store.storedSeqs('n1'), [1, 2], 'history kept');
      assert.equal((await store.events({ node: 'n1' })).length, 1);

      await store.applyNodeChanges([{ op: 'forget', id: 'n2', history: true }]);
      assert.equal(await store.getNode('n2'), undefined);
      assert.deepEqual(await store.storedSeqs('n2'), []);
      assert.deepEqual((await series('n2')).points, [], 'rollups gone too');
      assert.equal((await store.events({ node: 'n2' })).length, 0);
      assert.deepEqual(await store.storedSeqs('n1'), [1, 2], 'the other node untouched');
    });

    it('marks the nodes online at the last stop lost, and loads every node by name', async (t) => {
      const store = await open(t);
      await store.applyNodeChanges([
        { op: 'upsert', node: upsert('b-id', { name: 'alpha' }) },
        { op: 'upsert', node: upsert('a-id', { name: 'alpha' }) },
        { op: 'upsert', node: upsert('c-id', { name: 'zulu', state: 'left', connectedSince: null }) },
      ]);
      assert.equal(await store.markOnlineNodesLost(), 3);
      const nodes = await store.loadNodes();
      assert.deepEqual(
        nodes.map((n) => [n.name, n.id, n.state, n.connectedSince, n.vitals]),
        [
          ['alpha', 'a-id', 'lost', null, null],
          ['alpha', 'b-id', 'lost', null, null],
          ['n1', 'n1', 'lost', null, null],
          ['zulu', 'c-id', 'left', null, null],
        ],
      );
    });

    it('pages the events log back, follows it forward, and filters by node and time', async (t) => {
      const store = await open(t);
      assert.equal(await store.lastEventId(), 0);
      await store.applyNodeChanges(
        Array.from({ length: 10 }, (_, i) => ({
          op: 'event' as const,
          ts: 1000 + i,
          nodeId: i % 2 === 0 ? 'n1' : null,
          type: 'note',
          data: { i },
        })),
      );
      const newest = await store.events({ limit: 3 });
      assert.deepEqual(
        newest.map((e) => e.i),
        [9, 8, 7],
      );
      const older = await store.events({ limit: 3, before: newest.at(-1)?.id });
      assert.deepEqual(
        older.map((e) => e.i),
        [6, 5, 4],
      );
      assert.deepEqual(
        (await store.events({ node: 'n1', since: 1004 })).map((e) => [e.i, e.node, e.ts]),
        [
          [8, 'n1', 1008],
          [6, 'n1', 1006],
          [4, 'n1', 1004],
        ],
      );
      const last = await store.lastEventId();
      assert.equal(last, newest[0]?.id);
      const after = await store.eventsAfter(older.at(-1)?.id as number, 2);
      assert.deepEqual(
        after.map((e) => e.i),
        [5, 6],
      );
      assert.deepEqual(await store.eventsAfter(last), []);
    });

    it('merges a resent sample once into the rollups, and a late one into a minute already rolled up', async (t) => {
      const store = await open(t);
      const s = sample(1, 120_000, { cpuPercent: 40 });
      await store.insertVitals([stored('n1', 120_000, s)]);
      await rollUp(store, 3 * 24 * HOUR_MS);
      await store.insertVitals([stored('n1', 180_000, s)]);
      assert.deepEqual(await store.storedSeqs('n1'), [1]);
      // A sample from a minute already rolled up (resent from an outbox much later) is merged in.
      await store.insertVitals([stored('n1', 2 * 24 * HOUR_MS, sample(2, 2 * 24 * HOUR_MS - 10))]);
      await store.insertVitals([stored('n1', 20 * HOUR_MS, sample(3, 130_000, { cpuPercent: 20 }))]);
      const merged = await store.vitalsSeries('n1', 0, HOUR_MS, MINUTE_MS, 3 * 24 * HOUR_MS);
      assert.deepEqual(
        merged.points.map((p) => [merged.resolution, p.ts, p.n, p.cpuPercent, p.min.cpuPercent]),
        [['1m', 120_000, 2, 30, 20]],
      );
    });

    it('files a sample from a clock far off (a Pi without RTC) under the primary time', async (t) => {
      const store = await open(t);
      const now = Date.UTC(2026, 10, 26);
      await store.insertVitals([stored('n1', now, sample(1, 5_000))]);
      const series = await store.vitalsSeries('n1', now - HOUR_MS, now + HOUR_MS, undefined, now);
      assert.equal(series.points.length, 1);
      assert.ok(Math.abs((series.points[0]?.ts ?? 0) - now) < 10_000);
    });

    it('files a backlog resent after the primary was down 26 h at its own times when the link says the clock is right', async (t) => {
      const store = await open(t);
      const down = Date.UTC(2026, 10, 25, 10);
      const now = down + 26 * HOUR_MS;
      // An hour of samples, a minute apart, before the primary went down.
      const at = (i: number) => down + (i - 60) * MINUTE_MS;
      await store.insertVitals(Array.from({ length: 60 }, (_, i) => stored('n1', at(i), sample(i + 1, at(i)))));
      // The primary is back 26 h later: its rollup job skips the empty stretch, then the node
      // resends its outbox at once (one sample a minute), with its clock right (the link's offset
      // is the transit time).
      await rollUp(store, now);
      const backlog = Array.from({ length: 26 * 60 }, (_, i) => stored('n1', now + i, sample(61 + i, at(60 + i)), -40));
      for (let i = 0; i < backlog.length; i += 500) await store.insertVitals(backlog.slice(i, i + 500));
      const later = now + 3 * HOUR_MS;
      await rollUp(store, later);
      const hours = await store.vitalsSeries('n1', down - HOUR_MS, now + HOUR_MS, HOUR_MS, later);
      assert.equal(hours.resolution, '1h');
      assert.deepEqual(
        hours.points.map((p) => [p.ts, p.n]),
        Array.from({ length: 27 }, (_, i) => [down + (i - 1) * HOUR_MS, 60]),
      );
      const minutes = await store.vitalsSeries('n1', down, down + HOUR_MS, MINUTE_MS, later);
      assert.equal(minutes.resolution, '1m');
      assert.deepEqual(
        minutes.points.map((p) => [p.ts, p.n]),
        Array.from({ length: 60 }, (_, i) => [down + i * MINUTE_MS, 1]),
      );
      // Nothing is filed at the reconnect: the last 10 minutes hold their own samples only.
      const reconnect = await store.vitalsSeries('n1', now - 10 * MINUTE_MS, now + 10 * MINUTE_MS, MINUTE_MS, later);
      assert.deepEqual(
        reconnect.points.map((p) => [p.ts, p.n]),
        Array.from({ length: 10 }, (_, i) => [now + (i - 10) * MINUTE_MS, 1]),
      );
    });

    it('files the samples of a node whose clock is days off at their times translated by the link offset', async (t) => {
      const store = await open(t);
      await store.applyNodeChanges([{ op: 'upsert', node: upsert('n2') }]);
      const now = Date.UTC(2026, 10, 26, 12);
      // n1's clock is 3 days behind (a Pi without RTC after a power cut), n2's 10 years ahead;
      // each resends 5 samples taken a minute apart, the last one 5 minutes ago by our clock.
      for (const [id, offsetMs] of [
        ['n1', -3 * 24 * HOUR_MS],
        ['n2', 3650 * 24 * HOUR_MS],
      ] as const) {
        await store.insertVitals(
          Array.from({ length: 5 }, (_, i) =>
            stored(id, now + i, sample(i + 1, now + offsetMs + (i - 9) * MINUTE_MS + 30), offsetMs + 25),
          ),
        );
        const series = await store.vitalsSeries(id, now - HOUR_MS, now + HOUR_MS, MINUTE_MS, now);
        assert.deepEqual(
          series.points.map((p) => [p.ts, p.n]),
          Array.from({ length: 5 }, (_, i) => [now + (i - 9) * MINUTE_MS, 1]),
          id,
        );
        assert.equal((await store.latestVitals(id))?.ts, now + offsetMs - 5 * MINUTE_MS + 30, 'served as sent');
      }
    });

    it('files a sample implausible even with the link offset, and one without an offset a day off, under the primary time', async (t) => {
      const store = await open(t);
      const now = Date.UTC(2026, 10, 26, 12);
      const cases: Array<[ts: number, offsetMs: number | undefined]> = [
        [5_000, 10], // taken before NTP set the clock, sent after
        [now - 8 * 24 * HOUR_MS, 10], // older than any outbox holds
        [now + 2 * 24 * HOUR_MS, 10], // two days ahead of when it was sent
        [now - 3 * 24 * HOUR_MS - 8 * 24 * HOUR_MS, -3 * 24 * HOUR_MS], // days off, and far older still
        [now - 26 * HOUR_MS, undefined], // no offset (a legacy node, an older agent): a day off is the clock
      ];
      await store.insertVitals(
        cases.map(([ts, offsetMs], i) => stored('n1', now + i * MINUTE_MS, sample(i + 1, ts), offsetMs)),
      );
      const series = await store.vitalsSeries('n1', now - HOUR_MS, now + HOUR_MS, MINUTE_MS, now);
      assert.deepEqual(
        series.points.map((p) => [p.ts, p.n]),
        cases.map((_, i) => [now + i * MINUTE_MS, 1]),
      );
    });

    it('merges a late sample into a minute and an hour rolled up, their raw samples (and minutes) pruned: never replaces them', async (t) => {
      for (const minuteMs of [7 * 24 * HOUR_MS, 2 * HOUR_MS]) {
        const store = await open(t, { rawMs: HOUR_MS, minuteMs });
        const hour = Date.UTC(2026, 0, 1, 10);
        const at = (i: number) => hour + i * MINUTE_MS + 5_000;
        await store.insertVitals(Array.from({ length: 60 }, (_, i) => stored('n1', at(i), sample(i + 1, at(i)))));
        const now = hour + 26 * HOUR_MS;
        await rollUp(store, now);
        while ((await store.pruneChunk(now, 50)) > 0) {}
        assert.deepEqual(await store.storedSeqs('n1'), [], 'raw samples pruned');
        // That hour's 31st minute gets a sample 26 h late, from a node whose clock is right.
        await store.insertVitals([
          stored('n1', now, sample(61, hour + 30 * MINUTE_MS + 30_000, { cpuPercent: 70 }), 15),
        ]);
        await rollUp(store, now + HOUR_MS);
        while ((await store.pruneChunk(now + HOUR_MS, 50)) > 0) {}
        const hours = await store.vitalsSeries('n1', hour, hour + HOUR_MS, HOUR_MS, now + HOUR_MS);
        assert.deepEqual(
          hours.points.map((p) => [hours.resolution, p.ts, p.n, p.min.cpuPercent, p.max.cpuPercent]),
          [['1h', hour, 61, 10, 70]],
          `minutes kept ${minuteMs} ms`,
        );
        if (minuteMs < now - hour) continue;
        const minute = await store.vitalsSeries('n1', hour + 30 * MINUTE_MS, hour + 31 * MINUTE_MS, MINUTE_MS, now);
        assert.deepEqual(
          minute.points.map((p) => [minute.resolution, p.n, p.cpuPercent]),
          [['1m', 2, 40]],
        );
      }
    });

    it('rollups agree with the raw samples they replace, before and after pruning (property)', async (t) => {
      const reopen = dataDir(t);
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.record({
              offsetMs: fc.integer({ min: 0, max: 3 * HOUR_MS - 1 }),
              cpu: fc.double({ min: 0, max: 100, noNaN: true }),
              temp: fc.option(fc.double({ min: -20, max: 90, noNaN: true }), { nil: undefined }),
            }),
            { minLength: 1, maxLength: 300 },
          ),
          async (raw) => {
            const store = await reopen({ rawMs: HOUR_MS, minuteMs: 30 * 24 * HOUR_MS });
            // Each run its own node: the runs share the store's data dir.
            const id = `p${run++}`;
            await store.applyNodeChanges([{ op: 'upsert', node: upsert(id) }]);
            const base = Date.UTC(2026, 0, 1) + run * 10 * HOUR_MS;
            await store.insertVitals(
              raw.map((r, i) =>
                stored(
                  id,
                  base + r.offsetMs,
                  sample(i + 1, base + r.offsetMs, {
                    cpuPercent: r.cpu,
                    ...(r.temp === undefined ? {} : { tempC: r.temp }),
                  }),
                ),
              ),
            );
            // What each minute should say, from the raw data.
            const expected = new Map<number, { cpu: number[]; temp: number[] }>();
            for (const r of raw) {
              const bucket = Math.floor((base + r.offsetMs) / MINUTE_MS) * MINUTE_MS;
              const e = expected.get(bucket) ?? { cpu: [], temp: [] };
              e.cpu.push(r.cpu);
              if (r.temp !== undefined) e.temp.push(r.temp);
              expected.set(bucket, e);
            }
            const now = base + 3 * HOUR_MS + 2 * HOUR_MS; // the raw window (1 h) lies after all samples
            await rollUp(store, now);
            const check = async () => {
              const series = await store.vitalsSeries(id, base, base + 3 * HOUR_MS, MINUTE_MS, now);
              assert.equal(series.resolution, '1m');
              assert.equal(series.points.length, expected.size);
              for (const p of series.points) {
                const e = expected.get(p.ts);
                assert.ok(e, `unexpected bucket ${p.ts}`);
                const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
                assert.equal(p.n, e.cpu.length);
                assert.ok(Math.abs((p.cpuPercent ?? Number.NaN) - mean(e.cpu)) < 1e-9);
                assert.equal(p.min.cpuPercent, Math.min(...e.cpu));
                assert.equal(p.max.cpuPercent, Math.max(...e.cpu));
                if (e.temp.length === 0) assert.equal(p.tempC, undefined, 'no temperature: absent, not 0');
                else assert.ok(Math.abs((p.tempC ?? Number.NaN) - mean(e.temp)) < 1e-9);
              }
            };
            await check();
            while ((await store.pruneChunk(now, 50)) > 0) {}
            assert.deepEqual(await store.storedSeqs(id), [], 'raw samples past retention are gone');
            await check();
            await store.close();
          },
        ),
        { numRuns: 40 },
      );
    });

    it('counts a late sample that arrives while a minute of 1,200 nodes is being rolled up', async (t) => {
      const store = await open(t, { rawMs: HOUR_MS });
      const ids = Array.from({ length: 1200 }, (_, i) => `n${String(i).padStart(4, '0')}`);
      await store.applyNodeChanges(ids.map((id) => ({ op: 'upsert', node: upsert(id) })));
      const minute = Date.UTC(2026, 0, 1, 12, 0);
      await store.insertVitals(ids.map((id) => stored(id, minute + 1000, sample(1, minute + 1000))));
      const now = minute + 2 * HOUR_MS;
      await store.rollupStep(now); // one step: the minute may be done, or done in part
      // Meanwhile: late samples of the first and last node of the minute, and of a node that had
      // no data in that minute.
      await store.applyNodeChanges([{ op: 'upsert', node: upsert('new') }]);
      for (const id of ['n0000', 'n1199', 'new'])
        await store.insertVitals([stored(id, now, sample(id === 'new' ? 1 : 2, minute + 30_000))]);
      await rollUp(store, now);
      const minuteOf = async (id: string) => {
        const series = await store.vitalsSeries(id, minute, minute + MINUTE_MS, MINUTE_MS, now);
        assert.equal(series.resolution, '1m');
        return series.points.map((p) => p.n);
      };
      assert.deepEqual(await minuteOf('n0000'), [2]);
      assert.deepEqual(await minuteOf('n1199'), [2]);
      assert.deepEqual(await minuteOf('new'), [1]);
      assert.deepEqual(await minuteOf('n0600'), [1]);
    });

    it('answers any range with at most ~1,000 points, at the resolution that has the data', async (t) => {
      const store = await open(t);
      const now = Date.UTC(2026, 10, 26);
      const batch: StoredSample[] = [];
      for (let i = 0; i < 8640; i++) {
        const ts = now - 24 * HOUR_MS + i * 10_000;
        batch.push(stored('n1', ts, sample(i + 1, ts)));
      }
      await store.insertVitals(batch);
      const day = await store.vitalsSeries('n1', now - 24 * HOUR_MS, now, undefined, now);
      assert.equal(day.resolution, 'raw');
      assert.ok(day.points.length <= 1000 && day.points.length >= 900, `${day.points.length} points`);
      const hour = await store.vitalsSeries('n1', now - HOUR_MS, now, undefined, now);
      assert.deepEqual([hour.resolution, hour.points.length], ['raw', 360]);
      await rollUp(store, now);
      const week = await store.vitalsSeries('n1', now - 7 * 24 * HOUR_MS, now, undefined, now);
      assert.ok(week.points.length > 100, `${week.points.length} points for the one day of data in the week`);
      assert.equal(week.resolution, '1m');
      assert.ok(week.points.length <= 1008);
      const year = await store.vitalsSeries('n1', now - 365 * 24 * HOUR_MS, now, undefined, now);
      assert.equal(year.resolution, '1h');
      assert.ok(year.points.length <= 1000 && year.points.length > 0);
      assert.ok((await store.sizeBytes()) > 0);
      assert.equal(await store.integrityCheck(), 'ok');
    });

    it('keeps tasks whole, replaces them at each change, and finds them by state, node and parent', async (t) => {
      const reopen = dataDir(t);
      const store = await reopen();
      const output = { stdout: 'line 1\n\u00e9 "quoted"\n', stderr: '', truncated: true };
      await store.applyNodeChanges([
        { op: 'task', task: taskRow('t1') },
        { op: 'task', task: taskRow('t2', { kind: 'shell', args: { argv: ['echo', 'a;b'] }, nodeId: 'n1' }) },
        { op: 'task', task: taskRow('b1', { on: 'all', state: 'running' }) },
        { op: 'task', task: taskRow('b1.n1', { parent: 'b1', nodeId: 'n1', state: 'assigned', attempt: 1 }) },
        { op: 'task', task: taskRow('b1.n2', { parent: 'b1', nodeId: 'n2' }) },
      ]);
      const done = taskRow('t2', {
        nodeId: 'n1',
        state: 'succeeded',
        result: { exitCode: 0 },
        ...output,
        endedAt: 5,
        args: { argv: ['echo', 'a;b'] },
        kind: 'shell',
      });
      await store.applyNodeChanges([{ op: 'task', task: done }]);
      assert.deepEqual(await store.getTask('t2'), done);
      assert.equal(await store.getTask('nope'), undefined);
      assert.deepEqual(
        (await store.openTasks()).map((r) => r.id),
        ['t1', 'b1', 'b1.n1', 'b1.n2'],
      );
      const ids = async (q: Parameters<Store['listTasks']>[0]) => (await store.listTasks(q)).map((r) => r.id);
      assert.deepEqual(await ids({}), ['b1.n2', 'b1.n1', 'b1', 't2', 't1']);
      assert.deepEqual(await ids({ topLevel: true }), ['b1', 't2', 't1']);
      assert.deepEqual(await ids({ node: 'n1' }), ['b1.n1', 't2']);
      assert.deepEqual(await ids({ parent: 'b1' }), ['b1.n2', 'b1.n1']);
      assert.deepEqual(await ids({ state: 'succeeded' }), ['t2']);
      assert.deepEqual(await ids({ before: 'b1', limit: 1 }), ['t2']);
      await store.close();
      const again = await reopen();
      assert.deepEqual(await again.getTask('t2'), done);
      assert.equal((await again.openTasks()).length, 4);
    });

    it("keeps schedules, updates a schedule's last run alone, and finds its newest top-level runs", async (t) => {
      const reopen = dataDir(t);
      const store = await reopen();
      const s1 = scheduleRow('s1', { cron: '*/5 * * * *', timezone: 'Europe/Berlin', args: { x: [1, 'a;b'] } });
      const s2 = scheduleRow('s2', { everyMs: 60_000, timeoutMs: 1000, ttlMs: 0, createdAt: 20 });
      await store.applyNodeChanges([
        { op: 'schedule', schedule: s1 },
        { op: 'schedule', schedule: s2 },
      ]);
      assert.deepEqual(await store.listSchedules(), [s1, s2]);
      const by = (id: string) => `schedule:${id}`;
      await store.applyNodeChanges([
        { op: 'task', task: taskRow('r1', { submittedBy: by('s1'), createdAt: 100 }) },
        { op: 'task', task: taskRow('other', { submittedBy: 'cli (loopback)' }) },
        { op: 'task', task: taskRow('r2', { submittedBy: by('s1'), on: 'all', state: 'running' }) },
        { op: 'task', task: taskRow('r2.n1', { submittedBy: by('s1'), parent: 'r2', nodeId: 'n1' }) },
        { op: 'task', task: taskRow('q1', { submittedBy: by('s2') }) },
        { op: 'task', task: taskRow('r3', { submittedBy: by('s1') }) },
        { op: 'schedule-ran', id: 's1', at: 500 },
      ]);
      const runs = async (id: string, limit?: number) => (await store.scheduleRuns(id, limit)).map((r) => r.id);
      assert.deepEqual(await runs('s1'), ['r3', 'r2', 'r1'], 'newest first, children left out');
      assert.deepEqual(await runs('s1', 2), ['r3', 'r2']);
      assert.deepEqual(await runs('s2'), ['q1']);
      assert.deepEqual(await runs('nope'), []);
      const done = taskRow('r2', { submittedBy: by('s1'), on: 'all', state: 'succeeded', endedAt: 9 });
      await store.applyNodeChanges([{ op: 'task', task: done }]);
      assert.deepEqual((await store.scheduleRuns('s1', 2))[1], done, 'a run as it is now');
      assert.deepEqual(await store.listSchedules(), [{ ...s1, lastRunAt: 500 }, s2]);
      await store.applyNodeChanges([
        { op: 'remove-schedule', id: 's1' },
        { op: 'schedule-ran', id: 's1', at: 600 },
        { op: 'schedule', schedule: { ...s2, lastRunAt: 700, name: 'renamed' } },
      ]);
      await store.close();
      const again = await reopen();
      assert.deepEqual(await again.listSchedules(), [{ ...s2, lastRunAt: 700, name: 'renamed' }]);
      assert.deepEqual(
        (await again.scheduleRuns('s1')).map((r) => r.id),
        ['r3', 'r2', 'r1'],
        'the runs of a removed schedule stay',
      );
    });

    it('keeps alerts whole and finds them by state, node and rule; keeps silences until they end, and API rules', async (t) => {
      const reopen = dataDir(t);
      const store = await reopen();
      const a1 = alertRow('a1', { state: 'firing' });
      const a2 = alertRow('a2', { node: 'n2', rule: 'disk-low', subject: '/var' });
      const a3 = alertRow('a3', { state: 'firing', rule: 'disk-low' });
      const until = Date.UTC(2027, 0, 1);
      const silence = {
        id: 's1',
        rule: 'cpu-hot',
        node: null,
        labels: 'room=attic',
        until,
        comment: 'x',
        author: 'cli',
        createdAt: 1,
      };
      const old = { ...silence, id: 's0', until: 1000 };
      await store.applyNodeChanges([
        { op: 'alert', alert: a1 },
        { op: 'alert', alert: a2 },
        { op: 'alert', alert: a3 },
        { op: 'silence', silence: old },
        { op: 'silence', silence },
        { op: 'alert-rule', name: 'r1', rule: { name: 'r1', kind: 'offline', for: '5m' } },
        { op: 'alert-rule', name: 'r2', rule: { name: 'r2', kind: 'offline' } },
      ]);
      const resolved = { ...a1, state: 'resolved' as const, resolvedAt: 50, since: 50, notified: 2 };
      await store.applyNodeChanges([
        { op: 'alert', alert: resolved },
        { op: 'alert-rule', name: 'r1', rule: { name: 'r1', kind: 'offline', for: '1m' } },
        { op: 'remove-alert-rule', name: 'r2' },
      ]);
      await store.close();
      const again = await reopen();
      assert.deepEqual(await again.openAlerts(), [a2, a3], 'oldest first, resolved ones left out');
      assert.deepEqual(await again.listAlerts(), [a3, a2, resolved], 'newest first, each as it is now');
      assert.deepEqual(await again.listAlerts({ state: 'resolved' }), [resolved]);
      assert.deepEqual(await again.listAlerts({ node: 'n2' }), [a2]);
      assert.deepEqual(await again.listAlerts({ rule: 'disk-low', limit: 1 }), [a3]);
      assert.deepEqual(await again.listAlerts({ before: 'a3' }), [a2, resolved]);
      assert.deepEqual(await again.listSilences(2000), [silence], 'a silence that ended is left out');
      assert.deepEqual(await again.listSilences(until), []);
      await again.applyNodeChanges([{ op: 'remove-silence', id: 's1' }]);
      assert.deepEqual(await again.listSilences(2000), []);
      assert.deepEqual(await again.alertRules(), [{ name: 'r1', kind: 'offline', for: '1m' }]);
      // Resolved alerts go past the history's longest retention; open ones stay whatever their age.
      await again.pruneChunk(50 + again.retention.hourMs + 1);
      assert.deepEqual(await again.listAlerts(), [a3, a2]);
    });

    it('refuses every call after close with ERR_STORE_CLOSED', async (t) => {
      const store = await open(t);
      await store.close();
      await assert.rejects(store.lastEventId(), (err: { code?: string }) => err.code === 'ERR_STORE_CLOSED');
      await assert.rejects(
        store.insertVitals([stored('n1', 1, sample(1, 1))]),
        (err: { code?: string }) => err.code === 'ERR_STORE_CLOSED',
      );
    });
  });
}

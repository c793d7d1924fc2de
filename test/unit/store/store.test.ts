import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import type { VitalsPayload } from '../../../src/protocol/messages.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../../src/store/schema.js';
import { Store, StoreError } from '../../../src/store/store.js';
import { HOUR_MS, MINUTE_MS, rollupBuildSql } from '../../../src/store/vitals-history.js';

function dbPath(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'primary.db');
}

function sample(seq: number, ts: number, fields: Partial<VitalsPayload> = {}): VitalsPayload {
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

/** Runs the rollup job until everything due at `now` is rolled up. */
function rollUp(store: Store, now: number): void {
  while (store.rollupStep(now)) {}
}

function addNode(store: Store, id: string): void {
  store.upsertNode({
    id,
    name: id,
    labels: {},
    address: null,
    legacy: false,
    state: 'online',
    now: 0,
    connectedSince: 0,
  });
}

describe('Store', () => {
  it('gives back the latest sample exactly as it was sent', (t) => {
    const store = new Store(dbPath(t));
    addNode(store, 'n1');
    const s = sample(1, 5000, {
      tempC: 51.5,
      cpuMhz: 1500,
      throttled: { now: ['throttled'], sinceBoot: [] },
      dropped: 3,
    });
    store.insertVitals([{ nodeId: 'n1', receivedAt: 6000, sample: s }]);
    assert.deepEqual(store.latestVitals('n1'), { ...s, receivedAt: 6000 });
    store.close();
  });

  it('keeps history across a restart', (t) => {
    const path = dbPath(t);
    const a = new Store(path);
    addNode(a, 'n1');
    a.insertVitals([1, 2, 3].map((seq) => ({ nodeId: 'n1', receivedAt: 1000 * seq, sample: sample(seq, 1000 * seq) })));
    a.close();
    const b = new Store(path);
    assert.deepEqual(b.storedSeqs('n1'), [1, 2, 3]);
    // No state change was written after the samples (a crash): the open catches up from them.
    assert.equal(b.getNode('n1')?.lastSeq, 3);
    assert.equal(b.getNode('n1')?.lastSeen, 3000);
    assert.equal(b.latestVitals('n1')?.seq, 3);
    b.close();
  });

  it('stores a resent sample once, counts it once in the rollups, and merges a late one', (t) => {
    const store = new Store(dbPath(t));
    addNode(store, 'n1');
    const s = sample(1, 120_000, { cpuPercent: 40 });
    store.insertVitals([{ nodeId: 'n1', receivedAt: 120_000, sample: s }]);
    rollUp(store, 3 * 24 * HOUR_MS);
    store.insertVitals([{ nodeId: 'n1', receivedAt: 180_000, sample: s }]);
    assert.deepEqual(store.storedSeqs('n1'), [1]);
    // A sample from a minute already rolled up (resent from an outbox much later) is merged in.
    store.insertVitals([{ nodeId: 'n1', receivedAt: 2 * 24 * HOUR_MS, sample: sample(2, 2 * 24 * HOUR_MS - 10, {}) }]);
    store.insertVitals([{ nodeId: 'n1', receivedAt: 20 * HOUR_MS, sample: sample(3, 130_000, { cpuPercent: 20 }) }]);
    const merged = store.vitalsSeries('n1', 0, HOUR_MS, MINUTE_MS, 3 * 24 * HOUR_MS);
    assert.deepEqual(
      merged.points.map((p) => [merged.resolution, p.ts, p.n, p.cpuPercent, p.min.cpuPercent]),
      [['1m', 120_000, 2, 30, 20]],
    );
    store.close();
  });

  it('files a sample from a clock far off (a Pi without RTC) under the primary time, flagged', (t) => {
    const store = new Store(dbPath(t));
    addNode(store, 'n1');
    const now = Date.UTC(2026, 10, 26);
    store.insertVitals([{ nodeId: 'n1', receivedAt: now, sample: sample(1, 5_000) }]);
    const series = store.vitalsSeries('n1', now - HOUR_MS, now + HOUR_MS, undefined, now);
    assert.equal(series.points.length, 1);
    assert.ok(Math.abs((series.points[0]?.ts ?? 0) - now) < 10_000);
    store.close();
  });

  it('rollups agree with the raw samples they replace, before and after pruning (property)', (t) => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            offsetMs: fc.integer({ min: 0, max: 3 * HOUR_MS - 1 }),
            cpu: fc.double({ min: 0, max: 100, noNaN: true }),
            temp: fc.option(fc.double({ min: -20, max: 90, noNaN: true }), { nil: undefined }),
          }),
          { minLength: 1, maxLength: 300 },
        ),
        (raw) => {
          const store = new Store(':memory:', { retention: { rawMs: HOUR_MS, minuteMs: 30 * 24 * HOUR_MS } });
          addNode(store, 'n1');
          const base = Date.UTC(2026, 0, 1);
          store.insertVitals(
            raw.map((r, i) => ({
              nodeId: 'n1',
              receivedAt: base + r.offsetMs,
              sample: sample(i + 1, base + r.offsetMs, {
                cpuPercent: r.cpu,
                ...(r.temp === undefined ? {} : { tempC: r.temp }),
              }),
            })),
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
          rollUp(store, now);
          const check = () => {
            const series = store.vitalsSeries('n1', base, base + 3 * HOUR_MS, MINUTE_MS, now);
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
          check();
          while (store.pruneChunk(now, 50) > 0) {}
          assert.deepEqual(store.storedSeqs('n1'), [], 'raw samples past retention are gone');
          check();
          store.close();
        },
      ),
      { numRuns: 40 },
    );
    void t;
  });

  it('rolls up a minute of 1,200 nodes in chunks; a late sample between chunks is counted, done or not', (t) => {
    const store = new Store(dbPath(t), { retention: { rawMs: HOUR_MS } });
    const ids = Array.from({ length: 1200 }, (_, i) => `n${String(i).padStart(4, '0')}`);
    for (const id of ids) addNode(store, id);
    const minute = Date.UTC(2026, 0, 1, 12, 0);
    store.insertVitals(ids.map((id) => ({ nodeId: id, receivedAt: minute + 1000, sample: sample(1, minute + 1000) })));
    const now = minute + 2 * HOUR_MS;
    assert.equal(store.rollupStep(now), true, 'the first chunk');
    // Between chunks: a late sample of a node whose chunk is done, one whose chunk is not, and
    // one of a node that had no data in that minute.
    addNode(store, 'new');
    for (const id of ['n0000', 'n1199', 'new'])
      store.insertVitals([{ nodeId: id, receivedAt: now, sample: sample(id === 'new' ? 1 : 2, minute + 30_000) }]);
    rollUp(store, now);
    const minuteOf = (id: string) => store.vitalsSeries(id, minute, minute + MINUTE_MS, MINUTE_MS, now).points;
    assert.equal(store.vitalsSeries('n0000', minute, minute + MINUTE_MS, MINUTE_MS, now).resolution, '1m');
    assert.deepEqual(
      minuteOf('n0000').map((p) => p.n),
      [2],
      'done before the late sample',
    );
    assert.deepEqual(
      minuteOf('n1199').map((p) => p.n),
      [2],
      'not done yet',
    );
    assert.deepEqual(
      minuteOf('new').map((p) => p.n),
      [1],
      'no data in that minute before',
    );
    assert.deepEqual(
      minuteOf('n0600').map((p) => p.n),
      [1],
    );
    store.close();
  });

  it('builds rollups with one index seek per node and interval, whatever the history', (t) => {
    const store = new Store(dbPath(t));
    store.close();
    const db = new Database(store.path, { readonly: true });
    t.after(() => db.close());
    // The statements the rollup job runs, as SQLite plans them: never a scan of a node's history.
    const plan = (sql: string) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all({ from: 0, to: 1, ids: '[]' }) as Array<{ detail: string }>)
        .map((r) => r.detail)
        .join(' | ');
    assert.match(
      plan(rollupBuildSql('vitals_1m', MINUTE_MS, 'raw')),
      /SEARCH vitals USING (COVERING )?INDEX vitals_by_node_t \(node_id=\? AND t>\? AND t<\?\)/,
    );
    assert.match(
      plan(rollupBuildSql('vitals_1h', HOUR_MS, '1m')),
      /SEARCH vitals_1m USING PRIMARY KEY \(node_id=\? AND bucket>\? AND bucket<\?\)/,
    );
  });

  it('answers any range with at most ~1,000 points, at the resolution that has the data', (t) => {
    const store = new Store(dbPath(t));
    addNode(store, 'n1');
    const now = Date.UTC(2026, 10, 26);
    const batch = [];
    for (let i = 0; i < 8640; i++) {
      const ts = now - 24 * HOUR_MS + i * 10_000;
      batch.push({ nodeId: 'n1', receivedAt: ts, sample: sample(i + 1, ts) });
    }
    store.insertVitals(batch);
    const day = store.vitalsSeries('n1', now - 24 * HOUR_MS, now, undefined, now);
    assert.equal(day.resolution, 'raw');
    assert.ok(day.points.length <= 1000 && day.points.length >= 900, `${day.points.length} points`);
    const hour = store.vitalsSeries('n1', now - HOUR_MS, now, undefined, now);
    assert.deepEqual([hour.resolution, hour.points.length], ['raw', 360]);
    rollUp(store, now);
    const week = store.vitalsSeries('n1', now - 7 * 24 * HOUR_MS, now, undefined, now);
    assert.ok(week.points.length > 100, `${week.points.length} points for the one day of data in the week`);
    assert.equal(week.resolution, '1m');
    assert.ok(week.points.length <= 1008);
    const year = store.vitalsSeries('n1', now - 365 * 24 * HOUR_MS, now, undefined, now);
    assert.equal(year.resolution, '1h');
    assert.ok(year.points.length <= 1000 && year.points.length > 0);
    store.close();
  });

  it('migrates a version 1 database, keeping its history and building the rollups', (t) => {
    const path = dbPath(t);
    const old = new Database(path);
    old.exec(MIGRATIONS[0]?.sql ?? '');
    old.pragma('user_version = 1');
    old
      .prepare(
        "INSERT INTO nodes (id, name, state, first_seen, last_seen, last_seq) VALUES ('n1', 'pi', 'online', 0, 0, 2)",
      )
      .run();
    const insert = old.prepare('INSERT INTO vitals (node_id, seq, ts, received_at, sample) VALUES (?, ?, ?, ?, ?)');
    insert.run('n1', 1, 60_000, 60_000, JSON.stringify(sample(1, 60_000, { cpuPercent: 20, tempC: 50 })));
    insert.run('n1', 2, 70_000, 70_000, JSON.stringify(sample(2, 70_000, { cpuPercent: 40 })));
    old.close();
    const store = new Store(path);
    assert.equal(store.schemaVersion, SCHEMA_VERSION);
    assert.deepEqual(store.storedSeqs('n1'), [1, 2]);
    const latest = store.latestVitals('n1');
    assert.deepEqual({ ...latest, receivedAt: 0 }, { ...sample(2, 70_000, { cpuPercent: 40 }), receivedAt: 0 });
    rollUp(store, 3 * 24 * HOUR_MS);
    const series = store.vitalsSeries('n1', 0, HOUR_MS, MINUTE_MS, 3 * 24 * HOUR_MS);
    assert.deepEqual(
      series.points.map((p) => [series.resolution, p.ts, p.n, p.cpuPercent, p.tempC]),
      [['1m', 60_000, 2, 30, 50]],
    );
    assert.equal(store.integrityCheck(), 'ok');
    store.close();
  });

  it('refuses a database newer than this code, saying what to do', (t) => {
    const path = dbPath(t);
    const db = new Database(path);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    assert.throws(
      () => new Store(path),
      (err) => err instanceof StoreError && /newer than this picluster understands/.test(err.message),
    );
  });
});

// The embedded SQLite store: the store contract (store-contract.ts) from its factory, then what is
// SQLite's own: its query plans, its migrations, a database newer than the code, a lock held by
// another process.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { StoreError } from '../../../src/protocol/errors.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../../src/store/sqlite/schema.js';
import { openSqliteStore, SqliteStore } from '../../../src/store/sqlite/sqlite-store.js';
import { rollupBuildSql } from '../../../src/store/sqlite/vitals-history.js';
import { HOUR_MS, MINUTE_MS } from '../../../src/store/store-api.js';
import { sample, storeContract, stored, upsert } from './store-contract.js';

storeContract('sqlite', openSqliteStore);

function dbPath(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'primary.db');
}

describe('SqliteStore', () => {
  it('builds rollups with one index seek per node and interval, whatever the history', async (t) => {
    const store = new SqliteStore(dbPath(t));
    await store.close();
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

  it("finds a schedule's newest runs with one walk of the schedule index, not a scan of the tasks", async (t) => {
    const store = new SqliteStore(dbPath(t));
    await store.close();
    const db = new Database(store.path, { readonly: true });
    t.after(() => db.close());
    const plan = (
      db
        .prepare('EXPLAIN QUERY PLAN SELECT body FROM tasks WHERE schedule_id = ? ORDER BY seq DESC LIMIT ?')
        .all('s', 5) as Array<{
        detail: string;
      }>
    )
      .map((r) => r.detail)
      .join(' | ');
    assert.match(plan, /^SEARCH tasks USING INDEX tasks_by_schedule \(schedule_id=\?\)$/);
  });

  it('migrates a version 4 database: its tasks stay, schedules can be added', async (t) => {
    const path = dbPath(t);
    const old = new Database(path);
    for (const migration of MIGRATIONS.filter((m) => m.version <= 4)) old.exec(migration.sql);
    old.pragma('user_version = 4');
    old
      .prepare("INSERT INTO tasks (id, kind, state, created_at, body) VALUES ('t1', 'node.time', 'succeeded', 1, ?)")
      .run(JSON.stringify({ id: 't1', parent: null, submittedBy: 'cli (loopback)' }));
    old.close();
    const store = new SqliteStore(path);
    t.after(() => store.close());
    assert.equal(store.schemaVersion, SCHEMA_VERSION);
    assert.equal((await store.getTask('t1'))?.id, 't1');
    assert.deepEqual(await store.listSchedules(), []);
    assert.equal(await store.integrityCheck(), 'ok');
  });

  it('rolls up a minute of 1,200 nodes in chunks, the event loop turning between them', async (t) => {
    const store = new SqliteStore(dbPath(t), { retention: { rawMs: HOUR_MS } });
    t.after(() => store.close());
    const ids = Array.from({ length: 1200 }, (_, i) => `n${String(i).padStart(4, '0')}`);
    await store.applyNodeChanges(ids.map((id) => ({ op: 'upsert', node: upsert(id) })));
    const minute = Date.UTC(2026, 0, 1, 12, 0);
    await store.insertVitals(ids.map((id) => stored(id, minute + 1000, sample(1, minute + 1000))));
    const now = minute + 2 * HOUR_MS;
    let steps = 0;
    while (await store.rollupStep(now)) steps++;
    // 500 nodes a step: three for the minute, one to find the next (none), and the hour's.
    assert.ok(steps >= 3, `${steps} steps`);
    assert.ok((store.rolledUpUntil['1m'] ?? 0) > minute);
  });

  it('stores the receive time in its column, not again in the sample', async (t) => {
    const store = new SqliteStore(dbPath(t));
    await store.applyNodeChanges([{ op: 'upsert', node: upsert('n1') }]);
    await store.insertVitals([stored('n1', 6000, sample(1, 5000, { tempC: 40 }))]);
    await store.close();
    const db = new Database(store.path, { readonly: true });
    t.after(() => db.close());
    const row = db.prepare('SELECT received_at, extra FROM vitals').get() as { received_at: number; extra: string };
    assert.equal(row.received_at, 6000);
    assert.deepEqual(JSON.parse(row.extra), { disks: [], nets: [] });
  });

  it('migrates a version 1 database, keeping its history and building the rollups', async (t) => {
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
    const store = new SqliteStore(path);
    t.after(() => store.close());
    assert.equal(store.schemaVersion, SCHEMA_VERSION);
    assert.deepEqual(await store.storedSeqs('n1'), [1, 2]);
    const latest = await store.latestVitals('n1');
    assert.deepEqual({ ...latest, receivedAt: 0 }, { ...sample(2, 70_000, { cpuPercent: 40 }), receivedAt: 0 });
    while (await store.rollupStep(3 * 24 * HOUR_MS)) {}
    const series = await store.vitalsSeries('n1', 0, HOUR_MS, MINUTE_MS, 3 * 24 * HOUR_MS);
    assert.deepEqual(
      series.points.map((p) => [series.resolution, p.ts, p.n, p.cpuPercent, p.tempC]),
      [['1m', 60_000, 2, 30, 50]],
    );
    assert.equal(await store.integrityCheck(), 'ok');
  });

  it('refuses a database newer than this code, saying what to do', (t) => {
    const path = dbPath(t);
    const db = new Database(path);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    assert.throws(
      () => new SqliteStore(path),
      (err) =>
        err instanceof StoreError &&
        err.code === 'ERR_STORE_SCHEMA' &&
        /newer than this picluster understands/.test(err.message),
    );
  });

  it('answers ERR_STORE_BUSY while another process holds the write lock, and writes once it is free', async (t) => {
    const store = new SqliteStore(dbPath(t));
    t.after(() => store.close());
    const locker = new Database(store.path);
    t.after(() => locker.close());
    locker.exec('BEGIN IMMEDIATE');
    await assert.rejects(
      store.insertVitals([stored('n1', 1, sample(1, 1))]),
      (err) => err instanceof StoreError && err.code === 'ERR_STORE_BUSY' && err.cause !== undefined,
    );
    locker.exec('COMMIT');
    await store.insertVitals([stored('n1', 1, sample(1, 1))]);
    assert.deepEqual(await store.storedSeqs('n1'), [1]);
  });
});

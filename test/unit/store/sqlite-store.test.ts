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
import { rollupBuildSql } from '../../../src/store/sqlite/rollup-sql.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../../src/store/sqlite/schema.js';
import { openSqliteStore, SqliteStore } from '../../../src/store/sqlite/sqlite-store.js';
import { HOUR_MS, MINUTE_MS } from '../../../src/store/store-api.js';
import { sample, storeContract, stored, upsert } from './store-contract.js';

storeContract('sqlite', openSqliteStore);

function dbPath(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'primary.db');
}

describe('SqliteStore', () => {
  it('builds rollups from the rows themselves: log rows by row id, minutes with one seek per node and interval', async (t) => {
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
      /^SEARCH vitals_log USING INTEGER PRIMARY KEY \(rowid=\?\)/,
    );
    assert.match(
      plan(rollupBuildSql('vitals_1h', HOUR_MS, '1m')),
      /SEARCH vitals_1m USING PRIMARY KEY \(node=\? AND bucket>\? AND bucket<\?\)/,
    );
    // At open, each node's newest chunk comes from an index, never from the chunks themselves.
    assert.match(
      plan('SELECT node, max(seq1) AS seq, received1 FROM vitals_chunks GROUP BY node'),
      /^SCAN vitals_chunks USING COVERING INDEX vitals_chunks_newest$/,
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

  it('migrates a version 6 database: raw rows into the log, rollups re-keyed, nothing lost', async (t) => {
    const path = dbPath(t);
    const v6 = new SqliteStore(path);
    await v6.close();
    const old = new Database(path);
    // Back to version 6 by hand: its vitals table and rollups keyed by the node's id.
    old.exec(
      'DROP VIEW vitals; DROP TABLE vitals_log; DROP TABLE vitals_chunks; DROP TABLE vitals_1m; DROP TABLE vitals_1h; DROP TABLE node_keys; DROP TABLE rollup_state',
    );
    old.exec(MIGRATIONS[1]?.sql.slice(0, MIGRATIONS[1].sql.indexOf('INSERT INTO vitals_v2')) ?? '');
    old.exec('ALTER TABLE vitals_v2 RENAME TO vitals');
    old.exec(MIGRATIONS[1]?.sql.slice(MIGRATIONS[1].sql.indexOf('CREATE INDEX vitals_by_node_t')) ?? '');
    old.pragma('user_version = 6');
    old
      .prepare(
        "INSERT INTO nodes (id, name, state, first_seen, last_seen, last_seq) VALUES ('n1', 'pi', 'online', 0, 0, 0)",
      )
      .run();
    const raw = old.prepare(
      'INSERT INTO vitals (node_id, seq, t, ts, received_at, cpu_percent, ram_available_bytes, swap_free_bytes, load1, load5, load15, uptime_s, extra) VALUES (\'n1\', ?, ?, ?, ?, ?, 1000, 0, 0.5, 0.4, 0.3, 100, \'{"disks":[],"nets":[]}\')',
    );
    raw.run(6, 30 * MINUTE_MS, 30 * MINUTE_MS, 30 * MINUTE_MS, 20); // rolled up already: to a chunk
    raw.run(7, 2 * HOUR_MS, 2 * HOUR_MS, 2 * HOUR_MS, 30);
    raw.run(8, 2 * HOUR_MS + 10_000, 2 * HOUR_MS + 10_000, 2 * HOUR_MS + 10_000, 50);
    old
      .prepare(
        "INSERT INTO vitals_1m (node_id, bucket, n, cpu_percent_min, cpu_percent_max, cpu_percent_sum, cpu_percent_cnt) VALUES ('n1', ?, 2, 10, 20, 30, 2)",
      )
      .run(MINUTE_MS);
    old.prepare("INSERT INTO rollup_state (name, until) VALUES ('1m', ?)").run(HOUR_MS);
    old.close();

    const store = new SqliteStore(path);
    t.after(() => store.close());
    assert.equal(store.schemaVersion, SCHEMA_VERSION);
    assert.deepEqual(await store.storedSeqs('n1'), [6, 7, 8]);
    const moved = new Database(path, { readonly: true });
    try {
      assert.deepEqual(
        [
          moved.prepare('SELECT seq FROM vitals_log ORDER BY seq').all(),
          moved.prepare('SELECT n, seq1 FROM vitals_chunks').all(),
          moved.prepare("SELECT name FROM sqlite_schema WHERE name = 'vitals_v6'").all(),
        ],
        [[{ seq: 7 }, { seq: 8 }], [{ n: 1, seq1: 6 }], []],
        'rolled-up rows into a chunk, the rest into the log, the old table gone',
      );
    } finally {
      moved.close();
    }
    assert.equal((await store.latestVitals('n1'))?.cpuPercent, 50);
    assert.equal((await store.getNode('n1'))?.lastSeq, 8, 'caught up from the migrated rows');
    const now = 5 * 24 * HOUR_MS;
    const minutes = await store.vitalsSeries('n1', 0, 2 * MINUTE_MS, MINUTE_MS, now);
    assert.deepEqual(
      minutes.points.map((p) => [minutes.resolution, p.ts, p.n, p.cpuPercent]),
      [['1m', MINUTE_MS, 2, 15]],
    );
    // A resend of a migrated seq is not stored twice.
    await store.insertVitals([stored('n1', now, sample(8, 2 * HOUR_MS + 10_000))]);
    assert.deepEqual(await store.storedSeqs('n1'), [6, 7, 8]);
    assert.equal(await store.integrityCheck(), 'ok');
  });

  it('moves rolled-up samples from the log into per-node chunks: same seqs, series and latest, across a reopen', async (t) => {
    const path = dbPath(t);
    let store = new SqliteStore(path);
    await store.applyNodeChanges(['a', 'b'].map((id) => ({ op: 'upsert' as const, node: upsert(id) })));
    const base = Date.UTC(2026, 0, 1);
    for (let i = 1; i <= 720; i++) {
      const ts = base + i * 10_000;
      await store.insertVitals(
        ['a', 'b'].map((id) =>
          stored(id, ts, sample(i, ts, { cpuPercent: (i * 7) % 100, tempC: id === 'a' ? 40 : undefined })),
        ),
      );
    }
    const now = base + 3 * HOUR_MS;
    const view = async (s: SqliteStore) => ({
      seqs: await s.storedSeqs('a'),
      latest: await s.latestVitals('b'),
      series: await s.vitalsSeries('a', base, base + 2 * HOUR_MS, 60_000, now),
    });
    const before = await view(store);
    const logRows = () => {
      const db = new Database(path, { readonly: true });
      try {
        return [
          (db.prepare('SELECT count(*) AS n FROM vitals_log').get() as { n: number }).n,
          db.prepare('SELECT count(*) AS n, sum(n) AS samples FROM vitals_chunks').get() as {
            n: number;
            samples: number;
          },
        ] as const;
      } finally {
        db.close();
      }
    };
    assert.deepEqual(logRows(), [1440, { n: 0, samples: null }]);
    while (await store.rollupStep(now)) {}
    const [left, chunks] = logRows();
    assert.equal(left, 0, 'everything rolled up left the log');
    assert.equal(chunks.samples, 1440);
    assert.equal(chunks.n, 4, 'two chunks a node: at most 360 samples each');
    assert.deepEqual(await view(store), before);
    await store.close();
    store = new SqliteStore(path);
    t.after(() => store.close());
    assert.deepEqual(await view(store), before);
    // The newest seq is known from the chunks: a resend is skipped, the next one stored.
    await store.insertVitals([
      stored('a', now, sample(720, base + 7_200_000)),
      stored('a', now, sample(721, now - 1000)),
    ]);
    assert.deepEqual((await store.storedSeqs('a')).slice(-3), [719, 720, 721]);
    assert.equal((await store.storedSeqs('a')).length, 721);
  });

  it('catches up the nodes table for quiet nodes only, at each pass; for all at open', async (t) => {
    const path = dbPath(t);
    const store = new SqliteStore(path);
    await store.applyNodeChanges(['busy', 'quiet'].map((id) => ({ op: 'upsert' as const, node: upsert(id) })));
    const now = Date.UTC(2026, 0, 1);
    await store.insertVitals([
      stored('busy', now - 1000, sample(5, now - 1000)),
      stored('quiet', now - HOUR_MS, sample(3, now - HOUR_MS)),
    ]);
    await store.catchUpNodes(now);
    assert.deepEqual([(await store.getNode('busy'))?.lastSeq, (await store.getNode('quiet'))?.lastSeq], [0, 3]);
    await store.close();
    const reopened = new SqliteStore(path);
    t.after(() => reopened.close());
    assert.equal((await reopened.getNode('busy'))?.lastSeq, 5);
  });

  it('never stores a resend twice after a restart, when the chunks of a busy node with a clock behind were pruned', async (t) => {
    const path = dbPath(t);
    let store = new SqliteStore(path, { retention: { rawMs: HOUR_MS } });
    await store.applyNodeChanges([{ op: 'upsert', node: upsert('behind') }]);
    const now = Date.UTC(2026, 0, 1, 12);
    // Its clock is two hours behind (within the day a clock may be off): every sample is filed
    // two hours back, past the raw retention, while it keeps reporting (never quiet).
    for (let i = 1; i <= 120; i++) {
      const at = now - 20 * MINUTE_MS + i * 10_000;
      await store.insertVitals([stored('behind', at, sample(i, at - 2 * HOUR_MS))]);
    }
    while (await store.rollupStep(now)) {}
    await store.catchUpNodes(now);
    while ((await store.pruneChunk(now)) > 0) {}
    assert.deepEqual(await store.storedSeqs('behind'), [], 'its raw samples went with their chunks');
    await store.close();
    store = new SqliteStore(path, { retention: { rawMs: HOUR_MS } });
    t.after(() => store.close());
    assert.equal((await store.getNode('behind'))?.lastSeq, 120);
    await store.insertVitals([stored('behind', now, sample(120, now - 2 * HOUR_MS))]);
    assert.deepEqual(await store.storedSeqs('behind'), [], 'the resend of seq 120 is not stored again');
  });

  it('keeps the rollups where the database has them when a step fails: nothing moves out of the log unrolled', async (t) => {
    const store = new SqliteStore(dbPath(t));
    t.after(() => store.close());
    await store.applyNodeChanges([{ op: 'upsert', node: upsert('n1') }]);
    const base = Date.UTC(2026, 0, 1);
    await store.insertVitals(
      Array.from({ length: 180 }, (_, i) => stored('n1', base + i * 10_000, sample(i + 1, base + i * 10_000))),
    );
    const side = new Database(store.path);
    t.after(() => side.close());
    side.exec("CREATE TRIGGER no_chunks BEFORE INSERT ON vitals_chunks BEGIN SELECT RAISE(FAIL, 'disk trouble'); END");
    const now = base + HOUR_MS;
    await assert.rejects(store.rollupStep(now, 50), /disk trouble/);
    side.exec('DROP TRIGGER no_chunks');
    while (await store.rollupStep(now)) {}
    const minutes = await store.vitalsSeries('n1', base, base + 30 * MINUTE_MS, MINUTE_MS, base + 3 * 24 * HOUR_MS);
    assert.equal(minutes.resolution, '1m');
    assert.deepEqual(
      [minutes.points.length, minutes.points.reduce((n, p) => n + p.n, 0)],
      [30, 180],
      'every minute rolled up, every sample counted once',
    );
  });

  it('gives the newest sample by seq when a clock put back left older samples in the log and newer ones in chunks', async (t) => {
    const store = new SqliteStore(dbPath(t));
    t.after(() => store.close());
    await store.applyNodeChanges([{ op: 'upsert', node: upsert('n1') }]);
    const now = Date.UTC(2026, 0, 1, 12);
    // Seqs 1-30 with the clock an hour ahead, then 31-60 after NTP put it right.
    for (let i = 1; i <= 60; i++) {
      const at = now - 30 * MINUTE_MS + i * 10_000;
      await store.insertVitals([stored('n1', at, sample(i, i <= 30 ? at + HOUR_MS : at))]);
    }
    while (await store.rollupStep(now + 20 * MINUTE_MS)) {}
    assert.equal((await store.latestVitals('n1'))?.seq, 60);
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

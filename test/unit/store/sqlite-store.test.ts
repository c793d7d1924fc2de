// The embedded SQLite store: the store contract (store-contract.ts) from its factory, then what is
// SQLite's own: its query plans, its migrations, a database newer than the code, a lock held by
// another process.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { StoreError } from '../../../src/protocol/errors.js';
import { decodeExtra } from '../../../src/store/sqlite/log-rows.js';
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
      /SEARCH vitals_log_a USING INTEGER PRIMARY KEY \(rowid=\?\).*SEARCH vitals_log_b USING INTEGER PRIMARY KEY \(rowid=\?\)/,
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
    const row = db.prepare('SELECT received_at, extra FROM vitals').get() as { received_at: number; extra: Buffer };
    assert.equal(row.received_at, 6000);
    assert.deepEqual(decodeExtra(row.extra), { disks: [], nets: [] });
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
      'DROP VIEW vitals; DROP VIEW vitals_log; DROP TABLE vitals_log_a; DROP TABLE vitals_log_b; DROP TABLE vitals_chunks; DROP TABLE vitals_1m; DROP TABLE vitals_1h; DROP TABLE node_keys; DROP TABLE rollup_state',
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
    const now = base + 5 * HOUR_MS; // two rounds of 2 hours (two nodes alone) rolled up
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

  it('empties a small log a table at a time: its pages are freed, not written again, and appends go to the other table', async (t) => {
    const path = dbPath(t);
    let store = new SqliteStore(path);
    const ids = Array.from({ length: 20 }, (_, i) => `n${i}`);
    await store.applyNodeChanges(ids.map((id) => ({ op: 'upsert' as const, node: upsert(id) })));
    const base = Date.UTC(2026, 0, 1);
    // 70 minutes of 20 nodes, a commit a minute, then one sample each at 121 min (not rolled up yet).
    // Samples the size of a real one with several disks: the log is most of what is written.
    const disks = Array.from({ length: 6 }, (_, i) => ({ mount: `/srv/disk${i}`, freeBytes: 1e10, totalBytes: 3e10 }));
    for (let m = 0; m < 70; m++) {
      const batch = [];
      for (let k = 0; k < 6; k++)
        for (const [n, id] of ids.entries()) {
          const at = base + m * MINUTE_MS + k * 10_000 + n * 100;
          batch.push(stored(id, at, sample(m * 6 + k + 1, at, { disks })));
        }
      await store.insertVitals(batch);
    }
    const late = base + 121 * MINUTE_MS;
    await store.insertVitals(ids.map((id) => stored(id, late, sample(421, late))));
    const side = new Database(path);
    t.after(() => side.close());
    const count = (table: string) => (side.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    // Too young to be rolled up (2 hours at a time for a small fleet) or compacted.
    while (await store.rollupStep(base + 53 * MINUTE_MS)) {}
    assert.deepEqual([count('vitals_log_a'), count('vitals_log_b'), count('vitals_chunks')], [8420, 0, 0]);
    const logPages = new Set(
      (side.prepare("SELECT pageno FROM dbstat WHERE name = 'vitals_log_a'").all() as Array<{ pageno: number }>).map(
        (r) => r.pageno,
      ),
    );
    const seqs = await store.storedSeqs('n7');
    side.pragma('wal_checkpoint(TRUNCATE)');
    while (await store.rollupStep(base + 123 * MINUTE_MS)) {}
    // The pages the rollups and the move wrote, from the WAL's frame headers (page number first).
    const wal = readFileSync(`${path}-wal`);
    const written = new Set<number>();
    for (let at = 32; at + 24 + 4096 <= wal.length; at += 24 + 4096) written.add(wal.readUInt32BE(at));
    const rewritten = [...logPages].filter((p) => written.has(p));
    assert.ok(logPages.size > 100 && written.size > 50, `${logPages.size} log pages, ${written.size} written`);
    assert.ok(rewritten.length <= 2, `${rewritten.length} of the log's ${logPages.size} pages written again`);
    // 420 samples a node: two chunks each (at most 360 a chunk); the late ones moved to the other table.
    assert.deepEqual([count('vitals_log_a'), count('vitals_log_b'), count('vitals_chunks')], [0, 20, 40]);
    assert.ok((side.pragma('freelist_count', { simple: true }) as number) >= logPages.size * 0.9, 'its pages are free');
    assert.deepEqual(await store.storedSeqs('n7'), seqs);
    await store.close();
    // Reopened: appends go on to the table that holds the newest rows, and nothing shows twice.
    store = new SqliteStore(path);
    t.after(() => store.close());
    const next = base + 122 * MINUTE_MS;
    await store.insertVitals(ids.map((id) => stored(id, next, sample(422, next))));
    assert.deepEqual([count('vitals_log_a'), count('vitals_log_b')], [0, 40]);
    assert.deepEqual(await store.storedSeqs('n7'), [...seqs, 422]);
    assert.deepEqual(side.prepare('SELECT node_id, seq FROM vitals GROUP BY 1, 2 HAVING count(*) > 1').all(), []);
    // The next round empties the other table; what is not rolled up yet goes back to the first.
    const later = base + 370 * MINUTE_MS;
    await store.insertVitals(ids.map((id) => stored(id, later, sample(423, later))));
    while (await store.rollupStep(base + 363 * MINUTE_MS)) {}
    assert.deepEqual([count('vitals_log_a'), count('vitals_log_b')], [20, 0]);
    assert.equal((await store.storedSeqs('n7')).length, 423);
  });

  it("rolls a small fleet's minutes up a round at a time, and charts of minutes read the newest ones from the raw samples", async (t) => {
    // A round: 2 hours for a node alone, but at most half the raw retention (a sample waits for
    // its round before it can be pruned).
    const store = new SqliteStore(dbPath(t), { retention: { rawMs: 2 * HOUR_MS } });
    t.after(() => store.close());
    await store.applyNodeChanges([{ op: 'upsert', node: upsert('n1') }]);
    const base = Date.UTC(2026, 0, 1);
    const samples = 6 * (4 * 60 + 45); // 4 h 45 min
    for (let i = 0; i < samples; i++) {
      const at = base + i * 10_000;
      await store.insertVitals([stored('n1', at, sample(i + 1, at, { cpuPercent: i % 60 }))]);
    }
    const now = base + 4 * HOUR_MS + 50 * MINUTE_MS;
    while (await store.rollupStep(now)) {}
    assert.deepEqual(store.rolledUpUntil, { '1m': base + 4 * HOUR_MS, '1h': base + 4 * HOUR_MS });
    const series = await store.vitalsSeries('n1', base, base + samples * 10_000, MINUTE_MS, now);
    assert.equal(series.resolution, '1m');
    assert.deepEqual(
      series.points.map((p) => p.ts),
      Array.from({ length: samples / 6 }, (_, i) => base + i * MINUTE_MS),
      'every minute, the last 45 from raw samples',
    );
    assert.ok(series.points.every((p) => p.n === 6 && p.cpuPercent !== undefined && p.max.cpuPercent !== undefined));
    assert.equal(
      series.points.reduce((n, p) => n + p.n, 0),
      samples,
    );
  });

  it("lets a small fleet's WAL grow to 40 MB before a checkpoint, and a large fleet's to SQLite's 4 MB", async (t) => {
    const path = dbPath(t);
    const store = new SqliteStore(path);
    t.after(() => store.close());
    await store.applyNodeChanges([{ op: 'upsert', node: upsert('n1') }]);
    const base = Date.UTC(2026, 0, 1);
    // Rows of about 1 KB that do not deflate: 5,000 of them are 5 MB of WAL, in one 10-minute window.
    const disks = (seq: number) => [{ mount: randomBytes(1200).toString('base64') + seq, freeBytes: 1, totalBytes: 2 }];
    let seq = 0;
    const insert = async (n: number) => {
      for (let i = 0; i < n; i += 500) {
        const batch = Array.from({ length: 500 }, () => {
          const at = base + ++seq;
          return stored('n1', at, sample(seq, at, { disks: disks(seq) }));
        });
        await store.insertVitals(batch);
      }
    };
    const dbBytes = () => statSync(path).size;
    await insert(5000);
    assert.ok(statSync(`${path}-wal`).size > 5_000_000, 'the WAL holds the 5 MB');
    assert.ok(dbBytes() < 1_000_000, `a small fleet's 5 MB of WAL not checkpointed (${dbBytes()} bytes)`);
    await insert(5000); // 10,000 rows in the window: a large fleet's rate
    assert.ok(dbBytes() > 5_000_000, `checkpointed past 4 MB at a large fleet's rate (${dbBytes()} bytes)`);
  });

  it('moves a large log out in steps of rows, losing and doubling nothing', async (t) => {
    const path = dbPath(t);
    const store = new SqliteStore(path);
    t.after(() => store.close());
    // 60,000 rows in 10 minutes: past what one transaction moves (raw-vitals' SMALL_LOG).
    const ids = Array.from({ length: 1000 }, (_, i) => `n${i}`);
    await store.applyNodeChanges(ids.map((id) => ({ op: 'upsert' as const, node: upsert(id) })));
    const base = Date.UTC(2026, 0, 1);
    for (let k = 0; k < 60; k++) {
      const at = base + k * 10_000;
      await store.insertVitals(ids.map((id) => stored(id, at, sample(k + 1, at))));
    }
    const side = new Database(path, { readonly: true });
    t.after(() => side.close());
    const count = (sql: string) => (side.prepare(sql).get() as { n: number }).n;
    const left: number[] = [];
    while (await store.rollupStep(base + 25 * MINUTE_MS)) left.push(count('SELECT count(*) AS n FROM vitals_log'));
    assert.deepEqual(
      left.filter((n) => n < 60_000),
      [39_960, 19_920, 0],
      'after the rollups, a step moves whole nodes (60 rows each) until it has 20,000 rows',
    );
    assert.equal(count('SELECT sum(n) AS n FROM vitals_chunks'), 60_000);
    assert.deepEqual(
      await store.storedSeqs('n999'),
      Array.from({ length: 60 }, (_, i) => i + 1),
    );
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
    const now = base + 4 * HOUR_MS; // a node alone: a round is 2 hours
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
    // Seqs 1-30 with the clock five hours ahead, then 31-60 after NTP put it right; rolled up for
    // two rounds of 2 hours (a node alone).
    for (let i = 1; i <= 60; i++) {
      const at = now - 30 * MINUTE_MS + i * 10_000;
      await store.insertVitals([stored('n1', at, sample(i, i <= 30 ? at + 5 * HOUR_MS : at))]);
    }
    while (await store.rollupStep(now + 4 * HOUR_MS)) {}
    const chunks = new Database(store.path, { readonly: true });
    t.after(() => chunks.close());
    assert.deepEqual(
      chunks.prepare('SELECT count(*) AS n FROM vitals_chunks').get(),
      { n: 1 },
      'seqs 31-60 moved into a chunk, 1-30 left in the log',
    );
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

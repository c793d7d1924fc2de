// Versioned schema migrations for the primary's SQLite database. Migration N takes the database
// from user_version N-1 to N; all pending ones run in one transaction at open. A database newer
// than this code is refused rather than guessed at.

import { type HistoryField, MAX_CLOCK_SKEW_MS } from '../store-api.js';

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

/** Vitals kept as columns (raw) and rolled up per minute and per hour (min, avg, max). */
export const ROLLUP_FIELDS = [
  { column: 'cpu_percent', key: 'cpuPercent' },
  { column: 'cpu_mhz', key: 'cpuMhz' },
  { column: 'ram_available_bytes', key: 'ramAvailableBytes' },
  { column: 'swap_free_bytes', key: 'swapFreeBytes' },
  { column: 'load1', key: 'load1' },
  { column: 'load5', key: 'load5' },
  { column: 'load15', key: 'load15' },
  { column: 'temp_c', key: 'tempC' },
] as const satisfies ReadonlyArray<{ column: string; key: HistoryField }>;

/** Vital fields kept in the raw row's columns (the rest of a sample goes to `extra` JSON). */
export const COLUMN_KEYS = ['seq', 'ts', 'uptimeS', ...ROLLUP_FIELDS.map((f) => f.key)] as const;

const rollupTable = (name: string) => `
  CREATE TABLE ${name} (
    node_id TEXT NOT NULL,
    bucket  INTEGER NOT NULL,
    n       INTEGER NOT NULL,
    ${ROLLUP_FIELDS.map((f) => `${f.column}_min REAL, ${f.column}_max REAL, ${f.column}_sum REAL NOT NULL DEFAULT 0, ${f.column}_cnt INTEGER NOT NULL DEFAULT 0`).join(',\n    ')},
    PRIMARY KEY (node_id, bucket)
  ) WITHOUT ROWID;
  CREATE INDEX ${name}_by_bucket ON ${name} (bucket);`;

/** A table of the raw vitals log (version 7: the log; from version 8 on: one of its two tables). */
const logTable = (name: string) => `CREATE TABLE ${name} (
        id          INTEGER PRIMARY KEY,
        node        INTEGER NOT NULL,
        seq         INTEGER NOT NULL,
        t           INTEGER NOT NULL,
        ts          INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        skewed      INTEGER NOT NULL DEFAULT 0,
        ${ROLLUP_FIELDS.map((f) => `${f.column} REAL`).join(', ')},
        uptime_s    REAL,
        extra       TEXT NOT NULL
      );`;

/** The recent raw samples by node id, for tests and ad-hoc SQL (the chunks are deflated JSON). */
const VITALS_VIEW = `CREATE VIEW vitals AS
        SELECT k.id AS node_id, l.seq, l.t, l.ts, l.received_at, l.skewed, ${ROLLUP_FIELDS.map((f) => `l.${f.column}`).join(', ')}, l.uptime_s, l.extra
        FROM vitals_log l JOIN node_keys k ON k.key = l.node;`;

/** The rollup tables from version 7 on: keyed by the node's integer key (node_keys). */
const rollupTableByKey = (name: string) => `
  CREATE TABLE ${name}_v7 (
    node    INTEGER NOT NULL,
    bucket  INTEGER NOT NULL,
    n       INTEGER NOT NULL,
    ${ROLLUP_FIELDS.map((f) => `${f.column}_min REAL, ${f.column}_max REAL, ${f.column}_sum REAL NOT NULL DEFAULT 0, ${f.column}_cnt INTEGER NOT NULL DEFAULT 0`).join(',\n    ')},
    PRIMARY KEY (node, bucket)
  ) WITHOUT ROWID;
  INSERT INTO ${name}_v7 SELECT k.key, r.bucket, r.n, ${ROLLUP_FIELDS.map((f) => `r.${f.column}_min, r.${f.column}_max, r.${f.column}_sum, r.${f.column}_cnt`).join(', ')}
    FROM ${name} r JOIN node_keys k ON k.id = r.node_id;
  DROP TABLE ${name};
  ALTER TABLE ${name}_v7 RENAME TO ${name};
  CREATE INDEX ${name}_by_bucket ON ${name} (bucket);`;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'nodes, vitals, events',
    sql: `
      CREATE TABLE nodes (
        id              TEXT PRIMARY KEY,
        name            TEXT NOT NULL,
        labels          TEXT NOT NULL DEFAULT '{}',
        address         TEXT,
        legacy          INTEGER NOT NULL DEFAULT 0,
        state           TEXT NOT NULL,
        info            TEXT,
        machine_id      TEXT,
        secret          TEXT,
        first_seen      INTEGER NOT NULL,
        last_seen       INTEGER NOT NULL,
        connected_since INTEGER,
        last_seq        INTEGER NOT NULL DEFAULT 0
      );
      CREATE TABLE vitals (
        node_id     TEXT NOT NULL,
        seq         INTEGER NOT NULL,
        ts          INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        sample      TEXT NOT NULL,
        PRIMARY KEY (node_id, seq)
      ) WITHOUT ROWID;
      CREATE INDEX vitals_by_time ON vitals (node_id, received_at);
      CREATE TABLE events (
        id      INTEGER PRIMARY KEY,
        ts      INTEGER NOT NULL,
        node_id TEXT,
        type    TEXT NOT NULL,
        data    TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX events_by_time ON events (ts);
    `,
  },
  {
    version: 2,
    description: 'vitals as columns with an effective time t; per-minute and per-hour rollups',
    sql: `
      CREATE TABLE vitals_v2 (
        node_id     TEXT NOT NULL,
        seq         INTEGER NOT NULL,
        t           INTEGER NOT NULL,
        ts          INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        skewed      INTEGER NOT NULL DEFAULT 0,
        ${ROLLUP_FIELDS.map((f) => `${f.column} REAL`).join(', ')},
        uptime_s    REAL,
        extra       TEXT NOT NULL,
        PRIMARY KEY (node_id, seq)
      ) WITHOUT ROWID;
      INSERT INTO vitals_v2
      SELECT node_id, seq,
        CASE WHEN abs(ts - received_at) <= ${MAX_CLOCK_SKEW_MS} THEN ts ELSE received_at END,
        ts, received_at,
        abs(ts - received_at) > ${MAX_CLOCK_SKEW_MS},
        ${ROLLUP_FIELDS.map((f) => `json_extract(sample, '$.${f.key}')`).join(', ')},
        json_extract(sample, '$.uptimeS'),
        json_remove(sample, ${COLUMN_KEYS.map((k) => `'$.${k}'`).join(', ')})
      FROM vitals;
      DROP TABLE vitals;
      ALTER TABLE vitals_v2 RENAME TO vitals;
      CREATE INDEX vitals_by_node_t ON vitals (node_id, t);
      CREATE INDEX vitals_by_t ON vitals (t);
      ${rollupTable('vitals_1m')}
      ${rollupTable('vitals_1h')}
      -- How far each rollup is complete: every bucket before "until" is final. The rollup job
      -- starts from the oldest raw sample (a migrated v1 history is rolled up by it too).
      CREATE TABLE rollup_state (name TEXT PRIMARY KEY, until INTEGER NOT NULL);
    `,
  },
  {
    version: 3,
    description: 'node secrets are confirmed by their first use',
    // A secret issued in a welcome that never arrived must not lock the node out: until the node
    // proves it once, a token join for that id is still accepted (and gets a new secret).
    sql: 'ALTER TABLE nodes ADD COLUMN secret_confirmed INTEGER NOT NULL DEFAULT 1;',
  },
  {
    version: 4,
    description: 'tasks',
    // `seq` orders tasks by creation (ids are UUIDs); a row is replaced whole at each change.
    sql: `
      CREATE TABLE tasks (
        seq          INTEGER PRIMARY KEY,
        id           TEXT NOT NULL UNIQUE,
        parent       TEXT,
        kind         TEXT NOT NULL,
        node_id      TEXT,
        state        TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        body         TEXT NOT NULL
      );
      CREATE INDEX tasks_open ON tasks (state) WHERE state IN ('queued', 'assigned', 'running');
      CREATE INDEX tasks_by_node ON tasks (node_id, seq);
      CREATE INDEX tasks_by_parent ON tasks (parent) WHERE parent IS NOT NULL;
    `,
  },
  {
    version: 5,
    description: 'task schedules; tasks know the schedule they are a run of',
    // The definition is JSON (the primary owns the model); last_run_at is a column so a run updates
    // it alone. schedule_id is set for a schedule's top-level tasks only (see scheduleIdOf), so
    // "the newest runs" is one short index walk whatever the broadcasts' sizes. Nothing to fill
    // in: before this version no task could be a schedule's (the API strips ':' from submitters).
    sql: `
      CREATE TABLE schedules (
        seq         INTEGER PRIMARY KEY,
        id          TEXT NOT NULL UNIQUE,
        created_at  INTEGER NOT NULL,
        last_run_at INTEGER,
        body        TEXT NOT NULL
      );
      ALTER TABLE tasks ADD COLUMN schedule_id TEXT;
      CREATE INDEX tasks_by_schedule ON tasks (schedule_id, seq) WHERE schedule_id IS NOT NULL;
    `,
  },
  {
    version: 6,
    description: 'alerts, silences and alert rules made through the API',
    // An alert row is replaced whole at each change (JSON body, as tasks); `seq` orders the history.
    sql: `
      CREATE TABLE alerts (
        seq      INTEGER PRIMARY KEY,
        id       TEXT NOT NULL UNIQUE,
        rule     TEXT NOT NULL,
        node_id  TEXT NOT NULL,
        state    TEXT NOT NULL,
        body     TEXT NOT NULL
      );
      CREATE INDEX alerts_open ON alerts (state) WHERE state <> 'resolved';
      CREATE INDEX alerts_by_node ON alerts (node_id, seq);
      CREATE INDEX alerts_by_rule ON alerts (rule, seq);
      CREATE TABLE silences (
        seq   INTEGER PRIMARY KEY,
        id    TEXT NOT NULL UNIQUE,
        until INTEGER NOT NULL,
        body  TEXT NOT NULL
      );
      CREATE TABLE alert_rules (
        seq   INTEGER PRIMARY KEY,
        name  TEXT NOT NULL UNIQUE,
        body  TEXT NOT NULL
      );
    `,
  },
  {
    version: 7,
    description: 'raw vitals in an append-only log and per-node chunks; integer node keys',
    // Written for an SD card: a commit appends to the log (a page or two, however many nodes), and
    // a node's finished samples move together, compressed, into one chunk row (raw-vitals.ts). The
    // 36-character node id was repeated in every row and index entry; a small integer is not.
    // `vitals` stays readable as a view of the log (the recent samples), for tests and ad-hoc SQL.
    sql: `
      CREATE TABLE node_keys (
        key INTEGER PRIMARY KEY,
        id  TEXT NOT NULL UNIQUE
      );
      INSERT INTO node_keys (id)
        SELECT id FROM nodes UNION SELECT node_id FROM vitals
        UNION SELECT node_id FROM vitals_1m UNION SELECT node_id FROM vitals_1h;
      ${logTable('vitals_log')}
      -- The rows move in JavaScript, a page at a time, into chunks or the log (migrate-v7.ts).
      ALTER TABLE vitals RENAME TO vitals_v6;
      CREATE TABLE vitals_chunks (
        id        INTEGER PRIMARY KEY,
        node      INTEGER NOT NULL,
        t0        INTEGER NOT NULL,
        t1        INTEGER NOT NULL,
        seq1      INTEGER NOT NULL,
        received1 INTEGER NOT NULL,
        n         INTEGER NOT NULL,
        data      BLOB NOT NULL
      );
      CREATE INDEX vitals_chunks_by_node ON vitals_chunks (node, t1);
      CREATE INDEX vitals_chunks_by_t1 ON vitals_chunks (t1);
      -- Each node's newest chunk at open without reading the chunks (a day at 10,000 nodes is GBs).
      CREATE INDEX vitals_chunks_newest ON vitals_chunks (node, seq1, received1);
      ${VITALS_VIEW}
      ${rollupTableByKey('vitals_1m')}
      ${rollupTableByKey('vitals_1h')}
    `,
  },
  {
    version: 8,
    description: 'the raw vitals log in two tables, one emptied whole at a time',
    // Deleting the log's rows one by one rewrote every page they were on; a table emptied by a
    // DELETE without WHERE frees its pages unwritten (raw-vitals.ts). `vitals_log` stays, a view.
    // The view `vitals` goes first: a rename rewrites the views that name the table.
    sql: `
      DROP VIEW vitals;
      ALTER TABLE vitals_log RENAME TO vitals_log_a;
      ${logTable('vitals_log_b')}
      CREATE VIEW vitals_log AS SELECT * FROM vitals_log_a UNION ALL SELECT * FROM vitals_log_b;
      ${VITALS_VIEW}
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

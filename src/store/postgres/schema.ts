// The PostgreSQL store's schema and its versioned migrations. A plain layout, nothing of the
// SQLite store's SD-card tricks: an integer key per node (node_keys), raw samples one row each with
// the charted vitals as columns, per-minute and per-hour rollups (min, max, sum and count of each
// vital), and the records the primary owns whole (tasks, schedules, alerts...) as JSON beside the
// columns their queries filter on. Migration N takes the database from version N-1 to N; the
// versions applied are rows of picluster_schema, so a later version can migrate and a database
// newer than the code is refused.
//
// Documents are `json`, not `jsonb`: jsonb refuses "\u0000", which a task's output or a node's
// sample may hold, and reorders keys; nothing queries inside them (what is queried has a column).

import type { PoolClient } from 'pg';
import { HISTORY_FIELDS, type HistoryField } from '../store-api.js';

/** What a part of the store needs of a connection: its queries run in the caller's transaction. */
export type Sql = Pick<PoolClient, 'query'>;

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

/** Each charted vital with its column (raw rows) and column prefix (rollups). */
export const VITAL_COLUMNS: ReadonlyArray<{ key: HistoryField; column: string }> = HISTORY_FIELDS.map((key) => ({
  key,
  column: key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`),
}));

/** Sample fields kept in columns of their own (the rest of a sample goes to `extra`). */
export const COLUMN_KEYS: ReadonlySet<string> = new Set([
  'seq',
  'ts',
  'uptimeS',
  'receivedAt',
  ...VITAL_COLUMNS.map((v) => v.key),
]);

/** The columns of a rollup row after (node_key, bucket, n), in order. */
export const ROLLUP_COLUMNS: readonly string[] = VITAL_COLUMNS.flatMap(({ column: c }) => [
  `${c}_min`,
  `${c}_max`,
  `${c}_sum`,
  `${c}_cnt`,
]);

/** `expr` rounded down to a multiple of `step` (both bigint SQL), right for negative values too. */
export function floorSql(expr: string, step: string): string {
  return `(${expr} - ((${expr} % ${step}) + ${step}) % ${step})`;
}

/** Advisory lock keys (per database, which is picluster's own). */
export const LOCKS = {
  /** Held by migrations: two primaries opening a new database at once. */
  migrate: 7_061_000,
  /** Shared by inserts of samples, exclusive for rollups and forgetting history (see vitals-ingest.ts). */
  history: 7_061_001,
  /** Held by a transaction that appends events until it commits: ids commit in order (eventsAfter). */
  events: 7_061_002,
  /** Held by a single primary (no HA) for its life, on a connection of its own (primary-lock.ts). */
  primary: 7_061_003,
} as const;

const rollupTable = (name: string) => `
  CREATE TABLE ${name} (
    node_key integer NOT NULL,
    bucket   bigint NOT NULL,
    n        integer NOT NULL,
    ${VITAL_COLUMNS.map(({ column: c }) => `${c}_min float8, ${c}_max float8, ${c}_sum float8 NOT NULL DEFAULT 0, ${c}_cnt integer NOT NULL DEFAULT 0`).join(',\n    ')},
    PRIMARY KEY (node_key, bucket)
  );
  CREATE INDEX ${name}_by_bucket ON ${name} (bucket);`;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'nodes, vitals and their rollups, events, tasks, schedules, alerts, the leader epoch',
    sql: `
      CREATE TABLE nodes (
        id               text PRIMARY KEY,
        name             text NOT NULL,
        labels           json NOT NULL,
        address          text,
        legacy           boolean NOT NULL DEFAULT false,
        state            text NOT NULL,
        info             json,
        machine_id       text,
        secret           text,
        secret_confirmed boolean NOT NULL DEFAULT true,
        first_seen       bigint NOT NULL,
        last_seen        bigint NOT NULL,
        connected_since  bigint,
        last_seq         bigint NOT NULL DEFAULT 0
      );
      -- Made at a node's first sample, gone when its history is forgotten. No foreign keys from the
      -- vitals tables: a check per inserted sample buys nothing the one forget path does not do.
      CREATE TABLE node_keys (
        key integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id  text NOT NULL UNIQUE
      );
      -- t: the time a sample is filed under (the node's clock, translated by the link's offset or
      -- the receive time when that is far off: sample-time.ts); ts: the node's clock as sent.
      CREATE TABLE vitals (
        node_key    integer NOT NULL,
        seq         bigint NOT NULL,
        t           bigint NOT NULL,
        ts          bigint NOT NULL,
        received_at bigint NOT NULL,
        skewed      boolean NOT NULL,
        ${VITAL_COLUMNS.map((v) => `${v.column} float8`).join(', ')},
        uptime_s    float8,
        extra       json NOT NULL,
        PRIMARY KEY (node_key, seq)
      );
      CREATE INDEX vitals_by_node_t ON vitals (node_key, t);
      CREATE INDEX vitals_by_t ON vitals (t);
      ${rollupTable('vitals_1m')}
      ${rollupTable('vitals_1h')}
      -- Every bucket of a rollup before "until" is final; later samples are merged into it.
      CREATE TABLE rollup_state (name text PRIMARY KEY, until bigint NOT NULL);
      CREATE TABLE events (
        id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        ts      bigint NOT NULL,
        node_id text,
        type    text NOT NULL,
        data    json NOT NULL
      );
      CREATE INDEX events_by_ts ON events (ts);
      CREATE INDEX events_by_node ON events (node_id, id);
      -- seq orders tasks by creation (ids are UUIDs); a change replaces the body whole.
      CREATE TABLE tasks (
        seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id          text NOT NULL UNIQUE,
        parent      text,
        kind        text NOT NULL,
        node_id     text,
        state       text NOT NULL,
        created_at  bigint NOT NULL,
        schedule_id text,
        body        json NOT NULL
      );
      CREATE INDEX tasks_open ON tasks (seq) WHERE state IN ('queued', 'assigned', 'running');
      CREATE INDEX tasks_by_node ON tasks (node_id, seq);
      CREATE INDEX tasks_by_parent ON tasks (parent, seq) WHERE parent IS NOT NULL;
      CREATE INDEX tasks_by_schedule ON tasks (schedule_id, seq) WHERE schedule_id IS NOT NULL;
      CREATE TABLE schedules (
        seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id          text NOT NULL UNIQUE,
        created_at  bigint NOT NULL,
        last_run_at bigint,
        body        json NOT NULL
      );
      CREATE TABLE alerts (
        seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id          text NOT NULL UNIQUE,
        rule        text NOT NULL,
        node_id     text NOT NULL,
        state       text NOT NULL,
        resolved_at bigint,
        body        json NOT NULL
      );
      CREATE INDEX alerts_open ON alerts (seq) WHERE state <> 'resolved';
      CREATE INDEX alerts_by_node ON alerts (node_id, seq);
      CREATE INDEX alerts_by_rule ON alerts (rule, seq);
      CREATE INDEX alerts_resolved ON alerts (resolved_at) WHERE state = 'resolved';
      CREATE TABLE silences (
        seq   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id    text NOT NULL UNIQUE,
        until bigint NOT NULL,
        body  json NOT NULL
      );
      CREATE TABLE alert_rules (
        seq  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name text NOT NULL UNIQUE,
        body json NOT NULL
      );
      -- The HA leader's epoch (leader-epoch.ts): every write of a store that claimed one checks it.
      CREATE TABLE leader_epoch (
        id    integer PRIMARY KEY CHECK (id = 1),
        epoch bigint NOT NULL
      );
      INSERT INTO leader_epoch (id, epoch) VALUES (1, 0);
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** The table of applied versions (created by the first open). */
export const SCHEMA_TABLE = 'picluster_schema';

// Versioned schema migrations for the primary's SQLite database. Migration N takes the database
// from user_version N-1 to N; all pending ones run in one transaction at open. A database newer
// than this code is refused rather than guessed at.

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

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
];

export const SCHEMA_VERSION = MIGRATIONS.length;

// The second half of migration 7: the raw samples of a v2–v6 database, kept aside as `vitals_v6`
// by the SQL half, move a page at a time (memory bounded whatever the history holds) into chunks
// when their minute is rolled up already, and into the log when not; then `vitals_v6` goes. One
// transaction: a crash half-way leaves `vitals_v6` whole, and the next open does it again.

import type Database from 'better-sqlite3';
import type { Logger } from '../../common/logger.js';
import {
  INSERT_CHUNK_SQL,
  insertChunks,
  insertLogSql,
  type LogRow,
  logValues,
  type RawSample,
  sampleOfRow,
} from './log-rows.js';

const PAGE_ROWS = 5000;

/** Moves the rows of `vitals_v6` if there is such a table; how many moved. */
export function moveV6Vitals(db: Database.Database, log: Logger): number {
  const found = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'vitals_v6'").get();
  if (found === undefined) return 0;
  const total = (db.prepare('SELECT count(*) AS n FROM vitals_v6').get() as { n: number }).n;
  if (total > 100_000) {
    log.info(
      { samples: total },
      'moving the raw vitals of the old schema into its chunks (once; a few seconds per million)',
    );
  }
  const until = (db.prepare("SELECT until FROM rollup_state WHERE name = '1m'").get() as { until: number } | undefined)
    ?.until;
  const page = db.prepare(`SELECT v.*, k.key AS node FROM vitals_v6 v JOIN node_keys k ON k.id = v.node_id
    WHERE (v.node_id, v.seq) > (?, ?) ORDER BY v.node_id, v.seq LIMIT ${PAGE_ROWS}`);
  // Every migration ran before this: the log is the two tables of version 8, appended to at `_a`.
  const toLog = db.prepare(insertLogSql('vitals_log_a'));
  let id = (db.prepare('SELECT coalesce(max(id), 0) AS id FROM vitals_log_a').get() as { id: number }).id;
  const toChunk = db.prepare(INSERT_CHUNK_SQL);
  db.transaction(() => {
    let after: [string, number] = ['', -1];
    let key: number | undefined;
    let rolledUp: RawSample[] = [];
    const flush = () => {
      if (key !== undefined && rolledUp.length > 0) insertChunks(toChunk, key, rolledUp);
      rolledUp = [];
    };
    for (;;) {
      const rows = page.all(...after) as LogRow[];
      if (rows.length === 0) break;
      for (const row of rows) {
        if (row.node !== key) {
          flush();
          key = row.node as number;
        }
        const s = sampleOfRow(row);
        if (until !== undefined && s.t < until) {
          rolledUp.push(s);
        } else {
          toLog.run(++id, key, ...logValues(s));
        }
      }
      const last = rows[rows.length - 1] as LogRow;
      after = [last.node_id as string, last.seq as number];
    }
    flush();
    db.exec('DROP TABLE vitals_v6');
  })();
  return total;
}

// The schedules table of the embedded store: one row per schedule, its definition as JSON beside
// the column a run updates (last_run_at), and the query for a schedule's newest runs, which walks
// the tasks table's schedule_id index (filled by task-table.ts from each task's submittedBy).

import type Database from 'better-sqlite3';
import type { ScheduleRow, TaskRow } from '../store-api.js';

export class ScheduleTable {
  readonly #stmts;

  constructor(db: Database.Database) {
    this.#stmts = {
      save: db.prepare(`
        INSERT INTO schedules (id, created_at, last_run_at, body) VALUES (@id, @createdAt, @lastRunAt, @body)
        ON CONFLICT (id) DO UPDATE SET last_run_at = excluded.last_run_at, body = excluded.body`),
      ran: db.prepare('UPDATE schedules SET last_run_at = ? WHERE id = ?'),
      remove: db.prepare('DELETE FROM schedules WHERE id = ?'),
      list: db.prepare('SELECT body, last_run_at FROM schedules ORDER BY seq'),
      runs: db.prepare('SELECT body FROM tasks WHERE schedule_id = ? ORDER BY seq DESC LIMIT ?'),
    };
  }

  /** In the caller's transaction. */
  save(schedule: ScheduleRow): void {
    const { lastRunAt, ...definition } = schedule;
    this.#stmts.save.run({
      id: schedule.id,
      createdAt: schedule.createdAt,
      lastRunAt,
      body: JSON.stringify(definition),
    });
  }

  /** In the caller's transaction. */
  ran(id: string, at: number): void {
    this.#stmts.ran.run(at, id);
  }

  /** In the caller's transaction. */
  remove(id: string): void {
    this.#stmts.remove.run(id);
  }

  list(): ScheduleRow[] {
    const rows = this.#stmts.list.all() as Array<{ body: string; last_run_at: number | null }>;
    return rows.map((row) => ({
      ...(JSON.parse(row.body) as Omit<ScheduleRow, 'lastRunAt'>),
      lastRunAt: row.last_run_at,
    }));
  }

  runs(id: string, limit: number): TaskRow[] {
    return (this.#stmts.runs.all(id, limit) as Array<{ body: string }>).map((row) => JSON.parse(row.body) as TaskRow);
  }
}

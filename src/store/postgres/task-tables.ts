// The tasks and task schedules of the PostgreSQL store: one row each, the columns the queries
// filter on (state, node, parent, the schedule a task is a run of) beside the whole record as
// JSON; a change replaces the record whole (the primary owns the model; SQL files and finds it).
// `seq` orders them by creation. Writes run in the caller's transaction.

import { type ScheduleRow, scheduleIdOf, type TaskQuery, type TaskRow } from '../store-api.js';
import type { Sql } from './schema.js';

const OPEN_STATES = "('queued', 'assigned', 'running')";

export async function saveTask(sql: Sql, task: TaskRow): Promise<void> {
  await sql.query(
    `INSERT INTO tasks (id, parent, kind, node_id, state, created_at, schedule_id, body)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::json)
     ON CONFLICT (id) DO UPDATE SET node_id = excluded.node_id, state = excluded.state, body = excluded.body`,
    [
      task.id,
      task.parent,
      task.kind,
      task.nodeId,
      task.state,
      task.createdAt,
      scheduleIdOf(task),
      JSON.stringify(task),
    ],
  );
}

/** Tasks not in a final state, oldest first. */
export async function openTasks(sql: Sql): Promise<TaskRow[]> {
  return bodies<TaskRow>(await sql.query(`SELECT body FROM tasks WHERE state IN ${OPEN_STATES} ORDER BY seq`));
}

export async function getTask(sql: Sql, id: string): Promise<TaskRow | undefined> {
  return bodies<TaskRow>(await sql.query('SELECT body FROM tasks WHERE id = $1', [id]))[0];
}

/** Newest first; `before` a task id that does not exist finds nothing. */
export async function listTasks(sql: Sql, query: TaskQuery): Promise<TaskRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (condition: (p: string) => string, value: unknown) => {
    params.push(value);
    where.push(condition(`$${params.length}`));
  };
  if (query.state != null) add((p) => `state = ${p}`, query.state);
  if (query.node != null) add((p) => `node_id = ${p}`, query.node);
  if (query.parent != null) add((p) => `parent = ${p}`, query.parent);
  if (query.topLevel) where.push('parent IS NULL');
  if (query.before != null) add((p) => `seq < coalesce((SELECT seq FROM tasks WHERE id = ${p}), 0)`, query.before);
  params.push(query.limit ?? 100);
  const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
  return bodies<TaskRow>(
    await sql.query(`SELECT body FROM tasks ${filter} ORDER BY seq DESC LIMIT $${params.length}`, params),
  );
}

/** A schedule as it is now; its lastRunAt has a column of its own (a run updates it alone). */
export async function saveSchedule(sql: Sql, schedule: ScheduleRow): Promise<void> {
  const { lastRunAt, ...definition } = schedule;
  await sql.query(
    `INSERT INTO schedules (id, created_at, last_run_at, body) VALUES ($1, $2, $3, $4::json)
     ON CONFLICT (id) DO UPDATE SET last_run_at = excluded.last_run_at, body = excluded.body`,
    [schedule.id, schedule.createdAt, lastRunAt, JSON.stringify(definition)],
  );
}

export async function scheduleRan(sql: Sql, id: string, at: number): Promise<void> {
  await sql.query('UPDATE schedules SET last_run_at = $1 WHERE id = $2', [at, id]);
}

export async function removeSchedule(sql: Sql, id: string): Promise<void> {
  await sql.query('DELETE FROM schedules WHERE id = $1', [id]);
}

/** Every schedule, oldest first. */
export async function listSchedules(sql: Sql): Promise<ScheduleRow[]> {
  const { rows } = await sql.query<{ body: Omit<ScheduleRow, 'lastRunAt'>; last_run_at: number | null }>(
    'SELECT body, last_run_at FROM schedules ORDER BY seq',
  );
  return rows.map((row) => ({ ...row.body, lastRunAt: row.last_run_at }));
}

/** A schedule's newest top-level runs, newest first (one walk of tasks_by_schedule). */
export async function scheduleRuns(sql: Sql, id: string, limit: number): Promise<TaskRow[]> {
  return bodies<TaskRow>(
    await sql.query('SELECT body FROM tasks WHERE schedule_id = $1 ORDER BY seq DESC LIMIT $2', [id, limit]),
  );
}

function bodies<T>(result: { rows: Array<{ body: unknown }> }): T[] {
  return result.rows.map((row) => row.body as T);
}

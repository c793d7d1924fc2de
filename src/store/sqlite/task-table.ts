// The tasks table of the embedded store: one row per task, the columns the queries filter on
// (state, node, parent, the schedule it is a run of) beside the whole task as JSON. A change
// replaces the row whole (the scheduler owns the model; SQL only files and finds it).

import type Database from 'better-sqlite3';
import { scheduleIdOf, type TaskQuery, type TaskRow } from '../store-api.js';

const OPEN = "('queued', 'assigned', 'running')";

export class TaskTable {
  readonly #stmts;

  constructor(db: Database.Database) {
    this.#stmts = {
      upsert: db.prepare(`
        INSERT INTO tasks (id, parent, kind, node_id, state, created_at, schedule_id, body)
        VALUES (@id, @parent, @kind, @nodeId, @state, @createdAt, @scheduleId, @body)
        ON CONFLICT (id) DO UPDATE SET node_id = excluded.node_id, state = excluded.state, body = excluded.body`),
      open: db.prepare(`SELECT body FROM tasks WHERE state IN ${OPEN} ORDER BY seq`),
      get: db.prepare('SELECT body FROM tasks WHERE id = ?'),
      seqOf: db.prepare('SELECT seq FROM tasks WHERE id = ?'),
      list: db.prepare(`SELECT body FROM tasks
        WHERE (@state IS NULL OR state = @state) AND (@node IS NULL OR node_id = @node)
          AND (@parent IS NULL OR parent = @parent) AND (@topLevel = 0 OR parent IS NULL) AND seq < @before
        ORDER BY seq DESC LIMIT @limit`),
    };
  }

  /** In the caller's transaction. */
  upsert(task: TaskRow): void {
    this.#stmts.upsert.run({
      id: task.id,
      parent: task.parent,
      kind: task.kind,
      nodeId: task.nodeId,
      state: task.state,
      createdAt: task.createdAt,
      scheduleId: scheduleIdOf(task),
      body: JSON.stringify(task),
    });
  }

  open(): TaskRow[] {
    return (this.#stmts.open.all() as Array<{ body: string }>).map(parse);
  }

  get(id: string): TaskRow | undefined {
    const row = this.#stmts.get.get(id) as { body: string } | undefined;
    return row && parse(row);
  }

  list(query: TaskQuery): TaskRow[] {
    const before =
      query.before === undefined
        ? Number.MAX_SAFE_INTEGER
        : ((this.#stmts.seqOf.get(query.before) as { seq: number } | undefined)?.seq ?? 0);
    const rows = this.#stmts.list.all({
      state: query.state ?? null,
      node: query.node ?? null,
      parent: query.parent ?? null,
      topLevel: query.topLevel ? 1 : 0,
      before,
      limit: query.limit ?? 100,
    }) as Array<{ body: string }>;
    return rows.map(parse);
  }
}

function parse(row: { body: string }): TaskRow {
  return JSON.parse(row.body) as TaskRow;
}

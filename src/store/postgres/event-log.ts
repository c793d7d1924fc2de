// The events log of the PostgreSQL store: appended in the caller's transaction (which holds the
// `events` advisory lock until it commits, so ids become visible in order and a reader following
// the log with eventsAfter never skips one), paged back newest first, followed forward by id.

import type { EventQuery, EventRow } from '../store-api.js';
import type { Sql } from './schema.js';

interface RawEvent {
  id: number;
  ts: number;
  node_id: string | null;
  type: string;
  data: Record<string, unknown>;
}

export async function appendEvent(
  sql: Sql,
  event: { ts: number; nodeId: string | null; type: string; data?: Record<string, unknown> },
): Promise<void> {
  await sql.query('INSERT INTO events (ts, node_id, type, data) VALUES ($1, $2, $3, $4::json)', [
    event.ts,
    event.nodeId,
    event.type,
    JSON.stringify(event.data ?? {}),
  ]);
}

/** Newest first. */
export async function events(sql: Sql, query: EventQuery): Promise<EventRow[]> {
  const { rows } = await sql.query<RawEvent>(
    `SELECT id, ts, node_id, type, data FROM events
     WHERE ($1::text IS NULL OR node_id = $1::text) AND ts >= $2 AND id < $3
     ORDER BY id DESC LIMIT $4`,
    [
      query.node ?? null,
      Math.ceil(query.since ?? 0),
      Math.ceil(query.before ?? Number.MAX_SAFE_INTEGER),
      query.limit ?? 100,
    ],
  );
  return rows.map(toEventRow);
}

/** Events with id > `afterId`, oldest first. */
export async function eventsAfter(sql: Sql, afterId: number, limit: number): Promise<EventRow[]> {
  const { rows } = await sql.query<RawEvent>(
    'SELECT id, ts, node_id, type, data FROM events WHERE id > $1 ORDER BY id LIMIT $2',
    [Math.floor(afterId), limit],
  );
  return rows.map(toEventRow);
}

export async function lastEventId(sql: Sql): Promise<number> {
  const { rows } = await sql.query<{ id: number }>('SELECT coalesce(max(id), 0) AS id FROM events');
  return rows[0]?.id ?? 0;
}

function toEventRow(r: RawEvent): EventRow {
  return { ...r.data, id: r.id, ts: r.ts, node: r.node_id, type: r.type };
}

// The alerts, silences and API-made alert rules of the PostgreSQL store. Each row keeps its whole
// record as JSON (the alerts layer owns the model) beside the columns the queries filter on.
// Writes run in the caller's transaction.

import type { AlertQuery, AlertRow, NodeChange, SilenceRow } from '../store-api.js';
import type { Sql } from './schema.js';

export type AlertChange = Extract<
  NodeChange,
  { op: 'alert' | 'silence' | 'remove-silence' | 'alert-rule' | 'remove-alert-rule' }
>;

/** How long an ended silence is kept, ms. */
const ENDED_SILENCE_KEPT_MS = 86_400_000;

export async function applyAlertChange(sql: Sql, change: AlertChange): Promise<void> {
  switch (change.op) {
    case 'alert': {
      const { id, rule, node, state, resolvedAt } = change.alert;
      await sql.query(
        `INSERT INTO alerts (id, rule, node_id, state, resolved_at, body) VALUES ($1, $2, $3, $4, $5, $6::json)
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, resolved_at = excluded.resolved_at, body = excluded.body`,
        [id, rule, node, state, resolvedAt, JSON.stringify(change.alert)],
      );
      return;
    }
    case 'silence':
      await sql.query(
        `INSERT INTO silences (id, until, body) VALUES ($1, $2, $3::json)
         ON CONFLICT (id) DO UPDATE SET until = excluded.until, body = excluded.body`,
        [change.silence.id, change.silence.until, JSON.stringify(change.silence)],
      );
      return;
    case 'remove-silence':
      await sql.query('DELETE FROM silences WHERE id = $1', [change.id]);
      return;
    case 'alert-rule':
      await sql.query(
        'INSERT INTO alert_rules (name, body) VALUES ($1, $2::json) ON CONFLICT (name) DO UPDATE SET body = excluded.body',
        [change.name, JSON.stringify(change.rule)],
      );
      return;
    case 'remove-alert-rule':
      await sql.query('DELETE FROM alert_rules WHERE name = $1', [change.name]);
      return;
  }
}

/**
 * In the caller's transaction: resolved alerts older than `before` (the history's longest
 * retention) and silences that ended a day ago go, up to `limit` of each.
 */
export async function pruneAlerts(sql: Sql, before: number, now: number, limit: number): Promise<number> {
  const alerts = await sql.query(
    `DELETE FROM alerts WHERE seq IN (
       SELECT seq FROM alerts WHERE state = 'resolved' AND resolved_at < $1 LIMIT $2)`,
    [before, limit],
  );
  const silences = await sql.query(
    'DELETE FROM silences WHERE seq IN (SELECT seq FROM silences WHERE until < $1 LIMIT $2)',
    [now - ENDED_SILENCE_KEPT_MS, limit],
  );
  return (alerts.rowCount ?? 0) + (silences.rowCount ?? 0);
}

/** Alerts not resolved, oldest first. */
export async function openAlerts(sql: Sql): Promise<AlertRow[]> {
  return bodies<AlertRow>(await sql.query("SELECT body FROM alerts WHERE state <> 'resolved' ORDER BY seq"));
}

/** Newest first; `before` an alert id that does not exist finds nothing. */
export async function listAlerts(sql: Sql, query: AlertQuery): Promise<AlertRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (condition: (p: string) => string, value: unknown) => {
    params.push(value);
    where.push(condition(`$${params.length}`));
  };
  if (query.state) add((p) => `state = ${p}`, query.state);
  if (query.node) add((p) => `node_id = ${p}`, query.node);
  if (query.rule) add((p) => `rule = ${p}`, query.rule);
  if (query.before) add((p) => `seq < (SELECT seq FROM alerts WHERE id = ${p})`, query.before);
  params.push(Math.max(1, Math.min(query.limit ?? 100, 1000)));
  const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
  return bodies<AlertRow>(
    await sql.query(`SELECT body FROM alerts ${filter} ORDER BY seq DESC LIMIT $${params.length}`, params),
  );
}

/** Silences whose `until` is after `now`, oldest first. */
export async function listSilences(sql: Sql, now: number): Promise<SilenceRow[]> {
  return bodies<SilenceRow>(await sql.query('SELECT body FROM silences WHERE until > $1 ORDER BY seq', [now]));
}

/** Alert rules made through the API, as given, oldest first. */
export async function alertRules(sql: Sql): Promise<Array<Record<string, unknown>>> {
  return bodies<Record<string, unknown>>(await sql.query('SELECT body FROM alert_rules ORDER BY seq'));
}

function bodies<T>(result: { rows: Array<{ body: unknown }> }): T[] {
  return result.rows.map((row) => row.body as T);
}

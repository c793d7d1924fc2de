// The alerts, silences and API-made alert rules of the embedded store. Each row keeps its whole
// record as JSON (the alerts layer owns the model) beside the columns the queries filter on.

import type Database from 'better-sqlite3';
import type { AlertQuery, AlertRow, NodeChange, SilenceRow } from '../store-api.js';

type AlertChange = Extract<
  NodeChange,
  { op: 'alert' | 'silence' | 'remove-silence' | 'alert-rule' | 'remove-alert-rule' }
>;

export class AlertTable {
  readonly #db: Database.Database;
  readonly #stmts;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#stmts = {
      saveAlert: db.prepare(`
        INSERT INTO alerts (id, rule, node_id, state, body) VALUES (@id, @rule, @node, @state, @body)
        ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body`),
      open: db.prepare("SELECT body FROM alerts WHERE state <> 'resolved' ORDER BY seq"),
      saveSilence: db.prepare(`
        INSERT INTO silences (id, until, body) VALUES (@id, @until, @body)
        ON CONFLICT (id) DO UPDATE SET until = excluded.until, body = excluded.body`),
      removeSilence: db.prepare('DELETE FROM silences WHERE id = ?'),
      silences: db.prepare('SELECT body FROM silences WHERE until > ? ORDER BY seq'),
      saveRule: db.prepare(`
        INSERT INTO alert_rules (name, body) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET body = excluded.body`),
      removeRule: db.prepare('DELETE FROM alert_rules WHERE name = ?'),
      rules: db.prepare('SELECT body FROM alert_rules ORDER BY seq'),
      pruneAlerts: db.prepare(`
        DELETE FROM alerts WHERE seq IN (
          SELECT seq FROM alerts WHERE state = 'resolved' AND json_extract(body, '$.resolvedAt') < ? LIMIT ?)`),
      pruneSilences: db.prepare('DELETE FROM silences WHERE seq IN (SELECT seq FROM silences WHERE until < ? LIMIT ?)'),
    };
  }

  /** In the caller's transaction. */
  apply(change: AlertChange): void {
    const s = this.#stmts;
    switch (change.op) {
      case 'alert': {
        const { id, rule, node, state } = change.alert;
        s.saveAlert.run({ id, rule, node, state, body: JSON.stringify(change.alert) });
        break;
      }
      case 'silence':
        s.saveSilence.run({ id: change.silence.id, until: change.silence.until, body: JSON.stringify(change.silence) });
        break;
      case 'remove-silence':
        s.removeSilence.run(change.id);
        break;
      case 'alert-rule':
        s.saveRule.run(change.name, JSON.stringify(change.rule));
        break;
      case 'remove-alert-rule':
        s.removeRule.run(change.name);
        break;
    }
  }

  /**
   * In the caller's transaction: resolved alerts older than `before` (the history's longest
   * retention) and silences that ended a day ago go, up to `limit` of each.
   */
  prune(before: number, now: number, limit: number): number {
    return (
      this.#stmts.pruneAlerts.run(before, limit).changes +
      this.#stmts.pruneSilences.run(now - 86_400_000, limit).changes
    );
  }

  open(): AlertRow[] {
    return bodies<AlertRow>(this.#stmts.open.all());
  }

  list(query: AlertQuery): AlertRow[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.state) where.push('state = ?') && params.push(query.state);
    if (query.node) where.push('node_id = ?') && params.push(query.node);
    if (query.rule) where.push('rule = ?') && params.push(query.rule);
    if (query.before) where.push('seq < (SELECT seq FROM alerts WHERE id = ?)') && params.push(query.before);
    const sql = `SELECT body FROM alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`;
    params.push(Math.max(1, Math.min(query.limit ?? 100, 1000)));
    return bodies<AlertRow>(this.#db.prepare(sql).all(...params));
  }

  silences(now: number): SilenceRow[] {
    return bodies<SilenceRow>(this.#stmts.silences.all(now));
  }

  rules(): Array<Record<string, unknown>> {
    return bodies<Record<string, unknown>>(this.#stmts.rules.all());
  }
}

function bodies<T>(rows: unknown[]): T[] {
  return (rows as Array<{ body: string }>).map((row) => JSON.parse(row.body) as T);
}

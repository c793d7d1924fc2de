// The alerts page's history: the newest stored alerts (those that fired; firing or resolved) from
// /api/alerts/history, newest first, each with when it fired and resolved and how many
// notifications went out or were held back. Live: the stream's alerts update their row or are
// added (once they fired), so a resolution shows without a reload. A firing alert's stream
// message comes with every sample; only a change of its state or counts redraws its row.

import { alertCells } from './alert-format.js';
import { getJson } from './api.js';
import { dataTable, frameTask, h, placeChildren, safeClass, setText } from './dom.js';
import * as fmt from './format.js';
import { timeEl } from './task-format.js';

const LIMIT = 50;

export class AlertHistory {
  #model;
  #root;
  #tbody;
  #status;
  /** id → alert */
  #alerts = new Map();
  /** id → {key (what it shows), tr} */
  #rows = new Map();
  #frame = frameTask(() => this.#render());
  #loads = 0;

  constructor(model) {
    this.#model = model;
    this.#tbody = h('tbody');
    this.#status = h('p', { class: 'muted', 'aria-live': 'polite' });
    this.#root = h(
      'section',
      { class: 'alert-history', 'aria-labelledby': 'alert-history-title' },
      h('h2', { id: 'alert-history-title', text: 'History' }),
      dataTable(
        'alerts',
        ['State', 'Severity', 'Rule', 'Node', 'Detail', 'Fired', 'Resolved', 'Notified'],
        this.#tbody,
      ),
      this.#status,
    );
  }

  get element() {
    return this.#root;
  }

  /** A stream alert: updates its row, or adds it once it fired. */
  addLive(alert) {
    const known = this.#alerts.get(alert.id);
    if (known ? !changed(known, alert) : typeof alert.firedAt !== 'number') return;
    this.#alerts.set(alert.id, alert);
    this.#frame.request();
  }

  /** Redraws (node names changed). */
  refresh() {
    this.#frame.request();
  }

  /** The newest stored alerts (again: after a reconnect, what the stream missed). */
  async load() {
    const load = ++this.#loads;
    setText(this.#status, 'Loading…');
    try {
      const { body } = await getJson(`/api/alerts/history?limit=${LIMIT}`);
      if (load !== this.#loads) return;
      const list = Array.isArray(body?.alerts) ? body.alerts : [];
      this.#alerts = new Map(list.filter((a) => a && typeof a.id === 'string').map((a) => [a.id, a]));
      this.#render();
    } catch (err) {
      if (load === this.#loads) setText(this.#status, `Could not load the history: ${err.message}`);
    }
  }

  /** Stops drawing (the page is gone). */
  stop() {
    this.#frame.cancel();
    this.#loads++;
  }

  #render() {
    const started = (a) => a.firedAt ?? a.startedAt ?? 0;
    const all = [...this.#alerts.values()].sort((a, b) => started(b) - started(a)).slice(0, LIMIT);
    this.#alerts = new Map(all.map((a) => [a.id, a]));
    placeChildren(
      this.#tbody,
      all.map((a) => this.#row(a)),
    );
    for (const id of this.#rows.keys()) if (!this.#alerts.has(id)) this.#rows.delete(id);
    this.#root.dataset.rows = String(all.length);
    setText(this.#status, all.length === 0 ? 'No alerts yet.' : '');
  }

  /** The alert's row, built again when what it shows changed. */
  #row(a) {
    const key = JSON.stringify([a, this.#model.nodes.get(a.node)?.name]);
    const known = this.#rows.get(a.id);
    if (known?.key === key) return known.tr;
    const tr = h(
      'tr',
      { dataset: { id: a.id, rule: a.rule, node: a.node, state: safeClass(a.state) } },
      alertCells(this.#model, a),
      h('td', null, typeof a.firedAt === 'number' ? timeEl(a.firedAt) : fmt.NONE),
      h('td', null, typeof a.resolvedAt === 'number' ? timeEl(a.resolvedAt) : fmt.NONE),
      h('td', { class: 'num', text: notifiedText(a) }),
    );
    this.#rows.set(a.id, { key, tr });
    return tr;
  }
}

/** Whether the history shows `next` otherwise than `known` (a new value alone does not count). */
function changed(known, next) {
  return ['state', 'severity', 'firedAt', 'resolvedAt', 'notified', 'suppressed', 'silenced', 'flapping'].some(
    (key) => known[key] !== next[key],
  );
}

/** "3", or "3 (+5 held back)" when silences or quiet hours held some back. */
function notifiedText(a) {
  const sent = typeof a.notified === 'number' ? a.notified : 0;
  return a.suppressed ? `${sent} (+${a.suppressed} held back)` : String(sent);
}

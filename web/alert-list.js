// The alerts page's open alerts: every pending and firing alert of OpenAlerts (kept live by the
// stream), firing and critical ones first, each with its state, severity, rule, node, detail and
// marks, and since when; a firing one has a "Silence" button that fills the silence form. Redrawn
// at most once a frame (and every few seconds for the "since" times). A firing alert's detail
// changes with every sample, so rows are kept by id and only their changed cells are replaced:
// the node link and the "Silence" button stay the same elements, and keep the keyboard focus.

import { agoEl, alertCells, alertNodeName, detailText, ruleText } from './alert-format.js';
import { dataTable, frameTask, h, placeChildren, safeClass, setText } from './dom.js';
import * as fmt from './format.js';

const TICK_MS = 5000;
const RANK = { firing: 0, pending: 1 };
/** The cells alertCells() makes, at the start of each row. */
const SHARED_CELLS = 5;

export class AlertList {
  #model;
  #alerts;
  #root;
  #tbody;
  #status;
  #onSilence;
  /** id → {tr, keys (what its cells show), firing, alert, since, action} */
  #rows = new Map();
  #frame = frameTask(() => this.#render());
  #ticker;
  #unsubscribe;

  /** alerts: OpenAlerts; onSilence(alert): the operator asked to silence a firing alert. */
  constructor(model, alerts, { onSilence }) {
    this.#model = model;
    this.#alerts = alerts;
    this.#onSilence = onSilence;
    this.#tbody = h('tbody');
    this.#status = h('p', { class: 'muted', 'aria-live': 'polite' });
    this.#root = h(
      'section',
      { class: 'alert-list', 'aria-labelledby': 'alert-list-title' },
      h('h2', { id: 'alert-list-title', text: 'Open alerts' }),
      dataTable('alerts', ['State', 'Severity', 'Rule', 'Node', 'Detail', 'Since', 'Action'], this.#tbody),
      this.#status,
    );
  }

  get element() {
    return this.#root;
  }

  mount() {
    this.#unsubscribe = this.#alerts.subscribe(() => this.#frame.request());
    this.#ticker = setInterval(() => this.#frame.request(), TICK_MS);
    this.#render();
  }

  unmount() {
    this.#unsubscribe?.();
    clearInterval(this.#ticker);
    this.#frame.cancel();
  }

  /** Redraws (node names changed). */
  refresh() {
    this.#frame.request();
  }

  #render() {
    const list = this.#alerts
      .list()
      .sort(
        (a, b) =>
          (RANK[a.state] ?? 2) - (RANK[b.state] ?? 2) ||
          Number(b.severity === 'critical') - Number(a.severity === 'critical') ||
          (b.since ?? 0) - (a.since ?? 0),
      );
    const now = this.#model.now();
    placeChildren(
      this.#tbody,
      list.map((alert) => this.#update(alert, now)),
    );
    const open = new Set(list.map((a) => a.id));
    for (const id of this.#rows.keys()) if (!open.has(id)) this.#rows.delete(id);
    this.#root.dataset.rows = String(list.length);
    const { available, error } = this.#alerts;
    setText(
      this.#status,
      available === false
        ? 'This primary runs no alerts.'
        : error
          ? `Could not load alerts: ${error}`
          : available && list.length === 0
            ? 'No open alerts.'
            : '',
    );
  }

  /** The alert's row, made or brought up to date; returns its <tr>. */
  #update(a, now) {
    let row = this.#rows.get(a.id);
    if (!row) {
      const since = agoEl(a.since, now);
      row = { keys: [], firing: false, alert: a, since, action: h('td') };
      const cells = Array.from({ length: SHARED_CELLS }, () => h('td'));
      row.tr = h('tr', { dataset: { id: a.id } }, cells, h('td', null, since), row.action);
      this.#rows.set(a.id, row);
    }
    row.alert = a;
    const name = alertNodeName(this.#model, a);
    // What each of alertCells()'s cells shows: only a cell whose input changed is replaced.
    const keys = [
      a.state,
      a.severity,
      ruleText(a),
      `${a.node}\0${name}`,
      `${detailText(a)}\0${a.silenced}\0${a.flapping}`,
    ];
    if (keys.some((key, i) => key !== row.keys[i])) {
      const cells = alertCells(this.#model, a);
      keys.forEach((key, i) => {
        if (key !== row.keys[i]) row.tr.children[i].replaceWith(cells[i]);
      });
      row.keys = keys;
      Object.assign(row.tr.dataset, {
        rule: a.rule,
        node: a.node,
        state: safeClass(a.state),
        severity: safeClass(a.severity),
        silenced: String(a.silenced === true),
      });
    }
    const firing = a.state === 'firing';
    if (firing !== row.firing) {
      row.firing = firing;
      row.action.replaceChildren(
        firing
          ? h('button', {
              type: 'button',
              class: 'action action-silence',
              text: 'Silence',
              'aria-label': `Silence ${ruleText(a)} on ${name}`,
              onclick: () => this.#onSilence(row.alert),
            })
          : '',
      );
    }
    setText(row.since, fmt.ago(now - a.since));
    return row.tr;
  }
}

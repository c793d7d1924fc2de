// The cluster overview (#/): the totals (TotalsBar), the toolbar (OverviewToolbar), then every
// node as a row (NodeTable) with a badge when it has firing alerts (OpenAlerts), sorted and
// filtered by name, label and state (kept in the URL so a reload keeps them). Built for 1,000
// nodes: changes from the model and the alerts are collected and applied once per animation
// frame, only to the rows they touch; rows are re-ordered only when the sort key can have moved;
// rows off screen skip layout (content-visibility in app.css).

import { h } from './dom.js';
import { NodeTable } from './node-table.js';
import { COLUMN } from './overview-columns.js';
import { OverviewToolbar } from './overview-toolbar.js';
import { readOverviewUrl, sortValue, writeOverviewUrl } from './overview-url.js';
import { parseFilter } from './parse-filter.js';
import { sortNodes } from './sort-nodes.js';
import { TotalsBar } from './totals-bar.js';

export class Overview {
  #model;
  #alerts;
  #root;
  #totals;
  #toolbar;
  #table;
  #empty;
  #dirty = new Set();
  #all = true;
  #reorder = true;
  #frame = 0;
  #visible = false;
  #view = readOverviewUrl();
  #predicate = parseFilter(this.#view.text);
  #firstRender = true;
  #shown = 0;

  /** alerts: the OpenAlerts whose firing ones badge the rows. */
  constructor(model, alerts) {
    this.#model = model;
    this.#alerts = alerts;
    this.#root = this.#build();
    model.subscribe((ids, kind) => this.#onChange(ids, kind));
    alerts.subscribe((ids) => this.#onChange(ids, 'alerts'));
    setInterval(() => this.#tick(), 1000);
  }

  get element() {
    return this.#root;
  }

  /** Shows the page (its rows were kept up to date in memory while hidden). */
  show() {
    // "#/" alone (the Nodes link) keeps the sort and filter last used; a query sets them.
    if (location.hash.includes('?')) {
      this.#view = readOverviewUrl();
      this.#predicate = parseFilter(this.#view.text);
    } else {
      writeOverviewUrl(this.#view);
    }
    this.#toolbar.show(this.#view);
    this.#visible = true;
    this.#root.hidden = false;
    this.#all = true;
    this.#reorder = true;
    this.#schedule();
    this.#flush(); // at once, not a frame later: the page is never shown stale
  }

  hide() {
    this.#visible = false;
    this.#root.hidden = true;
  }

  #build() {
    this.#totals = new TotalsBar({
      onState: (state) => this.#setView({ state: this.#view.state === state ? '' : state }),
    });
    this.#toolbar = new OverviewToolbar({ onChange: (change) => this.#setView(change) });
    this.#table = new NodeTable({ onSort: (key) => this.#toggleSort(key) });
    this.#empty = h('p', { class: 'empty', hidden: true });
    addEventListener('keydown', (e) => {
      // "/" jumps to the filter, as on many sites.
      if (e.key === '/' && this.#visible && !(e.target instanceof HTMLInputElement) && !e.ctrlKey && !e.metaKey) {
        e.preventDefault();
        this.#toolbar.focusFilter();
      }
    });
    return h(
      'section',
      { id: 'overview', class: 'page overview', 'aria-labelledby': 'overview-title', hidden: true },
      h('h1', { id: 'overview-title', tabindex: '-1', text: 'Nodes' }),
      this.#totals.element,
      this.#toolbar.element,
      this.#table.element,
      this.#empty,
    );
  }

  #toggleSort(key) {
    const desc = this.#view.sortKey === key ? !this.#view.desc : COLUMN[key].live; // numbers: biggest first
    this.#setView({ sortKey: key, desc });
  }

  #setView(change) {
    this.#view = { ...this.#view, ...change };
    this.#predicate = parseFilter(this.#view.text);
    this.#toolbar.showChoices(this.#view);
    writeOverviewUrl(this.#view);
    this.#reorder = true;
    this.#schedule();
  }

  #onChange(ids, kind) {
    if (ids === null) {
      this.#all = true;
      this.#reorder = true;
    } else {
      for (const id of ids) this.#dirty.add(id);
      if (kind === 'node' || COLUMN[this.#view.sortKey].live) this.#reorder = true;
    }
    this.#schedule();
  }

  #schedule() {
    if (this.#frame || !this.#visible) return;
    this.#frame = requestAnimationFrame(() => this.#flush());
  }

  /** Applies every change collected since the last frame. */
  #flush() {
    if (this.#frame) cancelAnimationFrame(this.#frame);
    this.#frame = 0;
    if (!this.#visible) return;
    const started = performance.now();
    const model = this.#model;
    const now = model.now();
    const all = this.#all;
    const ids = all ? model.nodes.keys() : this.#dirty;
    let updated = 0;
    for (const id of ids) {
      const node = model.nodes.get(id);
      if (!node) continue;
      this.#table.update(node, now, this.#alerts.firingOn(id));
      updated++;
    }
    if (all) this.#table.prune(model.nodes);
    const vitalsFlush = !all && model.vitalsArrivedAt > 0;
    this.#dirty.clear();
    this.#all = false;
    if (this.#reorder) this.#applyOrder();
    this.#reorder = false;
    this.#totals.update(model.nodes, this.#view.state);
    this.#table.showSort(this.#view.sortKey, this.#view.desc);
    const ended = performance.now();
    // Measurements for bench/dashboard.ts (and anyone with the devtools open).
    if (model.loaded && this.#firstRender && this.#table.size === model.nodes.size) {
      this.#firstRender = false;
      performance.mark('picluster:overview-rendered', { detail: { rows: this.#shown } });
      requestAnimationFrame(() =>
        setTimeout(() => performance.mark('picluster:overview-painted', { detail: { rows: this.#shown } })),
      );
    }
    if (vitalsFlush) {
      const arrived = model.vitalsArrivedAt;
      model.vitalsArrivedAt = 0;
      // Only the latest of each is kept: a timeline entry every second would grow all day.
      for (const name of ['applied', 'flush', 'painted']) performance.clearMeasures(`picluster:vitals-${name}`);
      performance.measure('picluster:vitals-applied', { start: arrived, end: ended, detail: { rows: updated } });
      performance.measure('picluster:vitals-flush', { start: started, end: ended, detail: { rows: updated } });
      requestAnimationFrame(() =>
        setTimeout(() =>
          // (a later message may have cleared it meanwhile: then this one's is the latest anyway)
          performance.measure('picluster:vitals-painted', {
            start: arrived,
            end: performance.now(),
            detail: { rows: updated },
          }),
        ),
      );
    }
  }

  /** Filters and sorts, then shows the result: the rows, their count, or why there are none. */
  #applyOrder() {
    const { sortKey, desc, state } = this.#view;
    const nodes = [];
    for (const node of this.#model.nodes.values()) {
      if (state && node.state !== state) continue;
      if (!this.#predicate(node)) continue;
      nodes.push(node);
    }
    const shown = sortNodes(nodes, COLUMN[sortKey].get, desc);
    this.#table.order(shown);
    this.#shown = shown.length;
    const total = this.#model.nodes.size;
    this.#root.dataset.rows = String(shown.length);
    // The order on screen is this sort's (tests wait for it; the URL changes a frame earlier).
    this.#root.dataset.sort = sortValue(this.#view);
    this.#toolbar.setCount(shown.length === total ? `${total} nodes` : `showing ${shown.length} of ${total}`);
    const empty = this.#empty;
    empty.hidden = shown.length > 0 || !this.#model.loaded;
    if (!empty.hidden) {
      empty.textContent =
        total === 0
          ? 'No nodes yet. Join one with: picluster secondary --primary HOST:12345 --token-file ./token'
          : 'No node matches the filter.';
    }
  }

  /** Once a second: the "last seen" column, and the order when it is sorted by it. */
  #tick() {
    if (!this.#visible || this.#frame) return;
    this.#table.updateSeen(this.#model.nodes, this.#model.now());
    if (this.#view.sortKey === 'seen') {
      this.#reorder = true;
      this.#schedule();
    }
  }
}

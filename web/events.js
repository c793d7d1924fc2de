// The events log (#/events, #/events?node=ID): newest first from /api/events, new entries
// prepended live from the stream, filtered by type and node. "Show more" pages back through the
// log (`before` the oldest event loaded), as far as it goes. Reloaded after every resnapshot, so
// what happened while the link was down shows up too.

import { getJson } from './api.js';
import { dataTable, h, safeClass, setText } from './dom.js';
import { eventDetails } from './event-list.js';
import * as fmt from './format.js';

const PAGE = 200;
const MAX_LIMIT = 1000;

export class EventsPage {
  #model;
  #root;
  #els = {};
  #events = new Map(); // id → entry
  /** Rows shown: a page more at each "Show more". */
  #limit = PAGE;
  /** The oldest event id loaded from the API (where the next page starts). */
  #oldest = Number.POSITIVE_INFINITY;
  /** No older events than those loaded. */
  #exhausted = false;
  #node;
  #type = '';
  #text = '';
  #unsubscribe = [];
  #frame = 0;
  #alive = true;

  constructor(model, node) {
    this.#model = model;
    this.#node = node || undefined;
    this.#root = this.#build();
  }

  get element() {
    return this.#root;
  }

  mount() {
    this.#unsubscribe.push(
      this.#model.onEvent((entry) => {
        if (!entry || typeof entry.id !== 'number') return;
        if (this.#node && entry.node !== this.#node) return;
        this.#events.set(entry.id, entry);
        this.#schedule();
      }),
      this.#model.subscribe((ids) => {
        if (ids === null)
          void this.#load(); // resynced after a reconnect: fill the gap
        else this.#schedule(); // node names may have changed
      }),
    );
    void this.#load();
  }

  unmount() {
    this.#alive = false;
    for (const off of this.#unsubscribe) off();
    cancelAnimationFrame(this.#frame);
  }

  #build() {
    const type = h(
      'select',
      {
        'aria-label': 'Event type',
        onchange: () => {
          this.#type = type.value;
          this.#schedule();
        },
      },
      h('option', { value: '', text: 'All types' }),
    );
    const text = h('input', {
      type: 'search',
      placeholder: 'Filter by node or details…',
      'aria-label': 'Filter events by node or details',
      oninput: () => {
        this.#text = text.value.toLowerCase();
        this.#schedule();
      },
    });
    const tbody = h('tbody');
    const more = h('button', { type: 'button', class: 'more', text: 'Show more', onclick: () => this.#more() });
    const status = h('p', { class: 'muted', 'aria-live': 'polite' });
    const scope = this.#node
      ? h('p', null, 'Events of one node. ', h('a', { href: '#/events', text: 'Show all nodes' }))
      : null;
    this.#els = { type, text, tbody, more, status };
    return h(
      'section',
      { class: 'page events-page' },
      h('h1', { tabindex: '-1', text: 'Events' }),
      scope,
      h('div', { class: 'toolbar' }, text, type),
      dataTable('events', ['Time', 'Node', 'Event', 'Details'], tbody),
      status,
      more,
    );
  }

  /** The newest events, or with `before` the page older than that id. */
  async #load(before) {
    const limit = before === undefined ? Math.min(this.#limit, MAX_LIMIT) : PAGE;
    const q = new URLSearchParams({ limit: String(limit) });
    if (this.#node) q.set('node', this.#node);
    if (before !== undefined) q.set('before', String(before));
    setText(this.#els.status, 'Loading…');
    try {
      const { body } = await getJson(`/api/events?${q}`);
      if (!this.#alive) return;
      const list = Array.isArray(body?.events) ? body.events : [];
      for (const e of list) {
        if (!e || typeof e.id !== 'number') continue;
        this.#events.set(e.id, e);
        this.#oldest = Math.min(this.#oldest, e.id);
      }
      if (list.length < limit) this.#exhausted = true;
      this.#render();
    } catch (err) {
      if (this.#alive) setText(this.#els.status, `Could not load events: ${err.message}`);
    }
  }

  #more() {
    this.#limit += PAGE;
    // Events that came live may already fill the next page; else the log has older ones to load.
    if (this.#events.size >= this.#limit || this.#exhausted) this.#render();
    else void this.#load(Number.isFinite(this.#oldest) ? this.#oldest : undefined);
  }

  #schedule() {
    if (this.#frame) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      this.#render();
    });
  }

  #render() {
    let all = [...this.#events.values()].sort((a, b) => b.ts - a.ts || b.id - a.id);
    const keep = Math.max(2 * MAX_LIMIT, this.#limit + PAGE);
    if (all.length > keep) {
      // A busy cluster streams events all day: keep the newest (and the pages asked for).
      all = all.slice(0, keep);
      this.#events = new Map(all.map((e) => [e.id, e]));
      this.#oldest = all.reduce((min, e) => Math.min(min, e.id), Number.POSITIVE_INFINITY);
      this.#exhausted = false;
    }
    // The type filter offers the types seen so far.
    const types = [...new Set(all.map((e) => String(e.type)))].sort();
    const known = new Set([...this.#els.type.options].map((o) => o.value));
    for (const t of types) if (!known.has(t)) this.#els.type.append(h('option', { value: t, text: t }));
    const nodes = this.#model.nodes;
    const shown = all.filter((e) => {
      if (this.#type && e.type !== this.#type) return false;
      if (!this.#text) return true;
      const name = nodes.get(e.node)?.name ?? '';
      return `${name} ${e.node ?? ''} ${eventDetails(e)}`.toLowerCase().includes(this.#text);
    });
    const rows = shown.slice(0, this.#limit).map((e) => {
      const node = e.node ? nodes.get(e.node) : undefined;
      const nodeCell = e.node
        ? h('a', { href: `#/node/${encodeURIComponent(e.node)}`, title: e.node, text: node?.name ?? e.node })
        : h('span', { class: 'muted', text: 'primary' });
      return h(
        'tr',
        { dataset: { id: String(e.id), type: safeClass(e.type) } },
        h('td', null, h('time', { datetime: fmt.iso(e.ts), title: fmt.full(e.ts), text: fmt.when(e.ts) })),
        h('td', null, nodeCell),
        h('td', null, h('span', { class: `badge state-${safeClass(e.type)}`, text: e.type })),
        h('td', { class: 'details', text: eventDetails(e) }),
      );
    });
    this.#els.tbody.replaceChildren(...rows);
    this.#root.dataset.rows = String(rows.length);
    setText(
      this.#els.status,
      all.length === 0
        ? 'No events yet.'
        : shown.length === all.length
          ? `${all.length} events`
          : `${shown.length} of ${all.length} events`,
    );
    // More to show: rows held beyond the page (live ones too), or older ones still in the log.
    this.#els.more.hidden = this.#exhausted && all.length <= this.#limit;
  }
}

// A node's recent events on its page: the newest EVENT_LIMIT from /api/events?node=ID, with new
// ones from the stream prepended (the newest marked `fresh`). Also how any event's own fields
// read as text, which the events log (events.js) shares.

import { ApiError, getJson } from './api.js';
import { h, safeClass } from './dom.js';
import * as fmt from './format.js';

const EVENT_LIMIT = 20;

export class EventList {
  #model;
  #id;
  #root;
  #list;
  #events = [];
  #unsubscribe;

  constructor(model, id) {
    this.#model = model;
    this.#id = id;
    this.#root = this.#build();
  }

  get element() {
    return this.#root;
  }

  mount() {
    this.#unsubscribe = this.#model.onEvent((entry) => {
      if (entry?.node === this.#id) this.#add([entry], true);
    });
    void this.#load();
  }

  unmount() {
    this.#unsubscribe?.();
  }

  #build() {
    this.#list = h('ol', { class: 'event-list' });
    return h(
      'section',
      { class: 'card recent', 'aria-labelledby': 'events-title' },
      h('h2', { id: 'events-title', text: 'Recent events' }),
      this.#list,
      h('a', { href: `#/events?node=${encodeURIComponent(this.#id)}`, text: 'All events of this node →' }),
    );
  }

  async #load() {
    try {
      const { body } = await getJson(`/api/events?node=${encodeURIComponent(this.#id)}&limit=${EVENT_LIMIT}`);
      this.#add(Array.isArray(body?.events) ? body.events : [], false);
    } catch (err) {
      // A 404 means no such node: the page says so, the list has nothing to add.
      if (!(err instanceof ApiError && err.status === 404)) {
        this.#list.replaceChildren(h('li', { class: 'muted', text: `Could not load events: ${err.message}` }));
      }
    }
  }

  #add(entries, live) {
    const byId = new Map(this.#events.map((e) => [e.id, e]));
    for (const e of entries) if (e && !byId.has(e.id)) byId.set(e.id, e);
    this.#events = [...byId.values()].sort((a, b) => b.ts - a.ts || b.id - a.id).slice(0, EVENT_LIMIT);
    if (this.#events.length === 0) {
      this.#list.replaceChildren(h('li', { class: 'muted', text: 'No events.' }));
      return;
    }
    this.#list.replaceChildren(...this.#events.map((e) => eventItem(e)));
    if (live) this.#list.firstChild?.classList.add('fresh');
  }
}

function eventItem(e) {
  return h(
    'li',
    { dataset: { type: safeClass(e.type) } },
    h('time', { datetime: fmt.iso(e.ts), text: fmt.when(e.ts) }),
    h('span', { class: `badge state-${safeClass(e.type)}`, text: e.type }),
    h('span', { class: 'muted', text: eventDetails(e) }),
  );
}

/** An event's own fields as `key=value` text. */
export function eventDetails(e) {
  return Object.entries(e)
    .filter(([k]) => !['id', 'ts', 'node', 'type'].includes(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

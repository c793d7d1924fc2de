// The tasks page's history: tasks newest first from /api/tasks (broadcasts once; with a node, that
// node's tasks, broadcast children included), filtered by state, "Show more" paging back with
// `before`. Live: rows from the stream update their task in place and new ones are prepended, so
// a state changes on screen without a reload. A row opens the task's detail.

import { getJson } from './api.js';
import { dataTable, frameTask, h, safeClass, setText } from './dom.js';
import {
  durationText,
  errorText,
  nodeName,
  supersedes,
  TASK_STATES,
  targetText,
  taskBadge,
  taskHref,
  timeEl,
} from './task-format.js';

const PAGE = 50;
const MAX_LIMIT = 1000;

export class TaskHistory {
  #model;
  #root;
  #els = {};
  /** id → task row */
  #tasks = new Map();
  /** id → position: the API's order (newest first), live arrivals before it. */
  #order = new Map();
  #nextLive = -1;
  #nextLoaded = 0;
  #limit = PAGE;
  /** Where the next page starts: the oldest task the API gave. */
  #oldestId;
  #exhausted = false;
  #node;
  #state = '';
  #selected;
  #frame = frameTask(() => this.#render());
  #loads = 0;
  #onFilter;

  /** onFilter({state}): the operator changed the state filter (for the URL). */
  constructor(model, { node, state, onFilter }) {
    this.#model = model;
    this.#node = node || undefined;
    this.#state = TASK_STATES.includes(state) ? state : '';
    this.#onFilter = onFilter;
    this.#root = this.#build();
  }

  get element() {
    return this.#root;
  }

  /** A stream row: updates a shown task, or adds one that belongs in this list. */
  addLive(task) {
    const known = this.#tasks.get(task.id);
    if (known && !supersedes(task, known)) return;
    if (!known) {
      const belongs = this.#node ? task.nodeId === this.#node : task.parent === null || task.parent === undefined;
      if (!belongs) return;
      this.#order.set(task.id, this.#nextLive--);
    }
    this.#tasks.set(task.id, task);
    this.#schedule();
  }

  /** Marks the row of the task shown in the detail. */
  select(id) {
    this.#selected = id;
    this.#schedule();
  }

  /** Redraws (node names changed). */
  refresh() {
    this.#schedule();
  }

  /** The newest tasks (again: after a reconnect, what the stream missed), or the page before `before`. */
  async load(before) {
    const limit = before === undefined ? Math.min(this.#limit, MAX_LIMIT) : PAGE;
    const q = new URLSearchParams({ limit: String(limit) });
    if (this.#node) q.set('node', this.#node);
    if (this.#state) q.set('state', this.#state);
    if (before !== undefined) q.set('before', before);
    const load = ++this.#loads;
    setText(this.#els.status, 'Loading…');
    try {
      const { body } = await getJson(`/api/tasks?${q}`);
      if (load !== this.#loads) return;
      const list = Array.isArray(body?.tasks) ? body.tasks : [];
      if (before === undefined) {
        // The newest page replaces what was loaded: positions start over, live rows stay first.
        this.#nextLoaded = 0;
        this.#exhausted = false;
      }
      for (const task of list) {
        if (!task || typeof task.id !== 'string') continue;
        if (supersedes(task, this.#tasks.get(task.id))) this.#tasks.set(task.id, task);
        this.#order.set(task.id, this.#nextLoaded++);
      }
      if (list.length > 0) this.#oldestId = list.at(-1).id;
      if (list.length < limit) this.#exhausted = true;
      this.#render();
    } catch (err) {
      if (load === this.#loads) setText(this.#els.status, `Could not load tasks: ${err.message}`);
    }
  }

  #build() {
    const state = h(
      'select',
      {
        id: 'task-state-filter',
        'aria-label': 'Task state',
        onchange: () => {
          this.#state = state.value;
          this.#limit = PAGE;
          this.#tasks = new Map();
          this.#order = new Map();
          this.#oldestId = undefined;
          this.#onFilter?.({ state: this.#state });
          void this.load();
        },
      },
      h('option', { value: '', text: 'All states' }),
      TASK_STATES.map((s) => h('option', { value: s, text: s.replace('_', ' '), selected: s === this.#state })),
    );
    const scopeNode = this.#node
      ? h('a', { href: `#/node/${encodeURIComponent(this.#node)}`, text: this.#node })
      : null;
    const scope = this.#node
      ? h(
          'p',
          { class: 'scope' },
          'Tasks of node ',
          scopeNode,
          ' (broadcast parts included). ',
          h('a', { href: '#/tasks', text: 'Show all tasks' }),
        )
      : null;
    const tbody = h('tbody');
    const status = h('p', { class: 'muted', 'aria-live': 'polite' });
    const more = h('button', { type: 'button', class: 'more', text: 'Show more', onclick: () => this.#more() });
    this.#els = { state, scopeNode, tbody, status, more };
    return h(
      'section',
      { class: 'task-history', 'aria-labelledby': 'task-history-title' },
      h('div', { class: 'history-head' }, h('h2', { id: 'task-history-title', text: 'History' }), state),
      scope,
      dataTable('tasks', ['Task', 'Target / node', 'State', 'Reason', 'Created', 'Duration', 'Submitted by'], tbody),
      status,
      more,
    );
  }

  #more() {
    this.#limit += PAGE;
    if (this.#tasks.size >= this.#limit || this.#exhausted || this.#oldestId === undefined) this.#render();
    else void this.load(this.#oldestId);
  }

  #schedule() {
    this.#frame.request();
  }

  /** Stops drawing (the page is gone). */
  stop() {
    this.#frame.cancel();
    this.#loads++;
  }

  #render() {
    if (this.#node) setText(this.#els.scopeNode, nodeName(this.#model, this.#node));
    const all = [...this.#tasks.values()]
      .filter((t) => !this.#state || t.state === this.#state)
      .sort((a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0) || this.#order.get(a.id) - this.#order.get(b.id));
    const now = this.#model.now();
    const rows = all.slice(0, this.#limit).map((t) => this.#row(t, now));
    this.#els.tbody.replaceChildren(...rows);
    this.#root.dataset.rows = String(rows.length);
    setText(
      this.#els.status,
      all.length === 0 ? (this.#state ? `No ${this.#state.replace('_', ' ')} tasks.` : 'No tasks yet.') : '',
    );
    this.#els.more.hidden = this.#exhausted && all.length <= this.#limit;
  }

  #row(t, now) {
    const selected = t.id === this.#selected;
    return h(
      'tr',
      {
        class: selected ? 'selected' : null,
        'aria-current': selected ? 'true' : null,
        dataset: { id: t.id, state: safeClass(t.state) },
        onclick: (e) => {
          if (!e.target.closest('a')) location.hash = taskHref(t.id);
        },
      },
      h('td', null, h('a', { href: taskHref(t.id), class: 'task-link', text: t.kind })),
      h('td', { class: 'target', text: targetText(this.#model, t) }),
      h('td', null, taskBadge(t.state)),
      h('td', { class: 'reason', text: t.error ? errorText(t.error) : (t.reason ?? '') }),
      h('td', null, timeEl(t.createdAt)),
      h('td', { class: 'num', text: durationText(t, now) }),
      h('td', { class: 'muted', text: t.submittedBy ?? '' }),
    );
  }
}

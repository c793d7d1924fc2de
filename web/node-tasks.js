// A node's recent tasks on its page: the newest TASK_LIMIT from /api/tasks?node=ID (broadcast
// parts included), followed live from the stream's `task` rows, each linking to its detail on
// the tasks page. "Run node.time" asks the node for its clock (a read-only task, always allowed):
// the new task shows up in the list as it runs.

import { ApiError, getJson, postJson } from './api.js';
import { frameTask, h, safeClass, setText } from './dom.js';
import { durationText, errorText, supersedes, taskBadge, taskHref, timeEl } from './task-format.js';

const TASK_LIMIT = 10;

export class NodeTasks {
  #model;
  #id;
  #root;
  #list;
  #status;
  #tasks = new Map();
  #unsubscribe = [];
  #frame = frameTask(() => this.#render());
  #alive = true;

  constructor(model, id) {
    this.#model = model;
    this.#id = id;
    this.#root = this.#build();
  }

  get element() {
    return this.#root;
  }

  mount() {
    this.#unsubscribe.push(
      this.#model.onTask((task) => {
        if (task.nodeId !== this.#id || !supersedes(task, this.#tasks.get(task.id))) return;
        this.#tasks.set(task.id, task);
        this.#schedule();
      }),
      this.#model.subscribe((ids) => {
        if (ids === null) void this.#load(); // resynced after a reconnect
      }),
    );
    void this.#load();
  }

  unmount() {
    this.#alive = false;
    for (const off of this.#unsubscribe) off();
    this.#frame.cancel();
  }

  #build() {
    this.#list = h('ol', { class: 'task-list' });
    this.#status = h('span', { class: 'muted action-status', role: 'status' });
    const run = h('button', {
      type: 'button',
      class: 'action action-run-time',
      text: 'Run node.time',
      onclick: () => void this.#runTime(),
    });
    return h(
      'section',
      { class: 'card recent node-tasks', 'aria-labelledby': 'node-tasks-title' },
      h(
        'div',
        { class: 'history-head' },
        h('h2', { id: 'node-tasks-title', text: 'Recent tasks' }),
        h('span', null, run, ' ', this.#status),
      ),
      this.#list,
      h('a', { href: `#/tasks?node=${encodeURIComponent(this.#id)}`, text: 'All tasks of this node →' }),
    );
  }

  async #load() {
    try {
      const { body } = await getJson(`/api/tasks?node=${encodeURIComponent(this.#id)}&limit=${TASK_LIMIT}`);
      if (!this.#alive) return;
      for (const task of Array.isArray(body?.tasks) ? body.tasks : []) {
        if (task && typeof task.id === 'string' && supersedes(task, this.#tasks.get(task.id)))
          this.#tasks.set(task.id, task);
      }
      this.#render();
    } catch (err) {
      // A 404 means no such node: the page says so.
      if (this.#alive && !(err instanceof ApiError && err.status === 404)) {
        this.#list.replaceChildren(h('li', { class: 'muted', text: `Could not load tasks: ${err.message}` }));
      }
    }
  }

  async #runTime() {
    setText(this.#status, '…');
    try {
      const task = await postJson('/api/tasks', { kind: 'node.time', on: `node:${this.#id}` });
      if (!this.#alive) return;
      this.#tasks.set(task.id, task);
      this.#render();
      setText(this.#status, 'Submitted.');
    } catch (err) {
      setText(this.#status, `Failed: ${err.message}`);
    }
  }

  #schedule() {
    this.#frame.request();
  }

  #render() {
    const tasks = [...this.#tasks.values()]
      .sort((a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0))
      .slice(0, TASK_LIMIT);
    this.#tasks = new Map(tasks.map((t) => [t.id, t]));
    this.#root.dataset.rows = String(tasks.length);
    if (tasks.length === 0) {
      this.#list.replaceChildren(h('li', { class: 'muted', text: 'No tasks yet.' }));
      return;
    }
    const now = this.#model.now();
    this.#list.replaceChildren(
      ...tasks.map((t) =>
        h(
          'li',
          { dataset: { id: t.id, state: safeClass(t.state) } },
          timeEl(t.createdAt),
          h('a', { href: taskHref(t.id), class: 'task-link', text: t.kind }),
          taskBadge(t.state),
          h('span', { class: 'num muted', text: durationText(t, now) }),
          h('span', { class: 'muted', text: t.error ? errorText(t.error) : (t.reason ?? '') }),
        ),
      ),
    );
  }
}

// A broadcast's parts in its detail: one row per node with its state, result, error and duration,
// sorted by node name, under a count of those done. Redrawn from the rows the detail keeps (the
// fetched ones, then each `task` row from the stream).

import { dataTable, h, safeClass, setText } from './dom.js';
import { compactJson, durationText, errorText, isFinal, nodeName, taskBadge, taskHref } from './task-format.js';

export class TaskChildren {
  #model;
  #root;
  #summary;
  #rows;

  constructor(model) {
    this.#model = model;
    this.#summary = h('span', { class: 'muted' });
    this.#rows = h('tbody');
    this.#root = h(
      'div',
      { class: 'detail-block task-children', hidden: true },
      h('h3', null, 'Nodes ', this.#summary),
      dataTable('tasks children', ['Node', 'State', 'Result', 'Error', 'Duration'], this.#rows),
    );
  }

  get element() {
    return this.#root;
  }

  /** Shows `children` (task rows); none hides the block. */
  render(children, now) {
    this.#root.hidden = children.length === 0;
    if (children.length === 0) return;
    const named = children.map((c) => ({ task: c, name: nodeName(this.#model, c.nodeId) }));
    named.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const done = children.filter(isFinal).length;
    const ok = children.filter((c) => c.state === 'succeeded').length;
    setText(this.#summary, `${done} of ${children.length} done, ${ok} succeeded`);
    this.#rows.replaceChildren(
      ...named.map(({ task: c, name }) =>
        h(
          'tr',
          { dataset: { id: c.id, node: c.nodeId ?? '', state: safeClass(c.state) } },
          h('td', null, h('a', { href: taskHref(c.id), text: name || '?' })),
          h('td', null, taskBadge(c.state)),
          h('td', { class: 'mono child-result', text: compactJson(c.result) }),
          h('td', { class: 'child-error', text: errorText(c.error) }),
          h('td', { class: 'num', text: durationText(c, now) }),
        ),
      ),
    );
  }
}

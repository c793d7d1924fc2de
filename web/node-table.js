// The overview's table of nodes: a header of sort buttons and one NodeRow per node, kept in a map
// by id whether shown or not (the filter hides a row by taking it out of the body, so it comes
// back without a rebuild). Re-ordering moves only the rows that are out of place.

import { h, placeChildren, setText } from './dom.js';
import { buildRowTemplate, NodeRow } from './node-row.js';
import { COLUMNS } from './overview-columns.js';

export class NodeTable {
  #root;
  #head;
  #body;
  #rows = new Map(); // id → NodeRow
  #rowTemplate;

  /** `onSort(key)`: a column's header was clicked. */
  constructor({ onSort }) {
    this.#head = h(
      'div',
      { role: 'rowgroup', class: 'thead' },
      h(
        'div',
        { role: 'row', class: 'row head' },
        COLUMNS.map((c) => {
          const button = h(
            'button',
            { type: 'button', class: 'sort', dataset: { key: c.key }, onclick: () => onSort(c.key) },
            c.label,
            h('span', { class: 'arrow', 'aria-hidden': 'true' }),
          );
          return h('div', { role: 'columnheader', class: `c-${c.key}`, dataset: { key: c.key } }, button);
        }),
      ),
    );
    this.#body = h('div', { role: 'rowgroup', class: 'tbody' });
    this.#root = h(
      'div',
      { role: 'table', class: 'nodes', 'aria-label': 'Nodes', 'aria-rowcount': '0' },
      this.#head,
      this.#body,
    );
  }

  get element() {
    return this.#root;
  }

  /** How many rows there are, shown or not. */
  get size() {
    return this.#rows.size;
  }

  /**
   * Updates the node's row, creating it (not yet placed: order() does that) if it is new;
   * `firing`: the node's firing alerts.
   */
  update(node, now, firing) {
    let row = this.#rows.get(node.id);
    if (!row) {
      this.#rowTemplate ??= buildRowTemplate();
      row = new NodeRow(this.#rowTemplate, node);
      this.#rows.set(node.id, row);
    }
    row.update(node, now, firing);
  }

  /** Drops the rows of nodes no longer in `nodes` (the model's map). */
  prune(nodes) {
    for (const [id, row] of this.#rows) {
      if (!nodes.has(id)) {
        row.el.remove();
        this.#rows.delete(id);
      }
    }
  }

  /** Shows exactly `shown`, in that order, moving only the rows that are out of place. */
  order(shown) {
    placeChildren(this.#body, shown.map((n) => this.#rows.get(n.id)?.el).filter(Boolean));
    this.#root.setAttribute('aria-rowcount', String(shown.length + 1));
  }

  /** Marks the sorted column's header (aria-sort and its arrow). */
  showSort(sortKey, desc) {
    for (const cell of this.#head.querySelectorAll('[role=columnheader]')) {
      const sorted = cell.dataset.key === sortKey;
      const value = sorted ? (desc ? 'descending' : 'ascending') : 'none';
      if (cell.getAttribute('aria-sort') !== value) {
        cell.setAttribute('aria-sort', value);
        setText(cell.querySelector('.arrow'), sorted ? (desc ? ' ↓' : ' ↑') : '');
      }
    }
  }

  /** The "last seen" cell of every row (string compare first; most rows do not change). */
  updateSeen(nodes, now) {
    for (const [id, row] of this.#rows) {
      const node = nodes.get(id);
      if (node) row.updateSeen(node, now);
    }
  }
}

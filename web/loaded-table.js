// A section filled from one GET of the JSON API: a heading, a table with a row per item of the
// answer's list, and a status line (none yet, or why the load failed, as text). Loads are counted
// so a slow answer never overwrites a newer one, nothing is drawn once the page is gone, and the
// rows are drawn again only when the list changed or refresh() asks (a button keeps the keyboard
// focus through a periodic reload). The alerts page's silences, rules and channels are these.

import { getJson } from './api.js';
import { dataTable, h, setText } from './dom.js';

export class LoadedTable {
  #root;
  #tbody;
  #status;
  #options;
  #items = [];
  /** The list drawn (as JSON; undefined before the first load). */
  #drawn;
  #loads = 0;
  #alive = true;

  /**
   * name: the section's class (and its heading's id stem); title: the heading; headings: the
   * columns; path: what to GET; key: the list's key in the answer; row(item): its <tr>; empty: the
   * status when the list is empty; below: elements under the table; onLoad(items): called with
   * the list after each load (what other parts of the page offer from it).
   */
  constructor(options) {
    this.#options = options;
    const { name, title, headings, below = [] } = options;
    this.#tbody = h('tbody');
    this.#status = h('p', { class: 'muted', 'aria-live': 'polite' });
    this.#root = h(
      'section',
      { class: `loaded-table ${name}`, 'aria-labelledby': `${name}-title` },
      h('h2', { id: `${name}-title`, text: title }),
      dataTable(name, headings, this.#tbody),
      this.#status,
      below,
    );
  }

  get element() {
    return this.#root;
  }

  /** Loads the list again and draws it. */
  async load() {
    const load = ++this.#loads;
    const { path, key, title } = this.#options;
    try {
      const { body } = await getJson(path);
      if (!this.#alive || load !== this.#loads) return;
      const list = body?.[key];
      this.#items = Array.isArray(list) ? list.filter((item) => item && typeof item === 'object') : [];
      this.#render();
      this.#options.onLoad?.(this.#items);
    } catch (err) {
      if (this.#alive && load === this.#loads)
        setText(this.#status, `Could not load ${title.toLowerCase()}: ${err.message}`);
    }
  }

  /** Draws the rows again (node names changed). */
  refresh() {
    if (this.#drawn === undefined) return; // not loaded yet
    this.#drawn = null;
    this.#render();
  }

  #render() {
    setText(this.#status, this.#items.length === 0 ? this.#options.empty : '');
    const drawn = JSON.stringify(this.#items);
    if (drawn === this.#drawn) return;
    this.#drawn = drawn;
    this.#tbody.replaceChildren(...this.#items.map((item) => this.#options.row(item)));
    this.#root.dataset.rows = String(this.#items.length);
  }

  /** Draws nothing more (the page is gone). */
  stop() {
    this.#alive = false;
  }
}

// The overview's toolbar: the filter box, the state menu, the sort menu and the count of nodes
// shown. It reports what the user picks (onChange, a part of the view) and shows the view the page
// settles on; only show() writes the filter box, whose text otherwise only ever comes from typing.

import { h, setText } from './dom.js';
import { COLUMNS, STATES } from './overview-columns.js';
import { sortValue } from './overview-url.js';

export class OverviewToolbar {
  #root;
  #filter;
  #state;
  #sort;
  #count;

  /** `onChange(change)`: the user changed part of the view ({text}, {state} or {sortKey, desc}). */
  constructor({ onChange }) {
    const filter = h('input', {
      type: 'search',
      id: 'filter',
      placeholder: 'Filter: name, id, label (rack=1)…',
      'aria-label': 'Filter nodes by name, id or label',
      autocomplete: 'off',
      spellcheck: 'false',
      oninput: () => onChange({ text: filter.value }),
    });
    const state = h(
      'select',
      { id: 'state-filter', 'aria-label': 'Filter by state', onchange: () => onChange({ state: state.value }) },
      h('option', { value: '', text: 'All states' }),
      STATES.map((s) => h('option', { value: s, text: s })),
    );
    const sort = h(
      'select',
      {
        id: 'sort',
        class: 'sort-select',
        'aria-label': 'Sort by',
        onchange: () => {
          const desc = sort.value.startsWith('-');
          onChange({ sortKey: desc ? sort.value.slice(1) : sort.value, desc });
        },
      },
      COLUMNS.flatMap((c) => [
        h('option', { value: c.key, text: `${c.label} ↑` }),
        h('option', { value: `-${c.key}`, text: `${c.label} ↓` }),
      ]),
    );
    const count = h('span', { class: 'count', 'aria-live': 'polite' });
    this.#filter = filter;
    this.#state = state;
    this.#sort = sort;
    this.#count = count;
    this.#root = h('div', { class: 'toolbar' }, filter, state, sort, count);
  }

  get element() {
    return this.#root;
  }

  /** Shows `view` in every control, the filter box included (the page is being shown). */
  show(view) {
    this.#filter.value = view.text;
    this.showChoices(view);
  }

  /** Shows `view` in the menus only (after a change made here, the box already says it). */
  showChoices(view) {
    this.#state.value = view.state;
    this.#sort.value = sortValue(view);
  }

  focusFilter() {
    this.#filter.focus();
  }

  setCount(text) {
    setText(this.#count, text);
  }
}

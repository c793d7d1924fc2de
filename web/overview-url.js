// The overview's view (filter text, state, sort) in the URL's hash query, `#/?q=…&state=…&sort=-cpu`,
// so a reload or a shared link keeps it. Defaults are left out: the plain view is just `#/`.

import { COLUMN, STATES } from './overview-columns.js';

/** The view the URL asks for; anything unknown falls back to the default. */
export function readOverviewUrl() {
  const q = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const sort = q.get('sort') ?? 'name';
  const desc = sort.startsWith('-');
  const key = desc ? sort.slice(1) : sort;
  return {
    text: q.get('q') ?? '',
    state: STATES.includes(q.get('state')) ? q.get('state') : '',
    sortKey: COLUMN[key] ? key : 'name',
    desc,
  };
}

/** The view into the URL, without a history entry per keystroke. */
export function writeOverviewUrl(view) {
  const q = new URLSearchParams();
  if (view.text) q.set('q', view.text);
  if (view.state) q.set('state', view.state);
  if (view.sortKey !== 'name' || view.desc) q.set('sort', sortValue(view));
  const query = q.toString();
  if (query) history.replaceState(null, '', `#/?${query}`);
  else if (location.hash.includes('?')) history.replaceState(null, '', '#/');
}

/** The sort as one token, `key` or `-key` (descending): the URL's, the sort menu's and data-sort's. */
export function sortValue(view) {
  return `${view.desc ? '-' : ''}${view.sortKey}`;
}

// The alerts page's active silences (GET /api/silences): what each matches (rule, node, labels),
// until when, the comment and who made it, and a button that removes it (DELETE
// /api/silences/:id, then the list is loaded again). Comments and names are text, never HTML.

import { h } from './dom.js';
import * as fmt from './format.js';
import { LoadedTable } from './loaded-table.js';
import { removeButton } from './remove-button.js';
import { timeEl } from './task-format.js';

/** The silences section (a LoadedTable: load() it; the page loads it again after a change). */
export function silenceTable(model) {
  const table = new LoadedTable({
    name: 'silences',
    title: 'Silences',
    headings: ['Matches', 'Until', 'Comment', 'Made by', 'Action'],
    path: '/api/silences',
    key: 'silences',
    empty: 'No active silences.',
    row: (silence) => silenceRow(model, silence, () => void table.load()),
  });
  return table;
}

/** What a silence matches, as text: "rule busy · node pi-3 · labels role=worker". */
export function silenceScope(model, s) {
  const parts = [];
  if (s.rule) parts.push(`rule ${s.rule}`);
  if (s.node) parts.push(`node ${model.nodes.get(s.node)?.name || s.node}`);
  if (s.labels) parts.push(`labels ${s.labels}`);
  return parts.join(' · ') || 'everything';
}

function silenceRow(model, s, onRemoved) {
  const scope = silenceScope(model, s);
  return h(
    'tr',
    { dataset: { id: String(s.id ?? '') } },
    h('td', { class: 'scope', text: scope }),
    h('td', null, timeEl(s.until)),
    h('td', { class: 'comment', text: String(s.comment ?? '') }),
    h('td', { class: 'muted', title: fmt.full(s.createdAt), text: String(s.author ?? '') }),
    h(
      'td',
      null,
      removeButton({
        label: `Remove the silence of ${scope}`,
        path: `/api/silences/${encodeURIComponent(String(s.id))}`,
        onRemoved,
      }),
    ),
  );
}

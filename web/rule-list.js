// The alerts page's rules (GET /api/alerts/rules): each rule's kind, its condition in words, how
// long it must hold, how often it repeats, its severity, nodes and channels, and where it comes
// from. A rule made in the dashboard (source "api") has Edit and Remove buttons; a shipped default
// has Edit, which starts a rule of the same name (saving it replaces the default, removing that
// brings the default back); the config file's rules are read-only: they change in the file.

import { severityLabel } from './alert-format.js';
import { h, safeClass } from './dom.js';
import { LoadedTable } from './loaded-table.js';
import { removeButton } from './remove-button.js';
import { channelsText, conditionText, forText, repeatText } from './rule-format.js';

/**
 * The rules section (a LoadedTable). onEdit(rule): the operator asked to edit it (or to replace a
 * default); onLoad(rules): the list after each load; below: elements under the table (the form).
 */
export function ruleTable({ onEdit, onLoad, below }) {
  const table = new LoadedTable({
    name: 'rules',
    title: 'Rules',
    headings: ['Rule', 'Kind', 'Condition', 'For', 'Repeat', 'Severity', 'Nodes', 'Channels', 'Source', 'Action'],
    path: '/api/alerts/rules',
    key: 'rules',
    empty: 'No rules: nothing is watched.',
    row: (rule) => ruleRow(rule, { onEdit, onRemoved: () => void table.load() }),
    onLoad,
    below,
  });
  return table;
}

function ruleRow(rule, { onEdit, onRemoved }) {
  const name = String(rule.name ?? '');
  return h(
    'tr',
    { dataset: { name, source: safeClass(rule.source), enabled: String(rule.enabled !== false) } },
    h(
      'td',
      { class: 'rule', title: rule.summary ? String(rule.summary) : null },
      h('strong', { text: name }),
      rule.enabled === false ? h('span', { class: 'chip mark', text: 'disabled' }) : null,
    ),
    h('td', { text: String(rule.kind ?? '') }),
    h('td', { class: 'condition', text: conditionText(rule) }),
    h('td', { class: 'for', text: forText(rule) }),
    h('td', { class: 'repeat', text: repeatText(rule) }),
    h('td', null, severityLabel(rule.severity ?? 'warning')),
    h('td', { class: 'rule-nodes', text: String(rule.nodes ?? 'all') }),
    h('td', { class: 'rule-channels', text: channelsText(rule) }),
    h('td', { class: 'rule-source', text: String(rule.source ?? '') }),
    h('td', { class: 'rule-actions' }, actions(rule, name, { onEdit, onRemoved })),
  );
}

function actions(rule, name, { onEdit, onRemoved }) {
  const edit = (label) =>
    h('button', {
      type: 'button',
      class: 'action action-edit',
      text: 'Edit',
      'aria-label': label,
      onclick: () => onEdit(rule),
    });
  if (rule.source === 'api') {
    return [
      edit(`Edit rule ${name}`),
      ' ',
      removeButton({
        label: `Remove rule ${name}`,
        path: `/api/alerts/rules/${encodeURIComponent(name)}`,
        onRemoved,
      }),
    ];
  }
  if (rule.source === 'default') return edit(`Edit rule ${name} (saving replaces the default)`);
  return h('span', { class: 'muted', text: 'set in the config file: change it there' });
}

// The alerts page's "New silence" form: a rule (the primary's rules offered), a node (the fleet by
// name), optional labels (a selector such as role=worker), how long (1 h to 1 week) and a comment.
// It POSTs /api/silences the way the tasks page's forms post (form-post.js: as the dashboard, with
// the session's CSRF token) and hands the stored silence to `onCreated`; a refusal is shown under
// the form, as text. An alert's "Silence" button fills it with that alert's rule and node.

import { h, setText } from './dom.js';
import { formField, postForm, postingForm } from './form-post.js';
import * as fmt from './format.js';

const DURATIONS = [
  ['1h', '1 hour'],
  ['4h', '4 hours'],
  ['1d', '1 day'],
  ['7d', '1 week'],
];

export class SilenceForm {
  #root;
  #els = {};
  #onCreated;
  /** A POST of this form under way (see postForm). */
  #post = { busy: false };
  #rulesKey = '';
  #nodesKey = '';

  /** onCreated(silence): the primary stored the silence. */
  constructor({ onCreated }) {
    this.#onCreated = onCreated;
    this.#root = this.#build();
  }

  get element() {
    return this.#root;
  }

  /** Offers these rule names (each a string). */
  setRules(names) {
    const key = names.join('\n');
    if (key === this.#rulesKey) return;
    this.#rulesKey = key;
    fillSelect(
      this.#els.rule,
      'Any rule',
      names.map((name) => [name, name]),
    );
  }

  /** Offers the fleet's nodes, by name (the value is the node's id: names may repeat). */
  setNodes(nodes) {
    const named = [...nodes]
      .map((n) => [n.id, n.name || n.id])
      .sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    const key = named.map((n) => n.join('\0')).join('\n');
    if (key === this.#nodesKey) return;
    this.#nodesKey = key;
    fillSelect(this.#els.node, 'Any node', named);
  }

  /** Fills the form to silence `alert` (its rule on its node) and moves focus to how long. */
  fill(alert) {
    const { rule, node, labels, duration } = this.#els;
    choose(rule, alert.rule, alert.rule);
    choose(node, alert.node, alert.nodeName || alert.node);
    labels.value = '';
    this.#els.status.dataset.kind = '';
    setText(this.#els.status, '');
    this.#root.scrollIntoView({ block: 'nearest' });
    duration.focus();
  }

  #build() {
    const select = (id, label) =>
      h('select', { id, name: id.replace('silence-', '') }, h('option', { value: '', text: label }));
    const rule = select('silence-rule', 'Any rule');
    const node = select('silence-node', 'Any node');
    const labels = h('input', {
      id: 'silence-labels',
      name: 'labels',
      autocomplete: 'off',
      spellcheck: 'false',
      maxlength: '600',
      placeholder: 'e.g. role=worker',
    });
    const duration = h(
      'select',
      { id: 'silence-for', name: 'for' },
      DURATIONS.map(([value, text]) => h('option', { value, text })),
    );
    const comment = h('input', {
      id: 'silence-comment',
      name: 'comment',
      autocomplete: 'off',
      maxlength: '500',
      placeholder: 'why, e.g. maintenance',
    });
    const submit = h('button', { type: 'submit', class: 'primary-button', text: 'Silence' });
    const status = h('p', { class: 'form-status', role: 'status', 'aria-live': 'polite' });
    this.#els = { rule, node, labels, duration, comment, status };
    const form = postingForm(
      'silence-form-grid',
      (f) => void this.#submit(f),
      formField('silence-rule', 'Rule', rule),
      formField('silence-node', 'Node', node),
      formField('silence-labels', 'Labels (optional)', labels),
      formField('silence-for', 'For', duration),
      formField('silence-comment', 'Comment', comment),
      h('div', { class: 'field actions' }, submit, status),
    );
    return h(
      'section',
      { class: 'card silence-form', 'aria-labelledby': 'silence-form-title' },
      h('h2', { id: 'silence-form-title', text: 'New silence' }),
      h('p', { class: 'hint', text: 'Alerts it matches still show here; their notifications are held back.' }),
      form,
    );
  }

  /** The request body, or throws an Error saying what to fix. */
  #body() {
    const { rule, node, labels, duration, comment } = this.#els;
    const body = { for: duration.value };
    if (rule.value) body.rule = rule.value;
    if (node.value) body.node = node.value;
    if (labels.value.trim()) body.labels = labels.value.trim();
    if (!body.rule && !body.node && !body.labels) throw new Error('choose a rule, a node or labels (or several)');
    if (comment.value.trim()) body.comment = comment.value.trim();
    return body;
  }

  #submit(form) {
    return postForm({
      guard: this.#post,
      status: this.#els.status,
      path: '/api/silences',
      body: () => this.#body(),
      busyText: 'Silencing…',
      done: (answer) => {
        form.reset();
        setText(this.#els.status, `Silenced until ${fmt.when(answer?.silence?.until)}.`);
        this.#onCreated(answer?.silence);
      },
    });
  }
}

/** Replaces a select's options (after its first, "any", option), keeping what was chosen. */
function fillSelect(select, anyLabel, options) {
  const chosen = select.value;
  select.replaceChildren(
    h('option', { value: '', text: anyLabel }),
    ...options.map(([value, text]) => h('option', { value, text })),
  );
  choose(select, chosen, chosen);
}

/** Chooses `value` in a select, adding it (as `text`) when it is not offered. */
function choose(select, value, text) {
  if (!value) {
    select.value = '';
    return;
  }
  if (![...select.options].some((o) => o.value === value)) select.append(h('option', { value, text }));
  select.value = value;
}

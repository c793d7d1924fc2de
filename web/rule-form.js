// The alerts page's "New rule" / "Edit rule" form: a name and a kind, then the fields that kind
// uses (a vital: which, above or below, threshold, clear, a mount for the disk vitals; throttling:
// the flag, now or since boot; clock skew: threshold and clear in ms; a failed task: its kind),
// then for how long, how often to repeat, severity, nodes, channels (the configured ones, as
// checkboxes), a summary and whether it is on. It POSTs /api/alerts/rules (form-post.js: as the
// dashboard, with the session's CSRF token): numbers go as numbers, empty optional fields are
// left out, the fields of other kinds are never sent. What to fix, and the primary's refusal
// (its message names the field), show in the form with role="alert", as text.

import { h, setText } from './dom.js';
import { formField, postForm, postingForm } from './form-post.js';
import { DISK_VITALS, RULE_KINDS, THROTTLE_FLAGS, VITALS } from './rule-format.js';
import { BUILT_IN_KINDS } from './task-format.js';

/** The fields only some kinds use (the control's id is `rule-KEY`); `number`: sent as a number. */
const KIND_FIELDS = [
  { key: 'vital', kinds: ['vital'] },
  { key: 'op', kinds: ['vital'] },
  { key: 'threshold', kinds: ['vital', 'clock-skew'], number: true },
  { key: 'clear', kinds: ['vital', 'clock-skew'], number: true },
  { key: 'mount', kinds: ['vital'], diskOnly: true },
  { key: 'flag', kinds: ['throttle'] },
  { key: 'when', kinds: ['throttle'] },
  { key: 'task', kinds: ['task-failed'] },
];
/** The optional text fields of every kind (left out of the body when empty). */
const TEXT_FIELDS = ['for', 'repeat', 'nodes', 'summary'];
/** What a new rule starts with. */
const NEW_RULE = { kind: 'vital', vital: 'temperature', op: 'above', flag: 'under-voltage', when: 'now' };

export class RuleForm {
  #root;
  #els = {};
  /** key → the field (label and control) shown or hidden by kind. */
  #fields = {};
  #channelNames = [];
  /** The rule being edited (its name is kept; its overrides, which this form does not show, too). */
  #editing = null;
  #onSaved;
  /** A POST of this form under way (see postForm). */
  #post = { busy: false };

  /** onSaved(rule): the primary stored the rule. */
  constructor({ onSaved }) {
    this.#onSaved = onSaved;
    this.#root = this.#build();
    this.#fill(NEW_RULE);
  }

  get element() {
    return this.#root;
  }

  /** Offers these channel names as checkboxes (keeping what is ticked). */
  setChannels(names) {
    if (names.join('\n') === this.#channelNames.join('\n')) return;
    // The first list: a rule being edited already has its channels.
    const boxes = this.#channelBoxes();
    const ticked = new Set(boxes.length > 0 ? this.#tickedChannels() : (this.#editing?.channels ?? []));
    this.#channelNames = names;
    this.#els.channels.replaceChildren(
      ...(names.length === 0
        ? [h('span', { class: 'muted', text: 'No channels configured: alerts only show here.' })]
        : names.map((name) =>
            h(
              'label',
              { class: 'check' },
              h('input', { type: 'checkbox', name: 'channels', value: name, checked: ticked.has(name) }),
              name,
            ),
          )),
    );
  }

  /**
   * Fills the form with `rule` to change it: a rule made in the dashboard is replaced, a default
   * is replaced by a rule of its name (removing that brings the default back).
   */
  edit(rule) {
    this.#editing = rule;
    this.#fill(rule);
    const { name, title, hint, cancel } = this.#els;
    name.readOnly = true;
    cancel.hidden = false;
    setText(title, `Edit rule ${rule.name}`);
    const overrides = Array.isArray(rule.overrides) && rule.overrides.length > 0;
    setText(
      hint,
      [
        rule.source === 'default'
          ? 'A default rule: saving makes a rule of this name that replaces it; removing that brings the default back.'
          : 'Saving replaces the rule.',
        overrides ? `Its ${rule.overrides.length} per-label overrides are kept.` : '',
      ].join(' '),
    );
    this.#clearStatus();
    this.#root.scrollIntoView({ block: 'nearest' });
    this.#els.kind.focus();
  }

  /** Back to an empty new rule. */
  #reset() {
    this.#editing = null;
    this.#fill(NEW_RULE);
    const { name, title, hint, cancel } = this.#els;
    name.readOnly = false;
    cancel.hidden = true;
    setText(title, 'New rule');
    setText(hint, '');
  }

  #clearStatus() {
    const { status, alert } = this.#els;
    setText(status, '');
    setText(alert, '');
  }

  /** Sets every control from `values` (a rule as the API shows it, or NEW_RULE). */
  #fill(values) {
    const e = this.#els;
    const text = (value) => (value === undefined || value === null ? '' : String(value));
    e.name.value = text(values.name);
    e.kind.value = values.kind;
    for (const { key } of KIND_FIELDS) e[key].value = text(values[key] ?? NEW_RULE[key]);
    for (const key of TEXT_FIELDS) {
      // A duration given in ms (a number) is shown with its unit.
      e[key].value = typeof values[key] === 'number' ? `${values[key]}ms` : text(values[key]);
    }
    e.severity.value = values.severity ?? 'warning';
    e.enabled.checked = values.enabled !== false;
    const channels = new Set(Array.isArray(values.channels) ? values.channels : []);
    for (const box of this.#channelBoxes()) box.checked = channels.has(box.value);
    this.#showKind();
  }

  /** Shows the fields the chosen kind (and vital) uses, with the threshold's unit. */
  #showKind() {
    const e = this.#els;
    const kind = e.kind.value;
    const disk = DISK_VITALS.has(e.vital.value);
    for (const f of KIND_FIELDS) this.#fields[f.key].hidden = !f.kinds.includes(kind) || (f.diskOnly && !disk);
    const vitalUnit = VITALS[e.vital.value]?.unit;
    const unit = kind === 'clock-skew' ? 'ms' : vitalUnit === 'B' ? 'bytes' : vitalUnit;
    const suffix = unit ? ` (${unit})` : '';
    setText(this.#fields.threshold.querySelector('label'), `Threshold${suffix}`);
    setText(this.#fields.clear.querySelector('label'), `Clear at${suffix}`);
  }

  #channelBoxes() {
    return [...this.#els.channels.querySelectorAll('input[type="checkbox"]')];
  }

  #tickedChannels() {
    return this.#channelBoxes()
      .filter((box) => box.checked)
      .map((box) => box.value);
  }

  #build() {
    const input = (key, attrs) =>
      h('input', { id: `rule-${key}`, name: key, autocomplete: 'off', spellcheck: 'false', ...attrs });
    const select = (key, options) =>
      h(
        'select',
        { id: `rule-${key}`, name: key },
        options.map(([value, text]) => h('option', { value, text })),
      );
    const number = (key, attrs) => input(key, { type: 'number', step: 'any', inputmode: 'decimal', ...attrs });
    const e = {
      name: input('name', { maxlength: '64', placeholder: 'e.g. cpu-busy' }),
      kind: select(
        'kind',
        RULE_KINDS.map((kind) => [kind, kind]),
      ),
      vital: select(
        'vital',
        Object.entries(VITALS).map(([value, v]) => [value, v.unit ? `${value} (${v.unit})` : value]),
      ),
      op: select('op', [
        ['above', 'above'],
        ['below', 'below'],
      ]),
      threshold: number('threshold'),
      clear: number('clear', { placeholder: 'the threshold' }),
      mount: input('mount', { maxlength: '256', placeholder: 'every mount, or e.g. /var' }),
      flag: select(
        'flag',
        THROTTLE_FLAGS.map((flag) => [flag, flag]),
      ),
      when: select('when', [
        ['now', 'now'],
        ['since-boot', 'since boot'],
      ]),
      task: input('task', { maxlength: '64', list: 'rule-task-kinds', placeholder: 'any task' }),
      for: input('for', { maxlength: '32', placeholder: 'e.g. 5m (empty: the default)' }),
      repeat: input('repeat', { maxlength: '32', placeholder: 'e.g. 4h (0: never)' }),
      severity: select('severity', [
        ['warning', 'warning'],
        ['critical', 'critical'],
      ]),
      nodes: input('nodes', { maxlength: '600', placeholder: 'all, role=worker or node:ID' }),
      summary: input('summary', { maxlength: '200', spellcheck: 'true', placeholder: 'what it means (optional)' }),
      enabled: h('input', { id: 'rule-enabled', name: 'enabled', type: 'checkbox' }),
      channels: h('div', { class: 'checks' }),
      title: h('h3', { id: 'rule-form-title', text: 'New rule' }),
      hint: h('p', { class: 'hint' }),
      cancel: h('button', { type: 'button', class: 'action', text: 'Cancel', hidden: true }),
      status: h('p', { class: 'form-status', role: 'status', 'aria-live': 'polite' }),
      alert: h('p', { class: 'form-status', role: 'alert' }),
    };
    this.#els = e;
    e.kind.addEventListener('change', () => this.#showKind());
    e.vital.addEventListener('change', () => {
      e.op.value = VITALS[e.vital.value]?.bad ?? 'above'; // the side that is bad for this vital
      this.#showKind();
    });
    e.cancel.addEventListener('click', () => {
      this.#reset();
      this.#clearStatus();
    });
    const field = (key, label, ...rest) => {
      this.#fields[key] = formField(`rule-${key}`, label, e[key], ...rest);
      return this.#fields[key];
    };
    const form = postingForm(
      'rule-form-grid',
      () => void this.#submit(),
      field('name', 'Name'),
      field('kind', 'Kind'),
      field('vital', 'Vital'),
      field('op', 'Bad when'),
      field('threshold', 'Threshold'),
      field('clear', 'Clear at'),
      field('mount', 'Mount (optional)'),
      field('flag', 'Flag'),
      field('when', 'When'),
      field(
        'task',
        'Task kind (optional)',
        h(
          'datalist',
          { id: 'rule-task-kinds' },
          BUILT_IN_KINDS.map(([value, label]) => h('option', { value, label })),
        ),
      ),
      field('for', 'For (how long it holds first)'),
      field('repeat', 'Repeat every'),
      field('severity', 'Severity'),
      field('nodes', 'Nodes (optional)'),
      field('summary', 'Summary'),
      h(
        'fieldset',
        { class: 'field channels-field' },
        h('legend', { text: 'Channels (none ticked: every channel)' }),
        e.channels,
      ),
      h('div', { class: 'field' }, h('label', { class: 'check' }, e.enabled, 'Enabled')),
      h(
        'div',
        { class: 'field actions' },
        h('button', { type: 'submit', class: 'primary-button', text: 'Save rule' }),
        e.cancel,
        e.status,
        e.alert,
      ),
    );
    return h('section', { class: 'card rule-form', 'aria-labelledby': 'rule-form-title' }, e.title, e.hint, form);
  }

  /** The request body, or throws an Error saying what to fix. */
  #body() {
    const e = this.#els;
    const name = e.name.value.trim();
    if (!name) throw new Error('give the rule a name');
    const body = { name, kind: e.kind.value };
    for (const f of KIND_FIELDS) {
      if (this.#fields[f.key].hidden) continue; // another kind's field
      if (f.number && e[f.key].validity.badInput) throw new Error(`${f.key} must be a number`);
      const value = e[f.key].value.trim();
      if (value !== '') body[f.key] = f.number ? Number(value) : value;
    }
    for (const key of TEXT_FIELDS) {
      const value = e[key].value.trim();
      if (value !== '') body[key] = value;
    }
    body.severity = e.severity.value;
    const channels = this.#tickedChannels();
    if (channels.length > 0) body.channels = channels;
    body.enabled = e.enabled.checked;
    if (this.#editing?.name === name && Array.isArray(this.#editing.overrides)) {
      body.overrides = this.#editing.overrides;
    }
    return body;
  }

  #submit() {
    const { status, alert } = this.#els;
    return postForm({
      guard: this.#post,
      status,
      alert,
      path: '/api/alerts/rules',
      body: () => this.#body(),
      busyText: 'Saving…',
      done: (answer) => {
        this.#reset();
        setText(status, `Saved rule ${answer?.rule?.name ?? ''}.`);
        this.#onSaved(answer?.rule);
      },
    });
  }
}

// The tasks page's form: a kind (the built-ins offered, any other typed), a target (its syntax
// and the fleet's node names offered), args as a JSON object, for `shell` a command line split
// into argv (shown before it is sent: it is never run by a shell), and an optional timeout. It
// POSTs /api/tasks and hands the stored task to `onSubmitted`; a refusal is shown under the form.

import { splitCommandLine } from './command-line.js';
import { h, setText } from './dom.js';
import { argsObject, formField, postForm, postingForm } from './form-post.js';
import { BUILT_IN_KINDS, compactJson } from './task-format.js';

const TARGET_HINTS = [
  ['all', 'every online node (one child task each)'],
  ['any', 'the least loaded online node'],
  ['all:role=worker', 'every online node with that label'],
  ['role=camera', 'one online node with that label'],
];
const MAX_NAMES_SHOWN = 12;

export class TaskForm {
  #root;
  #els = {};
  #onSubmitted;
  /** A POST of this form under way (see postForm). */
  #post = { busy: false };
  #namesKey = '';

  /** onSubmitted(task): the primary stored the task. */
  constructor({ onSubmitted }) {
    this.#onSubmitted = onSubmitted;
    this.#root = this.#build();
    this.#onKind();
  }

  get element() {
    return this.#root;
  }

  /** Offers the nodes' names as targets (each node once, by name, and by `node:ID` when names repeat). */
  setNodes(nodes) {
    const named = [...nodes]
      .map((n) => ({ id: n.id, name: n.name || n.id }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    const key = named.map((n) => `${n.id}\0${n.name}`).join('\n');
    if (key === this.#namesKey) return;
    this.#namesKey = key;
    const counts = new Map();
    for (const n of named) counts.set(n.name, (counts.get(n.name) ?? 0) + 1);
    const nodeOptions = named.map((n) =>
      counts.get(n.name) > 1
        ? h('option', { value: `node:${n.id}`, label: `${n.name} (shared name)` })
        : h('option', { value: n.name, label: `node ${n.id}` }),
    );
    this.#els.targets.replaceChildren(
      ...TARGET_HINTS.map(([value, label]) => h('option', { value, label })),
      ...nodeOptions,
    );
    const names = named.map((n) => n.name);
    setText(
      this.#els.names,
      names.length === 0
        ? 'No nodes yet.'
        : `Nodes: ${names.slice(0, MAX_NAMES_SHOWN).join(', ')}${names.length > MAX_NAMES_SHOWN ? `, … (${names.length})` : ''}`,
    );
  }

  /** Fills the form with a task's kind, target and args (to run it again). */
  fill(task) {
    const { kind, on, args } = this.#els;
    kind.value = task.kind ?? '';
    on.value = task.on ?? '';
    const rest = { ...(task.args ?? {}) };
    if (task.kind === 'shell' && Array.isArray(rest.argv)) {
      this.#els.command.value = rest.argv.map(quoteWord).join(' ');
      delete rest.argv;
    }
    args.value = Object.keys(rest).length > 0 ? JSON.stringify(rest) : '';
    this.#els.timeout.value = task.timeoutMs ? String(task.timeoutMs / 1000) : '';
    this.#onKind();
    kind.focus();
  }

  #build() {
    const kinds = h(
      'datalist',
      { id: 'task-kinds' },
      BUILT_IN_KINDS.map(([value, label]) => h('option', { value, label })),
    );
    const kind = h('input', {
      id: 'task-kind',
      name: 'kind',
      list: 'task-kinds',
      required: true,
      autocomplete: 'off',
      spellcheck: 'false',
      placeholder: 'e.g. node.time',
      'aria-describedby': 'task-kind-hint',
      oninput: () => this.#onKind(),
    });
    const kindHint = h('p', { id: 'task-kind-hint', class: 'hint' });
    const targets = h('datalist', { id: 'task-targets' });
    const on = h('input', {
      id: 'task-on',
      name: 'on',
      list: 'task-targets',
      required: true,
      autocomplete: 'off',
      spellcheck: 'false',
      placeholder: 'e.g. all',
      'aria-describedby': 'task-on-hint task-on-names',
    });
    const names = h('p', { id: 'task-on-names', class: 'hint' });
    const command = h('input', {
      id: 'task-command',
      name: 'command',
      autocomplete: 'off',
      spellcheck: 'false',
      placeholder: 'e.g. df -h /',
      'aria-describedby': 'task-argv',
      oninput: () => this.#onCommand(),
    });
    const argv = h('p', { id: 'task-argv', class: 'hint argv' });
    const commandField = h(
      'div',
      { class: 'field shell-only' },
      h('label', { for: 'task-command', text: 'Command' }),
      command,
      argv,
    );
    const args = h('textarea', {
      id: 'task-args',
      name: 'args',
      rows: '2',
      spellcheck: 'false',
      placeholder: '{"key": "value"}',
    });
    const argsLabel = h('label', { for: 'task-args' });
    const timeout = h('input', {
      id: 'task-timeout',
      name: 'timeout',
      type: 'number',
      min: '1',
      step: 'any',
      inputmode: 'decimal',
      placeholder: '300',
    });
    const submit = h('button', { type: 'submit', class: 'primary-button', text: 'Run' });
    const status = h('p', { class: 'form-status', role: 'status', 'aria-live': 'polite' });
    this.#els = { kind, kindHint, on, targets, names, command, commandField, argv, args, argsLabel, timeout, status };
    const form = postingForm(
      'task-form-grid',
      () => void this.#submit(),
      formField('task-kind', 'Kind', kind, kinds, kindHint),
      formField(
        'task-on',
        'Target',
        on,
        targets,
        h(
          'p',
          { id: 'task-on-hint', class: 'hint' },
          'all · any · all:k=v · k=v[,k=v] · node:ID · a node’s name or id',
        ),
        names,
      ),
      commandField,
      h('div', { class: 'field' }, argsLabel, args),
      formField('task-timeout', 'Timeout (s, optional)', timeout),
      h('div', { class: 'field actions' }, submit, status),
    );
    return h(
      'section',
      { class: 'card task-form', 'aria-labelledby': 'task-form-title' },
      h('h2', { id: 'task-form-title', text: 'Run a task' }),
      form,
    );
  }

  #onKind() {
    const kind = this.#els.kind.value.trim();
    const known = BUILT_IN_KINDS.find(([k]) => k === kind);
    setText(this.#els.kindHint, known ? known[1] : kind ? 'a kind registered on the nodes' : 'pick one or type any');
    const shell = kind === 'shell';
    this.#els.commandField.hidden = !shell;
    setText(this.#els.argsLabel, shell ? 'More args (JSON, optional: cwd, env)' : 'Args (JSON object, optional)');
    if (shell) this.#onCommand();
  }

  #onCommand() {
    const line = this.#els.command.value;
    const el = this.#els.argv;
    el.dataset.error = '';
    if (!line.trim()) {
      setText(
        el,
        'Run directly, not by a shell: quotes group words, but $VARS, *, |, ;, > and && reach the program as they are.',
      );
      return;
    }
    try {
      const argv = splitCommandLine(line);
      setText(el, `argv ${compactJson(argv, 400)} — run directly, not by a shell`);
    } catch (err) {
      el.dataset.error = 'true';
      setText(el, `Cannot split the command: ${err.message}`);
    }
  }

  /** The request body, or throws an Error saying what to fix. */
  #body() {
    const kind = this.#els.kind.value.trim();
    const on = this.#els.on.value.trim();
    if (!kind) throw new Error('choose a kind');
    if (!on) throw new Error('give a target (all, any, a label k=v, or a node)');
    const body = { kind, on };
    let args = argsObject(this.#els.args.value);
    if (kind === 'shell') {
      const argv = splitCommandLine(this.#els.command.value);
      if (argv.length === 0) throw new Error('give the command to run');
      args = { ...args, argv };
    }
    if (Object.keys(args).length > 0) body.args = args;
    const timeoutText = this.#els.timeout.value.trim();
    if (timeoutText) {
      const seconds = Number(timeoutText);
      if (!Number.isFinite(seconds) || seconds <= 0) throw new Error('the timeout is a number of seconds above 0');
      body.timeoutMs = Math.max(1, Math.round(seconds * 1000));
    }
    return body;
  }

  #submit() {
    return postForm({
      guard: this.#post,
      status: this.#els.status,
      path: '/api/tasks',
      body: () => this.#body(),
      busyText: 'Submitting…',
      done: (task) => {
        setText(this.#els.status, `Submitted: ${task.kind} on ${task.on}.`);
        this.#onSubmitted(task);
      },
    });
  }
}

/** A word as the command line would need it typed (quoted only when it has to be). */
function quoteWord(word) {
  const text = String(word);
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

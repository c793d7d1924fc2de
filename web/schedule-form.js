// The tasks page's "New schedule" form: an optional name, a kind, a target (the task form's list of
// the fleet's names), every N seconds or a cron expression (one of the two; cron is read in the
// primary's time zone), and args as a JSON object. It POSTs /api/schedules (api.js: as the
// dashboard, with the session's CSRF token) and hands the stored schedule to `onCreated`; a
// refusal is shown under the form, as text.

import { h, setText } from './dom.js';
import { argsObject, formField, postForm, postingForm } from './form-post.js';
import * as fmt from './format.js';
import { BUILT_IN_KINDS } from './task-format.js';

export class ScheduleForm {
  #root;
  #els = {};
  #onCreated;
  /** A POST of this form under way (see postForm). */
  #post = { busy: false };

  /** onCreated(schedule): the primary stored the schedule. */
  constructor({ onCreated }) {
    this.#onCreated = onCreated;
    this.#root = this.#build();
  }

  get element() {
    return this.#root;
  }

  #build() {
    const input = (id, attrs) =>
      h('input', { id, name: id.replace('schedule-', ''), autocomplete: 'off', spellcheck: 'false', ...attrs });
    const name = input('schedule-name', { maxlength: '100', placeholder: 'e.g. clock check' });
    const kind = input('schedule-kind', { list: 'schedule-kinds', required: true, placeholder: 'e.g. node.time' });
    const kinds = h(
      'datalist',
      { id: 'schedule-kinds' },
      BUILT_IN_KINDS.map(([value, label]) => h('option', { value, label })),
    );
    // The task form's datalist (on the same page) offers the targets and the fleet's names.
    const on = input('schedule-on', { list: 'task-targets', required: true, placeholder: 'e.g. all' });
    const every = input('schedule-every', {
      type: 'number',
      min: '1',
      step: 'any',
      inputmode: 'decimal',
      placeholder: '60',
    });
    const cron = input('schedule-cron', { placeholder: 'e.g. 0 3 * * *', 'aria-describedby': 'schedule-cron-hint' });
    const args = h('textarea', {
      id: 'schedule-args',
      name: 'args',
      rows: '1',
      spellcheck: 'false',
      placeholder: '{"key": "value"}',
    });
    const submit = h('button', { type: 'submit', class: 'primary-button', text: 'Add schedule' });
    const status = h('p', { class: 'form-status', role: 'status', 'aria-live': 'polite' });
    this.#els = { name, kind, on, every, cron, args, status };
    const form = postingForm(
      'schedule-form-grid',
      (f) => void this.#submit(f),
      formField('schedule-name', 'Name (optional)', name),
      formField('schedule-kind', 'Kind', kind, kinds),
      formField('schedule-on', 'Target', on),
      formField('schedule-every', 'Every (s)', every),
      formField(
        'schedule-cron',
        'or Cron',
        cron,
        h('p', { id: 'schedule-cron-hint', class: 'hint', text: "5 fields (6 with seconds), the primary's time" }),
      ),
      formField('schedule-args', 'Args (JSON, optional)', args),
      h('div', { class: 'field actions' }, submit, status),
    );
    return h(
      'section',
      { class: 'card schedule-form', 'aria-labelledby': 'schedule-form-title' },
      h('h3', { id: 'schedule-form-title', text: 'New schedule' }),
      form,
    );
  }

  /** The request body, or throws an Error saying what to fix. */
  #body() {
    const { name, kind, on, every, cron, args } = this.#els;
    const body = { kind: kind.value.trim(), on: on.value.trim() };
    if (!body.kind) throw new Error('choose a kind');
    if (!body.on) throw new Error('give a target (all, any, a label k=v, or a node)');
    if (name.value.trim()) body.name = name.value.trim();
    const everyText = every.value.trim();
    const cronText = cron.value.trim();
    if (everyText && cronText) throw new Error('give every N seconds or a cron expression, not both');
    if (cronText) body.cron = cronText;
    else if (everyText) {
      const seconds = Number(everyText);
      if (!Number.isFinite(seconds) || seconds < 1) throw new Error('every is a number of seconds, at least 1');
      body.everyMs = Math.round(seconds * 1000);
    } else throw new Error('give every N seconds or a cron expression');
    const parsed = argsObject(args.value);
    if (Object.keys(parsed).length > 0) body.args = parsed;
    return body;
  }

  #submit(form) {
    return postForm({
      guard: this.#post,
      status: this.#els.status,
      path: '/api/schedules',
      body: () => this.#body(),
      busyText: 'Adding…',
      done: (schedule) => {
        form.reset();
        setText(
          this.#els.status,
          `Added ${schedule?.name ?? schedule?.id ?? ''}: first run ${fmt.when(schedule?.nextRunAt)}.`,
        );
        this.#onCreated(schedule);
      },
    });
  }
}

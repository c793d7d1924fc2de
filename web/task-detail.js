// One task in full on the tasks page (#/tasks/ID): its fields, result (pretty JSON), error,
// stdout and stderr, and for a broadcast one row per node. Loaded from /api/tasks/:id, then
// followed live: `task` rows update it and its children, `task-output` appends to its output while
// it runs (the final row's output replaces that). Cancel shows while the task is not final.

import { ApiError, getJson, postJson } from './api.js';
import { frameTask, h, safeClass, setText } from './dom.js';
import * as fmt from './format.js';
import { TaskChildren } from './task-children.js';
import {
  compactJson,
  durationText,
  isFinal,
  nodeName,
  prettyJson,
  supersedes,
  targetText,
  taskBadge,
  taskHref,
  timeEl,
} from './task-format.js';

export class TaskDetail {
  #model;
  #onRunAgain;
  #root;
  #els = {};
  #id;
  #task;
  #children = new Map();
  #childTable;
  #out = { stdout: '', stderr: '' };
  /** Stream messages that came while the task was loading: applied after it. */
  #pending;
  #frame = frameTask(() => this.#render());
  #ticker;
  #unsubscribe = [];
  #loads = 0;

  /** onRunAgain(task): the operator wants the form filled with this task. */
  constructor(model, { onRunAgain }) {
    this.#model = model;
    this.#onRunAgain = onRunAgain;
    this.#childTable = new TaskChildren(model);
    this.#root = this.#build();
  }

  get element() {
    return this.#root;
  }

  get heading() {
    return this.#els.title;
  }

  get id() {
    return this.#id;
  }

  mount() {
    this.#unsubscribe.push(
      this.#model.onTask((task) => this.#onTask(task)),
      this.#model.onTaskOutput((output) => this.#onOutput(output)),
    );
  }

  unmount() {
    for (const off of this.#unsubscribe) off();
    this.#frame.cancel();
    clearInterval(this.#ticker);
    this.#id = undefined;
  }

  /** Shows task `id` (undefined: hides the panel). */
  show(id) {
    if (id === this.#id) return;
    this.#id = id;
    this.#task = undefined;
    this.#children = new Map();
    this.#out = { stdout: '', stderr: '' };
    this.#root.hidden = id === undefined;
    clearInterval(this.#ticker);
    if (id === undefined) return;
    this.#root.dataset.task = id;
    delete this.#root.dataset.state;
    setText(this.#els.title, 'Task');
    setText(this.#els.status, 'Loading…');
    this.#els.body.hidden = true;
    void this.reload();
  }

  /** Redraws (node names changed). */
  refresh() {
    if (this.#task) this.#schedule();
  }

  /** Loads the task again (also after a reconnect, for what the stream missed). */
  async reload() {
    const id = this.#id;
    if (id === undefined) return;
    const load = ++this.#loads;
    this.#pending = [];
    try {
      const { body } = await getJson(`/api/tasks/${encodeURIComponent(id)}`);
      if (load !== this.#loads || id !== this.#id) return;
      const { children, ...task } = body ?? {};
      this.#task = task;
      if (Array.isArray(children)) for (const child of children) this.#children.set(child.id, child);
      this.#out = { stdout: task.stdout ?? '', stderr: task.stderr ?? '' };
      const pending = this.#pending;
      this.#pending = undefined;
      for (const [type, payload] of pending) {
        if (type === 'task') this.#onTask(payload);
        else this.#onOutput(payload, true);
      }
      setText(this.#els.status, '');
      this.#schedule();
    } catch (err) {
      if (load !== this.#loads || id !== this.#id) return;
      this.#pending = undefined;
      setText(
        this.#els.status,
        err instanceof ApiError && err.status === 404
          ? `There is no task ${id}.`
          : `Could not load the task: ${err.message}`,
      );
    }
  }

  #onTask(task) {
    if (this.#id === undefined || (task.id !== this.#id && task.parent !== this.#id)) return;
    if (this.#pending) {
      this.#pending.push(['task', task]);
      return;
    }
    if (task.id === this.#id) {
      if (!supersedes(task, this.#task)) return;
      this.#task = task;
      if (isFinal(task)) this.#out = { stdout: task.stdout ?? '', stderr: task.stderr ?? '' };
      else {
        // A running row carries the output so far; the live appends may already be past it.
        for (const stream of ['stdout', 'stderr']) {
          if ((task[stream]?.length ?? 0) > this.#out[stream].length) this.#out[stream] = task[stream];
        }
      }
    } else {
      if (!supersedes(task, this.#children.get(task.id))) return;
      this.#children.set(task.id, task);
    }
    this.#schedule();
  }

  #onOutput(output, replayed = false) {
    if (this.#id === undefined || output.taskId !== this.#id) return;
    if (this.#pending) {
      this.#pending.push(['output', output]);
      return;
    }
    if (isFinal(this.#task)) return; // the final row's output is the whole of it
    for (const stream of ['stdout', 'stderr']) {
      const chunk = typeof output[stream] === 'string' ? output[stream] : '';
      // Replayed chunks may be in the fetched output already.
      if (!chunk || (replayed && this.#out[stream].endsWith(chunk))) continue;
      this.#out[stream] = (this.#out[stream] + chunk).slice(-64 * 1024);
    }
    this.#schedule();
  }

  #build() {
    const title = h('h2', { id: 'task-detail-title', tabindex: '-1', text: 'Task' });
    const badge = h('span', { class: 'badge' });
    const cancel = h('button', {
      type: 'button',
      class: 'action action-cancel',
      text: 'Cancel task',
      onclick: () => void this.#cancel(),
    });
    const again = h('button', {
      type: 'button',
      class: 'action action-again',
      text: 'Run again…',
      onclick: () => this.#task && this.#onRunAgain(this.#task),
    });
    const close = h('a', { href: '#/tasks', class: 'close', text: 'Close', 'aria-label': 'Close the task' });
    const status = h('p', { class: 'muted detail-status', role: 'status' });
    const reason = h('p', { class: 'task-reason' });
    const fields = h('dl', { class: 'kv task-fields' });
    const error = h('p', { class: 'task-error', hidden: true });
    const result = h('pre', { class: 'json task-result' });
    const resultBox = h('div', { class: 'detail-block', hidden: true }, h('h3', { text: 'Result' }), result);
    const children = this.#childTable.element;
    const stdout = h('pre', { class: 'output task-stdout' });
    const stderr = h('pre', { class: 'output task-stderr' });
    const stdoutBox = h('div', { class: 'detail-block', hidden: true }, h('h3', { text: 'stdout' }), stdout);
    const stderrBox = h('div', { class: 'detail-block', hidden: true }, h('h3', { text: 'stderr' }), stderr);
    const truncated = h('p', { class: 'muted', hidden: true, text: 'Output was cut to its last 64 KiB.' });
    const body = h(
      'div',
      { hidden: true },
      reason,
      error,
      fields,
      resultBox,
      children,
      stdoutBox,
      stderrBox,
      truncated,
    );
    this.#els = {
      title,
      badge,
      cancel,
      again,
      status,
      reason,
      fields,
      error,
      result,
      resultBox,
      stdout,
      stderr,
      stdoutBox,
      stderrBox,
      truncated,
      body,
    };
    return h(
      'section',
      { class: 'card task-detail', 'aria-labelledby': 'task-detail-title', hidden: true },
      h('header', { class: 'detail-head' }, title, badge, h('span', { class: 'detail-actions' }, cancel, again, close)),
      status,
      body,
    );
  }

  #schedule() {
    this.#frame.request();
  }

  #render() {
    const task = this.#task;
    if (!task) return;
    const els = this.#els;
    const now = this.#model.now();
    els.body.hidden = false;
    this.#root.dataset.state = safeClass(task.state);
    setText(els.title, `${task.kind} on ${targetText(this.#model, task)}`);
    const badge = taskBadge(task.state);
    els.badge.replaceWith(badge);
    els.badge = badge;
    els.cancel.hidden = isFinal(task);
    setText(els.reason, task.reason ?? '');
    els.reason.hidden = !task.reason;

    const rows = [
      ['Id', task.id],
      task.parent ? ['Broadcast', h('a', { href: taskHref(task.parent), text: task.parent })] : null,
      ['Target', targetText(this.#model, task)],
      task.nodeId
        ? [
            'Node',
            h('a', { href: `#/node/${encodeURIComponent(task.nodeId)}`, text: nodeName(this.#model, task.nodeId) }),
          ]
        : null,
      ['Args', compactJson(task.args, 2000) || '{}'],
      // A broadcast is never assigned itself: its children have the attempts.
      task.attempt > 0 ? ['Attempt', `${task.attempt} of ${task.maxAttempts ?? '?'}`] : null,
      ['Timeout', fmt.ms(task.timeoutMs)],
      ['Created', timeEl(task.createdAt)],
      task.assignedAt ? ['Assigned', timeEl(task.assignedAt)] : null,
      task.startedAt ? ['Started', timeEl(task.startedAt)] : null,
      task.endedAt ? ['Ended', timeEl(task.endedAt)] : null,
      ['Duration', durationText(task, now)],
      ['Submitted by', task.submittedBy ?? ''],
    ].filter(Boolean);
    els.fields.replaceChildren(...rows.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', null, v)]));

    els.error.hidden = !task.error;
    if (task.error) {
      els.error.replaceChildren(
        h('strong', { class: 'error-code', text: task.error.code ?? 'ERR' }),
        ' ',
        h('span', { class: 'error-message', text: task.error.message ?? '' }),
      );
    }
    const hasResult = task.result !== null && task.result !== undefined;
    els.resultBox.hidden = !hasResult;
    setText(els.result, hasResult ? prettyJson(task.result) : '');

    this.#childTable.render([...this.#children.values()], now);

    for (const stream of ['stdout', 'stderr']) {
      const text = this.#out[stream];
      els[`${stream}Box`].hidden = !text;
      els[stream].dataset.live = isFinal(task) ? 'false' : 'true';
      if (els[stream].textContent !== text) {
        const el = els[stream];
        const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
        el.textContent = text;
        if (atBottom) el.scrollTop = el.scrollHeight; // follow the output unless scrolled up
      }
    }
    els.truncated.hidden = !task.truncated;

    // Durations of a running task grow: redraw once a second until it ends.
    clearInterval(this.#ticker);
    const open = !isFinal(task) || [...this.#children.values()].some((c) => !isFinal(c));
    if (open) this.#ticker = setInterval(() => this.#schedule(), 1000);
  }

  async #cancel() {
    const task = this.#task;
    if (!task || isFinal(task)) return;
    if (!confirm('Cancel this task? A node running it is told to stop.')) return;
    setText(this.#els.status, 'Cancelling…');
    try {
      const row = await postJson(`/api/tasks/${encodeURIComponent(task.id)}/cancel`);
      setText(this.#els.status, 'Cancelled.');
      if (row && row.id === this.#id) this.#onTask(row);
    } catch (err) {
      setText(this.#els.status, `Could not cancel: ${err.code ?? 'ERR'}: ${err.message}`);
    }
  }
}

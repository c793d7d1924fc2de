// What the tasks views share: the states and built-in kinds of the task model (README "Tasks"),
// a task's state badge, its target and node as text, its duration, and JSON shown compactly.
// Everything here returns text or elements built with dom.js: a task's fields come from nodes and
// operators, so they are never read as HTML.

import { h, safeClass } from './dom.js';
import * as fmt from './format.js';

export const TASK_STATES = ['queued', 'assigned', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled'];
const FINAL = new Set(['succeeded', 'failed', 'timed_out', 'cancelled']);

/** The kinds every node knows, with what they do (the form's list; any other kind may be typed). */
export const BUILT_IN_KINDS = [
  ['node.time', "the node's clock (read-only)"],
  ['node.info', 'machine info (read-only)'],
  ['node.vitals', 'a vitals sample now (read-only)'],
  ['code.revision', 'revision of the checkout (read-only)'],
  ['code.pull', 'git pull the checkout (if the node allows it)'],
  ['os.update', 'apt-get update (if the node allows it)'],
  ['os.upgrade', 'apt-get upgrade (if the node allows it)'],
  ['node.reboot', 'reboot (if the node allows it)'],
  ['node.shutdown', 'shut down (if the node allows it)'],
  ['node.restart-agent', 'restart picluster (if the node allows it)'],
  ['shell', 'run a program, without a shell (if the node allows it and the program)'],
];

/** Whether a task's state is final (it will not change again). */
export function isFinal(task) {
  return FINAL.has(task?.state);
}

/**
 * Whether `next` may replace `current`: a final state is never undone by an open one (a row from
 * the stream lags up to a second behind one just fetched); anything else follows the stream, in
 * order — back to `queued` too, when a lost node's task waits or is retried.
 */
export function supersedes(next, current) {
  return !current || !isFinal(current) || isFinal(next);
}

/** A coloured badge for a task state. */
export function taskBadge(state) {
  return h('span', { class: `badge task-state task-${safeClass(state)}`, text: String(state ?? '?') });
}

/** A node's name (or its id when unknown). */
export function nodeName(model, id) {
  if (!id) return '';
  return model.nodes.get(id)?.name || id;
}

/**
 * Where a task runs, as text: the target as given, and the node it went to when that says more
 * (`any → pi-3`); a broadcast child names its node alone.
 */
export function targetText(model, task) {
  const node = nodeName(model, task.nodeId);
  if (!node) return String(task.on ?? '');
  if (task.parent) return node;
  return task.on === node || task.on === task.nodeId || task.on === `node:${task.nodeId}`
    ? node
    : `${task.on} → ${node}`;
}

/** How long it ran (or has run so far, or waited when it never started), ms. */
export function taskDurationMs(task, now) {
  const start = task.startedAt ?? task.assignedAt ?? task.createdAt;
  if (typeof start !== 'number') return undefined;
  const end = typeof task.endedAt === 'number' ? task.endedAt : isFinal(task) ? undefined : now;
  return end === undefined ? undefined : Math.max(0, end - start);
}

/** The duration cell's text: "84 ms", or "2.4 s…" while it still runs. */
export function durationText(task, now) {
  const text = fmt.ms(taskDurationMs(task, now));
  return isFinal(task) || text === fmt.NONE ? text : `${text}…`;
}

/** A value as one line of JSON, cut to `max` characters. */
export function compactJson(value, max = 160) {
  if (value === null || value === undefined) return '';
  let text;
  try {
    text = JSON.stringify(value);
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A value as indented JSON for a <pre>. */
export function prettyJson(value) {
  try {
    return JSON.stringify(value, null, 2) ?? '';
  } catch {
    return String(value);
  }
}

/** A task's error as one line, `ERR_CODE: message`. */
export function errorText(error) {
  if (!error) return '';
  return `${error.code ?? 'ERR'}: ${error.message ?? ''}`;
}

/** A <time> for an epoch-ms moment. */
export function timeEl(ms) {
  return h('time', { datetime: fmt.iso(ms), title: fmt.full(ms), text: fmt.when(ms) });
}

/** The URL of a task's detail. */
export function taskHref(id) {
  return `#/tasks/${encodeURIComponent(id)}`;
}

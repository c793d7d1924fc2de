// `picluster run` and `picluster tasks`: submit a task through the primary's JSON API, wait for it
// with a progress line, list, show and cancel tasks. Text from nodes reaches the terminal only
// through printable().

import { definedOnly } from '../common/defined-only.js';
import type { TaskRow } from '../store/store-api.js';
import { ApiCallError, callApi, printable, textTable } from './api-client.js';
import type { Config } from './config.js';

type TaskView = TaskRow & { children?: TaskRow[] };

const FINAL = new Set(['succeeded', 'failed', 'timed_out', 'cancelled']);

export interface RunOptions {
  on: string;
  wait: boolean;
  json: boolean;
  args?: string;
  timeoutMs?: number;
  ttlMs?: number;
  retries?: number;
  rolling?: string;
  thenReboot?: boolean;
}

/**
 * The task's args from the command line: `key=value` pairs (a value that parses as JSON is taken
 * as JSON: numbers, true, [..]), or for `shell` the command's argv as given, or `--args JSON`.
 */
export function argsOf(kind: string, words: string[], json: string | undefined): Record<string, unknown> {
  let args: Record<string, unknown> = {};
  if (json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch (err) {
      throw new ApiCallError(`--args is not JSON: ${(err as Error).message}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new ApiCallError('--args must be a JSON object');
    }
    args = parsed as Record<string, unknown>;
  }
  if (kind === 'shell') return words.length > 0 ? { ...args, argv: words } : args;
  for (const word of words) {
    const at = word.indexOf('=');
    if (at < 1) throw new ApiCallError(`argument "${printable(word)}" is not key=value`);
    const text = word.slice(at + 1);
    let value: unknown = text;
    try {
      value = JSON.parse(text);
    } catch {
      // a plain string
    }
    args[word.slice(0, at)] = value;
  }
  return args;
}

export async function runTask(config: Config, kind: string, words: string[], options: RunOptions): Promise<number> {
  return reportErrors(async () => {
    const { rolling } = options;
    const body = definedOnly({
      kind,
      on: options.on,
      args: argsOf(kind, words, options.args),
      timeoutMs: options.timeoutMs,
      ttlMs: options.ttlMs,
      retries: options.retries,
      rolling: rolling !== undefined && /^\d+$/.test(rolling) ? Number(rolling) : rolling,
      thenReboot: options.thenReboot || undefined,
    });
    let task = await callApi<TaskView>(config, 'POST', '/api/tasks', body);
    if (!options.wait) {
      process.stdout.write(options.json ? `${JSON.stringify(task, null, 2)}\n` : `${task.id}\n`);
      return 0;
    }
    const progress = process.stderr.isTTY === true && !options.json;
    let shown = '';
    while (!FINAL.has(task.state)) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      task = await callApi<TaskView>(config, 'GET', `/api/tasks/${task.id}`);
      const line = progressLine(task);
      if (progress && line !== shown) {
        process.stderr.write(`\r\x1b[K${line}`);
        shown = line;
      }
    }
    if (progress) process.stderr.write('\r\x1b[K');
    process.stdout.write(options.json ? `${JSON.stringify(task, null, 2)}\n` : formatTask(task));
    return task.state === 'succeeded' ? 0 : 1;
  });
}

export async function runTasksList(
  config: Config,
  options: { json: boolean; state?: string; node?: string; limit?: number },
): Promise<number> {
  return reportErrors(async () => {
    const query = new URLSearchParams();
    if (options.state) query.set('state', options.state);
    if (options.node) query.set('node', options.node);
    if (options.limit) query.set('limit', String(options.limit));
    const body = await callApi<{ tasks: TaskRow[] }>(config, 'GET', `/api/tasks?${query}`);
    process.stdout.write(options.json ? `${JSON.stringify(body, null, 2)}\n` : formatTaskTable(body.tasks));
    return 0;
  });
}

export async function runTaskShow(config: Config, id: string, options: { json: boolean }): Promise<number> {
  return reportErrors(async () => {
    const task = await callApi<TaskView>(config, 'GET', `/api/tasks/${encodeURIComponent(id)}`);
    process.stdout.write(options.json ? `${JSON.stringify(task, null, 2)}\n` : formatTask(task));
    return 0;
  });
}

export async function runTaskCancel(config: Config, id: string): Promise<number> {
  return reportErrors(async () => {
    const task = await callApi<TaskView>(config, 'POST', `/api/tasks/${encodeURIComponent(id)}/cancel`);
    process.stdout.write(`${task.id} ${task.state}\n`);
    return 0;
  });
}

/** Runs an API command: an ApiCallError is printed as one line and exits 1. */
export async function reportErrors(run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (err) {
    if (!(err instanceof ApiCallError)) throw err;
    process.stderr.write(`picluster: ${err.message}\n`);
    return 1;
  }
}

function progressLine(task: TaskView): string {
  if (task.children) {
    const done = task.children.filter((c) => FINAL.has(c.state)).length;
    return `${task.kind}: ${done} of ${task.children.length} nodes done`;
  }
  const where = task.nodeId ? ` on ${printable(task.nodeId)}` : '';
  return `${task.kind}: ${task.state}${where}${task.reason ? ` (${printable(task.reason)})` : ''}`;
}

/** One task in words: its state, where it ran, its result or error and its output. */
export function formatTask(task: TaskView): string {
  const lines: string[] = [];
  const where = task.nodeId ? ` on ${printable(task.nodeId)}` : '';
  lines.push(`${task.id} ${task.kind} ${task.state}${where}${task.reason ? ` (${printable(task.reason)})` : ''}`);
  if (task.error) lines.push(`error: ${printable(task.error.code)}: ${printable(task.error.message)}`);
  if (task.result !== null && task.result !== undefined)
    lines.push(`result: ${printable(JSON.stringify(task.result))}`);
  if (task.stdout) lines.push(`stdout:\n${indent(task.stdout)}`);
  if (task.stderr) lines.push(`stderr:\n${indent(task.stderr)}`);
  if (task.truncated) lines.push('(output cut to its tail)');
  for (const child of task.children ?? []) {
    const outcome = child.error
      ? `${child.error.code}: ${child.error.message}`
      : child.result !== null && child.result !== undefined
        ? JSON.stringify(child.result)
        : '';
    lines.push(`  ${printable(child.nodeId ?? '-')}  ${child.state}  ${printable(outcome).slice(0, 200)}`);
  }
  return `${lines.join('\n')}\n`;
}

function indent(text: string): string {
  return text
    .replace(/\n$/, '')
    .split('\n')
    .map((line) => `  ${printable(line)}`)
    .join('\n');
}

export function formatTaskTable(tasks: TaskRow[]): string {
  const rows = tasks.map((t) => [
    t.id,
    printable(t.kind),
    t.state,
    printable(t.nodeId ?? t.on),
    new Date(t.createdAt).toISOString().replace('T', ' ').slice(0, 19),
    printable(t.error?.code ?? t.reason ?? ''),
  ]);
  return textTable(['ID', 'KIND', 'STATE', 'NODE', 'CREATED', 'NOTE'], rows);
}

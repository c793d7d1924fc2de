// What a task handler may hand the task runner besides a plain result or a thrown error: a failure
// that carries a result (a command's exit code), and a "going down" outcome whose result must
// reach the primary before the machine reboots, powers off or the agent restarts; and how the
// runner turns what a handler returned or threw into an `Ending` (endingOf, endingOfError).

import { TaskError } from '../protocol/errors.js';
import { MAX_JSON_DEPTH, parseJson, TASK_RESULT_DEPTH, unsendableWhy } from '../protocol/parse-json.js';
import type { FinalState, TaskErrorCode, TaskResultPayload } from '../protocol/tasks.js';

/** The largest result a task may return, bytes of JSON; a larger one fails the task. */
export const MAX_RESULT_BYTES = 256 * 1024;
const MAX_MESSAGE_CHARS = 4096;
/** The longest error code a `task.result` carries (task-schemas.ts, TaskResult). */
const MAX_CODE_CHARS = 64;
/** What the primary's decoder takes of a result, said when a result breaks it. */
const RESULT_RULE = `a result may nest at most ${MAX_JSON_DEPTH - TASK_RESULT_DEPTH} levels and hold no __proto__, constructor or prototype key`;

/** A task that failed and still has a result to report (`{exitCode}` of a command). */
export class TaskFailure extends TaskError {
  readonly result: unknown;
  constructor(code: TaskErrorCode, message: string, result: unknown) {
    super(code, message);
    this.result = result;
  }
}

/**
 * Returned by a task that takes the node down: the runner journals and sends the result
 * `succeeded {goingDown: true}`, waits for the primary's ack (a few seconds at most), then calls
 * `act`. A node back up answers that key with its journaled result: it never goes down twice.
 */
export class GoingDown {
  readonly act: () => Promise<void>;
  constructor(act: () => Promise<void>) {
    this.act = act;
  }
}

/** How a task ended, before it is written as a result. */
export interface Ending {
  state: FinalState;
  result?: unknown;
  error?: { code: string; message: string };
  goingDown?: GoingDown;
}

/** What a handler's value makes: a result, or `goingDown`. */
export function endingOf(value: unknown): Ending {
  if (value instanceof GoingDown) return { state: 'succeeded', result: { goingDown: true }, goingDown: value };
  const checked = sendable(value);
  if ('why' in checked) return failed('ERR_TASK_FAILED', checked.why);
  return checked.result === undefined ? { state: 'succeeded' } : { state: 'succeeded', result: checked.result };
}

/**
 * What a thrown error makes: a TaskError keeps its code; anything else is ERR_TASK_FAILED (so is a
 * TaskError whose code a `task.result` cannot carry). A TaskFailure's result that cannot be sent is
 * dropped, and its message says why.
 */
export function endingOfError(err: unknown): Ending {
  const message = messageOf(err);
  if (!(err instanceof TaskError)) return failed('ERR_TASK_FAILED', message);
  const code: unknown = err.code;
  if (typeof code !== 'string' || code.length > MAX_CODE_CHARS) {
    const shown = typeof code === 'string' ? `"${code.slice(0, MAX_CODE_CHARS)}…"` : typeof code;
    return failed(
      'ERR_TASK_FAILED',
      `${message} (the task's error code ${shown} is not text of at most ${MAX_CODE_CHARS} characters)`,
    );
  }
  const state: FinalState =
    code === 'ERR_TASK_TIMEOUT' ? 'timed_out' : code === 'ERR_TASK_CANCELLED' ? 'cancelled' : 'failed';
  const checked = err instanceof TaskFailure ? sendable(err.result) : { result: undefined };
  const said = 'why' in checked ? `${message} (its result was dropped: ${checked.why})` : message;
  const ending: Ending = { state, error: { code, message: clip(said) } };
  if ('result' in checked && checked.result !== undefined) ending.result = checked.result;
  return ending;
}

/**
 * A result kept in the journal as the primary's decoder takes it: one that it would refuse (kept
 * by a version that did not check, see endingOf) becomes `failed` ERR_TASK_FAILED, without it.
 * Sent again at every new link until acknowledged, such a result would cost the node its link
 * every time.
 */
export function sendableResult(result: TaskResultPayload): TaskResultPayload {
  if (result.result === undefined) return result;
  const why = unsendableWhy(result.result, TASK_RESULT_DEPTH);
  if (why === undefined) return result;
  const { result: _dropped, ...rest } = result;
  const was = result.error ? ` (${result.state}: ${result.error.message})` : ` (${result.state})`;
  return {
    ...rest,
    state: 'failed',
    error: {
      code: 'ERR_TASK_FAILED',
      message: clip(`the task's result cannot be sent to the primary: ${why}; ${RESULT_RULE}${was}`),
    },
  };
}

/**
 * A value as the result a `task.result` carries (JSON, undefined for none), or why it cannot be:
 * not JSON, larger than MAX_RESULT_BYTES, or refused by the primary's decoder (parseJson at the
 * depth of a result in its message, TASK_RESULT_DEPTH: what unsendableWhy checks, on the text
 * already made).
 */
function sendable(value: unknown): { result: unknown } | { why: string } {
  if (value === undefined) return { result: undefined };
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    return { why: `the task's result is not JSON: ${(err as Error).message}` };
  }
  if (json === undefined) return { result: undefined };
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_RESULT_BYTES) {
    return { why: `the task's result is ${bytes} bytes of JSON, more than ${MAX_RESULT_BYTES}` };
  }
  try {
    return { result: parseJson(json, MAX_JSON_DEPTH - TASK_RESULT_DEPTH) };
  } catch (err) {
    return { why: `the task's result cannot be sent to the primary: ${(err as Error).message}; ${RESULT_RULE}` };
  }
}

/** A thrown value's message as text (a value whose conversion throws too says so). */
function messageOf(err: unknown): string {
  try {
    const message: unknown = err instanceof Error ? err.message : String(err);
    return typeof message === 'string' ? message : String(message);
  } catch {
    return 'the task threw a value that cannot be shown as text';
  }
}

function failed(code: string, message: string): Ending {
  return { state: 'failed', error: { code, message: clip(message) } };
}

export function clip(message: string): string {
  return message.length > MAX_MESSAGE_CHARS ? `${message.slice(0, MAX_MESSAGE_CHARS - 1)}…` : message;
}

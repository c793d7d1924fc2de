// What a task handler may hand the task runner besides a plain result or a thrown error: a failure
// that carries a result (a command's exit code), and a "going down" outcome whose result must
// reach the primary before the machine reboots, powers off or the agent restarts; and how the
// runner turns what a handler returned or threw into an `Ending` (endingOf, endingOfError).

import { TaskError } from '../protocol/errors.js';
import type { FinalState, TaskErrorCode } from '../protocol/tasks.js';

/** The largest result a task may return, bytes of JSON; a larger one fails the task. */
export const MAX_RESULT_BYTES = 256 * 1024;
const MAX_MESSAGE_CHARS = 4096;

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
  if (value === undefined) return { state: 'succeeded' };
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    return failed('ERR_TASK_FAILED', `the task's result is not JSON: ${(err as Error).message}`);
  }
  if (json === undefined) return { state: 'succeeded' };
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_RESULT_BYTES) {
    return failed('ERR_TASK_FAILED', `the task's result is ${bytes} bytes of JSON, more than ${MAX_RESULT_BYTES}`);
  }
  return { state: 'succeeded', result: JSON.parse(json) };
}

/** What a thrown error makes: a TaskError keeps its code; anything else is ERR_TASK_FAILED. */
export function endingOfError(err: unknown): Ending {
  const message = err instanceof Error ? err.message : String(err);
  if (!(err instanceof TaskError)) return failed('ERR_TASK_FAILED', message);
  const state: FinalState =
    err.code === 'ERR_TASK_TIMEOUT' ? 'timed_out' : err.code === 'ERR_TASK_CANCELLED' ? 'cancelled' : 'failed';
  const ending: Ending = { state, error: { code: err.code, message: clip(message) } };
  if (err instanceof TaskFailure && err.result !== undefined) ending.result = endingOf(err.result).result;
  return ending;
}

function failed(code: string, message: string): Ending {
  return { state: 'failed', error: { code, message: clip(message) } };
}

export function clip(message: string): string {
  return message.length > MAX_MESSAGE_CHARS ? `${message.slice(0, MAX_MESSAGE_CHARS - 1)}…` : message;
}

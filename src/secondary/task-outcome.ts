// What a task handler may hand the task runner besides a plain result or a thrown error: a failure
// that carries a result (a command's exit code), and a "going down" outcome whose result must
// reach the primary before the machine reboots, powers off or the agent restarts.

import { TaskError } from '../protocol/errors.js';
import type { TaskErrorCode } from '../protocol/tasks.js';

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

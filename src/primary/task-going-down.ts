// Tasks that take their node down on purpose (node.reboot, node.restart-agent, node.shutdown),
// tracked as an expected disconnect instead of a failure or silence:
//   sent → acknowledged (running) → going down (the node's result said so) → offline (its link
//   dropped: the node shows `rebooting`) → back (a new boot id for a reboot) → succeeded
// and failed with ERR_NOT_BACK when the node is not back by the task's deadline. A shutdown is
// done once the node is offline. Pure decisions; the scheduler (task-scheduler.ts) acts on them.

import type { TaskResultPayload } from '../protocol/tasks.js';
import type { TaskRow } from '../store/store-api.js';

/** How the primary knows a going-down task is done. */
type Comeback = 'new-boot' | 'any' | 'none';

const GOING_DOWN: ReadonlyMap<string, Comeback> = new Map([
  ['node.reboot', 'new-boot'],
  ['node.restart-agent', 'any'],
  ['node.shutdown', 'none'],
]);

export type DownPhase = 'going-down' | 'offline';

/** A going-down task's result as the node sends it (before it acts), with the boot id it had. */
export interface DownResult {
  goingDown: true;
  bootIdBefore: string | null;
  wentDownAt?: number;
  bootIdAfter?: string | null;
  backAt?: number;
}

/** Whether a result says "going down now" for a kind tracked that way. */
export function isGoingDown(kind: string, result: TaskResultPayload): boolean {
  return (
    GOING_DOWN.has(kind) &&
    result.state === 'succeeded' &&
    (result.result as { goingDown?: unknown } | undefined)?.goingDown === true
  );
}

/** Whether the node is expected back (the primary shows it `rebooting`, not lost or left). */
export function expectsBack(kind: string): boolean {
  const comeback = GOING_DOWN.get(kind);
  return comeback === 'new-boot' || comeback === 'any';
}

/** The task's outcome once its node went offline: done for a shutdown, else keep waiting. */
export function offlineOutcome(kind: string): 'done' | 'wait' {
  return GOING_DOWN.get(kind) === 'none' ? 'done' : 'wait';
}

/** The task's outcome when its node is back with `bootIdAfter`. */
export function backOutcome(
  kind: string,
  result: DownResult,
  bootIdAfter: string | undefined,
): { state: 'succeeded' | 'failed'; error: { code: string; message: string } | null; reason: string } {
  const before = result.bootIdBefore;
  if (GOING_DOWN.get(kind) !== 'new-boot' || before === null || bootIdAfter === undefined) {
    return { state: 'succeeded', error: null, reason: 'back' };
  }
  if (bootIdAfter === before) {
    return {
      state: 'failed',
      error: { code: 'ERR_TASK_FAILED', message: 'the node came back with the same boot id: it did not reboot' },
      reason: 'back without a reboot',
    };
  }
  return { state: 'succeeded', error: null, reason: 'back with a new boot id' };
}

/** The node said it goes down now: the task waits for that (`bootIdBefore`: the boot id it had). */
export function goingDown(row: TaskRow, node: { id: string; name: string; info: { bootId?: string } | null }): void {
  row.phase = 'going-down';
  row.reason = `node ${node.name || node.id} is going down`;
  row.result = { goingDown: true, bootIdBefore: node.info?.bootId ?? null } satisfies DownResult;
}

/** The node's link dropped as the task said it would: done for a shutdown, else wait for it. */
export function wentDown(row: TaskRow, name: string): 'done' | 'wait' {
  row.result = { ...(row.result as DownResult), wentDownAt: Date.now() };
  if (offlineOutcome(row.kind) === 'done') {
    row.reason = 'went down';
    row.phase = null;
    return 'done';
  }
  row.phase = 'offline';
  row.reason = `node ${name} went down; waiting for it to come back`;
  return 'wait';
}

/** The node is back with `bootIdAfter`: the task's row updated, and how it ends. */
export function backFrom(
  row: TaskRow,
  bootIdAfter: string | undefined,
): { state: 'succeeded' | 'failed'; error: { code: string; message: string } | null } {
  const result = row.result as DownResult;
  const outcome = backOutcome(row.kind, result, bootIdAfter);
  row.result = { ...result, bootIdAfter: bootIdAfter ?? null, backAt: Date.now() };
  row.reason = outcome.reason;
  row.phase = null;
  return outcome;
}

/** Not back by the task's deadline. */
export function notBack(row: TaskRow): { code: string; message: string } {
  row.phase = null;
  return { code: 'ERR_NOT_BACK', message: `node ${row.nodeId} did not come back within ${row.timeoutMs} ms` };
}

// The TypeBox schemas of the task messages (tasks.ts has the model and the types). Never loaded by
// an agent at run time: scripts/gen-validators.ts compiles them into generated/, and the types
// come from here by `import type` (erased). Edit here, then run `node --import tsx
// scripts/gen-validators.ts` (a unit test fails while its output is stale).

import Type from 'typebox';
import { MAX_OUTPUT_BYTES, MAX_TASK_TIMEOUT_MS, TASK_ID_PATTERN, TASK_KIND_PATTERN } from './tasks.js';

const TaskId = Type.String({ pattern: TASK_ID_PATTERN });
const Time = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

export const TaskRun = Type.Object({
  taskId: TaskId,
  /** Idempotency key: a node that ran (or runs) this key answers with that run, never a new one. */
  key: Type.String({ minLength: 1, maxLength: 128 }),
  kind: Type.String({ maxLength: 64, pattern: TASK_KIND_PATTERN }),
  args: Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), { maxProperties: 64 }),
  timeoutMs: Type.Integer({ minimum: 1, maximum: MAX_TASK_TIMEOUT_MS }),
  /** The assigning primary's epoch: a node refuses one lower than the highest it has seen. */
  epoch: Time,
});

export const TaskRunReply = Type.Object({
  state: Type.Union([
    Type.Literal('queued'),
    Type.Literal('assigned'),
    Type.Literal('running'),
    Type.Literal('succeeded'),
    Type.Literal('failed'),
    Type.Literal('timed_out'),
    Type.Literal('cancelled'),
  ]),
});

export const TaskOutput = Type.Object({
  taskId: TaskId,
  stream: Type.Union([Type.Literal('stdout'), Type.Literal('stderr')]),
  data: Type.String({ maxLength: MAX_OUTPUT_BYTES }),
});

const FinalStateSchema = Type.Union([
  Type.Literal('succeeded'),
  Type.Literal('failed'),
  Type.Literal('timed_out'),
  Type.Literal('cancelled'),
]);

export const TaskResult = Type.Object({
  taskId: TaskId,
  key: Type.String({ minLength: 1, maxLength: 128 }),
  state: FinalStateSchema,
  /** Node wall clock, epoch ms: when the work started and ended (shown, never used for durations). */
  startedAt: Time,
  endedAt: Time,
  /** What the task returned (succeeded), as JSON. */
  result: Type.Optional(Type.Unknown()),
  /** Why it did not succeed. */
  error: Type.Optional(
    Type.Object({ code: Type.String({ maxLength: 64 }), message: Type.String({ maxLength: 4096 }) }),
  ),
  /** The tail of the output (command tasks), at most MAX_OUTPUT_BYTES each. */
  stdout: Type.Optional(Type.String({ maxLength: MAX_OUTPUT_BYTES })),
  stderr: Type.Optional(Type.String({ maxLength: MAX_OUTPUT_BYTES })),
  /** True when output was cut to its tail. */
  truncated: Type.Optional(Type.Boolean()),
});

/** `key`: the result acknowledged is that attempt's (a node keeps a newer attempt's result of the same task). */
export const TaskAck = Type.Object({
  taskId: TaskId,
  key: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
});
export const TaskCancel = Type.Object({ taskId: TaskId, reason: Type.String({ maxLength: 256 }) });

/** The task messages with the schema of each payload (merged into MESSAGE_SCHEMAS). */
export const TASK_MESSAGE_SCHEMAS = {
  task: TaskRun,
  'task.output': TaskOutput,
  'task.result': TaskResult,
  'task.ack': TaskAck,
  'task.cancel': TaskCancel,
} as const;

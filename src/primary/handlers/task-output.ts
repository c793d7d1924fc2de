// `task.output` from a native node: a running task's output, shown live (best effort: the
// result carries the tail of it for good).

import type { MessageHandler } from '../../connection/dispatch.js';
import type { NativeSession } from '../node-host.js';

export const onTaskOutput: MessageHandler<'task.output', NativeSession> = (payload, { host, record }) =>
  host.tasks.output(record, payload);

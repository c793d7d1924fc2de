// `task.result` from a native node: the outcome of a task, stored, then acknowledged with
// `task.ack` (task-scheduler.ts); the node keeps it in its journal until then.

import type { MessageHandler } from '../../connection/dispatch.js';
import type { NativeSession } from '../node-host.js';

export const onTaskResult: MessageHandler<'task.result', NativeSession> = (payload, { host, record, conn }) => {
  host.tasks.result(record, payload, conn).catch((err: unknown) => {
    // Not acknowledged: the node sends it again after its next reconnect.
    host.log.warn({ err, nodeId: record.id, taskId: payload.taskId }, 'cannot store a task result');
  });
};

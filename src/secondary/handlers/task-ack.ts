// `task.ack` from the primary: it stored that task's result; the journal may forget it.

import type { MessageHandler } from '../../connection/dispatch.js';
import type { AgentSession } from './index.js';

export const onTaskAck: MessageHandler<'task.ack', AgentSession> = ({ taskId, key }, { tasks }) =>
  tasks.acknowledged(taskId, key);

// `task.cancel` from the primary: abort that task if it runs here (its result is `cancelled`).

import type { MessageHandler } from '../../connection/dispatch.js';
import type { AgentSession } from './index.js';

export const onTaskCancel: MessageHandler<'task.cancel', AgentSession> = ({ taskId, reason }, { tasks }) => {
  tasks.cancel(taskId, reason);
};

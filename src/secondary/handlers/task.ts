// `task` from the primary: take it (or answer for a key taken before); task-runner.ts decides.

import type { RequestHandlerOf } from '../../connection/dispatch.js';
import type { AgentSession } from './index.js';

export const takeTask: RequestHandlerOf<'task', AgentSession> = (request, { tasks }) => tasks.take(request);

// The messages the agent takes from its primary, one handler each (one file per type). Types not
// here go to the Secondary's 'message' event and to the handlers users register (plugins).

import type { Logger } from '../../common/logger.js';
import type { Connection } from '../../connection/connection.js';
import type { MessageHandlers, RequestHandlers } from '../../connection/dispatch.js';
import type { InfoPayload } from '../../protocol/messages.js';
import type { TaskRunner } from '../task-runner.js';
import type { VitalsSender } from '../vitals-sender.js';
import { onAck } from './ack.js';
import { onPrimaryError } from './error.js';
import { answerQuery } from './query.js';
import { takeTask } from './task.js';
import { onTaskAck } from './task-ack.js';
import { onTaskCancel } from './task-cancel.js';

/** What a handler of the agent gets: the link it came on and the agent's parts. */
export interface AgentSession {
  readonly conn: Connection;
  readonly sender: VitalsSender;
  readonly tasks: TaskRunner;
  readonly info: InfoPayload | undefined;
  readonly log: Logger;
}

/** One-way messages. */
export const AGENT_MESSAGES: MessageHandlers<AgentSession> = {
  ack: onAck,
  error: onPrimaryError,
  'task.ack': onTaskAck,
  'task.cancel': onTaskCancel,
};

/** Requests. */
export const AGENT_REQUESTS: RequestHandlers<AgentSession> = { query: answerQuery, task: takeTask };

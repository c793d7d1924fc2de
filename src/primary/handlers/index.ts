// The messages an authenticated native node may send, one handler each (one file per type).
// Adding a message type is a schema in protocol/messages.ts and a handler file here.

import type { MessageHandlers, RequestHandlers } from '../../connection/dispatch.js';
import type { NativeSession } from '../node-host.js';
import { onBye } from './bye.js';
import { onInfo } from './info.js';
import { answerQuery } from './query.js';
import { onTaskOutput } from './task-output.js';
import { onTaskResult } from './task-result.js';
import { onVitals } from './vitals.js';

/** One-way messages. */
export const NATIVE_MESSAGES: MessageHandlers<NativeSession> = {
  vitals: onVitals,
  info: onInfo,
  bye: onBye,
  'task.result': onTaskResult,
  'task.output': onTaskOutput,
};

/** Requests (`auth` is answered before a session exists: sessions.ts). */
export const NATIVE_REQUESTS: RequestHandlers<NativeSession> = { query: answerQuery };

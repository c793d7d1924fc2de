// `query` from the primary: a fresh vitals reading (not kept, no seq) or this machine's info.

import type { RequestHandlerOf } from '../../connection/dispatch.js';
import { RequestError } from '../../protocol/errors.js';
import type { AgentSession } from './index.js';

export const answerQuery: RequestHandlerOf<'query', AgentSession> = ({ what }, { sender, info }) => {
  if (what === 'vitals') return sender.read();
  if (what === 'info') return info;
  throw new RequestError('ERR_BAD_REQUEST', `a secondary does not answer query "${what}"`);
};

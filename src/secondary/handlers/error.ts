// A one-way `error` from the primary: why it is about to close the link (a rate limit, a message
// it refused). Said at error level, so the agent's log names the cause before "lost the primary".

import type { MessageHandler } from '../../connection/dispatch.js';
import type { AgentSession } from './index.js';

export const onPrimaryError: MessageHandler<'error', AgentSession> = ({ code, message }, { log }) =>
  log.error({ code }, `the primary refused this node's input: ${message}`);

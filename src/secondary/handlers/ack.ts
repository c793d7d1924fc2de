// `ack` from the primary: samples up to `seq` are stored; the outbox forgets them (vitals-sender.ts).

import type { MessageHandler } from '../../connection/dispatch.js';
import type { AgentSession } from './index.js';

export const onAck: MessageHandler<'ack', AgentSession> = ({ seq }, { sender }) => sender.acknowledged(seq);

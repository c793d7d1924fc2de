// `bye` from a native node shutting down: it becomes `left`, not `lost`, and the link is closed.

import type { MessageHandler } from '../../connection/dispatch.js';
import type { NativeSession } from '../node-host.js';

export const onBye: MessageHandler<'bye', NativeSession> = ({ reason }, { host, record, conn }) => {
  host.setState(record, 'left', { reason });
  record.session = undefined;
  void conn.close();
};

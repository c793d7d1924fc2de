// `bye` from a native node shutting down: it becomes `left`, not `lost`, and the link is closed
// once the node's samples waiting in the commit window are committed and acknowledged on it (the
// agent waits for that ack after its bye to leave an empty outbox; a window of up to two minutes
// must not make every stop wait out the agent's stop timeout).

import type { MessageHandler } from '../../connection/dispatch.js';
import type { NativeSession } from '../node-host.js';

export const onBye: MessageHandler<'bye', NativeSession> = ({ reason }, { host, record, conn }) => {
  host.setState(record, 'left', { reason });
  void host.ingest.flushNode(record.id).finally(() => {
    // A newer session of the node may have taken the record meanwhile: it is not this one's to end.
    if (record.session === conn) record.session = undefined;
    void conn.close();
  });
};

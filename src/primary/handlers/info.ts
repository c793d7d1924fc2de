// `info` from a native node: its machine info, sent after `welcome` and whenever it changes.

import type { MessageHandler } from '../../connection/dispatch.js';
import { knownFields } from '../../protocol/messages.js';
import type { NativeSession } from '../node-host.js';

export const onInfo: MessageHandler<'info', NativeSession> = (payload, { host, record }) => {
  const info = knownFields('info', payload);
  record.info = info;
  // Batched with the other node writes: every node sends its info on each connect.
  host.storeNode([{ op: 'info', id: record.id, info }]);
};

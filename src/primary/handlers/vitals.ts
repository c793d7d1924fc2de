// `vitals` from a native node: one sample, stored then acknowledged (vitals-ingest.ts).

import type { MessageHandler } from '../../connection/dispatch.js';
import { knownFields } from '../../protocol/messages.js';
import type { NativeSession } from '../node-host.js';

export const onVitals: MessageHandler<'vitals', NativeSession> = (payload, { host, record }) => {
  const receivedAt = Date.now();
  // The link's clock offset: the node's clock minus ours. A sample resent from the outbox days
  // later keeps its old `ts`; this tells that backlog from a clock that is off (sample-time.ts).
  const clockOffsetMs = payload.sentAt === undefined ? undefined : payload.sentAt - receivedAt;
  if (clockOffsetMs !== undefined) host.ingest.clockOf(record, clockOffsetMs);
  // Only the fields of the schema: unknown ones are ignored, not stored and served; `sentAt` is
  // the link's, not the sample's.
  host.ingest.receive(record, knownFields('vitals', payload, ['sentAt']), receivedAt, clockOffsetMs);
};

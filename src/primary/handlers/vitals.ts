// `vitals` from a native node: one sample, stored then acknowledged (vitals-ingest.ts).

import type { MessageHandler } from '../../connection/dispatch.js';
import { knownFields } from '../../protocol/messages.js';
import type { NativeSession } from '../node-host.js';

export const onVitals: MessageHandler<'vitals', NativeSession> = (payload, { host, record }) => {
  const receivedAt = Date.now();
  if (payload.sentAt !== undefined) host.ingest.clockOf(record, payload.sentAt - receivedAt);
  // Only the fields of the schema: unknown ones are ignored, not stored and served; `sentAt` is
  // the link's, not the sample's.
  host.ingest.receive(record, knownFields('vitals', payload, ['sentAt']), receivedAt);
};

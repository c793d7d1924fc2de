// `vitals` from a native node: one sample, stored then acknowledged (vitals-ingest.ts).

import type { MessageHandler } from '../../connection/dispatch.js';
import { knownFields } from '../../protocol/messages.js';
import type { NativeSession } from '../node-host.js';

export const onVitals: MessageHandler<'vitals', NativeSession> = (payload, { host, record }) => {
  // Only the fields of the schema: unknown ones are ignored, not stored and served.
  host.ingest.receive(record, knownFields('vitals', payload));
};

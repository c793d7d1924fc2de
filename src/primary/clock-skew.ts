// A node's clock went off the primary's (or came back): what the primary does about it, in one
// place: an event in the log, a line in its own log, and the node object out again (its
// `clockSkewMs`), which the alerts' clock-skew rules and the dashboard read.

import type { Logger } from '../common/logger.js';
import type { NodeChange } from '../store/store-api.js';
import { type NodeRecord, type NodeView, toView } from './registry.js';

export function reportClockSkew(
  record: NodeRecord,
  skewed: boolean,
  deps: { post: (changes: NodeChange[]) => void; log: Logger; emitNode: (view: NodeView) => void },
): void {
  const skewMs = Math.round(record.clockSkewMs ?? 0);
  const type = skewed ? 'clock-skew' : 'clock-synced';
  deps.post([{ op: 'event', ts: Date.now(), nodeId: record.id, type, data: { skewMs } }]);
  const fields = { nodeId: record.id, name: record.name, skewMs };
  if (skewed) deps.log.warn(fields, `the node's clock is ${skewMs} ms off the primary's`);
  else deps.log.info(fields, "the node's clock agrees with the primary's again");
  deps.emitNode(toView(record));
}

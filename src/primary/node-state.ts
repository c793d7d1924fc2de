// A node's state change, the one way the primary makes it: the registry record, the node row and
// its event (batched), the tasks of a node gone, and the node object out again. Primary owns the
// call (primary.ts #setNodeState); the steps live here.

import type { Logger } from '../common/logger.js';
import type { NodeChange } from '../store/store-api.js';
import { type NodeRecord, type NodeView, toView } from './registry.js';
import type { TaskScheduler } from './task-scheduler.js';

export interface NodeStateDeps {
  tasks: Pick<TaskScheduler, 'expectsBack' | 'nodeGone'> | undefined;
  /** Where the row and event go; undefined once the primary stopped (nothing is written then). */
  post: ((changes: NodeChange[]) => void) | undefined;
  log: Logger;
  emitNode(view: NodeView): void;
}

export function applyNodeState(
  record: NodeRecord,
  given: NodeRecord['state'],
  data: Record<string, unknown>,
  deps: NodeStateDeps,
): void {
  // A node a task took down on purpose (a reboot) is expected back: not lost, not left.
  const down = (given === 'lost' || given === 'left') && deps.tasks?.expectsBack(record.id) === true;
  const state = down ? 'rebooting' : given;
  const now = Date.now();
  record.state = state;
  // lastSeen is when the node was last heard from: a lost node was not heard now.
  if (state !== 'lost') record.lastSeen = now;
  record.connectedSince = state === 'online' ? record.connectedSince : null;
  // Batched: thousands of nodes going lost at once are a few transactions, not thousands. A
  // failure (full disk, a lock) is logged by the writer; the registry stays right and the store
  // catches up at the node's next change (and at start).
  const { id, lastSeen, connectedSince, lastSeq } = record;
  deps.post?.([
    { op: 'state', id, state, at: lastSeen, connectedSince, lastSeq },
    { op: 'event', ts: now, nodeId: id, type: state, data },
  ]);
  if (state === 'left') deps.log.info({ nodeId: record.id, name: record.name }, 'node left');
  if (given === 'lost' || given === 'left' || given === 'denied')
    deps.tasks?.nodeGone(record, given === 'left' ? 'left' : `was ${given}`);
  deps.emitNode(toView(record));
}

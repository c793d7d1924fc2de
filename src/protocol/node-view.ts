// A node as the primary shows it: the API's node object (ARCHITECTURE.md, "Public contract"), the
// answer to `query {what: "node"}` and each entry of `query {what: "nodes"}`. Types only: both the
// primary (which builds it) and the secondary (which asks for it) name it.

import type { InfoPayload, VitalsPayload } from './messages.js';

/**
 * `online`, `lost` (the link died), `left` (said goodbye); `pending` (joined by token while
 * admission is "approve", waiting for the operator) and `denied` (denied or revoked: refused);
 * `rebooting` (a task took it down on purpose: node.reboot, node.restart-agent; expected back).
 */
export type NodeState = 'online' | 'lost' | 'left' | 'pending' | 'denied' | 'rebooting';

export interface NodeView {
  id: string;
  name: string;
  state: NodeState;
  labels: Record<string, string>;
  address: string | null;
  legacy: boolean;
  info: InfoPayload | null;
  vitals: (VitalsPayload & { receivedAt: number }) | null;
  lastSeen: number;
  connectedSince: number | null;
  /**
   * The node's wall clock minus the primary's, ms, measured when its latest sample was sent
   * (`sentAt`); null before one, and for nodes that do not send it (legacy nodes).
   */
  clockSkewMs: number | null;
}

/** A node in a page of `query {what: "nodes"}`: `truncated` when it came without its details. */
export type PagedNode = NodeView & { truncated?: true };

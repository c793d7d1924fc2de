// What the primary lends the two kinds of node session (native and legacy): the registry, the
// vitals ingest, the node writer and the one state-change path. Sessions report into it; only the
// Primary owns storage. Node changes go to the store as data (store-api.ts), never as closures.

import type { LogLimiter } from '../common/log-limiter.js';
import type { Logger } from '../common/logger.js';
import type { Connection } from '../connection/connection.js';
import type { LabelSelector } from '../protocol/label-selector.js';
import type { NodeChange, NodeSecret } from '../store/store-api.js';
import type { AuditTrail } from './audit-trail.js';
import type { JoinCodes } from './join-codes.js';
import type { PeerGuard } from './peer-guard.js';
import type { PeerLimits } from './primary-options.js';
import type { NodeRecord, NodeState, NodeView, Registry } from './registry.js';
import type { TaskScheduler } from './task-scheduler.js';
import type { VitalsIngest } from './vitals-ingest.js';

/** Counters for /metrics and tests. */
export interface PrimaryStats {
  accepted: number;
  rejectedOpenings: number;
  handshakeFailures: number;
  authFailures: number;
  reconnects: number;
  /** Frames of authenticated native nodes (legacy messages are not frames). */
  framesIn: number;
  duplicates: number;
  /** TLS handshakes finished on the cluster port, and how many of them resumed a session. */
  tlsHandshakes: number;
  tlsResumed: number;
  /** TLS handshakes that failed (a bad or missing client certificate, garbage, a timeout). */
  tlsFailures: number;
  /** Connections waiting for a handshake slot now (all `maxHandshakes` in use). */
  handshakesWaiting: number;
  /** Connections closed because the wait for a slot was full, or took half the handshake timeout. */
  handshakeQueueFull: number;
  handshakeQueueExpired: number;
  /** Links closed for a bad frame or message (size, JSON, schema, a value outside realistic ranges). */
  invalidMessages: number;
  /** Connections closed at accept: their address held limits.maxHandshakesPerAddress already. */
  addressHandshakesRefused: number;
  /** Addresses put in backoff for failed proofs, and connections closed at accept during one. */
  authBackoffs: number;
  authBackoffRefused: number;
  /** Times a session's reading paused for a rate limit, and links closed for one (ERR_RATE_LIMITED). */
  throttled: number;
  rateLimited: number;
  /** New nodes refused at limits.maxNodes or limits.maxPendingNodes (ERR_TOO_MANY_NODES). */
  nodesRefused: number;
  /** Log lines left out by the rate limit on repeated warnings. */
  logLinesSuppressed: number;
  /** Legacy connections closed: address outside legacy.allow, at legacy.maxConnections, at legacy.maxNodes, idle. */
  legacyNotAllowed: number;
  legacyConnectionsRefused: number;
  legacyNodesRefused: number;
  legacyIdleClosed: number;
}

/** Every counter at zero. */
export function newPrimaryStats(): PrimaryStats {
  return {
    accepted: 0,
    rejectedOpenings: 0,
    handshakeFailures: 0,
    authFailures: 0,
    reconnects: 0,
    framesIn: 0,
    duplicates: 0,
    tlsHandshakes: 0,
    tlsResumed: 0,
    tlsFailures: 0,
    handshakesWaiting: 0,
    handshakeQueueFull: 0,
    handshakeQueueExpired: 0,
    invalidMessages: 0,
    addressHandshakesRefused: 0,
    authBackoffs: 0,
    authBackoffRefused: 0,
    throttled: 0,
    rateLimited: 0,
    nodesRefused: 0,
    logLinesSuppressed: 0,
    legacyNotAllowed: 0,
    legacyConnectionsRefused: 0,
    legacyNodesRefused: 0,
    legacyIdleClosed: 0,
  };
}

export interface NodeHost {
  /** HA: whether this primary may still admit nodes as the leader, and where the leader is when not. */
  readonly leader?: { mayAct(): boolean; leaderAddress(): string | undefined };
  readonly registry: Registry;
  readonly log: Logger;
  readonly stats: PrimaryStats;
  /** This primary as nodes see it: its id, version and frame limit. */
  readonly primary: { readonly id: string; readonly version: string; readonly maxFrameBytes: number };
  /** Failures counted per address and written once a minute (`auth-failed`). */
  readonly audit: Pick<AuditTrail, 'count'>;
  /** Failed and good proofs per address (the backoff of an address that fails too often). */
  readonly peers: Pick<PeerGuard, 'authFailed' | 'authSucceeded'>;
  /** Warnings a peer can cause, at most a few a minute each. */
  readonly limitedLog: LogLimiter;
  /** Rates per session and the node count's caps. */
  readonly limits: PeerLimits;
  /** Which nodes may query the other nodes (`queries.fleet`). */
  readonly fleetQueries: LabelSelector;
  /** Where samples go: stored, then acknowledged to the node's live session (see VitalsIngest). */
  readonly ingest: Pick<VitalsIngest, 'receive' | 'clockOf' | 'flushNode'>;
  /** Writes node rows and events in the next batch, after earlier node writes (see NodeWriter). */
  storeNode(changes: readonly NodeChange[]): void;
  /** The same, resolved once committed (rejected when the batch failed). */
  storeNodeNow(changes: readonly NodeChange[]): Promise<void>;
  /** The stored secret of a node (undefined before its first join). */
  nodeSecret(id: string): Promise<NodeSecret | undefined>;
  /** The highest seq stored for a node the registry does not know (0 for none): a forgotten node's history. */
  storedLastSeq(id: string): Promise<number>;
  /** The primary's state change: registry, store, event, 'node' event. */
  setState(record: NodeRecord, state: NodeState, data: Record<string, unknown>): void;
  emitNode(view: NodeView): void;
  /** A native session's first message: the node takes requests (tasks) from now on. */
  sessionReady(record: NodeRecord): void;
  /** Where task results and output go. */
  readonly tasks: Pick<TaskScheduler, 'result' | 'output'>;
  /** Join codes a first handshake may use in place of the cluster token. */
  readonly joinCodes: JoinCodes;
}

/** What the handlers of an authenticated native node's messages get (handlers/). */
export interface NativeSession {
  readonly host: NodeHost;
  readonly record: NodeRecord;
  readonly conn: Connection;
  /**
   * The secret this session's `welcome` issued, until the node's first message on it confirms
   * the node has it; dropped if the session ends first (the node may join by token again).
   */
  unconfirmedSecret: string | undefined;
  /** Whether the node has sent anything on this session yet. */
  ready: boolean;
}

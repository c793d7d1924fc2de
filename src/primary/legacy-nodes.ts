// Nodes of the original Python cluster on the cluster port (LEGACY-PROTOCOL.md, "What picluster
// does with them"): LegacyNodes keeps the live legacy sessions (legacy-session.ts) and the uuid
// rules. Concurrent connections always get distinct uuids; a uuid is given again only to a
// connection from the IP of a disconnected legacy node, and that node's history continues only if
// the hostname the connection then reports is that node's.

import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import os from 'node:os';
import type { Logger } from '../common/logger.js';
import { readMachineInfo } from '../node/machine-info.js';
import { LegacyDecoder, type LegacyNodeInfo, toLegacyBaseInfo } from '../protocol/legacy-codec.js';
import type { InfoPayload } from '../protocol/messages.js';
import type { AddressRanges } from './address-ranges.js';
import { ipOf, LegacySession } from './legacy-session.js';
import type { NodeHost } from './node-host.js';
import { type NodeRecord, toView } from './registry.js';

/** A legacy node silent this long is lost (it sends a keepalive every ~5 s), ms. */
export const DEFAULT_LEGACY_SILENCE_MS = 20_000;

/**
 * Longest legacy message read, bytes (the primary's maxFrameBytes when smaller). What a legacy
 * node sends is a few hundred bytes; a peer nobody authenticated buffers no more than this.
 */
export const LEGACY_MAX_MESSAGE_BYTES = 64 * 1024;

export interface LegacyNodesOptions {
  host: NodeHost;
  /** Longest message accepted, bytes (the primary's maxFrameBytes, at most LEGACY_MAX_MESSAGE_BYTES). */
  maxMessageBytes: number;
  /** Silence after which a legacy node is lost, ms. */
  silenceMs: number;
  /** This machine's info in the legacy keys: the `primary_info` answer. */
  baseInfo: Record<string, unknown>;
  /** Where legacy nodes may connect from (they prove nothing: the address is all there is). */
  allow: AddressRanges;
  /** Legacy connections held at once, and legacy nodes known at once. */
  maxConnections: number;
  maxNodes: number;
  /** A connection that sends no vitals this long is closed, ms (keepalives alone do not hold it). */
  idleMs: number;
}

/** The primary's own `node_baseinfo`, read once (without systeminformation: no forks). */
export async function readLegacyBaseInfo(version: string, log: Logger): Promise<Record<string, unknown>> {
  try {
    return toLegacyBaseInfo(await readMachineInfo({ version, useLibrary: false }));
  } catch (err) {
    log.warn({ err }, "cannot read this machine's info; legacy nodes asking for it get its hostname only");
    return toLegacyBaseInfo({ hostname: os.hostname() });
  }
}

export class LegacyNodes {
  readonly #options: LegacyNodesOptions;
  readonly #host: NodeHost;
  /** Shared by every legacy connection's rate gate. */
  readonly #onThrottle = (): void => {
    this.#host.stats.throttled++;
  };
  /** Live legacy connections, in arrival order. */
  readonly #sessions = new Set<LegacySession>();
  /** Uuids given on the wire to live connections: never given to two at once. */
  readonly #told = new Map<string, LegacySession>();
  /** Node ids live connections report for: one connection per node. */
  readonly #bound = new Map<string, LegacySession>();

  constructor(options: LegacyNodesOptions) {
    this.#options = options;
    this.#host = options.host;
  }

  /** Serves a connection whose first byte was `{`; `head` holds every byte read so far. */
  accept(socket: Socket, head: Buffer, handshakeMs: number, releaseHandshake: () => void): void {
    const { stats, limitedLog } = this.#host;
    const peer = socket.remoteAddress;
    let refusal: string | undefined;
    if (!this.#options.allow.has(peer)) {
      stats.legacyNotAllowed++;
      refusal = `outside legacy.allow (${this.#options.allow.ranges.join(', ')})`;
    } else if (this.#sessions.size >= this.#options.maxConnections) {
      stats.legacyConnectionsRefused++;
      refusal = `legacy.maxConnections = ${this.#options.maxConnections} are open`;
    }
    if (refusal !== undefined) {
      limitedLog.warn(
        `legacy ${refusal.split(' ')[0]}`,
        { peer },
        `closed a legacy connection from ${peer}: ${refusal}`,
      );
      releaseHandshake();
      socket.destroy();
      return;
    }
    const session = new LegacySession(this, this.#host, socket, {
      decoder: new LegacyDecoder({ maxMessageBytes: this.#options.maxMessageBytes }),
      handshakeMs,
      silenceMs: this.#options.silenceMs,
      idleMs: this.#options.idleMs,
      releaseHandshake,
      onThrottle: this.#onThrottle,
    });
    this.#sessions.add(session);
    session.start(head);
  }

  /** Closes the live connection of node `id`, if any (the node was forgotten: its record says so). */
  closeNode(id: string, reason: string): void {
    this.#bound.get(id)?.close('ERR_CLOSED', reason);
  }

  /** Closes every legacy connection (their nodes become lost). */
  closeAll(): void {
    for (const session of [...this.#sessions]) session.close('ERR_CLOSED', 'the primary is stopping');
  }

  get baseInfo(): Record<string, unknown> {
    return this.#options.baseInfo;
  }

  /** The answer to `info uuid`: the id of the disconnected legacy node last seen at this IP, else a new one. */
  uuidFor(session: LegacySession): string {
    if (session.uuid === undefined) {
      const id = this.#disconnectedNode(session.ip, undefined)?.id ?? newLegacyUuid();
      this.#told.set(id, session);
      session.uuid = id;
    }
    return session.uuid;
  }

  /**
   * Files the node a connection reports for once its `node_baseinfo` names the machine: the node
   * whose uuid it was given if the hostname confirms it, else the disconnected legacy node of that
   * hostname at this IP, else a new node (under the uuid given, when that was a new one).
   */
  bind(session: LegacySession, info: LegacyNodeInfo): NodeRecord | undefined {
    if (session.record) return this.#update(session.record, info);
    const { registry, log } = this.#host;
    const given = session.uuid === undefined ? undefined : registry.get(session.uuid);
    const confirmed = given?.legacy && given.state !== 'online' && given.name === info.hostname;
    let id = confirmed ? given.id : this.#disconnectedNode(session.ip, info.hostname)?.id;
    if (id === undefined) id = session.uuid !== undefined && given === undefined ? session.uuid : newLegacyUuid();
    if (session.uuid !== undefined && id !== session.uuid) {
      log.info(
        { peer: session.address, name: info.hostname, uuidGiven: session.uuid, nodeId: id },
        'legacy node filed under another id than the uuid it was given (its hostname named another node)',
      );
    }
    if (registry.get(id) === undefined && !this.#roomForNew(session)) return undefined;
    this.#bound.set(id, session);
    return this.#join(session, id, info);
  }

  /**
   * The answer to `info secondary_details`: live legacy connections with an id. Native nodes are
   * left out: an unauthenticated peer learns nothing of the authenticated fleet.
   */
  details(): Record<string, { uuid: string; address: string }> {
    const entries: Array<[string, { uuid: string; address: string }]> = [];
    for (const session of this.#sessions) {
      const id = session.record?.id ?? session.uuid;
      if (id !== undefined) entries.push([id, { uuid: id, address: session.address }]);
    }
    // fromEntries defines own properties: an id such as "__proto__" stays an ordinary key.
    return Object.fromEntries(entries);
  }

  /** A closed session gives its uuid and its node back. */
  forget(session: LegacySession): void {
    this.#sessions.delete(session);
    if (session.uuid !== undefined && this.#told.get(session.uuid) === session) this.#told.delete(session.uuid);
    const id = session.record?.id;
    if (id !== undefined && this.#bound.get(id) === session) this.#bound.delete(id);
  }

  /** Whether `session` is the live connection of `record`. */
  owns(session: LegacySession, record: NodeRecord): boolean {
    return this.#bound.get(record.id) === session && this.#host.registry.get(record.id) === record;
  }

  /**
   * The legacy node last seen at `ip` that no live connection reports for, with that hostname if
   * one is given; without one (a uuid to give) also none whose uuid a live connection was given.
   */
  #disconnectedNode(ip: string, hostname: string | undefined): NodeRecord | undefined {
    let best: NodeRecord | undefined;
    for (const record of this.#host.registry.all()) {
      if (!record.legacy || record.state === 'online' || this.#bound.has(record.id)) continue;
      if (hostname === undefined ? this.#told.has(record.id) : record.name !== hostname) continue;
      if (ipOf(record.address) !== ip) continue;
      if (best === undefined || record.lastSeen > best.lastSeen) best = record;
    }
    return best;
  }

  /** Whether a new legacy node fits under legacy.maxNodes and limits.maxNodes (else counted and logged). */
  #roomForNew(session: LegacySession): boolean {
    const { registry, stats, limits, limitedLog } = this.#host;
    let legacyNodes = 0;
    for (const record of registry.all()) if (record.legacy) legacyNodes++;
    const why =
      legacyNodes >= this.#options.maxNodes
        ? `legacy.maxNodes = ${this.#options.maxNodes} legacy nodes are known`
        : registry.size >= limits.maxNodes
          ? `limits.maxNodes = ${limits.maxNodes} nodes are known`
          : undefined;
    if (why === undefined) return true;
    if (legacyNodes >= this.#options.maxNodes) stats.legacyNodesRefused++;
    else stats.nodesRefused++;
    limitedLog.warn(
      'legacy node refused',
      { peer: session.address },
      `closed the connection of a new legacy node: ${why} (forget some: picluster nodes forget ID)`,
    );
    return false;
  }

  #join(session: LegacySession, id: string, info: LegacyNodeInfo): NodeRecord {
    const { registry, log, stats } = this.#host;
    const existing = registry.get(id);
    if (existing) stats.reconnects++;
    const now = Date.now();
    const record: NodeRecord = {
      id,
      name: info.hostname,
      labels: existing?.labels ?? {},
      address: session.address,
      legacy: true,
      state: 'online',
      // InfoPayload requires os, kernel, arch and version, which a legacy node never sends: they
      // stay absent rather than invented (see LegacyNodeInfo).
      info: info as InfoPayload,
      vitals: existing?.vitals ?? null,
      lastSeen: now,
      connectedSince: now,
      machineId: null,
      lastSeq: existing?.lastSeq ?? 0,
      // A legacy sample carries no time of its own: the node's clock is not known.
      clockSkewMs: null,
      clockSkewed: false,
      session: undefined,
    };
    registry.set(record);
    this.#host.storeNode([
      { op: 'upsert', node: { ...record, now } },
      {
        op: 'event',
        ts: now,
        nodeId: id,
        type: 'joined',
        data: { address: record.address, name: record.name, legacy: true },
      },
    ]);
    log.info({ nodeId: id, name: record.name, address: record.address }, 'legacy node joined');
    this.#host.emitNode(toView(record));
    return record;
  }

  #update(record: NodeRecord, info: LegacyNodeInfo): NodeRecord {
    record.name = info.hostname;
    record.info = info as InfoPayload;
    const now = Date.now();
    this.#host.storeNode([{ op: 'upsert', node: { ...record, now } }]);
    this.#host.emitNode(toView(record));
    return record;
  }
}

/** A uuid4 as the legacy primary spelled it: 32 lowercase hex digits, no dashes. */
function newLegacyUuid(): string {
  return randomUUID().replaceAll('-', '');
}

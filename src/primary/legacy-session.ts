// Nodes of the original Python cluster on the cluster port (LEGACY-PROTOCOL.md, "What picluster
// does with them"). A LegacySession serves one connection that opened with `{`: `\r`-ended JSON
// under the native limits (message size, handshake time, then 20 s of silence at most), answers
// only what it is asked, and reports into the same registry, store and vitals writer as a native
// node, marked legacy and never acknowledged (legacy nodes have no acks). LegacyNodes keeps the
// live sessions and the uuid rules: concurrent connections always get distinct uuids; a uuid is
// given again only to a connection from the IP of a disconnected legacy node, and that node's
// history continues only if the hostname the connection then reports is that node's.

import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import os from 'node:os';
import type { Logger } from '../common/logger.js';
import { DEFAULT_CONNECTION, disconnectionOf } from '../connection/connection.js';
import { readMachineInfo } from '../node/machine-info.js';
import { type DisconnectionCode, ProtocolError } from '../protocol/errors.js';
import {
  encodeLegacyMessage,
  LegacyDecoder,
  type LegacyMessage,
  type LegacyNodeInfo,
  parseLegacyBaseInfo,
  parseLegacyVitals,
  toLegacyBaseInfo,
} from '../protocol/legacy-codec.js';
import type { InfoPayload, VitalsPayload } from '../protocol/messages.js';
import type { NodeHost } from './node-host.js';
import { type NodeRecord, toView } from './registry.js';

/** A legacy node silent this long is lost (it sends a keepalive every ~5 s), ms. */
export const DEFAULT_LEGACY_SILENCE_MS = 20_000;

export interface LegacyNodesOptions {
  host: NodeHost;
  /** Longest message accepted, bytes (the primary's maxFrameBytes). */
  maxMessageBytes: number;
  /** Silence after which a legacy node is lost, ms. */
  silenceMs: number;
  /** This machine's info in the legacy keys: the `primary_info` answer. */
  baseInfo: Record<string, unknown>;
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
    const session = new LegacySession(this, this.#host, socket, {
      decoder: new LegacyDecoder({ maxMessageBytes: this.#options.maxMessageBytes }),
      handshakeMs,
      silenceMs: this.#options.silenceMs,
      releaseHandshake,
    });
    this.#sessions.add(session);
    session.start(head);
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
  bind(session: LegacySession, info: LegacyNodeInfo): NodeRecord {
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
    this.#bound.set(id, session);
    return this.#join(session, id, info);
  }

  /** The answer to `info secondary_details`: live legacy connections with an id, online native nodes. */
  details(): Record<string, { uuid: string; address: string }> {
    const entries: Array<[string, { uuid: string; address: string }]> = [];
    for (const session of this.#sessions) {
      const id = session.record?.id ?? session.uuid;
      if (id !== undefined) entries.push([id, { uuid: id, address: session.address }]);
    }
    for (const record of this.#host.registry.all()) {
      if (!record.legacy && record.state === 'online' && record.address !== null) {
        entries.push([record.id, { uuid: record.id, address: record.address }]);
      }
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
      session: undefined,
    };
    registry.set(record);
    this.#host.storeNode((s) => {
      s.upsertNode({ ...record, now });
      s.addEvent(now, id, 'joined', { address: record.address, name: record.name, legacy: true });
    });
    log.info({ nodeId: id, name: record.name, address: record.address }, 'legacy node joined');
    this.#host.emitNode(toView(record));
    return record;
  }

  #update(record: NodeRecord, info: LegacyNodeInfo): NodeRecord {
    record.name = info.hostname;
    record.info = info as InfoPayload;
    const now = Date.now();
    this.#host.storeNode((s) => s.upsertNode({ ...record, now }));
    this.#host.emitNode(toView(record));
    return record;
  }
}

type LegacySessionState = 'opening' | 'open' | 'closed';

interface LegacySessionOptions {
  decoder: LegacyDecoder;
  handshakeMs: number;
  silenceMs: number;
  releaseHandshake: () => void;
}

/** One legacy connection. */
export class LegacySession {
  readonly socket: Socket;
  /** "ip:port" of the peer. */
  readonly address: string;
  /** The peer's IP, IPv4-mapped addresses unwrapped. */
  readonly ip: string;
  /** The uuid given on the wire, once asked. */
  uuid: string | undefined;
  /** The node this connection reports for, once it sent `node_baseinfo`. */
  record: NodeRecord | undefined;
  #state: LegacySessionState = 'opening';
  /** The last seq this primary gave one of this node's samples. */
  #lastSeq = 0;
  readonly #nodes: LegacyNodes;
  readonly #host: NodeHost;
  readonly #options: LegacySessionOptions;
  #timer: NodeJS.Timeout;
  #handshakeHeld = true;

  constructor(nodes: LegacyNodes, host: NodeHost, socket: Socket, options: LegacySessionOptions) {
    this.#nodes = nodes;
    this.#host = host;
    this.#options = options;
    this.socket = socket;
    this.address = `${socket.remoteAddress}:${socket.remotePort}`;
    this.ip = ipOf(this.address) ?? '';
    // Until the first complete message, the handshake deadline; then the silence limit.
    this.#timer = setTimeout(this.#onTimer, options.handshakeMs);
    this.#timer.unref();
  }

  start(head: Buffer): void {
    const { socket } = this;
    socket.on('data', this.#socketOnData);
    socket.on('end', this.#socketOnEnd);
    socket.on('error', this.#socketOnError);
    socket.on('close', this.#socketOnClose);
    socket.resume(); // the opening reader paused it
    if (socket.destroyed) this.close('ERR_CLOSED', 'socket was already closed');
    else if (head.length > 0) this.#socketOnData(head);
  }

  /** Ends the connection once; its node, if it was online through it, becomes lost. */
  close(code: DisconnectionCode, reason: string): void {
    if (this.#state === 'closed') return;
    const wasOpen = this.#state === 'open';
    this.#state = 'closed';
    clearTimeout(this.#timer);
    this.#releaseHandshake();
    this.socket.destroy();
    const record = this.record;
    const owned = record !== undefined && this.#nodes.owns(this, record);
    this.#nodes.forget(this);
    if (owned && record.state === 'online') {
      this.#host.setState(record, 'lost', { code });
      this.#host.log.warn({ nodeId: record.id, name: record.name, code, legacy: true }, `node lost: ${reason}`);
    } else {
      this.#host.log.debug({ peer: this.address, code, wasOpen }, `legacy connection closed: ${reason}`);
    }
  }

  #socketOnData = (chunk: Buffer): void => {
    let messages: LegacyMessage[];
    try {
      messages = this.#options.decoder.push(chunk);
    } catch (err) {
      this.#onError(err);
      return;
    }
    for (const message of messages) {
      if (this.#state === 'closed') return;
      try {
        this.#onMessage(message);
      } catch (err) {
        this.#onError(err);
      }
    }
  };

  #socketOnEnd = (): void => {
    const midMessage = this.#options.decoder.hasPartialMessage;
    this.close(midMessage ? 'ERR_EOF_MID_FRAME' : 'ERR_EOF', `peer ${this.address} closed the connection`);
  };

  #socketOnError = (err: NodeJS.ErrnoException): void => {
    const error = disconnectionOf(err, this.address);
    this.close(error.code, error.message);
  };

  #socketOnClose = (): void => this.close('ERR_EOF', `connection to ${this.address} closed`);

  #onTimer = (): void => {
    const { handshakeMs, silenceMs } = this.#options;
    if (this.#state === 'opening') this.#host.stats.handshakeFailures++;
    const why = this.#state === 'opening' ? `no complete message in ${handshakeMs} ms` : `silent for ${silenceMs} ms`;
    this.close('ERR_PEER_TIMEOUT', why);
  };

  #onError(err: unknown): void {
    if (err instanceof ProtocolError) {
      this.close('ERR_PROTOCOL', `protocol error from ${this.address}: ${err.message}`);
    } else {
      this.#host.log.error({ err, peer: this.address }, 'legacy message handling failed');
      this.close('ERR_CLOSED', `handling a message failed: ${(err as Error).message}`);
    }
  }

  #onMessage(message: LegacyMessage): void {
    if (this.#state === 'opening') {
      this.#state = 'open';
      this.#releaseHandshake();
      clearTimeout(this.#timer);
      this.#timer = setTimeout(this.#onTimer, this.#options.silenceMs);
      this.#timer.unref();
    } else {
      this.#timer.refresh();
    }
    if (this.record) this.record.lastSeen = Date.now();
    switch (message.type) {
      case 'info':
        this.#answer(message.payload);
        break;
      case 'node_baseinfo':
        this.record = this.#nodes.bind(this, parseLegacyBaseInfo(message.payload));
        break;
      case 'vitals':
        this.#onVitals(message.payload);
        break;
      case 'message':
        // The keepalive ("I am still alive, client: <uuid>"): arriving is all it has to do.
        break;
      default:
        // Not in the protocol: ignored (a legacy node reads only the answers it waits for).
        this.#host.log.debug({ peer: this.address, type: message.type }, 'ignored legacy message of unknown type');
    }
  }

  #answer(what: unknown): void {
    switch (what) {
      case 'uuid':
        this.#send('uuid', this.#nodes.uuidFor(this));
        break;
      case 'node_baseinfo':
        this.#send('primary_info', this.#nodes.baseInfo);
        break;
      case 'secondary_details':
        this.#send('secondary_details', this.#nodes.details());
        break;
      default:
        this.#send('bad_message', 'unknown');
    }
  }

  #onVitals(payload: unknown): void {
    const reading = parseLegacyVitals(payload);
    const record = this.record;
    if (!record) {
      this.#host.log.debug({ peer: this.address }, 'dropped vitals sent before node_baseinfo');
      return;
    }
    const receivedAt = Date.now();
    this.#lastSeq = Math.max(this.#lastSeq, record.lastSeq) + 1;
    // A legacy sample has no seq and no time: this primary numbers it and files it at receipt.
    // VitalsPayload requires load1/5/15, uptimeS, disks and nets, which a legacy node never
    // sends: they stay absent (the store keeps NULL, /metrics has no series), never invented.
    const sample = { seq: this.#lastSeq, ts: receivedAt, ...reading } as VitalsPayload;
    this.#host.addVitals(record.id, sample, receivedAt);
  }

  #send(type: string, payload: unknown): void {
    if (this.socket.writableLength > DEFAULT_CONNECTION.maxQueuedBytes) {
      this.close('ERR_PROTOCOL', `peer ${this.address} does not read its answers`);
      return;
    }
    this.socket.write(encodeLegacyMessage(type, payload));
  }

  #releaseHandshake(): void {
    if (!this.#handshakeHeld) return;
    this.#handshakeHeld = false;
    this.#options.releaseHandshake();
  }
}

/** A uuid4 as the legacy primary spelled it: 32 lowercase hex digits, no dashes. */
function newLegacyUuid(): string {
  return randomUUID().replaceAll('-', '');
}

/** The IP of an "ip:port" address, IPv4-mapped IPv6 unwrapped. */
function ipOf(address: string | null): string | undefined {
  if (address === null) return undefined;
  const colon = address.lastIndexOf(':');
  const ip = colon === -1 ? address : address.slice(0, colon);
  return ip.startsWith('::ffff:') ? ip.slice('::ffff:'.length) : ip;
}

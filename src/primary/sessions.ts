// Native sessions: a connection that opened with the picluster magic gets `hello`, has the
// handshake's time to `auth`, and once admitted (stored first, then `welcome`) sends vitals, info
// and queries. Before `welcome` only `auth` is answered and frames are small; a second `auth` on
// one link is refused. A newer session of a node replaces an older one (a ghost of a dead link).

import type net from 'node:net';
import { Connection } from '../connection/connection.js';
import { randomHex } from '../protocol/auth.js';
import { DisconnectionError, PiclusterError } from '../protocol/errors.js';
import {
  knownFields,
  type Message,
  PROTOCOL_VERSION,
  type QueryPayload,
  type VitalsPayload,
} from '../protocol/messages.js';
import { authenticate, type HandshakeContext } from './handshake.js';
import type { NodeHost } from './node-host.js';
import { type NodeRecord, toView } from './registry.js';

/** Largest frame accepted before `welcome`: `auth` is under 2 KB. */
const PRE_AUTH_MAX_FRAME_BYTES = 16 * 1024;

/** Nodes in one answer to `query {what: "nodes"}` unless the asker gives a smaller `limit`. */
export const NODES_PAGE_LIMIT = 500;

/** Bytes of a reply frame around its nodes (type, ids, `next`). */
const REPLY_ENVELOPE_BYTES = 512;

export interface NativeSessionsOptions {
  host: NodeHost;
  primaryId: string;
  token: string;
  version: string;
  heartbeatIntervalMs: number;
  maxFrameBytes: number;
  /** The stored secret of a node (undefined before its first join). */
  secretOf: HandshakeContext['secretOf'];
}

export class NativeSessions {
  readonly #options: NativeSessionsOptions;
  readonly #host: NodeHost;

  constructor(options: NativeSessionsOptions) {
    this.#options = options;
    this.#host = options.host;
  }

  /** Serves a connection that opened with the magic; `head` holds the bytes read past it. */
  accept(socket: net.Socket, head: Buffer, handshakeMs: number, release: () => void): void {
    const host = this.#host;
    const conn = new Connection(socket, {
      head,
      heartbeat: { intervalMs: this.#options.heartbeatIntervalMs },
      // An unauthenticated peer gets no more than this to buffer.
      maxFrameBytes: Math.min(PRE_AUTH_MAX_FRAME_BYTES, this.#options.maxFrameBytes),
      logger: host.log,
    });
    const nonce = randomHex(32);
    let record: NodeRecord | undefined;
    const deadline = setTimeout(() => {
      host.stats.handshakeFailures++;
      conn.destroy('handshake not finished in time');
    }, handshakeMs);
    deadline.unref();
    const endHandshake = () => {
      clearTimeout(deadline);
      release();
    };
    // Before `welcome` only `auth` is answered; anything else closes the link (FAULT-SCENARIOS #18).
    conn.handleUnknown(() => {
      queueMicrotask(() => void conn.close());
      throw new PiclusterError('ERR_AUTH', 'authenticate first');
    });
    conn.on('message', (message) => {
      if (record) this.#onMessage(record, conn, message);
      else conn.destroy(`"${message.t}" before authentication`);
    });
    conn.on('disconnect', (err) => {
      endHandshake();
      if (record && record.session === conn) this.#onSessionEnd(record, err);
    });
    let admitting = false;
    conn.handle('auth', (payload) => {
      // A second `auth` on one link, even while the first is being stored, is refused.
      if (record || admitting) throw new PiclusterError('ERR_AUTH', 'already authenticated');
      const result = authenticate(payload, {
        nonce,
        token: this.#options.token,
        primaryId: this.#options.primaryId,
        secretOf: this.#options.secretOf,
        lastSeqOf: (id) => host.registry.get(id)?.lastSeq ?? 0,
      });
      if (!result.ok) {
        host.stats.authFailures++;
        host.log.warn(
          { peer: conn.remoteAddress, nodeId: result.nodeId, code: result.error.code },
          result.error.message,
        );
        queueMicrotask(() => void conn.close());
        throw result.error;
      }
      endHandshake();
      // A refusal above is thrown synchronously: its reply goes out before the close. Admission
      // waits for the store (see NodeWriter), then the reply is `welcome`.
      const { welcome } = result;
      admitting = true;
      return this.#admit(conn, result.auth, result.nodeSecret, result.confirmsSecret).then((admitted) => {
        record = admitted;
        // Small frames only until a node has proved itself (FAULT-SCENARIOS #1, #11).
        conn.setMaxFrameBytes(this.#options.maxFrameBytes);
        conn.handleUnknown(undefined);
        conn.handle('query', answerQuery);
        // An older session of this node may have stored more while this one was admitted.
        return { ...welcome, lastSeq: admitted.lastSeq };
      });
    });
    // Made here, not in the auth handler: a closure kept for the session's life keeps its scope
    // chain alive, and the handler's scope holds the whole auth payload and welcome (measured:
    // about 2 KiB per node at 10,000 nodes).
    const answerQuery = (query: unknown) => this.#answerQuery(record as NodeRecord, query);
    conn.send('hello', {
      protocol: { min: PROTOCOL_VERSION, max: PROTOCOL_VERSION },
      primaryId: this.#options.primaryId,
      nonce,
      heartbeatMs: this.#options.heartbeatIntervalMs,
      maxFrameBytes: this.#options.maxFrameBytes,
    });
  }

  /** A node proved itself: take over any older session of the same id and mark it online. */
  async #admit(
    conn: Connection,
    auth: { nodeId: string; name: string; labels: Record<string, string>; machineId: string },
    nodeSecret: string | undefined,
    confirmsSecret: boolean,
  ): Promise<NodeRecord> {
    const { registry, log, stats } = this.#host;
    const now = Date.now();
    const existing = registry.get(auth.nodeId);
    const stateBefore = existing?.state;
    const record: NodeRecord = {
      id: auth.nodeId,
      name: auth.name,
      labels: auth.labels,
      address: conn.remoteAddress,
      legacy: false,
      state: 'online',
      info: existing?.info ?? null,
      vitals: existing?.vitals ?? null,
      lastSeen: now,
      connectedSince: now,
      machineId: auth.machineId,
      lastSeq: existing?.lastSeq ?? 0,
      session: conn,
    };
    // Stored first (with the joins around it, one transaction: see NodeWriter): if the store fails
    // (disk full, a lock) the auth handler throws, the node gets an error reply and retries, and
    // the registry never shows a session that is not.
    await this.#host.storeNodeNow((store) => {
      store.upsertNode({ ...record, now });
      if (nodeSecret) store.setNodeSecret(record.id, nodeSecret);
      if (confirmsSecret) store.confirmNodeSecret(record.id);
      store.addEvent(now, record.id, 'joined', { address: record.address, name: record.name });
    });
    const current = registry.get(auth.nodeId);
    if (conn.state !== 'open') {
      // The link died while the node was being stored: it is not online after all. The row just
      // written (name, labels, address, state) goes back to what the registry holds: another live
      // session's, or a lost or left node's; a first join is lost. Its `joined` gets a `lost`,
      // unless the node is online on another link.
      const { lastSeq } = record;
      this.#host.storeNode((store) => {
        if (current) store.upsertNode({ ...current, now: current.lastSeen });
        else store.setNodeState(record.id, 'lost', now, null, lastSeq);
        if (current?.state !== 'online') store.addEvent(now, record.id, 'lost', { code: 'ERR_CLOSED' });
      });
      throw new DisconnectionError('ERR_CLOSED', 'the link closed during admission');
    }
    if (current?.session) {
      // The newer link proved the same secret: it wins; the old one is a ghost of a dead link.
      const old = current.session;
      current.session = undefined;
      old.destroy('replaced by a newer session of the same node');
    }
    if (existing) stats.reconnects++;
    // What the older session stored while this one was being admitted.
    record.lastSeq = Math.max(record.lastSeq, current?.lastSeq ?? 0);
    record.vitals = current?.vitals ?? record.vitals;
    record.info = current?.info ?? record.info;
    registry.set(record);
    if (current && current.state !== stateBefore) {
      // The old session ended while this one was stored, and its 'lost' was written after 'online'.
      this.#host.storeNode((store) => store.setNodeState(record.id, 'online', now, now, record.lastSeq));
    }
    log.info({ nodeId: record.id, name: record.name, address: record.address }, 'node joined');
    this.#host.emitNode(toView(record));
    return record;
  }

  #onMessage(record: NodeRecord, conn: Connection, message: Message): void {
    this.#host.stats.framesIn++;
    record.lastSeen = Date.now();
    switch (message.t) {
      case 'vitals':
        // Only the fields of the schema: unknown ones are ignored, not stored and served.
        this.#onVitals(record, conn, knownFields('vitals', message.p));
        break;
      case 'info': {
        const info = knownFields('info', message.p);
        record.info = info;
        // Batched with the other node writes: every node sends its info on each connect.
        this.#host.storeNode((store) => store.setNodeInfo(record.id, info));
        break;
      }
      case 'bye':
        this.#host.setState(record, 'left', { reason: (message.p as { reason: string }).reason });
        record.session = undefined;
        void conn.close();
        break;
      default:
        // Unknown one-way types are dropped; the link stays up (ARCHITECTURE.md, "message").
        this.#host.log.debug({ nodeId: record.id, t: message.t }, 'dropped unknown one-way message');
    }
  }

  #onVitals(record: NodeRecord, conn: Connection, sample: VitalsPayload): void {
    if (sample.seq <= record.lastSeq) {
      // Already stored (a resend after a reconnect): acknowledge again so the node drops it.
      this.#host.stats.duplicates++;
      if (conn.state === 'open') conn.send('ack', { seq: record.lastSeq });
      return;
    }
    this.#host.addVitals(record.id, sample, Date.now());
  }

  #onSessionEnd(record: NodeRecord, err: DisconnectionError): void {
    record.session = undefined;
    if (record.state === 'online') {
      this.#host.setState(record, 'lost', { code: err.code });
      this.#host.log.warn({ nodeId: record.id, name: record.name, code: err.code }, `node lost: ${err.message}`);
    }
  }

  #answerQuery(record: NodeRecord, query: unknown): unknown {
    const { registry } = this.#host;
    const { what, id, after, limit } = query as QueryPayload;
    switch (what) {
      case 'primary':
        return { primaryId: this.#options.primaryId, version: this.#options.version, nodes: registry.size };
      case 'nodes':
        // Paged: 10,000 nodes are megabytes of JSON, over any frame limit (see Secondary.listNodes).
        return registry.page(
          after,
          Math.min(limit ?? NODES_PAGE_LIMIT, NODES_PAGE_LIMIT),
          this.#options.maxFrameBytes - REPLY_ENVELOPE_BYTES,
        );
      case 'node': {
        const node = registry.get(id ?? record.id);
        if (!node) throw new PiclusterError('ERR_NOT_FOUND', `no node with id ${id}`);
        return toView(node);
      }
      default:
        throw new PiclusterError('ERR_BAD_REQUEST', `the primary does not answer query "${what}"`);
    }
  }
}

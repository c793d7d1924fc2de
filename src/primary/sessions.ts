// Native sessions: a connection that opened with the picluster magic gets `hello`, has the
// handshake's time to `auth`, and once admitted (stored first, then `welcome`) its messages go to
// the handlers of handlers/ through one dispatch table. Before `welcome` only `auth` is answered
// and frames are small; a second `auth` on one link is refused. A newer session of a node replaces
// an older one (a ghost of a dead link).

import type net from 'node:net';
import { Connection } from '../connection/connection.js';
import { handleRequests, MessageDispatcher } from '../connection/dispatch.js';
import { SessionRateGate } from '../connection/rate-gate.js';
import { randomHex } from '../protocol/auth.js';
import { AdmissionError, AuthError, DisconnectionError, NotLeaderError } from '../protocol/errors.js';
import { type AuthPayload, PROTOCOL_VERSION } from '../protocol/messages.js';
import type { NodeChange } from '../store/store-api.js';
import { NATIVE_MESSAGES, NATIVE_REQUESTS } from './handlers/index.js';
import { authenticate } from './handshake.js';
import type { NativeSession, NodeHost } from './node-host.js';
import { type NodeRecord, toView } from './registry.js';

/** Largest frame accepted before `welcome`: `auth` is under 2 KB. */
export const PRE_AUTH_MAX_FRAME_BYTES = 16 * 1024;

/** What a link needs until its handshake ends. */
interface Handshake {
  nonce: string;
  deadline: NodeJS.Timeout;
  /** Gives back the link's place among the handshakes in progress. */
  release: () => void;
  /** An `auth` is being checked or stored. */
  admitting: boolean;
}

/** A native node's record: who it says it is (its `auth`) on `conn`, and the rest. */
function recordOf(
  auth: AuthPayload,
  conn: Connection,
  rest: Omit<NodeRecord, 'id' | 'name' | 'labels' | 'address' | 'legacy' | 'machineId'>,
): NodeRecord {
  const { nodeId: id, name, labels, machineId } = auth;
  return { id, name, labels, address: conn.remoteAddress, legacy: false, machineId, ...rest };
}

/** The answer to an `auth` on a link that has one already. */
function refuseSecondAuth(): never {
  throw new AuthError('already authenticated');
}

export interface NativeSessionsOptions {
  host: NodeHost;
  token: string;
  heartbeatIntervalMs: number;
  admission: 'open' | 'approve';
}

export class NativeSessions {
  readonly #options: NativeSessionsOptions;
  readonly #host: NodeHost;
  readonly #messages: MessageDispatcher<NativeSession>;
  /** Node ids whose admission is being stored, with how many (a token join cannot claim them). */
  readonly #admitting = new Map<string, number>();
  /** Shared by every session's rate gate (one closure, not one per node). */
  readonly #onThrottle = (): void => {
    this.#host.stats.throttled++;
  };
  /** What a join by token proves; replaced when the operator rotates it. */
  token: string;

  constructor(options: NativeSessionsOptions) {
    this.#options = options;
    this.#host = options.host;
    this.token = options.token;
    this.#messages = new MessageDispatcher(NATIVE_MESSAGES, (message, { record }) => {
      // Unknown one-way types are dropped; the link stays up (ARCHITECTURE.md, "message").
      this.#host.log.debug({ nodeId: record.id, t: message.t }, 'dropped unknown one-way message');
    });
  }

  /** Serves a connection that opened with the magic; `head` holds the bytes read past it. */
  accept(socket: net.Socket, head: Buffer, handshakeMs: number, release: () => void): void {
    const host = this.#host;
    const conn = new Connection(socket, {
      head,
      heartbeat: { intervalMs: this.#options.heartbeatIntervalMs },
      // An unauthenticated peer gets no more than this to buffer.
      maxFrameBytes: Math.min(PRE_AUTH_MAX_FRAME_BYTES, host.primary.maxFrameBytes),
      logger: host.log,
    });
    let session: NativeSession | undefined;
    // The handshake's own state, dropped when it ends: none of it stays with a session for its life
    // (at 10,000 nodes every retained byte per link is 10 kB).
    let handshake: Handshake | undefined = {
      nonce: randomHex(32),
      deadline: setTimeout(() => {
        host.stats.handshakeFailures++;
        conn.destroy('handshake not finished in time');
      }, handshakeMs),
      release,
      admitting: false,
    };
    handshake.deadline.unref();
    const endHandshake = () => {
      if (!handshake) return;
      clearTimeout(handshake.deadline);
      handshake.release();
      handshake = undefined;
    };
    // Before `welcome` only `auth` is answered; anything else closes the link (FAULT-SCENARIOS #18).
    conn.handleUnknown(() => {
      queueMicrotask(() => void conn.close());
      throw new AuthError('authenticate first');
    });
    conn.on('message', (message) => {
      if (!session) {
        conn.destroy(`"${message.t}" before authentication`);
        return;
      }
      // The node's first message on the session that issued its secret: it has the secret.
      if (session.unconfirmedSecret !== undefined) {
        session.unconfirmedSecret = undefined;
        host.storeNode([{ op: 'confirm-secret', id: session.record.id }]);
      }
      host.stats.framesIn++;
      session.record.lastSeen = Date.now();
      this.#messages.dispatch(message, session);
      // Its first message comes once the node has registered its handlers: tasks may go to it now
      // (after the message is handled: a node's first is its info, with its boot id).
      if (!session.ready) {
        session.ready = true;
        host.sessionReady(session.record);
      }
    });
    conn.on('disconnect', (err) => {
      endHandshake();
      // Bad frames and messages (schema, realistic ranges) close the link, and so does a sender
      // past its rates; counted for /metrics.
      if (err.code === 'ERR_PROTOCOL') {
        if ((err.cause as { code?: string } | undefined)?.code === 'ERR_RATE_LIMITED') {
          host.stats.rateLimited++;
          host.limitedLog.warn(
            'rate limited',
            { peer: conn.remoteAddress, nodeId: session?.record.id },
            `disconnected a node that sent past its limits: ${err.message}`,
          );
        } else {
          host.stats.invalidMessages++;
        }
      }
      if (!session) return;
      const secret = session.unconfirmedSecret;
      // Never used: the node may not have it (its welcome may be lost). It goes, so the node can
      // join again by token; a node that kept it is refused once and then uses the token.
      if (secret !== undefined) host.storeNode([{ op: 'drop-secret', id: session.record.id, secret }]);
      if (session.record.session === conn) this.#onSessionEnd(session.record, err);
    });
    // Made here, not in the auth handler: a closure kept for the session's life keeps its scope
    // chain alive, and the handler's scope holds the whole auth payload and welcome (measured:
    // about 2 KiB per node at 10,000 nodes).
    const admitted = (record: NodeRecord, issuedSecret: string | undefined) => {
      session = { host, record, conn, unconfirmedSecret: issuedSecret, ready: false };
      // Small frames only until a node has proved itself (FAULT-SCENARIOS #1, #11).
      conn.setMaxFrameBytes(host.primary.maxFrameBytes);
      // Frames, requests and samples per second from here on (a throttle, then a disconnect).
      conn.setInboundGate(new SessionRateGate(host.limits, performance.now(), this.#onThrottle));
      conn.handleUnknown(undefined);
      conn.handle('auth', refuseSecondAuth);
      handleRequests(conn, NATIVE_REQUESTS, session);
    };
    handleRequests(
      conn,
      {
        auth: (auth) => {
          // A second `auth` on one link, even while the first is being checked or stored, is refused.
          const pending = handshake;
          if (session || !pending || pending.admitting) refuseSecondAuth();
          pending.admitting = true;
          return this.#authenticate(conn, auth, pending.nonce, endHandshake, admitted);
        },
      },
      undefined,
    );
    conn.send('hello', {
      protocol: { min: PROTOCOL_VERSION, max: PROTOCOL_VERSION },
      primaryId: host.primary.id,
      nonce: handshake.nonce,
      heartbeatMs: this.#options.heartbeatIntervalMs,
      maxFrameBytes: host.primary.maxFrameBytes,
    });
  }

  /** Checks an `auth`, admits the node, and answers `welcome`; a refusal closes the link. */
  async #authenticate(
    conn: Connection,
    auth: AuthPayload,
    nonce: string,
    endHandshake: () => void,
    admitted: (record: NodeRecord, issuedSecret: string | undefined) => void,
  ): Promise<unknown> {
    const host = this.#host;
    if (host.leader?.mayAct() === false) {
      setImmediate(() => void conn.close());
      throw new NotLeaderError('this primary no longer leads the cluster', host.leader.leaderAddress());
    }
    const secret = await host.nodeSecret(auth.nodeId);
    const result = authenticate(auth, {
      nonce,
      token: this.token,
      primaryId: host.primary.id,
      version: host.primary.version,
      secretOf: () => secret,
      lastSeqOf: (id) => host.registry.get(id)?.lastSeq ?? 0,
      isLegacy: (id) => host.registry.get(id)?.legacy === true,
      inUse: (id) => this.#admitting.has(id) || host.registry.get(id)?.session !== undefined,
      stateOf: (id) => host.registry.get(id)?.state,
      admission: this.#options.admission,
      noRoomFor: (pending) => this.#noRoomFor(pending),
      joinCodes: (nodeId) => host.joinCodes.usableBy(nodeId),
    });
    // Taken now, before any await: nodes proving one code at the same moment cannot share its last use.
    if (result.joinCode !== undefined) host.joinCodes.claim(result.joinCode, auth.nodeId);
    if (!result.ok) {
      if (result.pending) {
        await this.#recordPending(conn, auth);
      } else if (result.error instanceof AuthError) {
        this.#proofFailed(conn, result.nodeId, result.reason);
      } else {
        // Proved, but not let in (denied, no room, no common version): said once in a while.
        if (result.error.code === 'ERR_TOO_MANY_NODES') host.stats.nodesRefused++;
        host.limitedLog.warn(
          `refused ${result.error.code}`,
          { peer: conn.remoteAddress, nodeId: result.nodeId, code: result.error.code },
          result.reason,
        );
      }
      // After the error reply, which goes out in a microtask once this promise rejects.
      setImmediate(() => void conn.close());
      throw result.error;
    }
    endHandshake();
    host.peers.authSucceeded(conn.socket.remoteAddress ?? '');
    // Admission waits for the store (see NodeWriter), then the reply is `welcome`. Meanwhile the
    // id is in use: a token join racing this one cannot claim it.
    const id = auth.nodeId;
    this.#admitting.set(id, (this.#admitting.get(id) ?? 0) + 1);
    let record: NodeRecord;
    try {
      record = await this.#admit(conn, result.auth, result.nodeSecret, result.confirmsSecret);
    } finally {
      const left = (this.#admitting.get(id) ?? 1) - 1;
      if (left > 0) this.#admitting.set(id, left);
      else this.#admitting.delete(id);
    }
    admitted(record, result.nodeSecret);
    if (result.joinCode !== undefined) host.log.info({ nodeId: id, name: record.name }, 'node joined with a join code');
    // An older session of this node may have stored more while this one was admitted.
    return { ...result.welcome, lastSeq: record.lastSeq };
  }

  /** A node proved itself: take over any older session of the same id and mark it online. */
  async #admit(
    conn: Connection,
    auth: AuthPayload,
    nodeSecret: string | undefined,
    confirmsSecret: boolean,
  ): Promise<NodeRecord> {
    const { registry, log, stats } = this.#host;
    // The node's samples still in the commit window are committed first: the welcome's lastSeq
    // ("stored up to") must cover every seq this primary holds, or a node whose outbox lost its
    // tail (a power cut) would number new samples over them, to be skipped as resends.
    if (registry.get(auth.nodeId)) await this.#host.ingest.flushNode(auth.nodeId);
    const existing = registry.get(auth.nodeId);
    // A node forgotten with its history kept comes back to that history: numbering goes on past it.
    const storedSeq = existing ? existing.lastSeq : await this.#host.storedLastSeq(auth.nodeId);
    const now = Date.now();
    const stateBefore = existing?.state;
    const record = recordOf(auth, conn, {
      state: 'online',
      info: existing?.info ?? null,
      vitals: existing?.vitals ?? null,
      lastSeen: now,
      connectedSince: now,
      lastSeq: storedSeq,
      clockSkewMs: existing?.clockSkewMs ?? null,
      clockSkewed: existing?.clockSkewed ?? false,
      session: conn,
    });
    // Stored first (with the joins around it, one transaction: see NodeWriter): if the store fails
    // (disk full, a lock) the auth handler throws, the node gets an error reply and retries, and
    // the registry never shows a session that is not.
    await this.#host.storeNodeNow([
      { op: 'upsert', node: { ...record, now } },
      ...(nodeSecret ? [{ op: 'issue-secret' as const, id: record.id, secret: nodeSecret }] : []),
      ...(confirmsSecret ? [{ op: 'confirm-secret' as const, id: record.id }] : []),
      { op: 'event', ts: now, nodeId: record.id, type: 'joined', data: { address: record.address, name: record.name } },
    ]);
    const current = registry.get(auth.nodeId);
    if (conn.state !== 'open') {
      // The link died while the node was being stored: it is not online after all. The row just
      // written (name, labels, address, state) goes back to what the registry holds: another live
      // session's, or a lost or left node's; a first join is lost. Its `joined` gets a `lost`,
      // unless the node is online on another link.
      this.#host.storeNode([
        current
          ? { op: 'upsert', node: { ...current, now: current.lastSeen } }
          : { op: 'state', id: record.id, state: 'lost', at: now, connectedSince: null, lastSeq: record.lastSeq },
        ...(current?.state !== 'online'
          ? [{ op: 'event' as const, ts: now, nodeId: record.id, type: 'lost', data: { code: 'ERR_CLOSED' } }]
          : []),
      ]);
      throw new DisconnectionError('ERR_CLOSED', 'the link closed during admission');
    }
    if (existing !== undefined && (current === undefined || current.state === 'denied')) {
      // Denied, revoked or forgotten while this join was stored: the operator's write, queued
      // after this one, stands; the node is told so (after the reply) and its link closed.
      setImmediate(() => void conn.close());
      throw current
        ? new AdmissionError('ERR_DENIED', `node ${auth.nodeId} was denied or revoked by the operator`)
        : new DisconnectionError('ERR_CLOSED', `node ${auth.nodeId} was forgotten during its admission`);
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
      this.#host.storeNode([
        { op: 'state', id: record.id, state: 'online', at: now, connectedSince: now, lastSeq: record.lastSeq },
      ]);
    }
    log.info({ nodeId: record.id, name: record.name, address: record.address }, 'node joined');
    this.#host.emitNode(toView(record));
    return record;
  }

  /** A failed proof: counted, in the audit trail, against its address (a backoff past the limit). */
  #proofFailed(conn: Connection, nodeId: string | undefined, reason: string): void {
    const host = this.#host;
    const address = conn.socket.remoteAddress ?? '';
    host.stats.authFailures++;
    host.audit.count('auth-failed', address);
    host.limitedLog.warn('auth failed', { peer: conn.remoteAddress, nodeId, code: 'ERR_AUTH' }, reason);
    const backoffMs = host.peers.authFailed(address);
    if (backoffMs !== undefined) {
      host.limitedLog.warn(
        'auth backoff',
        { address, backoffMs, limit: host.limits.authFailuresPerMinute },
        `address ${address} failed the handshake's proof ${host.limits.authFailuresPerMinute} times within a minute: its connections are closed for ${backoffMs / 1000} s`,
      );
    }
  }

  /** Why there is no room for a new node (limits.maxNodes, limits.maxPendingNodes), or undefined. */
  #noRoomFor(pending: boolean): string | undefined {
    const { registry, limits } = this.#host;
    let arriving = 0;
    for (const id of this.#admitting.keys()) if (!registry.get(id)) arriving++;
    if (registry.size + arriving >= limits.maxNodes) {
      return `this primary knows limits.maxNodes = ${limits.maxNodes} nodes: forget some (picluster nodes forget ID) or raise the limit`;
    }
    if (!pending) return undefined;
    let waiting = 0;
    for (const record of registry.all()) if (record.state === 'pending') waiting++;
    if (waiting >= limits.maxPendingNodes) {
      return `limits.maxPendingNodes = ${limits.maxPendingNodes} nodes already wait for approval: approve or deny them (picluster nodes approve|deny ID)`;
    }
    return undefined;
  }

  /** A new node proved the token while admission is "approve": it waits, as `pending`, for the operator. */
  async #recordPending(conn: Connection, auth: AuthPayload): Promise<void> {
    const { registry, log } = this.#host;
    const now = Date.now();
    const existing = registry.get(auth.nodeId);
    const record = recordOf(auth, conn, {
      state: 'pending',
      info: null,
      vitals: null,
      lastSeen: now,
      connectedSince: null,
      lastSeq: existing?.lastSeq ?? 0,
      clockSkewMs: null,
      clockSkewed: false,
      session: undefined,
    });
    const changes: NodeChange[] = [{ op: 'upsert', node: { ...record, now } }];
    // Said once, when it first asks; its retries only refresh what it reports.
    if (!existing) {
      changes.push({
        op: 'event',
        ts: now,
        nodeId: record.id,
        type: 'pending',
        data: { address: record.address, name: record.name },
      });
      log.info(
        { nodeId: record.id, name: record.name, address: record.address },
        `a new node waits for approval: picluster nodes approve ${record.id}`,
      );
    }
    // A refused write only means the node is recorded at its next try.
    await this.#host.storeNodeNow(changes).catch(() => undefined);
    // The operator may have approved, denied or forgotten the node while this was written: their
    // change went to the store after this one and changed (or removed) the registry's record, so
    // it stands and this retry's record is dropped (putting it in would undo the approval).
    const current = registry.get(auth.nodeId);
    if (current !== existing || (current !== undefined && current.state !== 'pending')) return;
    registry.set(record);
    this.#host.emitNode(toView(record));
  }

  #onSessionEnd(record: NodeRecord, err: DisconnectionError): void {
    record.session = undefined;
    if (record.state === 'online') {
      this.#host.setState(record, 'lost', { code: err.code });
      this.#host.log.warn({ nodeId: record.id, name: record.name, code: err.code }, `node lost: ${err.message}`);
    }
  }
}

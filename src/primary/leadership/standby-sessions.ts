// The cluster port of a standby primary (issue 17): it speaks the handshake as far as `hello`, then
// answers every `auth` with ERR_NOT_LEADER naming the leader's cluster address, and closes. A node
// goes there at once (secondary/retry-policy.ts); without a leader (no etcd quorum) the reply names
// none and the node backs off. Nothing here reads the store or admits anyone.

import type { Socket } from 'node:net';
import { DEFAULTS } from '../../common/defaults.js';
import { LogLimiter } from '../../common/log-limiter.js';
import type { Logger } from '../../common/logger.js';
import { Connection } from '../../connection/connection.js';
import { randomHex } from '../../protocol/auth.js';
import { NotLeaderError } from '../../protocol/errors.js';
import { PROTOCOL_VERSION } from '../../protocol/messages.js';
import { AuditTrail } from '../audit-trail.js';
import { ClusterListener, type ClusterTls } from '../cluster-listener.js';
import type { PrimaryStats } from '../node-host.js';
import { PeerGuard } from '../peer-guard.js';
import { PRE_AUTH_MAX_FRAME_BYTES } from '../sessions.js';

export interface StandbySessionsOptions {
  /** The primary id the whole cluster presents (shared by every primary). */
  primaryId: string;
  heartbeatIntervalMs: number;
  maxFrameBytes: number;
  /** The leader's cluster address (`host:port`) as this primary knows it now; undefined: none. */
  leader(): string | undefined;
  logger: Logger;
}

export class StandbySessions {
  readonly #o: StandbySessionsOptions;
  readonly #open = new Set<Connection>();
  /** Handshakes answered with ERR_NOT_LEADER (for /metrics and tests). */
  refused = 0;

  constructor(options: StandbySessionsOptions) {
    this.#o = options;
  }

  /** Takes a connection from the listener (after the opening, and TLS when on). */
  accept(socket: Socket, head: Buffer, handshakeMs: number, release: () => void): void {
    const conn = new Connection(socket, {
      head,
      heartbeat: { intervalMs: this.#o.heartbeatIntervalMs },
      maxFrameBytes: Math.min(PRE_AUTH_MAX_FRAME_BYTES, this.#o.maxFrameBytes),
      logger: this.#o.logger,
    });
    this.#open.add(conn);
    const deadline = setTimeout(() => conn.destroy('handshake timeout'), handshakeMs);
    deadline.unref();
    conn.once('disconnect', () => {
      clearTimeout(deadline);
      this.#open.delete(conn);
      release();
    });
    conn.handleUnknown(() => {
      queueMicrotask(() => void conn.close());
      throw new NotLeaderError('this primary is a standby', this.#o.leader());
    });
    conn.handle('auth', () => {
      this.refused++;
      const leader = this.#o.leader();
      // After the error reply, which goes out once this handler has thrown.
      setImmediate(() => void conn.close());
      throw new NotLeaderError(
        leader === undefined
          ? 'this primary is a standby and no primary leads the cluster now (no etcd quorum, or an election under way)'
          : `this primary is a standby; the leader is at ${leader}`,
        leader,
      );
    });
    conn.send('hello', {
      protocol: { min: PROTOCOL_VERSION, max: PROTOCOL_VERSION },
      primaryId: this.#o.primaryId,
      nonce: randomHex(32),
      heartbeatMs: this.#o.heartbeatIntervalMs,
      maxFrameBytes: this.#o.maxFrameBytes,
    });
  }

  /** Ends every connection (the standby becomes the leader, or stops). */
  closeAll(): void {
    for (const conn of this.#open) conn.destroy('standby closing');
    this.#open.clear();
  }
}

export interface StandbyPort {
  listener: ClusterListener;
  sessions: StandbySessions;
}

/** Listens on the cluster port as a standby (the same port, TLS and limits the leader would use). */
export async function openStandbyPort(o: {
  port: number;
  bind?: string;
  tls: ClusterTls | undefined;
  primaryId: string;
  heartbeatIntervalMs?: number;
  handshakeTimeoutMs?: number;
  maxFrameBytes?: number;
  maxConnections?: number;
  maxHandshakes?: number;
  leader(): string | undefined;
  stats: PrimaryStats;
  logger: Logger;
}): Promise<StandbyPort> {
  const sessions = new StandbySessions({
    primaryId: o.primaryId,
    heartbeatIntervalMs: o.heartbeatIntervalMs ?? DEFAULTS.heartbeatIntervalMs,
    maxFrameBytes: o.maxFrameBytes ?? DEFAULTS.maxFrameBytes,
    leader: o.leader,
    logger: o.logger,
  });
  const listener = new ClusterListener({
    port: o.port,
    bind: o.bind ?? DEFAULTS.bind,
    handshakeTimeoutMs: o.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs,
    maxConnections: o.maxConnections ?? DEFAULTS.maxConnections,
    maxHandshakes: o.maxHandshakes ?? DEFAULTS.maxHandshakes,
    tls: o.tls,
    native: (socket, head, ms, release) => sessions.accept(socket, head, ms, release),
    legacy: undefined,
    stats: o.stats,
    // Nothing is proved on a standby: no audit trail, no backoff of failed proofs.
    audit: new AuditTrail({ post: () => undefined }),
    peers: new PeerGuard({
      maxHandshakesPerAddress: 64,
      authFailuresPerMinute: Number.MAX_SAFE_INTEGER,
      stats: o.stats,
    }),
    logger: o.logger,
    limitedLog: new LogLimiter(o.logger),
  });
  await listener.listen();
  return { listener, sessions };
}

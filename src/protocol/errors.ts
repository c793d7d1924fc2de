// Error classes shared by every layer. Pure: no I/O. One class per way a caller reacts
// (see STYLE.md, "Errors"); each carries a stable `code` that also travels on the wire.

import type { TaskErrorCode } from './tasks.js';

/** Codes of protocol errors: the frame or the message was bad; close that connection. */
export type ProtocolErrorCode =
  | 'ERR_FRAME_TOO_LARGE'
  | 'ERR_INVALID_UTF8'
  | 'ERR_INVALID_JSON'
  | 'ERR_TOO_DEEP'
  | 'ERR_FORBIDDEN_KEY'
  | 'ERR_INVALID_MESSAGE'
  /** A session sent faster than its limits (frames, requests or samples per second) allow. */
  | 'ERR_RATE_LIMITED'
  | 'ERR_BAD_MAGIC';

/** Codes of disconnections: the link is gone; retry later. */
export type DisconnectionCode =
  | 'ERR_CONNECTION_RESET'
  | 'ERR_CONNECTION_REFUSED'
  | 'ERR_UNREACHABLE'
  | 'ERR_CONNECT_TIMEOUT'
  | 'ERR_BROKEN_PIPE'
  | 'ERR_EOF'
  | 'ERR_EOF_MID_FRAME'
  | 'ERR_PEER_TIMEOUT'
  | 'ERR_PROTOCOL'
  | 'ERR_CLOSED'
  | 'ERR_SOCKET';

/** Codes of store failures: the database could not do what was asked. */
export type StoreErrorCode =
  | 'ERR_STORE'
  | 'ERR_STORE_BUSY'
  | 'ERR_STORE_FULL'
  | 'ERR_STORE_CLOSED'
  | 'ERR_STORE_SCHEMA'
  | 'ERR_STORE_CORRUPT'
  | 'ERR_STORE_FENCED';

export type ErrorCode =
  | ProtocolErrorCode
  | DisconnectionCode
  | StoreErrorCode
  | 'ERR_INFLUX'
  | 'ERR_DATA_DIR_LOCKED'
  | 'ERR_TLS_REQUIRED'
  | 'ERR_TLS_UNTRUSTED'
  | 'ERR_REQUEST_TIMEOUT'
  | 'ERR_BACKPRESSURE'
  | 'ERR_ABORTED'
  | 'ERR_UNKNOWN_TYPE'
  | 'ERR_AUTH'
  | 'ERR_VERSION'
  | 'ERR_HANDSHAKE_TIMEOUT'
  | 'ERR_NOT_LEADER'
  | AdmissionCode
  | RequestErrorCode
  | 'ERR_INTERNAL'
  | 'ERR_CONFIG'
  | TaskErrorCode
  | 'ERR_REMOTE';

export class PiclusterError extends Error {
  readonly code: ErrorCode;
  /** Fields an `error` reply carries besides `code` and `message` (ERR_NOT_LEADER: `leader`). */
  declare readonly detail?: Record<string, string>;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * Longest `message` an `error` frame carries: a message may quote the peer's own input (a schema
 * path holds its keys), and an error reply must neither outgrow the frame limit of the link (16 KiB
 * before `welcome`) nor the 4,096 characters its schema allows the peer to accept.
 */
export const MAX_WIRE_ERROR_CHARS = 1_024;

/** `message` as an `error` frame carries it: cut to MAX_WIRE_ERROR_CHARS, with an ellipsis. */
export function wireErrorMessage(message: string): string {
  return message.length <= MAX_WIRE_ERROR_CHARS ? message : `${message.slice(0, MAX_WIRE_ERROR_CHARS - 1)}…`;
}

/** A bad frame or message from the peer. The connection that carried it is closed. */
export class ProtocolError extends PiclusterError {
  declare readonly code: ProtocolErrorCode;
  constructor(code: ProtocolErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The link is gone, however it went. Pending requests are rejected with it. Retry later. */
export class DisconnectionError extends PiclusterError {
  declare readonly code: DisconnectionCode;
  constructor(code: DisconnectionCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** A request got no reply in time. The link may still be fine. */
export class TimeoutError extends PiclusterError {
  constructor(message: string) {
    super('ERR_REQUEST_TIMEOUT', message);
  }
}

/** A bounded queue is full: wait for `'drain'` and try again. Nothing was queued. */
export class BackpressureError extends PiclusterError {
  constructor(message: string) {
    super('ERR_BACKPRESSURE', message);
  }
}

/** Authentication failed: stop and tell the operator. */
export class AuthError extends PiclusterError {
  /** True when the rejected proof was made with a node secret (the token may still work). */
  readonly usedSecret: boolean;
  constructor(message: string, options?: { cause?: unknown; usedSecret?: boolean }) {
    super('ERR_AUTH', message, options);
    this.usedSecret = options?.usedSecret ?? false;
  }
}

/** The two sides share no protocol version: upgrade one of them. */
export class VersionError extends PiclusterError {
  constructor(message: string) {
    super('ERR_VERSION', message);
  }
}

export type RequestErrorCode = 'ERR_BAD_REQUEST' | 'ERR_NOT_FOUND' | 'ERR_FORBIDDEN' | 'ERR_CONFLICT';

/**
 * A request that cannot be done as asked: malformed (ERR_BAD_REQUEST), naming nothing that exists
 * (ERR_NOT_FOUND), not allowed to this asker (ERR_FORBIDDEN), or not in the present state of what
 * it names (ERR_CONFLICT: approving a node that is online). Fix the request.
 */
export class RequestError extends PiclusterError {
  declare readonly code: RequestErrorCode;
  constructor(code: RequestErrorCode, message: string) {
    super(code, message);
  }
}

/**
 * This primary is a standby (issue 17): it does not lead the cluster, so it admits no node. The
 * reply names the leader's cluster address (`host:port`) when this primary knows of one; without an
 * etcd quorum nobody leads and `leader` is absent.
 */
export class NotLeaderError extends PiclusterError {
  declare readonly code: 'ERR_NOT_LEADER';
  declare readonly detail: { leader: string } | undefined;
  constructor(message: string, leader: string | undefined) {
    super('ERR_NOT_LEADER', message);
    Object.defineProperty(this, 'detail', { value: leader === undefined ? undefined : { leader }, enumerable: true });
  }

  /** The leader's cluster address (`host:port`), when known. */
  get leader(): string | undefined {
    return this.detail?.leader;
  }
}

/** Pending approval, denied by the operator, or no room for another node (limits.maxNodes, limits.maxPendingNodes). */
export type AdmissionCode = 'ERR_PENDING' | 'ERR_DENIED' | 'ERR_TOO_MANY_NODES';

/**
 * The primary proved the node's token but does not admit it: it waits for the operator's approval
 * (ERR_PENDING, admission "approve": retry slowly, it is let in once approved) or was denied or
 * revoked (ERR_DENIED: only the operator can change that).
 */
export class AdmissionError extends PiclusterError {
  declare readonly code: AdmissionCode;
  constructor(code: AdmissionCode, message: string) {
    super(code, message);
  }
}

/**
 * The store could not do what was asked. ERR_STORE_BUSY: another process holds the database
 * locked, retry soon; ERR_STORE_FULL: the disk is full, retry once there is room; ERR_STORE_SCHEMA:
 * a database from a newer picluster; ERR_STORE_CORRUPT: a file that is not a sound picluster
 * database (refused at start, left untouched); ERR_STORE_CLOSED: used after close;
 * ERR_STORE_FENCED: a shared store now belongs to a newer leader's epoch, this primary's write was
 * refused whole (it must stop acting as leader); ERR_STORE: anything else (the driver's error is
 * the `cause`).
 */
export class StoreError extends PiclusterError {
  declare readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** InfluxDB answered with an error: an HTTP `status`, or 200 with an error inside the result. */
export class InfluxError extends PiclusterError {
  readonly status: number;
  constructor(status: number, message: string) {
    super('ERR_INFLUX', message);
    this.status = status;
  }
}

/** The data dir is in use by another process: stop (exit 1) and say which. */
export class DataDirLockedError extends PiclusterError {
  /** What the holding process said of itself, when it answered. */
  readonly holder: { pid: number; role: string; dataDir: string; since: number } | undefined;
  constructor(message: string, holder: DataDirLockedError['holder']) {
    super('ERR_DATA_DIR_LOCKED', message);
    this.holder = holder;
  }
}

/**
 * TLS on the cluster port: the primary wants TLS and got plaintext (ERR_TLS_REQUIRED), or the
 * peer's certificate is not the one trusted (ERR_TLS_UNTRUSTED: another fingerprint than the pin,
 * not signed by the CA, or nothing to trust it by). Stop and tell the operator, as for AuthError.
 */
export class TlsError extends PiclusterError {
  declare readonly code: 'ERR_TLS_REQUIRED' | 'ERR_TLS_UNTRUSTED';
  constructor(code: 'ERR_TLS_REQUIRED' | 'ERR_TLS_UNTRUSTED', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** A task was refused, failed, timed out or was cancelled; `code` says which (tasks.ts). */
export class TaskError extends PiclusterError {
  declare readonly code: TaskErrorCode;
  constructor(code: TaskErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Bad configuration: exit 2 with one clear line. */
export class ConfigError extends PiclusterError {
  constructor(message: string) {
    super('ERR_CONFIG', message);
  }
}

/** The peer answered a request with an `error` message. */
export class RemoteError extends PiclusterError {
  /** The code the peer sent, as it sent it. */
  readonly remoteCode: string;
  constructor(remoteCode: string, message: string) {
    super('ERR_REMOTE', message);
    this.remoteCode = remoteCode;
  }

  /** The error an `error` reply's payload carries (whatever the peer put in it). */
  static of(payload: unknown): RemoteError {
    const { code, message, leader } = (payload ?? {}) as { code?: unknown; message?: unknown; leader?: unknown };
    const err = new RemoteError(String(code ?? 'ERR_REMOTE'), String(message ?? 'the peer replied with an error'));
    // ERR_NOT_LEADER names the leader: kept only as a short string (the peer is not trusted).
    if (typeof leader === 'string' && leader.length <= 300) Object.defineProperty(err, 'detail', { value: { leader } });
    return err;
  }
}

// The secondary's side of the handshake (ARCHITECTURE.md, "Handshake"): wait for `hello`, prove
// the node secret (or the cluster token on a first join), and check the primary's own proof so a
// fake primary cannot order this node around.

import type { Connection } from '../connection/connection.js';
import { MessageDispatcher } from '../connection/dispatch.js';
import { clientProof, randomHex, secretsEqual, serverProof } from '../protocol/auth.js';
import {
  AdmissionError,
  AuthError,
  DisconnectionError,
  NotLeaderError,
  type PiclusterError,
  ProtocolError,
  RemoteError,
  TlsError,
  VersionError,
} from '../protocol/errors.js';
import { type HelloPayload, type Message, PROTOCOL_VERSION, type WelcomePayload } from '../protocol/messages.js';

export interface HandshakeOptions {
  nodeId: string;
  name: string;
  labels: Record<string, string>;
  version: string;
  machineId: string;
  token: string | undefined;
  /** The node secret held for this primary, if any. */
  secretFor(primaryId: string): string | undefined;
  timeoutMs: number;
}

export interface HandshakeResult {
  primaryId: string;
  lastSeq: number;
  nodeSecret: string | undefined;
  heartbeatMs: number;
  /** The primary's largest frame (from `hello`). */
  maxFrameBytes: number;
}

export async function handshake(conn: Connection, options: HandshakeOptions): Promise<HandshakeResult> {
  const hello = await nextHello(conn, options.timeoutMs);
  if (hello.protocol.min > PROTOCOL_VERSION || hello.protocol.max < PROTOCOL_VERSION) {
    throw new VersionError(
      `protocol versions do not overlap: the primary speaks ${hello.protocol.min}..${hello.protocol.max}, this node (picluster ${options.version}) ${PROTOCOL_VERSION}: run the same picluster, or neighbouring versions, on both (the primary's log names its version)`,
    );
  }
  const secret = options.secretFor(hello.primaryId);
  const key = secret ?? options.token;
  if (key === undefined) {
    throw new AuthError(
      `no node secret for primary ${hello.primaryId} and no cluster token: give --token or --token-file`,
    );
  }
  const clientNonce = randomHex(32);
  let welcome: WelcomePayload;
  try {
    welcome = (await conn.request(
      'auth',
      {
        nodeId: options.nodeId,
        name: options.name,
        labels: options.labels,
        version: options.version,
        protocol: { min: PROTOCOL_VERSION, max: PROTOCOL_VERSION },
        machineId: options.machineId,
        clientNonce,
        using: secret ? 'node' : 'token',
        proof: clientProof(key, hello.nonce, options.nodeId),
      },
      { timeoutMs: options.timeoutMs },
    )) as WelcomePayload;
  } catch (err) {
    if (err instanceof RemoteError && err.remoteCode === 'ERR_AUTH') {
      throw new AuthError(err.message, { usedSecret: secret !== undefined });
    }
    if (err instanceof RemoteError && err.remoteCode === 'ERR_VERSION') throw new VersionError(err.message);
    if (err instanceof RemoteError && err.remoteCode === 'ERR_NOT_LEADER')
      throw new NotLeaderError(err.message, err.detail?.leader);
    if (
      err instanceof RemoteError &&
      (err.remoteCode === 'ERR_PENDING' || err.remoteCode === 'ERR_DENIED' || err.remoteCode === 'ERR_TOO_MANY_NODES')
    )
      throw new AdmissionError(err.remoteCode, err.message);
    throw err;
  }
  if (
    welcome.nodeId !== options.nodeId ||
    !secretsEqual(welcome.serverProof, serverProof(key, clientNonce, hello.primaryId))
  ) {
    throw new AuthError(
      `primary ${hello.primaryId} could not prove it holds this cluster's credentials: not following it`,
    );
  }
  return {
    primaryId: hello.primaryId,
    lastSeq: welcome.lastSeq,
    nodeSecret: welcome.nodeSecret,
    heartbeatMs: hello.heartbeatMs,
    maxFrameBytes: hello.maxFrameBytes,
  };
}

/** The primary's `hello`, which must be the first message; anything else first is a protocol violation. */
function nextHello(conn: Connection, timeoutMs: number): Promise<HelloPayload> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | undefined, hello?: HelloPayload) => {
      clearTimeout(timer);
      conn.off('message', onMessage);
      conn.off('disconnect', onDisconnect);
      if (err) reject(err);
      else resolve(hello as HelloPayload);
    };
    const first = new MessageDispatcher<undefined>(
      {
        hello: (hello) => done(undefined, hello),
        // A primary that wants TLS, or refused this node's certificate, says so once instead of hello.
        error: ({ code, message }) => done(refusalBeforeHello(code, message)),
      },
      (message) =>
        done(new ProtocolError('ERR_INVALID_MESSAGE', `expected "hello" from the primary, got "${message.t}"`)),
    );
    const onMessage = (message: Message) => first.dispatch(message, undefined);
    const onDisconnect = (err: DisconnectionError) => done(err);
    const timer = setTimeout(
      () => done(new DisconnectionError('ERR_PEER_TIMEOUT', `no "hello" from the primary within ${timeoutMs} ms`)),
      timeoutMs,
    );
    conn.on('message', onMessage);
    conn.once('disconnect', onDisconnect);
  });
}

/** The error for an `error` frame the primary sent instead of hello. */
function refusalBeforeHello(code: string, message: string): PiclusterError {
  if (code === 'ERR_TLS_REQUIRED')
    return new TlsError(code, `the primary accepts TLS only (${message}): run this node without --no-tls`);
  if (code === 'ERR_TLS_UNTRUSTED')
    return new TlsError(code, `the primary refused this node's certificate: ${message}`);
  return new ProtocolError(
    'ERR_INVALID_MESSAGE',
    `the primary answered with an error before hello: ${code} ${message}`,
  );
}

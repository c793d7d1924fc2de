// The primary's side of the handshake (ARCHITECTURE.md, "Handshake"): check the protocol version
// and the proof, enroll a node that joins by token, and build the `welcome` with its own proof.
// Pure decisions over injected lookups: tested without sockets.

import { clientProof, randomHex, secretsEqual, serverProof } from '../protocol/auth.js';
import { AuthError, type PiclusterError, VersionError } from '../protocol/errors.js';
import { type AuthPayload, PROTOCOL_VERSION, type WelcomePayload } from '../protocol/messages.js';
import type { NodeSecret } from '../store/store-api.js';

export interface HandshakeContext {
  /** The nonce sent in this connection's `hello`. */
  nonce: string;
  token: string;
  primaryId: string;
  secretOf(nodeId: string): NodeSecret | undefined;
  lastSeqOf(nodeId: string): number;
}

export type HandshakeResult =
  | {
      ok: true;
      auth: AuthPayload;
      nodeSecret: string | undefined;
      /** The node proved a secret it was issued earlier: mark it confirmed. */
      confirmsSecret: boolean;
      welcome: WelcomePayload;
    }
  | { ok: false; nodeId: string | undefined; error: PiclusterError };

export function authenticate(auth: AuthPayload, ctx: HandshakeContext): HandshakeResult {
  const fail = (error: PiclusterError): HandshakeResult => ({ ok: false, nodeId: auth.nodeId, error });
  if (auth.protocol.min > PROTOCOL_VERSION || auth.protocol.max < PROTOCOL_VERSION) {
    return fail(
      new VersionError(
        `protocol versions do not overlap: the node speaks ${auth.protocol.min}..${auth.protocol.max}, this primary ${PROTOCOL_VERSION}`,
      ),
    );
  }
  const enrolledSecret = ctx.secretOf(auth.nodeId);
  let key: string;
  if (auth.using === 'node') {
    if (enrolledSecret === undefined) {
      return fail(new AuthError(`node ${auth.nodeId} has no secret on this primary: join with the cluster token`));
    }
    key = enrolledSecret.secret;
  } else {
    // An unconfirmed secret may never have reached the node (its welcome was lost): the token
    // may enroll it again. A secret the node has used is its identity: no token can claim it.
    if (enrolledSecret?.confirmed) {
      return fail(
        new AuthError(
          `node id ${auth.nodeId} is enrolled with its own secret: a token join cannot claim it (reset that node's id or forget the node)`,
        ),
      );
    }
    key = ctx.token;
  }
  if (!secretsEqual(clientProof(key, ctx.nonce, auth.nodeId), auth.proof)) {
    return fail(
      new AuthError(auth.using === 'token' ? 'wrong cluster token' : `wrong node secret for node ${auth.nodeId}`),
    );
  }
  const nodeSecret = auth.using === 'token' ? randomHex(32) : undefined;
  const welcome: WelcomePayload = {
    nodeId: auth.nodeId,
    lastSeq: ctx.lastSeqOf(auth.nodeId),
    serverProof: serverProof(key, auth.clientNonce, ctx.primaryId),
  };
  if (nodeSecret) welcome.nodeSecret = nodeSecret;
  return {
    ok: true,
    auth,
    nodeSecret,
    confirmsSecret: auth.using === 'node' && enrolledSecret?.confirmed === false,
    welcome,
  };
}

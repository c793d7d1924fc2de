// The primary's side of the handshake (ARCHITECTURE.md, "Handshake"): check the protocol version
// and the proof, enroll a node that joins by token, and build the `welcome` with its own proof.
// Pure decisions over injected lookups: tested without sockets.
//
// Who may use which key: a node id with a secret (confirmed or not) proves that secret, and no
// token join can claim it; an id without one joins by token and is issued a secret; an id of a
// legacy node is not a native node's to claim. Every refusal before the proof is checked looks
// the same on the wire ("authentication failed", ERR_AUTH) and costs the same HMAC, so a prober
// learns neither which ids exist nor which key they use; the primary's log has the reason. Once the
// proof holds, a node the operator denied or revoked is told so (ERR_DENIED), and with admission
// "approve" a new id is told it waits (ERR_PENDING) and recorded as pending.

import { clientProof, randomHex, secretsEqual, serverProof } from '../protocol/auth.js';
import { AdmissionError, AuthError, type PiclusterError, VersionError } from '../protocol/errors.js';
import { type AuthPayload, PROTOCOL_VERSION, type WelcomePayload } from '../protocol/messages.js';
import type { NodeState } from '../protocol/node-view.js';
import type { NodeSecret } from '../store/store-api.js';

export interface HandshakeContext {
  /** The nonce sent in this connection's `hello`. */
  nonce: string;
  token: string;
  primaryId: string;
  /** This primary's picluster version (named when a node's protocol does not fit). */
  version: string;
  secretOf(nodeId: string): NodeSecret | undefined;
  lastSeqOf(nodeId: string): number;
  /** Whether the id belongs to a node of the original protocol. */
  isLegacy(nodeId: string): boolean;
  /** Whether the id has a live session or one being admitted (a token cannot claim it). */
  inUse(nodeId: string): boolean;
  /** The node's state, undefined for an id the primary does not know. */
  stateOf(nodeId: string): NodeState | undefined;
  /** "open": the token is the gate; "approve": a new id waits as pending. */
  admission: 'open' | 'approve';
  /** Join codes node `nodeId` may prove a token join with instead of the cluster token (join-codes.ts). */
  joinCodes?(nodeId: string): readonly string[];
  /** Why a new node (one that would wait as pending, or join) finds no room, or undefined. */
  noRoomFor(pending: boolean): string | undefined;
}

export type HandshakeResult =
  | {
      ok: true;
      auth: AuthPayload;
      /** A secret issued now (a join by token): unconfirmed until the node uses this session. */
      nodeSecret: string | undefined;
      /** The node proved a secret it was issued earlier and never used: mark it confirmed. */
      confirmsSecret: boolean;
      welcome: WelcomePayload;
      /** The join code the node proved (one use of it is spent once it is admitted). */
      joinCode?: string;
    }
  | {
      ok: false;
      nodeId: string | undefined;
      /** What the node is told. */
      error: PiclusterError;
      /** Why, for the primary's log only. */
      reason: string;
      /** The token held, admission is "approve": record the node as pending. */
      pending?: true;
      /** The join code the pending node proved. */
      joinCode?: string;
    };

/** What every refused proof is told: the same words whatever the reason. */
export const AUTH_FAILED = 'authentication failed';

export function authenticate(auth: AuthPayload, ctx: HandshakeContext): HandshakeResult {
  if (auth.protocol.min > PROTOCOL_VERSION || auth.protocol.max < PROTOCOL_VERSION) {
    const error = new VersionError(
      `protocol versions do not overlap: the node (picluster ${auth.version}) speaks ${auth.protocol.min}..${auth.protocol.max}, this primary (picluster ${ctx.version}) ${PROTOCOL_VERSION}: run the same picluster, or neighbouring versions, on both`,
    );
    return { ok: false, nodeId: auth.nodeId, error, reason: error.message };
  }
  const refuse = (reason: string): HandshakeResult => ({
    ok: false,
    nodeId: auth.nodeId,
    error: new AuthError(AUTH_FAILED, { usedSecret: auth.using === 'node' }),
    reason,
  });
  const enrolled = ctx.secretOf(auth.nodeId);
  let key: string | undefined;
  let refusal: string | undefined;
  if (ctx.isLegacy(auth.nodeId)) {
    refusal = `node id ${auth.nodeId} is a legacy node's: a native node cannot claim it`;
  } else if (auth.using === 'node') {
    if (enrolled === undefined)
      refusal = `node ${auth.nodeId} has no secret on this primary (forgotten, or never enrolled)`;
    else key = enrolled.secret;
  } else if (enrolled !== undefined) {
    // Confirmed or not: an unconfirmed secret belongs to a session that may still be live.
    refusal = `node id ${auth.nodeId} has a node secret: a token join cannot claim it (revoke or forget the node first)`;
  } else if (ctx.inUse(auth.nodeId)) {
    refusal = `node id ${auth.nodeId} is online or being admitted: a token join cannot claim it`;
  } else {
    key = ctx.token;
  }
  // The same HMAC work whether a key was found or not.
  let proofMatches = secretsEqual(clientProof(key ?? randomHex(32), ctx.nonce, auth.nodeId), auth.proof);
  let joinCode: string | undefined;
  if (auth.using === 'token') {
    // Perhaps a join code. Every open code is tried whatever came before, so the time taken
    // says nothing of whether the id is enrolled.
    for (const code of ctx.joinCodes?.(auth.nodeId) ?? []) {
      if (secretsEqual(clientProof(code, ctx.nonce, auth.nodeId), auth.proof)) joinCode ??= code;
    }
    if (!proofMatches && refusal === undefined && joinCode !== undefined) {
      key = joinCode;
      proofMatches = true;
    } else joinCode = undefined;
  }
  if (refusal !== undefined) return refuse(refusal);
  if (!proofMatches) {
    return refuse(auth.using === 'token' ? 'wrong cluster token' : `wrong node secret for node ${auth.nodeId}`);
  }
  // The node proved what it holds: from here on it may be told why it is not let in.
  const state = ctx.stateOf(auth.nodeId);
  if (state === 'denied') {
    const error = new AdmissionError(
      'ERR_DENIED',
      `node ${auth.nodeId} was denied or revoked by the operator (picluster nodes approve ${auth.nodeId} lets it in again)`,
    );
    return { ok: false, nodeId: auth.nodeId, error, reason: error.message };
  }
  const waits = auth.using === 'token' && ctx.admission === 'approve';
  const full = state === undefined ? ctx.noRoomFor(waits) : undefined;
  if (full !== undefined) {
    return { ok: false, nodeId: auth.nodeId, error: new AdmissionError('ERR_TOO_MANY_NODES', full), reason: full };
  }
  if (waits && (state === undefined || state === 'pending')) {
    const error = new AdmissionError(
      'ERR_PENDING',
      `node ${auth.nodeId} waits for the operator's approval (picluster nodes approve ${auth.nodeId})`,
    );
    // A code proved here is the node's from now on (JoinCodes.claim): approved later, within the
    // code's life, it joins with it.
    return { ok: false, nodeId: auth.nodeId, error, reason: error.message, pending: true, joinCode };
  }
  const nodeSecret = auth.using === 'token' ? randomHex(32) : undefined;
  const welcome: WelcomePayload = {
    nodeId: auth.nodeId,
    lastSeq: ctx.lastSeqOf(auth.nodeId),
    serverProof: serverProof(key as string, auth.clientNonce, ctx.primaryId),
  };
  if (nodeSecret) welcome.nodeSecret = nodeSecret;
  return {
    ok: true,
    auth,
    nodeSecret,
    confirmsSecret: auth.using === 'node' && enrolled?.confirmed === false,
    welcome,
    joinCode,
  };
}

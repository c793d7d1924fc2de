import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { authenticate, type HandshakeContext } from '../../../src/primary/handshake.js';
import { clientProof, randomHex, serverProof } from '../../../src/protocol/auth.js';
import type { AuthPayload } from '../../../src/protocol/messages.js';

const TOKEN = 'cluster-token-0123456789';
const NODE = '0b6f4c1e-0000-4000-8000-000000000001';

function context(secrets: Record<string, string> = {}, confirmed = true): HandshakeContext {
  return {
    nonce: randomHex(32),
    token: TOKEN,
    primaryId: 'primary-1',
    secretOf: (id) => (secrets[id] ? { secret: secrets[id], confirmed } : undefined),
    lastSeqOf: () => 7,
  };
}

function auth(
  ctx: HandshakeContext,
  key: string,
  using: 'node' | 'token',
  extra: Partial<AuthPayload> = {},
): AuthPayload {
  return {
    nodeId: NODE,
    name: 'n',
    labels: {},
    version: '1',
    protocol: { min: 1, max: 1 },
    machineId: 'm',
    clientNonce: randomHex(32),
    using,
    proof: clientProof(key, ctx.nonce, NODE),
    ...extra,
  };
}

describe('primary handshake', () => {
  it('a first join by token gets a node secret, the last seq and a proof of the primary', () => {
    const ctx = context();
    const payload = auth(ctx, TOKEN, 'token');
    const result = authenticate(payload, ctx);
    assert.ok(result.ok);
    assert.match(result.welcome.nodeSecret ?? '', /^[0-9a-f]{64}$/);
    assert.equal(result.welcome.lastSeq, 7);
    assert.equal(result.welcome.serverProof, serverProof(TOKEN, payload.clientNonce, 'primary-1'));
  });

  it('a later join proves the node secret and gets no new one', () => {
    const secret = randomHex(32);
    const ctx = context({ [NODE]: secret });
    const result = authenticate(auth(ctx, secret, 'node'), ctx);
    assert.ok(result.ok);
    assert.equal(result.welcome.nodeSecret, undefined);
  });

  it('refuses a wrong token, a wrong secret, a replayed proof and a token join of an enrolled id', () => {
    const ctx = context();
    const wrong = authenticate(auth(ctx, 'not-the-token', 'token'), ctx);
    assert.ok(!wrong.ok && wrong.error.code === 'ERR_AUTH' && /wrong cluster token/.test(wrong.error.message));
    const replay = authenticate(auth(ctx, TOKEN, 'token'), { ...ctx, nonce: randomHex(32) });
    assert.ok(!replay.ok, 'a proof made for another nonce fails');
    const enrolled = context({ [NODE]: randomHex(32) });
    const takeover = authenticate(auth(enrolled, TOKEN, 'token'), enrolled);
    assert.ok(!takeover.ok && /enrolled/.test(takeover.error.message));
    const badSecret = authenticate(auth(enrolled, randomHex(32), 'node'), enrolled);
    assert.ok(!badSecret.ok && /wrong node secret/.test(badSecret.error.message));
    const unknown = authenticate(auth(ctx, randomHex(32), 'node'), ctx);
    assert.ok(!unknown.ok && /join with the cluster token/.test(unknown.error.message));
  });

  it('a secret never used (its welcome was lost) does not lock the node out; its first use confirms it', () => {
    const secret = randomHex(32);
    const unconfirmed = context({ [NODE]: secret }, false);
    const rejoin = authenticate(auth(unconfirmed, TOKEN, 'token'), unconfirmed);
    assert.ok(rejoin.ok && rejoin.nodeSecret !== undefined, 'token join accepted, new secret issued');
    const firstUse = authenticate(auth(unconfirmed, secret, 'node'), unconfirmed);
    assert.ok(firstUse.ok && firstUse.confirmsSecret);
  });

  it('refuses a node with no common protocol version, naming both', () => {
    const ctx = context();
    const result = authenticate(auth(ctx, TOKEN, 'token', { protocol: { min: 2, max: 3 } }), ctx);
    assert.ok(!result.ok && result.error.code === 'ERR_VERSION' && /2\.\.3.*1/.test(result.error.message));
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { authenticate, type HandshakeContext } from '../../../src/primary/handshake.js';
import { clientProof, randomHex, serverProof } from '../../../src/protocol/auth.js';
import type { AuthPayload } from '../../../src/protocol/messages.js';

const TOKEN = 'cluster-token-0123456789';
const NODE = '0b6f4c1e-0000-4000-8000-000000000001';

function context(
  secrets: Record<string, string> = {},
  confirmed = true,
  other: Partial<HandshakeContext> = {},
): HandshakeContext {
  return {
    nonce: randomHex(32),
    token: TOKEN,
    primaryId: 'primary-1',
    version: '0.9.0',
    secretOf: (id) => (secrets[id] ? { secret: secrets[id], confirmed } : undefined),
    lastSeqOf: () => 7,
    isLegacy: () => false,
    inUse: () => false,
    stateOf: () => undefined,
    admission: 'open',
    noRoomFor: () => undefined,
    ...other,
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

  it('refuses a wrong token, a wrong secret, a replayed proof, and any token join of an id it cannot take, all in the same words', () => {
    const ctx = context();
    const refusals: Array<[string, ReturnType<typeof authenticate>]> = [];
    refusals.push(['wrong token', authenticate(auth(ctx, 'not-the-token', 'token'), ctx)]);
    refusals.push(['replayed proof', authenticate(auth(ctx, TOKEN, 'token'), { ...ctx, nonce: randomHex(32) })]);
    const enrolled = context({ [NODE]: randomHex(32) });
    refusals.push(['token join of an enrolled id', authenticate(auth(enrolled, TOKEN, 'token'), enrolled)]);
    refusals.push(['wrong secret', authenticate(auth(enrolled, randomHex(32), 'node'), enrolled)]);
    refusals.push(['unknown id by secret', authenticate(auth(ctx, randomHex(32), 'node'), ctx)]);
    const unconfirmed = context({ [NODE]: randomHex(32) }, false);
    refusals.push([
      'token join of an id whose secret is not yet confirmed',
      authenticate(auth(unconfirmed, TOKEN, 'token'), unconfirmed),
    ]);
    const busy = context({}, true, { inUse: () => true });
    refusals.push(['token join of an id online or being admitted', authenticate(auth(busy, TOKEN, 'token'), busy)]);
    const legacy = context({}, true, { isLegacy: () => true });
    refusals.push(["token join of a legacy node's id", authenticate(auth(legacy, TOKEN, 'token'), legacy)]);
    for (const [what, result] of refusals) {
      assert.ok(!result.ok, `${what}: refused`);
      assert.deepEqual([result.error.code, result.error.message], ['ERR_AUTH', 'authentication failed'], what);
      assert.ok(result.reason.length > 0, `${what}: a reason for the log`);
    }
    const reasons = new Map(refusals.map(([what, r]) => [what, r.ok ? '' : r.reason]));
    assert.match(reasons.get('token join of an enrolled id') ?? '', /has a node secret/);
    assert.match(reasons.get('wrong token') ?? '', /wrong cluster token/);
  });

  it('a secret never used before is confirmed by its first use', () => {
    const secret = randomHex(32);
    const unconfirmed = context({ [NODE]: secret }, false);
    const firstUse = authenticate(auth(unconfirmed, secret, 'node'), unconfirmed);
    assert.ok(firstUse.ok && firstUse.confirmsSecret);
  });

  it('a join code stands in for the token (and is named, to be spent); an unknown one is refused', () => {
    const code = randomHex(16);
    const ctx = context({}, true, { joinCodes: () => [randomHex(16), code] });
    const joined = authenticate(auth(ctx, code, 'token'), ctx);
    assert.ok(joined.ok && joined.joinCode === code && joined.welcome.nodeSecret !== undefined);
    assert.ok(authenticate(auth(ctx, TOKEN, 'token'), ctx).ok, 'the token still works');
    const wrong = authenticate(auth(ctx, randomHex(16), 'token'), ctx);
    assert.ok(!wrong.ok && wrong.reason === 'wrong cluster token');
    // A code never stands in for a node secret.
    const asNode = authenticate(auth(ctx, code, 'node'), ctx);
    assert.ok(!asNode.ok);
  });

  it('refuses a node with no common protocol version, naming both', () => {
    const ctx = context();
    const result = authenticate(auth(ctx, TOKEN, 'token', { protocol: { min: 2, max: 3 } }), ctx);
    assert.ok(!result.ok && result.error.code === 'ERR_VERSION');
    assert.match(result.error.message, /the node \(picluster 1\) speaks 2\.\.3, this primary \(picluster 0\.9\.0\) 1/);
  });
  it('once the proof holds, a denied node is told so; a wrong proof of a denied node is not', () => {
    const ctx = context({}, true, { stateOf: () => 'denied' });
    const denied = authenticate(auth(ctx, TOKEN, 'token'), ctx);
    assert.ok(!denied.ok);
    assert.equal(denied.error.code, 'ERR_DENIED');
    const wrong = authenticate(auth(ctx, 'not-the-token-0123456789', 'token'), ctx);
    assert.ok(!wrong.ok);
    assert.equal(wrong.error.code, 'ERR_AUTH', 'a prober learns nothing');
  });

  it('with admission "approve", a new or pending id that proves the token waits; an approved one joins', () => {
    for (const state of [undefined, 'pending'] as const) {
      const ctx = context({}, true, { admission: 'approve', stateOf: () => state });
      const result = authenticate(auth(ctx, TOKEN, 'token'), ctx);
      assert.ok(!result.ok);
      assert.equal(result.error.code, 'ERR_PENDING');
      assert.equal(result.pending, true);
    }
    const approved = context({}, true, { admission: 'approve', stateOf: () => 'left' });
    assert.ok(authenticate(auth(approved, TOKEN, 'token'), approved).ok);
    // A wrong token is no reason to record anything.
    const ctx = context({}, true, { admission: 'approve' });
    const wrong = authenticate(auth(ctx, 'not-the-token-0123456789', 'token'), ctx);
    assert.ok(!wrong.ok && wrong.pending === undefined && wrong.error.code === 'ERR_AUTH');
    // An enrolled node proving its secret is not held back by the mode.
    const secret = randomHex(32);
    const enrolled = context({ [NODE]: secret }, true, { admission: 'approve', stateOf: () => 'lost' });
    assert.ok(authenticate(auth(enrolled, secret, 'node'), enrolled).ok);
  });

  it('a new id finds no room past the node caps (asked whether it would wait); a known node is not held back', () => {
    const asked: boolean[] = [];
    const full = (pending: boolean) => {
      asked.push(pending);
      return 'no room';
    };
    for (const admission of ['open', 'approve'] as const) {
      const ctx = context({}, true, { admission, noRoomFor: full });
      const result = authenticate(auth(ctx, TOKEN, 'token'), ctx);
      assert.ok(!result.ok);
      assert.equal(result.error.code, 'ERR_TOO_MANY_NODES');
      assert.equal(result.pending, undefined, 'nothing is recorded');
    }
    assert.deepEqual(asked, [false, true]);
    const known = context({}, true, { admission: 'approve', stateOf: () => 'left', noRoomFor: full });
    assert.ok(authenticate(auth(known, TOKEN, 'token'), known).ok);
    // Before the proof holds, a full primary says no more than any refusal.
    const ctx = context({}, true, { noRoomFor: full });
    const wrong = authenticate(auth(ctx, 'not-the-token-0123456789', 'token'), ctx);
    assert.ok(!wrong.ok && wrong.error.code === 'ERR_AUTH');
  });
});

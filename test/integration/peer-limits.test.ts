// The limits per peer of the security issue, each against a live primary with small limits: the
// exact outcome (closed at accept, an error code, a throttle), its counter in /metrics, and an
// honest node from another address (127.0.0.1; the offenders use 127.0.0.2) that stays online
// with its link untouched. Legacy limits: legacy-limits.test.ts.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import type { Primary } from '../../src/primary/primary.js';
import type { PeerLimits } from '../../src/primary/primary-options.js';
import { Secondary } from '../../src/secondary/secondary.js';
import { createMetrics } from '../../src/web/metrics.js';
import { tempDir, waitUntil } from '../helpers/cluster.js';
import { startLibraryPrimary } from '../helpers/library-primary.js';
import { frame, RawPeer, vitalsPayload } from '../helpers/raw-peer.js';

const TOKEN = 'peer-limits-test-token-0123';
const OFFENDER = '127.0.0.2';

async function startPrimary(
  t: TestContext,
  limits: Partial<PeerLimits>,
  extra: Partial<ConstructorParameters<typeof Primary>[0]> = {},
): Promise<Primary> {
  const primary = await startLibraryPrimary(t, {
    token: TOKEN,
    tls: false,
    heartbeatIntervalMs: 500,
    limits,
    ...extra,
  });
  return primary;
}

/** An honest node from 127.0.0.1, online and reporting; returns when it connected. */
async function honestNode(t: TestContext, primary: Primary): Promise<{ secondary: Secondary; since: number }> {
  const secondary = new Secondary({
    primary: `127.0.0.1:${primary.port}`,
    dataDir: tempDir(t),
    token: TOKEN,
    tls: false,
    vitalsPeriodMs: 100,
    heartbeatIntervalMs: 500,
  });
  await secondary.start();
  t.after(() => secondary.stop());
  await waitUntil(() => primary.node(secondary.nodeId)?.vitals, 10_000, 'the honest node reporting');
  return { secondary, since: primary.node(secondary.nodeId)?.connectedSince as number };
}

function assertUntouched(primary: Primary, honest: { secondary: Secondary; since: number }): void {
  const node = primary.node(honest.secondary.nodeId);
  assert.equal(node?.state, 'online');
  assert.equal(node?.connectedSince, honest.since, 'the honest link untouched');
}

async function metricValue(primary: Primary, name: string): Promise<number> {
  const text = await createMetrics(primary).render();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} in /metrics`);
  return Number(line.split(' ')[1]);
}

async function connectOffender(t: TestContext, primary: Primary): Promise<RawPeer> {
  const peer = await RawPeer.connect(primary.port, '127.0.0.1', { localAddress: OFFENDER });
  t.after(() => peer.destroy());
  return peer;
}

describe('limits per address', () => {
  it('an address holding maxHandshakesPerAddress connections in their handshake has the next closed at accept', async (t) => {
    const primary = await startPrimary(t, { maxHandshakesPerAddress: 3 });
    const honest = await honestNode(t, primary);
    // Three connections that never finish their handshake.
    const held = [];
    for (let i = 0; i < 3; i++) held.push(await connectOffender(t, primary));
    await waitUntil(() => primary.stats.accepted >= 4, 5000, 'the three accepted');
    const refused = await connectOffender(t, primary);
    const closedAt = await refused.waitClosed(5000);
    assert.ok(closedAt - refused.connectedAt < 1000, 'closed at once, not at the handshake timeout');
    assert.deepEqual(refused.messages, [], 'nothing is written to it');
    assert.equal(primary.stats.addressHandshakesRefused, 1);
    assert.equal(await metricValue(primary, 'picluster_address_handshakes_refused_total'), 1);
    // One of the three gets through its handshake: its place is free again.
    await held[0]?.handshake(TOKEN, 'finally');
    const next = await connectOffender(t, primary);
    await next.open();
    assert.equal(primary.stats.addressHandshakesRefused, 1);
    assertUntouched(primary, honest);
  });

  it('an address failing authFailuresPerMinute proofs waits out a backoff; a good join forgives it', async (t) => {
    const primary = await startPrimary(t, { authFailuresPerMinute: 3 });
    const honest = await honestNode(t, primary);
    // Three failures, then a connection at once: refused while the backoff lasts (1 s, then 2 s,
    // 4 s: a machine that stalls past one gets another round).
    let refusedAtAccept = false;
    for (let round = 0; round < 3 && !refusedAtAccept; round++) {
      for (let i = 0; i < 3; i++) {
        const peer = await connectOffender(t, primary);
        const hello = await peer.open();
        const id = peer.authWithToken('not-the-cluster-token-000', hello, randomUUID());
        const reply = await peer.waitFor((m) => m.re === id, 5000, 'the refusal');
        assert.equal(reply.p?.code, 'ERR_AUTH');
      }
      const refused = await connectOffender(t, primary);
      await refused.waitClosed(5000).catch(() => undefined);
      refusedAtAccept = refused.closed && refused.messages.length === 0;
      if (!refusedAtAccept) await waitUntil(() => refused.closed || undefined, 10_000, 'closed');
    }
    assert.ok(refusedAtAccept, 'closed at accept: no hello');
    assert.ok(primary.stats.authBackoffs >= 1);
    assert.ok(primary.stats.authBackoffRefused >= 1);
    assert.equal(await metricValue(primary, 'picluster_auth_backoffs_total'), primary.stats.authBackoffs);
    const backoffs = primary.stats.authBackoffs;
    // The first backoff is a second; then the address may try again, and a good join forgives it.
    const again = await waitUntil(
      async () => {
        const peer = await connectOffender(t, primary);
        return peer.open(1000).then(
          (hello) => ({ peer, hello }),
          () => undefined,
        );
      },
      10_000,
      'the address let in again after its backoff',
    );
    const good = again.peer.authWithToken(TOKEN, again.hello, randomUUID(), 'good-join');
    assert.equal((await again.peer.waitFor((m) => m.re === good, 5000, 'welcome')).t, 'welcome');
    for (let i = 0; i < 2; i++) {
      const peer = await connectOffender(t, primary);
      const hello = await peer.open();
      peer.authWithToken('not-the-cluster-token-000', hello, randomUUID());
      await peer.waitClosed(5000);
    }
    assert.equal(primary.stats.authBackoffs, backoffs, 'two failures after a good join start no backoff');
    assertUntouched(primary, honest);
  });
});

describe('rates per session', () => {
  it('a node flooding samples past samplesPerSecond is closed with ERR_RATE_LIMITED', async (t) => {
    const primary = await startPrimary(t, { samplesPerSecond: 20 });
    const honest = await honestNode(t, primary);
    const peer = await connectOffender(t, primary);
    await peer.handshake(TOKEN, 'flooder');
    await peer.write(
      Buffer.concat(Array.from({ length: 100 }, (_, i) => frame({ t: 'vitals', p: vitalsPayload(i + 1) }))),
    );
    const error = await peer.waitFor((m) => m.t === 'error', 5000, 'the rate-limit error');
    assert.equal(error.p?.code, 'ERR_RATE_LIMITED');
    assert.match(String(error.p?.message), /samples faster than 20\/s/);
    await peer.waitClosed(5000);
    assert.equal(primary.stats.rateLimited, 1);
    assert.equal(primary.stats.invalidMessages, 0, 'not counted as a bad message');
    assert.equal(await metricValue(primary, 'picluster_rate_limited_total'), 1);
    assertUntouched(primary, honest);
  });

  it('a node that waits for acks is held to samplesPerSecond, never cut off, and loses nothing', async (t) => {
    const primary = await startPrimary(t, { samplesPerSecond: 20 });
    const honest = await honestNode(t, primary);
    const peer = await connectOffender(t, primary);
    await peer.handshake(TOKEN, 'eager');
    // 80 samples, at most 8 ahead of the acks (as an agent catching up does, with its window).
    const total = 80;
    const window = 8;
    const started = performance.now();
    let sent = 0;
    const acked = () => Math.max(0, ...peer.messages.filter((m) => m.t === 'ack').map((m) => Number(m.p?.seq)));
    while (acked() < total) {
      while (sent < total && sent - acked() < window) {
        sent++;
        await peer.write(frame({ t: 'vitals', p: vitalsPayload(sent) }));
      }
      if (peer.closed) assert.fail(`closed: ${JSON.stringify(peer.messages.filter((m) => m.t === 'error'))}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
      assert.ok(performance.now() - started < 15_000, 'all acked within 15 s');
    }
    const elapsedS = (performance.now() - started) / 1000;
    // A second's worth at once, then 20/s, with up to another second's worth read ahead while held
    // back (past that the link is closed): at least (80 - 2 × 20) / 20 = 2 s. Unlimited: ~0.2 s.
    assert.ok(elapsedS > 1.9, `held to the rate: ${elapsedS.toFixed(2)} s for ${total}`);
    assert.ok(primary.stats.throttled >= 1);
    assert.equal(primary.stats.rateLimited, 0);
    assert.equal(peer.closed, false);
    assert.equal(await metricValue(primary, 'picluster_sessions_throttled_total'), primary.stats.throttled);
    assertUntouched(primary, honest);
  });

  it('a node sending requests past requestsPerSecond is closed with ERR_RATE_LIMITED', async (t) => {
    const primary = await startPrimary(t, { requestsPerSecond: 10 });
    const honest = await honestNode(t, primary);
    const peer = await connectOffender(t, primary);
    const { nodeId } = await peer.handshake(TOKEN, 'asker');
    for (let i = 0; i < 40; i++) peer.request('query', { what: 'node', id: nodeId });
    const error = await peer.waitFor((m) => m.t === 'error' && m.re === undefined, 5000, 'the rate-limit error');
    assert.equal(error.p?.code, 'ERR_RATE_LIMITED');
    assert.match(String(error.p?.message), /requests faster than 10\/s/);
    assert.equal(primary.stats.rateLimited, 1);
    assertUntouched(primary, honest);
  });
});

describe('frames and log lines', () => {
  it('a node flooding frames of any kind past framesPerSecond is closed with ERR_RATE_LIMITED', async (t) => {
    const primary = await startPrimary(t, { framesPerSecond: 50 });
    const honest = await honestNode(t, primary);
    const peer = await connectOffender(t, primary);
    await peer.handshake(TOKEN, 'pinger');
    await peer.write(Buffer.concat(Array.from({ length: 500 }, () => frame({ t: 'ping', p: {} }))));
    const error = await peer.waitFor((m) => m.t === 'error', 5000, 'the rate-limit error');
    assert.equal(error.p?.code, 'ERR_RATE_LIMITED');
    assert.match(String(error.p?.message), /frames faster than 50\/s/);
    await peer.waitClosed(5000);
    assert.ok(peer.messages.filter((m) => m.t === 'pong').length <= 101, 'at most two seconds worth answered');
    assert.equal(primary.stats.rateLimited, 1);
    assertUntouched(primary, honest);
  });

  it('an agent closed for its rates says why in its own log (ERR_RATE_LIMITED)', async (t) => {
    const primary = await startPrimary(t, { requestsPerSecond: 5 });
    const lines: Array<{ code?: string; message: string }> = [];
    const keep = (fields: object, message: string) => void lines.push({ ...(fields as { code?: string }), message });
    const all: string[] = [];
    const log = (level: string) => (fields: object, message: string) => {
      all.push(`${level} ${message} ${JSON.stringify(fields)}`);
      if (level === 'warn' || level === 'error') keep(fields, message);
    };
    const agent = new Secondary({
      primary: `127.0.0.1:${primary.port}`,
      dataDir: tempDir(t),
      token: TOKEN,
      tls: false,
      logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    });
    t.after(() => {
      if (!lines.some((l) => l.code === 'ERR_RATE_LIMITED')) {
        console.error(`DIAG agent log:\n${all.join('\n')}\nprimary stats ${JSON.stringify(primary.stats)}`);
      }
    });
    await agent.start();
    t.after(() => agent.stop());
    // Online on both sides: the primary marks the node online before the agent has read `welcome`,
    // and a query made before that fails at once, never reaching the primary.
    await waitUntil(
      () => agent.state === 'online' && primary.node(agent.nodeId)?.state === 'online',
      10_000,
      'the agent online',
    );
    // A plugin asking far more than its rate at once, without waiting for the answers.
    const asked = Array.from({ length: 50 }, () => agent.query('primary').catch((err: Error) => err));
    const line = await waitUntil(() => lines.find((l) => l.code === 'ERR_RATE_LIMITED'), 10_000, "the agent's line");
    assert.match(line.message, /the primary refused this node's input: sent requests faster than 5\/s/);
    assert.ok(
      (await Promise.all(asked)).some((r) => r instanceof Error),
      'the requests past it fail',
    );
    assert.equal(primary.stats.rateLimited, 1);
  });

  it('warnings a peer causes are at most 10 a minute per kind; the rest are counted', async (t) => {
    const lines: string[] = [];
    const keep = (_fields: object, message: string) => void lines.push(message);
    const primary = await startPrimary(
      t,
      { authFailuresPerMinute: 1000 },
      { logger: { debug: () => {}, info: keep, warn: keep, error: keep } },
    );
    for (let i = 0; i < 15; i++) {
      const peer = await connectOffender(t, primary);
      const hello = await peer.open();
      peer.authWithToken('not-the-cluster-token-000', hello, randomUUID());
      await peer.waitClosed(5000);
    }
    assert.equal(primary.stats.authFailures, 15);
    assert.equal(lines.filter((l) => l === 'wrong cluster token').length, 10);
    assert.equal(primary.stats.logLinesSuppressed, 5);
    assert.equal(await metricValue(primary, 'picluster_log_lines_suppressed_total'), 5);
  });
});

describe('node count', () => {
  it('a new node past maxNodes is refused with ERR_TOO_MANY_NODES; known nodes still join', async (t) => {
    const primary = await startPrimary(t, { maxNodes: 2 });
    const honest = await honestNode(t, primary);
    const second = await connectOffender(t, primary);
    const known = await second.handshake(TOKEN, 'second');
    // Its first message after welcome confirms the secret it was issued.
    await second.write(frame({ t: 'vitals', p: vitalsPayload(1) }));
    await second.waitFor((m) => m.t === 'ack', 5000, 'ack');
    second.destroy();
    const third = await connectOffender(t, primary);
    await assert.rejects(third.handshake(TOKEN, 'third'), /ERR_TOO_MANY_NODES/);
    assert.match(String(third.messages.find((m) => m.t === 'error')?.p?.message), /limits\.maxNodes = 2/);
    assert.equal(primary.stats.nodesRefused, 1);
    assert.equal(primary.stats.authBackoffs + primary.stats.authFailures, 0, 'not a failed proof');
    assert.equal(await metricValue(primary, 'picluster_nodes_refused_total'), 1);
    // The second node comes back with its secret: it is known, so it is let in.
    await waitUntil(() => primary.node(known.nodeId)?.state === 'lost', 5000, 'the second node lost');
    const back = await connectOffender(t, primary);
    const hello = await back.open();
    const id = back.authWith('node', known.nodeSecret, hello, known.nodeId, 'second');
    const reply = await back.waitFor((m) => m.re === id, 5000, 'welcome');
    assert.equal(reply.t, 'welcome', JSON.stringify(reply.p));
    assert.equal(primary.nodeCount, 2);
    assertUntouched(primary, honest);
  });

  it('with admission "approve", a new node past maxPendingNodes is refused, not recorded', async (t) => {
    const primary = await startPrimary(t, { maxPendingNodes: 1 }, { admission: 'approve' });
    const waiting = await connectOffender(t, primary);
    await assert.rejects(waiting.handshake(TOKEN, 'first-to-wait'), /ERR_PENDING/);
    const late = await connectOffender(t, primary);
    await assert.rejects(late.handshake(TOKEN, 'late'), /ERR_TOO_MANY_NODES/);
    assert.match(String(late.messages.find((m) => m.t === 'error')?.p?.message), /limits\.maxPendingNodes = 1/);
    assert.deepEqual(
      primary.nodes().map((n) => `${n.name}:${n.state}`),
      ['first-to-wait:pending'],
    );
    assert.equal(primary.stats.nodesRefused, 1);
  });
});

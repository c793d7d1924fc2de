// A standby primary's cluster port (issue 17): it answers a handshake with ERR_NOT_LEADER naming
// the leader, and a node given the standby's address first goes to the named leader at once. Two
// standbys naming each other cost a node a backoff, never a tight loop; with TLS off a node dials
// no leader it was not given. In-process, plaintext.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { silentLogger } from '../../src/common/logger.js';
import { openStandbyPort, type StandbyPort } from '../../src/primary/leadership/standby-sessions.js';
import { newPrimaryStats } from '../../src/primary/node-host.js';
import { Secondary } from '../../src/secondary/secondary.js';
import { tempDir, waitUntil } from '../helpers/cluster.js';
import { startLibraryPrimary } from '../helpers/library-primary.js';
import { RawPeer } from '../helpers/raw-peer.js';

const TOKEN = 'standby-test-token-0123456789';

async function standby(
  t: TestContext,
  leader: () => string | undefined,
  primaryId = 'cluster-id',
): Promise<StandbyPort> {
  const port = await openStandbyPort({
    port: 0,
    bind: '127.0.0.1',
    tls: undefined,
    primaryId,
    leader,
    stats: newPrimaryStats(),
    logger: silentLogger,
  });
  t.after(async () => {
    port.sessions.closeAll();
    port.listener.destroyAll();
    await port.listener.close();
  });
  return port;
}

/** A token join on a fresh link to `port`: the hello, and the answer to auth. */
async function tokenJoin(t: TestContext, port: number) {
  const peer = await RawPeer.connect(port);
  t.after(() => peer.destroy());
  const hello = await peer.open();
  const id = peer.authWithToken(TOKEN, hello, 'a1b2c3d4-0000-4000-8000-000000000001', 'n1');
  return [hello, await peer.waitFor((m) => m.re === id, 5000, 'an answer to auth')] as const;
}

describe('standby primaries', () => {
  it('answer a handshake with ERR_NOT_LEADER naming the leader, or naming none without one, and close', async (t) => {
    let leader: string | undefined = '10.0.0.11:12345';
    const port = await standby(t, () => leader);
    const [hello, reply] = await tokenJoin(t, port.listener.port);
    assert.equal((hello.p as { primaryId?: string }).primaryId, 'cluster-id');
    assert.equal(reply?.t, 'error');
    assert.equal(reply?.p?.code, 'ERR_NOT_LEADER');
    assert.equal(reply?.p?.leader, '10.0.0.11:12345');
    leader = undefined;
    const [, none] = await tokenJoin(t, port.listener.port);
    assert.equal(none?.p?.code, 'ERR_NOT_LEADER');
    assert.equal(none?.p?.leader, undefined);
    assert.match(String(none?.p?.message), /no primary leads/);
    assert.equal(port.sessions.refused, 2);
  });

  it('send a node to the leader they name: online there, though it dialled the standby first', async (t) => {
    const primary = await startLibraryPrimary(t, { token: TOKEN, heartbeatIntervalMs: 500, tls: false });
    const port = await standby(t, () => `127.0.0.1:${primary.port}`, primary.primaryId);
    const said: string[] = [];
    const node = new Secondary({
      // The standby first: the next attempt goes where its refusal says, not down the list after a backoff.
      primary: `127.0.0.1:${port.listener.port},127.0.0.1:${primary.port}`,
      logger: { ...silentLogger, info: (_fields, message) => said.push(message) },
      dataDir: tempDir(t),
      token: TOKEN,
      vitalsPeriodMs: 100,
      heartbeatIntervalMs: 500,
      // The longest backoff would show: a redirect waits none.
      reconnect: { initialDelayMs: 5000, maxDelayMs: 5000 },
      tls: false,
    });
    const started = performance.now();
    await node.start();
    t.after(() => node.stop());
    const online = await new Promise<{ address: string }>((resolve) => node.once('online', resolve));
    assert.equal(online.address, `127.0.0.1:${primary.port}`);
    assert.ok(performance.now() - started < 3000, 'the redirect waits no backoff');
    // Sent there by the refusal, not reached down the list after a (jittered) backoff.
    assert.equal(said.filter((m) => m.includes('going to the leader it names')).length, 1, said.join(' | '));
    await waitUntil(() => primary.node(node.nodeId)?.state === 'online', 5000, 'online at the leader');
    assert.equal(port.sessions.refused, 1);
  });

  it('with TLS off, a leader named outside the configured primaries is not dialled: the node tries its own list', async (t) => {
    const primary = await startLibraryPrimary(t, { token: TOKEN, heartbeatIntervalMs: 500, tls: false });
    const port = await standby(t, () => `127.0.0.1:${primary.port}`, primary.primaryId);
    const warnings: string[] = [];
    const node = new Secondary({
      primary: `127.0.0.1:${port.listener.port}`,
      dataDir: tempDir(t),
      token: TOKEN,
      heartbeatIntervalMs: 500,
      reconnect: { initialDelayMs: 200, maxDelayMs: 200 },
      tls: false,
      logger: { ...silentLogger, warn: (_fields, message) => warnings.push(message) },
    });
    await node.start();
    t.after(() => node.stop());
    await waitUntil(() => port.sessions.refused >= 4, 5000, 'refusals at the backoff pace');
    assert.equal(node.state === 'online', false);
    assert.equal(primary.node(node.nodeId), undefined, 'never reached the unlisted leader');
    const lines = warnings.filter((m) => m.includes('dials only its configured primaries'));
    assert.equal(lines.length, 1, `said once: ${warnings.join(' | ')}`);
  });

  it('two standbys naming each other: the node backs off after one redirect instead of looping', async (t) => {
    let b: StandbyPort | undefined;
    const a = await standby(t, () => (b ? `127.0.0.1:${b.listener.port}` : undefined));
    b = await standby(t, () => `127.0.0.1:${a.listener.port}`);
    const node = new Secondary({
      primary: `127.0.0.1:${a.listener.port}`,
      dataDir: tempDir(t),
      token: TOKEN,
      reconnect: { initialDelayMs: 400, maxDelayMs: 400 },
      tls: false,
    });
    await node.start();
    t.after(() => node.stop());
    // A tight loop refuses hundreds within this second (a round trip each); two refusals per backoff
    // (full jitter up to 400 ms: 200 ms on average) make about ten.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const refused = a.sessions.refused + b.sessions.refused;
    assert.ok(refused >= 2 && refused <= 30, `${refused} refusals in a second`);
  });
});

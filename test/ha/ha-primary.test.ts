// The HA primary in-process (issue 17), against a real etcd and PostgreSQL: a primary whose term
// cannot start steps aside (its lease goes, so another can lead) and leads once it can; a primary
// without ha.etcd refuses a store an HA leader has claimed; a store fenced under a running term
// ends that term at once. Skipped with a reason where etcd or PostgreSQL is missing (never under
// CI=true). Every wait is bounded.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { HaPrimary } from '../../src/primary/leadership/ha-primary.js';
import { Primary } from '../../src/primary/primary.js';
import { postgresStoreFactory } from '../../src/store/postgres/open.js';
import type { StoreFactory } from '../../src/store/store-api.js';
import { FAST_COMMIT, tempDir, waitUntil } from '../helpers/cluster.js';
import { startEtcdCluster } from '../helpers/etcd.js';
import { startPostgres } from '../helpers/postgres.js';
import { requirePrograms } from '../helpers/require-tool.js';

const TTL_MS = 2000;
const TOKEN = 'ha-primary-test-token-0123456789';

async function servers(t: TestContext, etcdMembers = 1) {
  const tools = requirePrograms(t, ['etcd'], 'apt-get install -y --no-install-recommends etcd-server');
  if (!tools) return undefined;
  const pg = await startPostgres(t);
  if (!pg) return undefined;
  const etcd = await startEtcdCluster(t, tools.etcd as string, etcdMembers);
  return { pg, etcd };
}

function haPrimary(t: TestContext, etcd: string[], store: StoreFactory, name: string): HaPrimary {
  const primary = new HaPrimary({
    ...FAST_COMMIT,
    dataDir: tempDir(t),
    port: 0,
    bind: '127.0.0.1',
    token: TOKEN,
    tls: false,
    store,
    ha: { etcd, ttlMs: TTL_MS, name, advertise: `127.0.0.1:1${name.length}` },
  });
  t.after(() => primary.stop());
  return primary;
}

describe('HaPrimary', () => {
  it('steps aside when its term cannot start, and leads once it can', async (t) => {
    const up = await servers(t);
    if (!up) return;
    const url = await up.pg.createDatabase('aside');
    let failures = 1;
    const flaky: StoreFactory = async (options) => {
      if (failures-- > 0) throw new Error('the store is not reachable (injected)');
      return postgresStoreFactory(url)(options);
    };
    const a = haPrimary(t, up.etcd.clientUrls, flaky, 'a');
    await a.start();
    // Its first term fails: it must not keep the lease (another primary could not lead meanwhile).
    await waitUntil(() => (a.election.state === 'stopped' ? true : undefined), 10_000, 'a to resign');
    const b = haPrimary(t, up.etcd.clientUrls, postgresStoreFactory(url), 'bb');
    await b.start();
    await waitUntil(() => (b.leadership.state === 'leader' ? true : undefined), 2 * TTL_MS + 1000, 'b to lead');
    assert.equal(b.ready, true);
    // b resigns: a, campaigning again after its pause, leads with a store that opens now.
    await b.stop();
    await waitUntil(() => (a.leadership.state === 'leader' ? true : undefined), 10_000, 'a to lead');
    assert.equal(a.ready, true);
    assert.ok((a.leadership.leader?.epoch ?? 0) > 0);
  });

  it('a newer claim of the store ends the running term at once; a primary without ha.etcd refuses that store', async (t) => {
    const up = await servers(t);
    if (!up) return;
    const url = await up.pg.createDatabase('fenced');
    const a = haPrimary(t, up.etcd.clientUrls, postgresStoreFactory(url), 'a');
    await a.start();
    await waitUntil(() => (a.leadership.state === 'leader' ? true : undefined), 2 * TTL_MS + 1000, 'a to lead');
    const epoch = a.leadership.leader?.epoch as number;
    // Another leader's claim (as after an etcd split the lease has not noticed yet).
    const other = await postgresStoreFactory(url)({ dataDir: tempDir(t) });
    t.after(() => other.close());
    await other.claimEpoch?.(epoch + 1000);
    // The term's next write (a vitals commit, a node change, the upkeep) is refused: the term ends.
    const term = a.term as Primary;
    const write = term.store.applyNodeChanges([{ op: 'event', ts: Date.now(), nodeId: null, type: 'test' }]);
    await assert.rejects(write, (err: Error) => (err as { code?: string }).code === 'ERR_STORE_FENCED');
    await waitUntil(() => (a.term === undefined ? true : undefined), 5000, 'the term to end');
    assert.notEqual(a.leadership.state, 'leader');

    const single = new Primary({
      ...FAST_COMMIT,
      dataDir: tempDir(t),
      port: 0,
      bind: '127.0.0.1',
      token: TOKEN,
      tls: false,
      store: postgresStoreFactory(url),
    });
    await assert.rejects(single.start(), (err: Error) => {
      assert.equal((err as { code?: string }).code, 'ERR_CONFIG');
      assert.match(err.message, /belongs to an HA cluster.*ha\.etcd/);
      return true;
    });
  });
});

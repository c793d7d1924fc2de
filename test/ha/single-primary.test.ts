// Single primaries (no ha.etcd) on one PostgreSQL database, as real processes: the first holds the
// database for as long as it runs, as the data-dir lock does for SQLite; a second one started on
// it (another host, a forgotten old primary) is refused in one clear line (exit 1) and writes
// nothing (the first one's nodes stay online in the database); once the first stops, the next one
// starts. One fenced off its database while it runs stops rather than run on without a store.
// Skipped with a reason where PostgreSQL is missing (never under CI=true). Every wait is
// bounded.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import pg from 'pg';
import { postgresStoreFactory } from '../../src/store/postgres/open.js';
import { spawnChild } from '../helpers/child.js';
import { CLI, exitOf, freePort, nodesOnline, startPrimary, startSecondary, tempDir } from '../helpers/cluster.js';
import { startPostgres } from '../helpers/postgres.js';

/** The nodes' states as stored, by name. */
async function storedStates(t: TestContext, url: string): Promise<Record<string, string>> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', (err) => {
    void err; // the query under way fails with it
  });
  await client.connect();
  t.after(() => client.end().catch(() => undefined));
  const { rows } = await client.query<{ name: string; state: string }>('SELECT name, state FROM nodes');
  return Object.fromEntries(rows.map((r) => [r.name, r.state]));
}

describe('single primaries on one PostgreSQL database', () => {
  it('a second one is refused (exit 1, one line) and writes nothing while the first runs; it starts once the first stops', async (t) => {
    const server = await startPostgres(t);
    if (!server) return;
    const url = await server.createDatabase('single');
    const env = { PICLUSTER_STORE: url };
    const first = await startPrimary(t, { dataDir: tempDir(t), env });
    startSecondary(t, first, { dataDir: tempDir(t), name: 'pi-a' });
    await nodesOnline(first.api, ['pi-a']);
    assert.deepEqual(await storedStates(t, url), { 'pi-a': 'online' });

    const secondDir = tempDir(t);
    const args = ['primary', '--bind', '127.0.0.1', '--port', String(await freePort())];
    args.push('--web-port', String(await freePort()), '--data-dir', secondDir);
    const second = spawnChild(t, CLI, args, env);
    assert.equal(await exitOf(second, 20_000), 1);
    const said = second.stderr.join('');
    assert.match(
      said,
      /another primary is using the PostgreSQL database at postgres:\/\/\*\*\*@127\.0\.0\.1:\d+\/single \(its connection \d+ from 127\.0\.0\.1, since [^)]+\): stop it, or run the primaries in HA mode \(ha\.etcd\) for standbys/,
    );
    // Nothing of it reached the database: the first one's node was not marked lost.
    assert.deepEqual(await storedStates(t, url), { 'pi-a': 'online' });
    await nodesOnline(first.api, ['pi-a']);

    first.child.process.kill('SIGTERM');
    assert.equal(await exitOf(first.child, 15_000), 0);
    const next = await startPrimary(t, { dataDir: secondDir, env });
    assert.equal(next.child.alive, true);
    assert.deepEqual(await storedStates(t, url), { 'pi-a': 'lost' }, 'the next one marks the last run’s nodes lost');
  });

  it('one fenced off its database while it runs (an HA leader claimed it) stops, exit 1, saying why', async (t) => {
    const server = await startPostgres(t);
    if (!server) return;
    const url = await server.createDatabase('fenced');
    const primary = await startPrimary(t, { dataDir: tempDir(t), env: { PICLUSTER_STORE: url } });
    startSecondary(t, primary, { dataDir: tempDir(t), name: 'pi-a' });
    await nodesOnline(primary.api, ['pi-a']);
    const leader = await postgresStoreFactory(url)({ dataDir: tempDir(t) });
    t.after(() => leader.close());
    await leader.claimEpoch?.(5);
    // Its next write (the node's vitals, committed every 250 ms) is refused: it stops.
    assert.equal(await exitOf(primary.child, 20_000), 1);
    const said = primary.child.stderr.join('');
    assert.match(
      said,
      /this primary no longer holds its PostgreSQL database, so it stops \(a newer leader holds the store: epoch 5 is stored, this primary claimed 0/,
    );
    assert.match(said, /the primary stopped \(see above\); stopping/);
  });
});

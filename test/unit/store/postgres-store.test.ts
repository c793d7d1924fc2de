// The PostgreSQL store against a real server (one for the file, test/helpers/postgres.ts): the
// store contract (store-contract.ts) with a database per data dir, then what is PostgreSQL's own:
// fencing by the leader's epoch, a single primary's hold on its database, errors (closed, the
// server gone, a newer schema, the URL's password), migrations on reopen, and a batch of 5,000
// samples with resends.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { after, before, describe, it, type TestContext } from 'node:test';
import pg from 'pg';
import { silentLogger } from '../../../src/common/logger.js';
import type { StoreError } from '../../../src/protocol/errors.js';
import { isMissingPgDriver, openPostgresStore, postgresStoreFactory } from '../../../src/store/postgres/open.js';
import { maskUrl, storeErrorOf } from '../../../src/store/postgres/pg-errors.js';
import { LOCKS, SCHEMA_VERSION } from '../../../src/store/postgres/schema.js';
import { HOUR_MS, MINUTE_MS, type Store, type StoredSample, type StoreFactory } from '../../../src/store/store-api.js';
import { freePort, waitUntil } from '../../helpers/cluster.js';
import { findPostgres, type PostgresServer, startPostgres } from '../../helpers/postgres.js';
import { skipOrFail } from '../../helpers/require-tool.js';
import { sample, storeContract, stored, upsert } from './store-contract.js';

/** The key of a single primary's hold on its database (what another primary would take). */
const PRIMARY_LOCK = LOCKS.primary;
const isCode = (code: string) => (err: unknown) => (err as { code?: string }).code === code;

describe('PostgreSQL store errors, pure', () => {
  it('maps driver failures by how the caller reacts, the driver error as cause', () => {
    const where = 'postgres://u:***@h/db';
    const cases: Array<[object, string]> = [
      [{ code: '53100', message: 'could not extend file: No space left on device' }, 'ERR_STORE_FULL'],
      [{ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:5432' }, 'ERR_STORE_BUSY'],
      [{ code: '57P01', message: 'terminating connection due to administrator command' }, 'ERR_STORE_BUSY'],
      [{ code: '08006', message: 'connection failure' }, 'ERR_STORE_BUSY'],
      [{ message: 'Connection terminated unexpectedly' }, 'ERR_STORE_BUSY'],
      [{ errors: [{ code: 'ECONNREFUSED' }], message: '' }, 'ERR_STORE_BUSY'],
      [{ code: '23502', message: 'null value in column "name"' }, 'ERR_STORE'],
    ];
    for (const [fields, code] of cases) {
      const driverError = Object.assign(new Error(), fields);
      const err = storeErrorOf(driverError, where);
      assert.equal(err.code, code, JSON.stringify(fields));
      assert.equal(err.cause, driverError);
    }
  });

  it('masks the password of a URL or a key=value connection string', () => {
    assert.equal(maskUrl('postgres://ann:s3cret@db.lan:5432/pic'), 'postgres://ann:***@db.lan:5432/pic');
    assert.equal(maskUrl('postgres://db.lan/pic'), 'postgres://db.lan/pic');
    assert.equal(maskUrl("host=db.lan password='a b' user=ann"), 'host=db.lan password=*** user=ann');
    // Not WHATWG URLs, but the driver takes them: no part of the password may remain.
    assert.equal(
      maskUrl('postgres://ann:s3cret@/pic?host=/var/run/postgresql'),
      'postgres://***@/pic?host=/var/run/postgresql',
    );
    assert.equal(maskUrl('postgres://ann:s3c/r#et@db.lan/pic'), 'postgres://***@db.lan/pic');
    assert.equal(maskUrl('postgres://ann:12/34@db.lan/pic'), 'postgres://***@db.lan/pic');
  });

  it('tells a missing driver from other load failures', () => {
    const missing = Object.assign(new Error("Cannot find package 'pg' imported from /x/postgres-store.js"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    assert.equal(isMissingPgDriver(missing), true);
    const other = Object.assign(new Error("Cannot find module '/x/schema.js'"), { code: 'ERR_MODULE_NOT_FOUND' });
    assert.equal(isMissingPgDriver(other), false);
  });
});

const found = findPostgres();
if (typeof found === 'string') {
  it('PostgreSQL store: contract and its own tests', (t) => skipOrFail(t, found));
} else {
  let server: PostgresServer;
  before(async () => {
    server = await startPostgres();
  });
  after(() => server?.stop());

  /** The database of a data dir: made at its first open, the same one on a reopen. */
  const databases = new Map<string, Promise<string>>();
  const databaseOf = (key: string): Promise<string> => {
    const name = `c_${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
    let url = databases.get(name);
    if (url === undefined) {
      url = server.createDatabase(name);
      databases.set(name, url);
    }
    return url;
  };
  const factory: StoreFactory = async (options) =>
    openPostgresStore({ ...options, url: await databaseOf(options.dataDir) });

  storeContract('postgres', factory);

  /** A store on a fresh database (the same one for each call of the returned opener), closed after the test. */
  function freshDatabase(t: TestContext) {
    const key = `${t.name}-${Math.random()}`;
    const opened: Store[] = [];
    t.after(async () => {
      for (const s of opened) await s.close();
    });
    return {
      url: () => databaseOf(key),
      open: async () => {
        const store = await postgresStoreFactory(await databaseOf(key))({ dataDir: tmpdir() });
        opened.push(store);
        return store;
      },
    };
  }

  /** A plain client on `url`, ended after the test. */
  async function rawClient(t: TestContext, url: string): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: url });
    client.on('error', (err) => {
      void err; // the query under way fails with it
    });
    await client.connect();
    t.after(() => client.end());
    return client;
  }

  /** The session holding a single primary's lock on the database (see primary-lock.ts), if any. */
  async function primaryLockHolder(client: pg.Client): Promise<number | undefined> {
    const { rows } = await client.query(
      `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 AND objid = ${PRIMARY_LOCK} AND objsubid = 1 AND granted`,
    );
    return rows[0]?.pid as number | undefined;
  }

  describe('PostgresStore', () => {
    it('fences writes by the leader epoch: a newer claim fails every write of the old leader, whole', async (t) => {
      const db = freshDatabase(t);
      const a = await db.open();
      const b = await db.open();
      assert.ok(a.claimEpoch && b.claimEpoch);
      await a.claimEpoch(5);
      await a.applyNodeChanges([
        { op: 'upsert', node: upsert('n1') },
        { op: 'event', ts: 1, nodeId: 'n1', type: 'by-a' },
      ]);
      await a.insertVitals([stored('n1', 1000, sample(1, 1000))]);

      await b.claimEpoch(7);
      const fenced = isCode('ERR_STORE_FENCED');
      await assert.rejects(
        a.applyNodeChanges([
          { op: 'event', ts: 2, nodeId: 'n1', type: 'late' },
          { op: 'state', id: 'n1', state: 'lost', at: 2, connectedSince: null, lastSeq: 1 },
        ]),
        fenced,
      );
      await assert.rejects(a.insertVitals([stored('n1', 2000, sample(2, 2000))]), fenced);
      await assert.rejects(a.rollupStep(Date.now()), fenced);
      await assert.rejects(a.pruneChunk(Date.now()), fenced);
      await assert.rejects(a.catchUpNodes(Date.now()), fenced);
      await assert.rejects(a.markOnlineNodesLost(), fenced);
      // Nothing of those writes is there; reads still work for the old leader.
      assert.deepEqual(
        (await b.events()).map((e) => e.type),
        ['by-a'],
      );
      assert.deepEqual(await b.storedSeqs('n1'), [1]);
      assert.equal((await a.getNode('n1'))?.state, 'online');
      // A lower epoch than the stored one is refused; the same one again is fine.
      await assert.rejects(a.claimEpoch(6), fenced);
      await b.claimEpoch(7);
      await b.applyNodeChanges([{ op: 'event', ts: 3, nodeId: 'n1', type: 'by-b' }]);
      // A store that never claimed an epoch (one primary, no HA) is not fenced.
      const single = await db.open();
      await single.applyNodeChanges([{ op: 'event', ts: 4, nodeId: null, type: 'unfenced' }]);
    });

    it('a write under way when a newer leader claims commits before the claim returns; one that starts during the claim fails', async (t) => {
      const db = freshDatabase(t);
      const a = await db.open();
      const b = await db.open();
      assert.ok(a.claimEpoch && b.claimEpoch);
      await a.claimEpoch(1);
      await a.applyNodeChanges([{ op: 'upsert', node: upsert('n1') }]);
      const raw = await rawClient(t, await db.url());
      const watcher = await rawClient(t, await db.url());
      const waiting = async (pattern: string) => {
        const { rows } = await watcher.query(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1",
          [pattern],
        );
        return rows[0].n > 0;
      };
      // Hold n1's row: A's write passes its epoch check, then waits on the row, mid-transaction.
      await raw.query('BEGIN');
      await raw.query("SELECT * FROM nodes WHERE id = 'n1' FOR UPDATE");
      const first = a.applyNodeChanges([
        { op: 'event', ts: 1, nodeId: 'n1', type: 'first' },
        { op: 'state', id: 'n1', state: 'lost', at: 5, connectedSince: null, lastSeq: 0 },
      ]);
      await waitUntil(() => waiting('UPDATE nodes SET state%'), 5000, "A's write waiting on the row");
      // B's claim waits for A's write to end...
      const claim = b.claimEpoch(2).then(async () => {
        // ...so when it returns, A's write has committed (or failed): never after this point.
        const { rows } = await watcher.query("SELECT count(*)::int AS n FROM events WHERE type = 'first'");
        return rows[0].n as number;
      });
      await waitUntil(() => waiting('%LOCK TABLE leader_epoch%'), 5000, "B's claim waiting");
      // ...and a write of A that starts now queues behind the claim, then finds the new epoch.
      // Settled at once into an outcome: it fails before the test gets to await it.
      const second = a.applyNodeChanges([{ op: 'event', ts: 2, nodeId: 'n1', type: 'second' }]).then(
        () => 'committed',
        (err: StoreError) => err.code,
      );
      await waitUntil(() => waiting('%FOR SHARE%'), 5000, "A's second write queued behind the claim");
      await raw.query('ROLLBACK');
      // Committed before the claim returned, or (when the claim waited past CLAIM_WAIT_MS on a busy
      // machine and ended A's session) failed: never committed after it.
      const firstOutcome = await first.then(
        () => 'committed',
        (err: StoreError) => err.code,
      );
      const seen = await claim;
      assert.equal(seen, firstOutcome === 'committed' ? 1 : 0, `A's first write: ${firstOutcome}, seen ${seen}`);
      assert.notEqual(await second, 'committed', "A's write begun during the claim");
      assert.deepEqual(
        (await b.events()).map((e) => e.type),
        firstOutcome === 'committed' ? ['first'] : [],
      );
      if (firstOutcome === 'committed') assert.equal((await b.getNode('n1'))?.state, 'lost');
    });

    it('a claim ends the sessions of an older leader whose transaction stays open (a paused primary), within seconds', async (t) => {
      const db = freshDatabase(t);
      const a = await db.open();
      const b = await db.open();
      await a.claimEpoch?.(1);
      // A's primary, paused mid-write: its transaction holds the epoch row and never ends by itself.
      const paused = await rawClient(t, await db.url());
      await paused.query('BEGIN');
      await paused.query('SELECT epoch FROM leader_epoch WHERE id = 1 FOR SHARE');
      const started = performance.now();
      await b.claimEpoch?.(2);
      const tookMs = performance.now() - started;
      assert.ok(tookMs < 5000, `the claim took ${tookMs} ms`);
      // That session is gone: its write can never commit.
      await assert.rejects(paused.query("INSERT INTO events (ts, node_id, type, data) VALUES (1, NULL, 'late', '{}')"));
      await assert.rejects(
        a.applyNodeChanges([{ op: 'event', ts: 3, nodeId: null, type: 'late' }]),
        isCode('ERR_STORE_FENCED'),
      );
      assert.deepEqual(await b.events(), []);
    });

    it('one single primary (epoch 0) at a time: a second is refused while the first holds the database, and claims it once the first is closed', async (t) => {
      const db = freshDatabase(t);
      const a = await db.open();
      const b = await db.open();
      assert.ok(a.claimEpoch && b.claimEpoch);
      await a.claimEpoch(0);
      await a.applyNodeChanges([{ op: 'upsert', node: upsert('n1') }]);
      await assert.rejects(b.claimEpoch(0), (err: StoreError) => {
        assert.equal(err.code, 'ERR_STORE_BUSY');
        assert.match(
          err.message,
          /^another primary is using the PostgreSQL database at postgres:\/\/\*\*\*@127\.0\.0\.1:\d+\/c_[0-9a-f]+ \(its connection \d+ from 127\.0\.0\.1, since .+\): stop it, or run the primaries in HA mode \(ha\.etcd\) for standbys/,
        );
        return true;
      });
      // The first one's data and writes are untouched.
      await a.applyNodeChanges([{ op: 'event', ts: 1, nodeId: 'n1', type: 'by-a' }]);
      assert.equal((await a.getNode('n1'))?.state, 'online');
      await a.close();
      // Its connection gone, the hold is gone with it: the next primary claims the database.
      await b.claimEpoch(0);
      assert.equal(await b.markOnlineNodesLost(), 1);
      assert.deepEqual(
        (await b.events()).map((e) => e.type),
        ['by-a'],
      );
    });

    it("a single primary whose hold's connection ends waits (ERR_STORE_BUSY), then holds the database again and writes", async (t) => {
      const db = freshDatabase(t);
      const a = await db.open();
      await a.claimEpoch?.(0);
      const raw = await rawClient(t, await db.url());
      const holder = await primaryLockHolder(raw);
      assert.ok(holder !== undefined, 'the hold is a session lock');
      await raw.query('SELECT pg_terminate_backend($1)', [holder]);
      await waitUntil(
        () =>
          raw
            .query('SELECT pid FROM pg_stat_activity WHERE pid = $1', [holder])
            .then((r) => r.rowCount === 0 || undefined),
        5000,
        'the connection holding the database gone',
      );
      // Every write either waits for the hold (ERR_STORE_BUSY) or commits once it is back.
      await waitUntil(
        () =>
          a.applyNodeChanges([{ op: 'event', ts: 1, nodeId: null, type: 'after' }]).then(
            () => true,
            (err: StoreError) => {
              assert.equal(err.code, 'ERR_STORE_BUSY');
              return undefined;
            },
          ),
        10_000,
        'a write once the hold is back',
      );
      const again = await primaryLockHolder(raw);
      assert.ok(again !== undefined && again !== holder, `held by ${again}, was ${holder}`);
      assert.deepEqual(
        (await a.events()).map((e) => e.type),
        ['after'],
      );
    });

    it('a single primary whose hold broke on its side only ends its own stale session and holds the database again', async (t) => {
      const url = new URL(await freshDatabase(t).url());
      // A TCP relay to the server that can drop the primary's side of one link and keep the
      // server's: the server still lists that session (and its lock), as after a break it missed.
      const links: Array<{ near: net.Socket; far: net.Socket }> = [];
      const relay = net.createServer((near) => {
        const far = net.connect(Number(url.port), url.hostname);
        near.pipe(far).pipe(near);
        near.on('error', () => far.destroy());
        far.on('error', () => near.destroy());
        links.push({ near, far });
      });
      await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
      t.after(() => {
        for (const link of links) {
          link.near.destroy();
          link.far.destroy();
        }
        relay.close();
      });
      const warnings: string[] = [];
      const logger = { ...silentLogger, warn: (_fields: object, message: string) => warnings.push(message) };
      const viaRelay = new URL(url);
      viaRelay.port = String((relay.address() as net.AddressInfo).port);
      const a = await openPostgresStore({ dataDir: tmpdir(), url: viaRelay.toString(), logger });
      t.after(() => a.close());
      await a.claimEpoch?.(0);
      const raw = await rawClient(t, url.toString());
      const holder = await primaryLockHolder(raw);
      const { rows } = await raw.query('SELECT client_port FROM pg_stat_activity WHERE pid = $1', [holder]);
      const link = links.find((l) => l.far.localPort === rows[0].client_port);
      assert.ok(link, 'the link of the hold');
      link.near.unpipe();
      link.far.unpipe();
      link.near.destroy();
      const lost = "the connection that holds this primary's claim";
      await waitUntil(() => warnings.some((w) => w.includes(lost)) || undefined, 5000, 'the break noticed');
      await waitUntil(
        () =>
          a.applyNodeChanges([{ op: 'event', ts: 1, nodeId: null, type: 'after' }]).then(
            () => true,
            () => undefined,
          ),
        10_000,
        'a write once the hold is back',
      );
      const again = await primaryLockHolder(raw);
      assert.ok(again !== undefined && again !== holder, `held by ${again}, was ${holder}`);
      const old = await raw.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [holder]);
      assert.equal(old.rowCount, 0, 'the stale session was ended');
      assert.deepEqual(
        (await a.events()).map((e) => e.type),
        ['after'],
      );
    });

    it('a single primary whose hold was taken by another meanwhile is fenced off for good, and lets go of the database', async (t) => {
      const db = freshDatabase(t);
      const a = await db.open();
      await a.claimEpoch?.(0);
      const raw = await rawClient(t, await db.url());
      const other = await rawClient(t, await db.url());
      const holder = await primaryLockHolder(raw);
      // Another primary waits for the hold; A's connection ends: the other has it at once.
      const taken = other.query(`SELECT pg_advisory_lock(${PRIMARY_LOCK})`);
      await waitUntil(
        () =>
          raw
            .query(
              "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%pg_advisory_lock%'",
            )
            .then((r) => r.rows[0].n > 0 || undefined),
        5000,
        'the other primary waiting for the hold',
      );
      await raw.query('SELECT pg_terminate_backend($1)', [holder]);
      await taken;
      // From now on, nothing of A's commits.
      await assert.rejects(a.applyNodeChanges([{ op: 'event', ts: 1, nodeId: null, type: 'late' }]));
      // The other one claims (a new row version) and goes.
      await other.query('UPDATE leader_epoch SET epoch = 0 WHERE id = 1');
      await other.query(`SELECT pg_advisory_unlock(${PRIMARY_LOCK})`);
      await waitUntil(
        () =>
          a.applyNodeChanges([{ op: 'event', ts: 2, nodeId: null, type: 'late' }]).then(
            () => assert.fail('a write of a primary whose hold was taken committed'),
            (err: StoreError) => (err.code === 'ERR_STORE_FENCED' ? err : undefined),
          ),
        10_000,
        'A fenced off',
      );
      await assert.rejects(a.markOnlineNodesLost(), isCode('ERR_STORE_FENCED'));
      assert.deepEqual(await a.events(), []);
      // A holds nothing: a new primary claims the database.
      const c = await db.open();
      await c.claimEpoch?.(0);
      assert.ok((await primaryLockHolder(raw)) !== undefined);
    });

    it('stores 5,000 samples in one insertVitals, a resent half once, and skips seqs the node row records', async (t) => {
      const store = await freshDatabase(t).open();
      const ids = Array.from({ length: 50 }, (_, i) => `n${i}`);
      await store.applyNodeChanges(ids.map((id) => ({ op: 'upsert', node: upsert(id) })));
      const base = Date.UTC(2026, 0, 1);
      const batch = (from: number, to: number): StoredSample[] =>
        ids.flatMap((id) =>
          Array.from({ length: to - from + 1 }, (_, i) =>
            stored(id, base + (from + i) * 10_000, sample(from + i, base + (from + i) * 10_000)),
          ),
        );
      let started = performance.now();
      const first = await store.insertVitals(batch(1, 100));
      const firstMs = performance.now() - started;
      assert.deepEqual(new Set(first.values()), new Set([100]));
      started = performance.now();
      // Half of it resent (seqs 51-100), half new (101-150), and one sample twice in the batch.
      const second = await store.insertVitals([...batch(51, 150), stored('n0', base, sample(150, base))]);
      const secondMs = performance.now() - started;
      console.log(`# 5,000 samples: ${Math.round(firstMs)} ms; 5,000 with 2,500 resent: ${Math.round(secondMs)} ms`);
      assert.equal(second.size, 50);
      assert.deepEqual(new Set(second.values()), new Set([150]));
      const all = Array.from({ length: 150 }, (_, i) => i + 1);
      for (const id of ['n0', 'n17', 'n49']) assert.deepEqual(await store.storedSeqs(id), all);
      assert.equal((await store.latestVitals('n0'))?.ts, base + 150 * 10_000, 'the first of seq 150 is kept');
      // The node row's last seq outlives pruned samples: at or below it, a sample is a resend.
      await store.applyNodeChanges([
        { op: 'upsert', node: upsert('p') },
        { op: 'state', id: 'p', state: 'online', at: 1, connectedSince: 1, lastSeq: 10 },
      ]);
      assert.deepEqual([...(await store.insertVitals([stored('p', base, sample(10, base))]))], [['p', 10]]);
      assert.deepEqual(await store.storedSeqs('p'), []);
    });

    it('charts subnormal vitals (a mean that underflows is 0, as in JavaScript, not a failed query)', async (t) => {
      const store = await freshDatabase(t).open();
      const minute = Date.UTC(2026, 0, 1);
      await store.insertVitals(
        [5e-324, 0].map((cpu, i) => stored('n1', minute, sample(i + 1, minute, { cpuPercent: cpu }))),
      );
      const cpu = async (now: number) =>
        (await store.vitalsSeries('n1', minute, minute + MINUTE_MS, MINUTE_MS, now)).points.map((p) => [
          p.n,
          p.cpuPercent,
          p.min.cpuPercent,
          p.max.cpuPercent,
        ]);
      assert.deepEqual(await cpu(minute), [[2, 0, 0, 5e-324]], 'raw');
      while (await store.rollupStep(minute + HOUR_MS * 2)) {}
      assert.deepEqual(await cpu(minute + 2 * 24 * HOUR_MS), [[2, 0, 0, 5e-324]], 'per minute');
    });

    it('migrates once: a reopen finds the schema current and the data kept', async (t) => {
      const db = freshDatabase(t);
      const first = await db.open();
      await first.applyNodeChanges([{ op: 'upsert', node: upsert('n1', { name: 'kept' }) }]);
      await first.close();
      await (await db.open()).close();
      const again = await db.open();
      assert.equal((await again.getNode('n1'))?.name, 'kept');
      assert.equal(await again.integrityCheck(), 'ok');
      const raw = await rawClient(t, await db.url());
      const { rows } = await raw.query('SELECT version FROM picluster_schema ORDER BY version');
      assert.deepEqual(
        rows.map((r) => r.version),
        Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
      );
    });

    it('refuses a database of a newer schema with ERR_STORE_SCHEMA', async (t) => {
      const db = freshDatabase(t);
      await (await db.open()).close();
      const raw = await rawClient(t, await db.url());
      await raw.query("INSERT INTO picluster_schema (version, description) VALUES (999, 'from the future')");
      await assert.rejects(db.open(), (err: StoreError) => {
        assert.equal(err.code, 'ERR_STORE_SCHEMA');
        assert.match(err.message, /schema version 999, newer than this picluster understands \(1\)/);
        return true;
      });
    });

    it('refuses every call after close with ERR_STORE_CLOSED, and closes twice', async (t) => {
      const store = await freshDatabase(t).open();
      await store.close();
      await store.close();
      const closed = isCode('ERR_STORE_CLOSED');
      await assert.rejects(store.loadNodes(), closed);
      await assert.rejects(store.applyNodeChanges([{ op: 'upsert', node: upsert('n1') }]), closed);
      await assert.rejects(store.rollupStep(), closed);
      assert.ok(store.claimEpoch);
      await assert.rejects(store.claimEpoch(1), closed);
    });

    it('fails with ERR_STORE_BUSY while the server is gone, without crashing, and works again once it is back', async (t) => {
      const own = await startPostgres(t);
      if (!own) return;
      const url = await own.createDatabase('gone');
      const warnings: string[] = [];
      const logger = {
        debug: () => {},
        info: () => {},
        warn: (_fields: object, message: string) => warnings.push(message),
        error: () => {},
      };
      const store = await openPostgresStore({ dataDir: tmpdir(), url, logger });
      t.after(() => store.close());
      await store.applyNodeChanges([{ op: 'upsert', node: upsert('n1') }]);
      // A connection killed under a write (it waits on a row a plain client holds): that write
      // fails, the connection is dropped, the next call gets a new one.
      const holder = await rawClient(t, url);
      await holder.query('BEGIN');
      await holder.query("SELECT * FROM nodes WHERE id = 'n1' FOR UPDATE");
      const underWay = store
        .applyNodeChanges([{ op: 'state', id: 'n1', state: 'lost', at: 1, connectedSince: null, lastSeq: 0 }])
        .then(
          () => 'committed',
          (err: StoreError) => `${err.code} ${err.cause ? 'with cause' : 'no cause'}`,
        );
      const killWaiting = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE wait_event_type = 'Lock'";
      await waitUntil(() => holder.query(killWaiting).then((r) => r.rowCount), 5000, 'the write waiting');
      assert.equal(await underWay, 'ERR_STORE_BUSY with cause');
      await holder.query('ROLLBACK');
      assert.equal((await store.getNode('n1'))?.state, 'online', 'the write failed whole');
      // Two connections idle in the pool when the server goes (fast shutdown: 57P01 to each).
      await Promise.all([store.lastEventId(), store.lastEventId()]);
      await own.halt();
      await waitUntil(() => warnings.some((w) => w.includes('idle connection')), 5000, 'the idle connection error');
      const busy = (err: unknown) => {
        assert.equal((err as StoreError).code, 'ERR_STORE_BUSY');
        assert.ok((err as StoreError).cause, 'the driver error as cause');
        return true;
      };
      await assert.rejects(store.lastEventId(), busy);
      await assert.rejects(store.insertVitals([stored('n1', 1000, sample(1, 1000))]), busy);
      await assert.rejects(openPostgresStore({ dataDir: tmpdir(), url }), busy);
      await own.start();
      await store.insertVitals([stored('n1', 1000, sample(1, 1000))]);
      assert.deepEqual(await store.storedSeqs('n1'), [1]);
    });

    it("never puts the URL's password in an error", async () => {
      const url = `postgres://picluster:s3cret-pw@127.0.0.1:${await freePort()}/nowhere`;
      await assert.rejects(openPostgresStore({ dataDir: tmpdir(), url }), (err: StoreError) => {
        assert.equal(err.code, 'ERR_STORE_BUSY');
        assert.doesNotMatch(err.message, /s3cret-pw/);
        assert.match(err.message, /picluster:\*\*\*@127\.0\.0\.1/);
        return true;
      });
    });
  });
}

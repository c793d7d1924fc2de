// openPrimaryStore: the store a primary runs on, claimed for its epoch before anything uses it. A
// single primary on an HA cluster's store, or an HA leader on a store that cannot be claimed, is
// refused with a ConfigError, and the store it opened is closed again; else the last run's online
// nodes come back lost. A single primary's shared store that fences it off later stops it.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { silentLogger } from '../../../src/common/logger.js';
import { openPrimaryStore } from '../../../src/primary/primary-store.js';
import { ConfigError, StoreError } from '../../../src/protocol/errors.js';
import { openSqliteStore } from '../../../src/store/sqlite/open.js';
import type { Store, StoreFactory } from '../../../src/store/store-api.js';
import { tempDir } from '../../helpers/cluster.js';

/** A real SQLite store whose claim does what `claim` says, and whose node writes fail with `writeError`; counts its closes. */
function factory(claim: ((epoch: number) => Promise<void>) | undefined, writeError?: Error) {
  const seen = { closes: 0, claims: [] as number[] };
  const open: StoreFactory = async (options) => {
    const store = await openSqliteStore(options);
    const close = store.close.bind(store);
    return new Proxy(store, {
      get(target, key, receiver) {
        if (key === 'claimEpoch' && claim) {
          return (epoch: number) => {
            seen.claims.push(epoch);
            return claim(epoch);
          };
        }
        if (key === 'claimEpoch') return undefined;
        if (key === 'applyNodeChanges' && writeError) return () => Promise.reject(writeError);
        if (key === 'close') {
          return () => {
            seen.closes++;
            return close();
          };
        }
        const value = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as Store;
  };
  return { open, seen };
}

const leader = { epoch: 7, mayAct: () => true, leaderAddress: () => undefined };

describe('openPrimaryStore', () => {
  it('a single primary on an HA cluster’s store is refused with a ConfigError, and the store is closed', async (t: TestContext) => {
    const fenced = new StoreError('ERR_STORE_FENCED', 'epoch 7 holds this store');
    const { open, seen } = factory(() => Promise.reject(fenced));
    await assert.rejects(openPrimaryStore({ store: open }, tempDir(t), silentLogger), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /belongs to an HA cluster .*ha\.etcd/);
      return true;
    });
    assert.deepEqual(seen, { closes: 1, claims: [0] });
  });

  it('an HA leader: a store without claims is refused, a fenced claim is thrown as it is; closed either way', async (t: TestContext) => {
    const none = factory(undefined);
    await assert.rejects(openPrimaryStore({ store: none.open, leader }, tempDir(t), silentLogger), ConfigError);
    assert.equal(none.seen.closes, 1);
    const fenced = new StoreError('ERR_STORE_FENCED', 'epoch 9 holds this store');
    const newer = factory(() => Promise.reject(fenced));
    await assert.rejects(
      openPrimaryStore({ store: newer.open, leader }, tempDir(t), silentLogger),
      (err) => err === fenced,
    );
    assert.deepEqual(newer.seen, { closes: 1, claims: [7] });
  });

  it('claims the leader’s epoch and returns the store open, nodes loaded', async (t: TestContext) => {
    const { open, seen } = factory(() => Promise.resolve());
    const { store, nodes } = await openPrimaryStore({ store: open, leader }, tempDir(t), silentLogger);
    t.after(() => store.close());
    assert.deepEqual(nodes, []);
    assert.deepEqual(seen, { closes: 0, claims: [7] });
  });

  it('a single primary on a shared store is stopped by the first call fenced off, once; an HA leader’s store is not watched', async (t: TestContext) => {
    const fenced = new StoreError('ERR_STORE_FENCED', 'epoch 5 holds this store');
    const write = [{ op: 'event' as const, ts: 1, nodeId: null, type: 'x' }];
    const single = factory(() => Promise.resolve(), fenced);
    let stops = 0;
    const opened = await openPrimaryStore({ store: single.open }, tempDir(t), silentLogger, () => stops++);
    t.after(() => opened.store.close());
    await assert.rejects(opened.store.applyNodeChanges(write), (err) => err === fenced);
    await assert.rejects(opened.store.applyNodeChanges(write), (err) => err === fenced);
    assert.equal(stops, 1);
    const ha = factory(() => Promise.resolve(), fenced);
    const term = await openPrimaryStore({ store: ha.open, leader }, tempDir(t), silentLogger, () => stops++);
    t.after(() => term.store.close());
    await assert.rejects(term.store.applyNodeChanges(write), (err) => err === fenced);
    assert.equal(stops, 1, 'an HA term ends by its own watch (ha-primary.ts)');
  });
});

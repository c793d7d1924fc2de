// Node rows and events in batches: many changes are one transaction, a bad operation fails alone,
// and a database locked by another process fails the waiting ones at once, then (for the pause)
// new ones without touching SQLite, while posted changes are held and written once it is free.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { silentLogger } from '../../../src/common/logger.js';
import { NodeWriter, type NodeWriterOptions } from '../../../src/store/node-writer.js';
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.js';
import type { NodeChange } from '../../../src/store/store-api.js';
import { waitUntil } from '../../helpers/cluster.js';

/** A store, its writer (closed after the test; closing twice is harmless) and a second connection to lock it with. */
function setup(t: TestContext, options: Partial<NodeWriterOptions> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'picluster-nodes-'));
  const store = new SqliteStore(join(dir, 'primary.db'));
  const writer = new NodeWriter(store, { logger: silentLogger, busyPauseMs: 300, ...options });
  const locker = new Database(store.path);
  t.after(async () => {
    locker.close();
    await writer.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { store, writer, locker };
}

/** The join of node `id`, as a list of changes. */
const join1 = (id: string, name: string = id): NodeChange[] => [
  {
    op: 'upsert',
    node: { id, name, labels: {}, address: null, legacy: false, state: 'online', now: 1, connectedSince: 1 },
  },
];

it('2,000 joins and state changes are one transaction, in order', async (t) => {
  const { store, writer } = setup(t);
  const joined = Array.from({ length: 1000 }, (_, i) => writer.write(join1(`n${i}`)));
  for (let i = 0; i < 1000; i++)
    writer.post([{ op: 'state', id: `n${i}`, state: 'lost', at: 2, connectedSince: null, lastSeq: i }]);
  await Promise.all(joined);
  assert.equal(writer.stats.commits, 1);
  const n999 = await store.getNode('n999');
  assert.equal(n999?.state, 'lost', 'the later change wins');
  assert.equal(n999?.lastSeq, 999);
});

it('a failing operation fails alone; the others of its batch are stored', async (t) => {
  const { store, writer } = setup(t);
  const good = writer.write(join1('a'));
  // A node without a name: SQLite's NOT NULL refuses it.
  const bad = writer.write(join1('broken', null as unknown as string));
  writer.post(join1('b'));
  await good;
  await assert.rejects(bad, /NOT NULL/);
  assert.deepEqual([(await store.getNode('a'))?.id, (await store.getNode('b'))?.id], ['a', 'b']);
  assert.equal(writer.stats.failed, 1);
});

it('a locked database fails the waiters at once, then new ones without trying; posted changes are held and written in order once it is free', async (t) => {
  const { store, writer, locker } = setup(t);
  writer.post(join1('p'));
  locker.exec('BEGIN IMMEDIATE');
  const first = writer.write(join1('a'));
  await assert.rejects(first, /locked/);
  assert.equal(writer.held, 1, "the posted join of p, batched with a's, is held");
  const started = performance.now();
  await assert.rejects(writer.write(join1('b')), /locked/);
  writer.post(join1('c'));
  writer.post([{ op: 'state', id: 'p', state: 'lost', at: 2, connectedSince: null, lastSeq: 7 }]);
  assert.ok(performance.now() - started < 50, 'failed without waiting for the lock');
  assert.equal(writer.held, 3);
  // Still locked when the pause ends: tried again, held again, none lost.
  await waitUntil(() => writer.stats.locked === 2, 5000, 'a second try after the pause');
  assert.equal(writer.held, 3);
  locker.exec('ROLLBACK');
  await waitUntil(() => writer.held === 0, 5000, 'the held changes written');
  await writer.write(join1('d'));
  assert.deepEqual(
    await Promise.all(['p', 'a', 'b', 'c', 'd'].map(async (id) => (await store.getNode(id)) !== undefined)),
    [true, false, false, true, true],
  );
  const p = await store.getNode('p');
  assert.deepEqual([p?.state, p?.lastSeq], ['lost', 7], 'in the order posted');
  assert.equal(writer.stats.dropped, 0);
});

it('holds at most maxHeld posted changes while locked, dropping the oldest', async (t) => {
  const { store, writer, locker } = setup(t, { busyPauseMs: 100, maxHeld: 5 });
  locker.exec('BEGIN IMMEDIATE');
  await assert.rejects(writer.write(join1('x')), /locked/);
  for (let i = 0; i < 8; i++) writer.post(join1(`n${i}`));
  assert.deepEqual([writer.held, writer.stats.dropped], [5, 3]);
  locker.exec('ROLLBACK');
  await waitUntil(() => writer.held === 0, 5000, 'the held changes written');
  assert.deepEqual(
    await Promise.all([...Array(8).keys()].map(async (i) => (await store.getNode(`n${i}`)) !== undefined)),
    [false, false, false, true, true, true, true, true],
  );
});

it('close() while locked makes one last try, says what is lost, and leaves no timer behind', async (t) => {
  const logged: string[] = [];
  const logger = { ...silentLogger, error: (_fields: object, message: string) => logged.push(message) };
  const { store, writer, locker } = setup(t, { logger, busyPauseMs: 60_000 });
  locker.exec('BEGIN IMMEDIATE');
  await assert.rejects(writer.write(join1('x')), /locked/);
  writer.post(join1('held'));
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  await writer.close();
  assert.equal(timers(), before - 1, 'the resume timer is gone, and no new one');
  assert.equal(writer.held, 0);
  assert.deepEqual(logged, ['the store is still locked; node changes held for it are lost']);
  locker.exec('ROLLBACK');
  assert.equal(await store.getNode('held'), undefined);
});

it('an asynchronous store: changes posted while a batch is in flight and then locked are written in the order posted', async (t) => {
  // A store that answers after a delay, so a change can be posted while the batch before it is
  // still being written, and is locked for its first transaction.
  const applied: string[] = [];
  let busy = 1;
  const store = {
    applyNodeChanges: async (changes: readonly NodeChange[]) => {
      await new Promise((r) => setTimeout(r, 30));
      if (busy-- > 0) throw Object.assign(new Error('locked'), { code: 'ERR_STORE_BUSY' });
      for (const c of changes) if (c.op === 'upsert') applied.push(c.node.id);
    },
  } as unknown as SqliteStore;
  const writer = new NodeWriter(store, { logger: silentLogger, busyPauseMs: 100, flushMs: 1 });
  t.after(() => writer.close());
  writer.post(join1('a'));
  await new Promise((r) => setTimeout(r, 10)); // a's batch is being written
  writer.post(join1('b')); // queued behind it
  await waitUntil(() => writer.held > 0, 2000, "a's batch found the store locked");
  writer.post(join1('c')); // during the pause
  await waitUntil(() => applied.length === 3, 5000, 'every change written');
  assert.deepEqual(applied, ['a', 'b', 'c']);
});

it('flushMs 0: commits in the next turn of the event loop, the changes of one turn together, those made meanwhile right after', async (t) => {
  const { store, writer } = setup(t, { flushMs: 0 });
  const started = performance.now();
  const first = Promise.all(['a', 'b', 'c'].map((id) => writer.write(join1(id))));
  await first;
  assert.equal(writer.stats.commits, 1, 'one transaction for the three of one turn');
  assert.ok(performance.now() - started < 50, 'no batching delay');
  // Written while a transaction is under way: the next one, together.
  const second = writer.write(join1('d'));
  const third = writer.write(join1('e'));
  await Promise.all([second, third]);
  assert.equal(writer.stats.commits, 2);
  assert.deepEqual(
    (await store.loadNodes()).map((n) => n.id),
    ['a', 'b', 'c', 'd', 'e'],
  );
});

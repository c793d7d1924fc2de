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
import { Store } from '../../../src/store/store.js';
import { waitUntil } from '../../helpers/cluster.js';

/** A store, its writer (closed after the test; closing twice is harmless) and a second connection to lock it with. */
function setup(t: TestContext, options: Partial<NodeWriterOptions> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'picluster-nodes-'));
  const store = new Store(join(dir, 'primary.db'));
  const writer = new NodeWriter(store, { logger: silentLogger, busyPauseMs: 300, ...options });
  const locker = new Database(store.path);
  t.after(() => {
    locker.close();
    writer.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { store, writer, locker };
}

const node = (id: string) => ({
  ...{ id, name: id, labels: {}, address: null, legacy: false, state: 'online' as const },
  ...{ now: 1, connectedSince: 1 },
});

it('2,000 joins and state changes are one transaction, in order', async (t) => {
  const { store, writer } = setup(t);
  const joined = Array.from({ length: 1000 }, (_, i) => writer.write((s) => s.upsertNode(node(`n${i}`))));
  for (let i = 0; i < 1000; i++) writer.post((s) => s.setNodeState(`n${i}`, 'lost', 2, null, i));
  await Promise.all(joined);
  assert.equal(writer.stats.commits, 1);
  assert.equal(store.getNode('n999')?.state, 'lost', 'the later change wins');
  assert.equal(store.getNode('n999')?.lastSeq, 999);
});

it('a failing operation fails alone; the others of its batch are stored', async (t) => {
  const { store, writer } = setup(t);
  const good = writer.write((s) => s.upsertNode(node('a')));
  const bad = writer.write(() => {
    throw new Error('this one is broken');
  });
  writer.post((s) => s.upsertNode(node('b')));
  await good;
  await assert.rejects(bad, /this one is broken/);
  assert.deepEqual([store.getNode('a')?.id, store.getNode('b')?.id], ['a', 'b']);
  assert.equal(writer.stats.failed, 1);
});

it('a locked database fails the waiters at once, then new ones without trying; posted changes are held and written in order once it is free', async (t) => {
  const { store, writer, locker } = setup(t);
  writer.post((s) => s.upsertNode(node('p')));
  locker.exec('BEGIN IMMEDIATE');
  const first = writer.write((s) => s.upsertNode(node('a')));
  await assert.rejects(first, /locked/);
  assert.equal(writer.held, 1, "the posted join of p, batched with a's, is held");
  const started = performance.now();
  await assert.rejects(
    writer.write((s) => s.upsertNode(node('b'))),
    /locked/,
  );
  writer.post((s) => s.upsertNode(node('c')));
  writer.post((s) => s.setNodeState('p', 'lost', 2, null, 7));
  assert.ok(performance.now() - started < 50, 'failed without waiting for the lock');
  assert.equal(writer.held, 3);
  // Still locked when the pause ends: tried again, held again, none lost.
  await waitUntil(() => writer.stats.locked === 2, 5000, 'a second try after the pause');
  assert.equal(writer.held, 3);
  locker.exec('ROLLBACK');
  await waitUntil(() => writer.held === 0, 5000, 'the held changes written');
  await writer.write((s) => s.upsertNode(node('d')));
  assert.deepEqual(
    ['p', 'a', 'b', 'c', 'd'].map((id) => store.getNode(id) !== undefined),
    [true, false, false, true, true],
  );
  assert.deepEqual([store.getNode('p')?.state, store.getNode('p')?.lastSeq], ['lost', 7], 'in the order posted');
  assert.equal(writer.stats.dropped, 0);
});

it('holds at most maxHeld posted changes while locked, dropping the oldest', async (t) => {
  const { store, writer, locker } = setup(t, { busyPauseMs: 100, maxHeld: 5 });
  locker.exec('BEGIN IMMEDIATE');
  await assert.rejects(
    writer.write((s) => s.upsertNode(node('x'))),
    /locked/,
  );
  for (let i = 0; i < 8; i++) writer.post((s) => s.upsertNode(node(`n${i}`)));
  assert.deepEqual([writer.held, writer.stats.dropped], [5, 3]);
  locker.exec('ROLLBACK');
  await waitUntil(() => writer.held === 0, 5000, 'the held changes written');
  assert.deepEqual(
    [...Array(8).keys()].map((i) => store.getNode(`n${i}`) !== undefined),
    [false, false, false, true, true, true, true, true],
  );
});

it('close() while locked makes one last try, says what is lost, and leaves no timer behind', async (t) => {
  const logged: string[] = [];
  const logger = { ...silentLogger, error: (_fields: object, message: string) => logged.push(message) };
  const { store, writer, locker } = setup(t, { logger, busyPauseMs: 60_000 });
  locker.exec('BEGIN IMMEDIATE');
  await assert.rejects(
    writer.write((s) => s.upsertNode(node('x'))),
    /locked/,
  );
  writer.post((s) => s.upsertNode(node('held')));
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  writer.close();
  assert.equal(timers(), before - 1, 'the resume timer is gone, and no new one');
  assert.equal(writer.held, 0);
  assert.deepEqual(logged, ['the database is still locked; node changes held for it are lost']);
  locker.exec('ROLLBACK');
  assert.equal(store.getNode('held'), undefined);
});

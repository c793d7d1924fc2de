// Node rows and events in batches: many changes are one transaction, a bad operation fails alone,
// and a database locked by another process fails the waiting ones at once, then (for the pause)
// new ones without touching SQLite.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { silentLogger } from '../../../src/protocol/logger.js';
import { NodeWriter } from '../../../src/store/node-writer.js';
import { Store } from '../../../src/store/store.js';

function setup(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'picluster-nodes-'));
  const store = new Store(join(dir, 'primary.db'));
  const writer = new NodeWriter(store, { logger: silentLogger, busyPauseMs: 300 });
  t.after(() => {
    writer.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { store, writer };
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

it('a locked database fails the batch at once, then new operations without trying, until the pause ends', async (t) => {
  const { store, writer } = setup(t);
  const locker = new Database(store.path);
  t.after(() => locker.close());
  locker.exec('BEGIN IMMEDIATE');
  const first = writer.write((s) => s.upsertNode(node('a')));
  await assert.rejects(first, /locked/);
  const started = performance.now();
  await assert.rejects(
    writer.write((s) => s.upsertNode(node('b'))),
    /locked/,
  );
  writer.post((s) => s.upsertNode(node('c')));
  assert.ok(performance.now() - started < 50, 'failed without waiting for the lock');
  assert.equal(writer.stats.dropped, 1);
  locker.exec('ROLLBACK');
  await new Promise((r) => setTimeout(r, 350));
  await writer.write((s) => s.upsertNode(node('d')));
  assert.deepEqual(
    ['a', 'b', 'c', 'd'].map((id) => store.getNode(id) !== undefined),
    [false, false, false, true],
  );
});

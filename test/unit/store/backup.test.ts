// An online backup of a database that is being written all the while ends (SQLite would restart a
// stepped copy at every write), is private from its first byte, and leaves nothing behind.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { backupDatabase } from '../../../src/store/sqlite/backup.js';
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.js';
import { sample, upsert } from './store-contract.js';

it('copies a database written every few milliseconds, privately, and leaves nothing behind', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'backup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new SqliteStore(join(dir, 'primary.db'));
  t.after(() => store.close());
  await store.applyNodeChanges([{ op: 'upsert', node: upsert('n1') }]);
  // A few thousand pages of history.
  for (let batch = 0; batch < 20; batch++) {
    const rows = Array.from({ length: 1000 }, (_, i) => ({
      nodeId: 'n1',
      vitals: { ...sample(batch * 1000 + i + 1, Date.now() - 1e6 + batch * 1000 + i), receivedAt: Date.now() },
    }));
    await store.insertVitals(rows);
  }
  let writes = 0;
  const writer = setInterval(() => {
    writes++;
    void store.applyNodeChanges([{ op: 'event', ts: Date.now(), nodeId: 'n1', type: 'test', data: { writes } }]);
  }, 2);
  t.after(() => clearInterval(writer));
  const file = join(dir, 'copy.db');
  const result = await backupDatabase(join(dir, 'primary.db'), file);
  for (const suffix of ['-wal', '-shm']) assert.equal(existsSync(`${file}.partial${suffix}`), false);
  clearInterval(writer);
  assert.equal(result.check, 'ok');
  assert.ok(result.pages > 100, `${result.pages} pages`);
  assert.ok(writes > 0);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(existsSync(`${file}.partial`), false);
  const copy = new SqliteStore(file);
  t.after(() => copy.close());
  assert.equal((await copy.latestVitals('n1'))?.seq, 20_000);
});

it('a primary that opens the database during a copy keeps its -wal and -shm (and what it wrote)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'backup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const source = join(dir, 'primary.db');
  const first = new SqliteStore(source);
  await first.applyNodeChanges([{ op: 'upsert', node: upsert('n1') }]);
  first.close(); // no primary runs: no -wal, no -shm
  assert.equal(existsSync(`${source}-wal`), false);
  let late: SqliteStore | undefined;
  t.after(() => late?.close());
  // Not exclusive (the caller could not take the data dir's lock): a primary may start meanwhile.
  await backupDatabase(source, join(dir, 'copy.db'), {
    onProgress: () => {
      late ??= new SqliteStore(source);
    },
  });
  assert.ok(late);
  await late.insertVitals([{ nodeId: 'n1', vitals: { ...sample(1, Date.now()), receivedAt: Date.now() } }]);
  assert.equal(existsSync(`${source}-wal`), true, "the late primary's log is still there");
  assert.equal((await late.latestVitals('n1'))?.seq, 1);
});

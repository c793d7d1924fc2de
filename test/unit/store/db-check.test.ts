// Start-up checks of primary.db: garbage, a truncated file, a damaged write-ahead log, a damaged
// page and another program's database are refused with a message that says what was found and
// how to recover, and the files' bytes are left exactly as they were; a log that ends in an
// unfinished transaction (a power cut) is accepted, reported, and everything committed before it
// is kept.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { silentLogger } from '../../../src/common/logger.js';
import { StoreError } from '../../../src/protocol/errors.js';
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.js';
import { tempDir } from '../../helpers/cluster.js';
import { sample, stored, upsert } from './store-contract.js';

const digest = (file: string) =>
  existsSync(file) ? createHash('sha256').update(readFileSync(file)).digest('hex') : '-';

/** The digests of a database and its write-ahead log. */
const digests = (path: string) => [digest(path), digest(`${path}-wal`)];

/** Opening `path` is refused with ERR_STORE_CORRUPT naming `found`; no byte of it changes, no file is added. */
function assertRefused(path: string, found: RegExp): void {
  const before = digests(path);
  const files = readdirSync(dirname(path)).sort();
  assert.throws(
    () => new SqliteStore(path),
    (err) => {
      assert.ok(err instanceof StoreError, String(err));
      assert.equal(err.code, 'ERR_STORE_CORRUPT');
      assert.match(err.message, found);
      assert.match(err.message, /leaves it untouched: move it aside .*\.recover/);
      return true;
    },
  );
  assert.deepEqual(digests(path), before, 'the files are unchanged');
  assert.deepEqual(readdirSync(dirname(path)).sort(), files, 'no file added or removed');
}

/** A database of 200 samples in 200 transactions, copied with its WAL while still open (as a crash leaves it). */
async function crashedCopy(t: TestContext): Promise<{ path: string; frames: number; pageSize: number }> {
  const dir = tempDir(t);
  const live = join(dir, 'live.db');
  const store = new SqliteStore(live);
  await store.applyNodeChanges([{ op: 'upsert', node: upsert('n1') }]);
  const raw = new Database(live);
  raw.pragma('wal_autocheckpoint = 0'); // keep every transaction in the log
  for (let seq = 1; seq <= 200; seq++) await store.insertVitals([stored('n1', seq, sample(seq, seq))]);
  const path = join(dir, 'crashed.db');
  copyFileSync(live, path);
  copyFileSync(`${live}-wal`, `${path}-wal`);
  raw.close();
  await store.close();
  const pageSize = new Database(path, { readonly: true }).pragma('page_size', { simple: true }) as number;
  const frames = (readFileSync(`${path}-wal`).length - 32) / (24 + pageSize);
  assert.ok(Number.isInteger(frames) && frames > 200, `${frames} frames in the log`);
  return { path, frames, pageSize };
}

describe('start-up checks of primary.db', () => {
  it('refuses a file of random bytes', (t) => {
    const path = join(tempDir(t), 'primary.db');
    writeFileSync(path, randomBytes(64 * 1024));
    assertRefused(path, /is not an SQLite database/);
  });

  it('refuses a database truncated to half', async (t) => {
    const path = join(tempDir(t), 'primary.db');
    const store = new SqliteStore(path);
    await store.applyNodeChanges([{ op: 'upsert', node: upsert('n1') }]);
    await store.insertVitals(Array.from({ length: 3000 }, (_, i) => stored('n1', i, sample(i + 1, i))));
    await store.close();
    truncateSync(path, Math.floor(readFileSync(path).length / 2 / 4096) * 4096);
    assertRefused(path, /shorter than its own header says .*truncated/);
  });

  it('refuses a database with a damaged page', async (t) => {
    const path = join(tempDir(t), 'primary.db');
    const store = new SqliteStore(path);
    await store.applyNodeChanges([{ op: 'upsert', node: upsert('n1') }]);
    await store.insertVitals(Array.from({ length: 3000 }, (_, i) => stored('n1', i, sample(i + 1, i))));
    await store.close();
    const bytes = readFileSync(path);
    // The middle of the file is a b-tree page of samples; its cells become garbage.
    const page = Math.floor(bytes.length / 4096 / 2) * 4096;
    randomBytes(2048).copy(bytes, page + 1024);
    writeFileSync(path, bytes);
    assertRefused(path, /fails SQLite's quick check/);
  });

  it("refuses another program's SQLite database", (t) => {
    const path = join(tempDir(t), 'primary.db');
    const other = new Database(path);
    other.exec('CREATE TABLE recipes (name TEXT)');
    other.close();
    assertRefused(path, /another program .*recipes/);
  });

  it('refuses a write-ahead log cut inside its header, or with a damaged header', async (t) => {
    const cut = await crashedCopy(t);
    truncateSync(`${cut.path}-wal`, 20);
    assertRefused(cut.path, /too short to hold its own header/);
    const damaged = await crashedCopy(t);
    const wal = readFileSync(`${damaged.path}-wal`);
    wal.writeUInt8(wal.readUInt8(18) ^ 0xff, 18); // a salt: the header's checksum no longer holds
    writeFileSync(`${damaged.path}-wal`, wal);
    assertRefused(damaged.path, /damaged header/);
  });

  it('accepts a log truncated in the middle of a transaction, says so, and keeps what was committed before', async (t) => {
    const { path, frames, pageSize } = await crashedCopy(t);
    // Half the frames and a part of the next: a write cut short.
    truncateSync(`${path}-wal`, 32 + Math.floor(frames / 2) * (24 + pageSize) + 100);
    const warnings: Array<{ bytes?: number }> = [];
    const store = new SqliteStore(path, { logger: { ...silentLogger, warn: (fields) => warnings.push(fields) } });
    t.after(() => store.close());
    assert.equal(warnings.length, 1);
    assert.ok((warnings[0]?.bytes ?? 0) >= 100, JSON.stringify(warnings));
    assert.equal(await store.integrityCheck(), 'ok');
    const seqs = await store.storedSeqs('n1');
    assert.ok(seqs.length > 50 && seqs.length < 200, `${seqs.length} samples kept`);
    assert.deepEqual(
      seqs,
      Array.from({ length: seqs.length }, (_, i) => i + 1),
      'a prefix of the transactions, none missing',
    );
  });

  it('opens a log left by a crash between transactions without a word', async (t) => {
    const { path } = await crashedCopy(t);
    const warnings: object[] = [];
    const store = new SqliteStore(path, { logger: { ...silentLogger, warn: (fields) => warnings.push(fields) } });
    t.after(() => store.close());
    assert.deepEqual(warnings, []);
    assert.equal((await store.storedSeqs('n1')).length, 200);
  });

  it('accepts a database cut short by a checkpoint killed half-way: its log still holds the pages', async (t) => {
    const { path, pageSize } = await crashedCopy(t);
    // What a checkpoint killed half-way leaves: the log's newest image of page 1 (its header
    // counting every page) and of the lower pages copied into the database, the highest not yet.
    const wal = readFileSync(`${path}-wal`);
    const newest = new Map<number, Buffer>();
    for (let offset = 32; offset + 24 + pageSize <= wal.length; offset += 24 + pageSize) {
      newest.set(wal.readUInt32BE(offset), wal.subarray(offset + 24, offset + 24 + pageSize));
    }
    const pages = Math.max(...newest.keys());
    const db = readFileSync(path);
    const copied = Buffer.alloc(Math.floor(pages / 2) * pageSize);
    db.copy(copied, 0, 0, Math.min(db.length, copied.length));
    for (const [pgno, image] of newest) if (pgno <= pages / 2) image.copy(copied, (pgno - 1) * pageSize);
    writeFileSync(path, copied);
    const header = copied.subarray(0, 100);
    assert.ok(header.readUInt32BE(28) * pageSize > copied.length, 'the header counts more pages than the file holds');
    const store = new SqliteStore(path, { logger: silentLogger });
    t.after(() => store.close());
    assert.equal(await store.integrityCheck(), 'ok');
    assert.equal((await store.storedSeqs('n1')).length, 200, 'every committed sample');
  });
});

// The data dir's lock: one process per dir, and a name no other local user can take first.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs, { mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { DataDirLock, LOCK_KEY_FILE, lockKeyOf } from '../../../src/node/data-dir-lock.js';
import { DataDirLockedError } from '../../../src/protocol/errors.js';

function dataDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'lock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return realpathSync(dir);
}

it('a second holder is refused, told who holds it; after release the dir is free again', async (t) => {
  const dir = dataDir(t);
  const first = await DataDirLock.acquire(dir, 'secondary');
  await assert.rejects(DataDirLock.acquire(dir, 'secondary'), (err: unknown) => {
    assert.ok(err instanceof DataDirLockedError);
    assert.equal(err.holder?.pid, process.pid);
    assert.match(err.message, /is in use by this process \(picluster secondary/);
    return true;
  });
  await first.release();
  await (await DataDirLock.acquire(dir, 'secondary')).release();
  assert.equal(statSync(join(dir, LOCK_KEY_FILE)).mode & 0o777, 0o600);
});

it("another user's process binding the name the dir's path alone gives does not block the daemon", async (t) => {
  const dir = dataDir(t);
  // What anyone could work out from a well-known path like /var/lib/picluster/secondary.
  const guessed = `\0picluster-data-dir-${createHash('sha256').update(dir).digest('hex').slice(0, 40)}`;
  const squatter = net.createServer((socket) => socket.end('{"pid":1,"role":"secondary"}\n'));
  await new Promise<void>((resolve) => squatter.listen({ path: guessed, exclusive: true }, resolve));
  t.after(() => squatter.close());
  const lock = await DataDirLock.acquire(dir, 'secondary');
  await lock.release();
});

it('two processes starting on a new dir at once agree on one key; an empty key file is replaced', async (t) => {
  const dir = dataDir(t);
  const results = await Promise.allSettled([DataDirLock.acquire(dir, 'a'), DataDirLock.acquire(dir, 'b')]);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  for (const r of results) if (r.status === 'fulfilled') await r.value.release();

  writeFileSync(join(dir, LOCK_KEY_FILE), '');
  const lock = await DataDirLock.acquire(dir, 'secondary');
  assert.match(readFileSync(join(dir, LOCK_KEY_FILE), 'utf8'), /^[0-9a-f]{32}\n$/);
  await assert.rejects(DataDirLock.acquire(dir, 'secondary'), DataDirLockedError);
  await lock.release();
});

it('a first start whose key is slow to reach the disk takes the key another one linked meanwhile', (t) => {
  // Found by review: B found no key, wrote its own; during its fsync A linked a key and locked by
  // it; B then renamed its key over A's, and the two ran on one dir under two names.
  const dir = dataDir(t);
  const fsync = fs.fsyncSync;
  let keyA: string | undefined;
  fs.fsyncSync = (fd: number) => {
    fsync(fd);
    if (keyA === undefined) {
      keyA = '';
      keyA = lockKeyOf(dir); // A's whole first start, inside B's fsync
    }
  };
  syncBuiltinESMExports();
  t.after(() => {
    fs.fsyncSync = fsync;
    syncBuiltinESMExports();
  });
  const keyB = lockKeyOf(dir);
  assert.ok(keyA);
  assert.equal(keyB, keyA);
  assert.equal(readFileSync(join(dir, LOCK_KEY_FILE), 'utf8').trim(), keyA);
});

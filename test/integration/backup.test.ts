// `picluster backup` of a live primary: the copy restores into a primary that starts with the same
// nodes and history; an existing file is never overwritten; a wrong data dir says so.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { copyFileSync, cpSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import type { NodeView } from '../../src/primary/registry.js';
import {
  apiJson,
  getNodes,
  nodesOnline,
  runCli,
  startPrimary,
  startSecondary,
  tempDir,
  waitUntil,
} from '../helpers/cluster.js';

it('backs up a live primary; the copy restores into a primary with the same nodes and history', async (t) => {
  const dir = tempDir(t);
  const primary = await startPrimary(t, { dataDir: join(dir, 'p') });
  const one = startSecondary(t, primary, { dataDir: join(dir, 'n1'), name: 'pi-one' });
  startSecondary(t, primary, { dataDir: join(dir, 'n2'), name: 'pi-two' });
  await nodesOnline(primary.api, ['pi-one', 'pi-two']);
  await waitUntil(async () => (await getNodes(primary.api)).every((n) => (n.vitals?.seq ?? 0) >= 5), 15_000, 'samples');
  const before = await getNodes(primary.api);

  const file = join(dir, 'backup.db');
  const backup = await runCli(['backup', file, '--data-dir', primary.dataDir]);
  assert.equal(backup.code, 0, backup.stderr);
  assert.match(backup.stdout, /primary\.db backed up to .*backup\.db \(\d+\.\d MiB, quick check ok\)/);
  assert.equal(statSync(file).mode & 0o777, 0o600, 'it holds the node secrets');
  assert.equal(existsSync(`${file}.partial`), false);

  const again = await runCli(['backup', file, '--data-dir', primary.dataDir]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /backup\.db exists: give a new file name/);
  const nowhere = await runCli(['backup', join(dir, 'x.db'), '--data-dir', join(dir, 'nothing')]);
  assert.equal(nowhere.code, 1);
  assert.match(nowhere.stderr, /no database at .*nothing\/primary\.db: is --data-dir the primary's data directory\?/);

  // Restored as the README says: the copy as primary.db, beside the token, primary-id and tls/.
  const restored = join(dir, 'restored');
  mkdirSync(restored, { mode: 0o700 });
  copyFileSync(file, join(restored, 'primary.db'));
  for (const name of ['token', 'primary-id']) copyFileSync(join(primary.dataDir, name), join(restored, name));
  cpSync(join(primary.dataDir, 'tls'), join(restored, 'tls'), { recursive: true });
  // A backup of a stopped primary's data dir leaves nothing behind there or beside the copy, and
  // lets go of the dir (the primary then starts on it).
  const cold = join(dir, 'cold.db');
  const coldBackup = await runCli(['backup', cold, '--data-dir', restored]);
  assert.equal(coldBackup.code, 0, coldBackup.stderr);
  for (const leftover of ['primary.db-wal', 'primary.db-shm'])
    assert.equal(existsSync(join(restored, leftover)), false);
  for (const leftover of ['.partial', '.partial-wal', '.partial-shm'])
    assert.equal(existsSync(`${cold}${leftover}`), false);
  const second = await startPrimary(t, { dataDir: restored });
  const after = await getNodes(second.api);
  const shape = (nodes: NodeView[]) => nodes.map((n) => [n.id, n.name, n.info?.hostname]).sort();
  assert.deepEqual(shape(after), shape(before));
  for (const node of before) {
    const series = await apiJson<{ points: unknown[] }>(second.api, 'GET', `/api/nodes/${node.id}/vitals`);
    assert.ok(series.points.length > 0, `history of ${node.name}`);
    const events = await apiJson<{ events: Array<{ type: string }> }>(second.api, 'GET', `/api/events?node=${node.id}`);
    assert.ok(
      events.events.some((e) => e.type === 'online' || e.type === 'joined'),
      `events of ${node.name}`,
    );
  }
  // The same identity: a node of the first primary joins the restored one with its own secret.
  one.kill('SIGTERM');
  await once(one.process, 'exit');
  startSecondary(t, second, { dataDir: join(dir, 'n1'), name: 'pi-one' });
  await nodesOnline(second.api, ['pi-one']);
});

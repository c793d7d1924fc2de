// A reboot as an expected disconnect, end to end: a real primary and an agent (test/fixtures/
// task-node.ts) whose executor "reboots" by ending its process and whose boot id the test sets.
// node.reboot goes running → going down → offline (the node shows `rebooting`, not lost) → back
// with a new boot id → succeeded; not back in time → failed ERR_NOT_BACK and the node lost.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { NodeView } from '../../src/protocol/node-view.js';
import type { TaskRow } from '../../src/store/store-api.js';
import { type Child, spawnChild } from '../helpers/child.js';
import {
  apiJson,
  fingerprintOf,
  getNodes,
  type PrimaryProcess,
  startPrimary,
  tempDir,
  waitUntil,
} from '../helpers/cluster.js';

const FIXTURE = new URL('../fixtures/task-node.ts', import.meta.url).pathname;
const FINAL = new Set(['succeeded', 'failed', 'timed_out', 'cancelled']);

function agent(t: TestContext, primary: PrimaryProcess, dataDir: string, name: string, bootId: string): Child {
  const args = [`127.0.0.1:${primary.port}`, dataDir, name, join(primary.dataDir, 'token')];
  const fingerprint = fingerprintOf(primary.dataDir);
  if (fingerprint) args.push(fingerprint);
  return spawnChild(t, FIXTURE, args, { FAKE_BOOT_ID: bootId, TASKS_ALLOW: 'node.reboot' });
}

const json = <T>(primary: PrimaryProcess, path: string, body?: unknown) =>
  apiJson<T>(primary.api, body === undefined ? 'GET' : 'POST', path, body);

const nodeNamed = async (primary: PrimaryProcess, name: string): Promise<NodeView | undefined> =>
  (await getNodes(primary.api)).find((n) => n.name === name);

async function setUp(t: TestContext, name: string) {
  const dir = tempDir(t);
  const primary = await startPrimary(t, { dataDir: join(dir, 'primary') });
  const dataDir = join(dir, name);
  const first = agent(t, primary, dataDir, name, 'boot-1');
  await first.waitFor((e) => e.event === 'online', 20_000, `${name} online`);
  await waitUntil(async () => (await nodeNamed(primary, name))?.info?.bootId === 'boot-1', 10_000, 'its info');
  return { primary, dataDir, first };
}

async function reboot(primary: PrimaryProcess, name: string, first: Child, timeoutMs: number): Promise<TaskRow> {
  const task = await json<TaskRow>(primary, '/api/tasks', { kind: 'node.reboot', on: name, timeoutMs });
  await first.waitFor((e) => e.event === 'going-down', 10_000, 'the reboot');
  await once(first.process, 'exit');
  // Down on purpose: the node is `rebooting`, never `lost`, and the task waits for it.
  await waitUntil(async () => (await nodeNamed(primary, name))?.state === 'rebooting', 10_000, 'rebooting');
  const waiting = await json<TaskRow>(primary, `/api/tasks/${task.id}`);
  assert.equal(waiting.state, 'running');
  assert.equal(waiting.phase, 'offline');
  assert.match(waiting.reason ?? '', /went down; waiting for it to come back/);
  assert.equal((waiting.result as { bootIdBefore?: string }).bootIdBefore, 'boot-1');
  return task;
}

async function finished(primary: PrimaryProcess, id: string, timeoutMs = 20_000): Promise<TaskRow> {
  return waitUntil(
    async () => {
      const row = await json<TaskRow>(primary, `/api/tasks/${id}`);
      return FINAL.has(row.state) ? row : undefined;
    },
    timeoutMs,
    `task ${id} final`,
  );
}

describe('node.reboot', () => {
  it('is tracked through going down and offline (node `rebooting`) to done when the node is back with a new boot id', async (t) => {
    const { primary, dataDir, first } = await setUp(t, 'pi-reboots');
    const task = await reboot(primary, 'pi-reboots', first, 30_000);
    agent(t, primary, dataDir, 'pi-reboots', 'boot-2');
    const done = await finished(primary, task.id);
    assert.equal(done.state, 'succeeded', JSON.stringify(done));
    assert.equal(done.reason, 'back with a new boot id');
    const result = done.result as Record<string, unknown>;
    assert.equal(result.goingDown, true);
    assert.equal(result.bootIdBefore, 'boot-1');
    assert.equal(result.bootIdAfter, 'boot-2');
    assert.ok((result.wentDownAt as number) <= (result.backAt as number));
    assert.equal((await nodeNamed(primary, 'pi-reboots'))?.state, 'online');
    // The node's journal answered the reboot's key once back: it did not reboot twice.
    assert.equal(done.attempt, 1);
  });

  it('fails with ERR_NOT_BACK when the node does not come back in time, and the node is lost then', async (t) => {
    const { primary, first } = await setUp(t, 'pi-gone');
    const task = await reboot(primary, 'pi-gone', first, 3_000);
    const failed = await finished(primary, task.id);
    assert.equal(failed.state, 'failed');
    assert.equal(failed.error?.code, 'ERR_NOT_BACK');
    assert.match(failed.error?.message ?? '', /did not come back within 3000 ms/);
    assert.equal((await nodeNamed(primary, 'pi-gone'))?.state, 'lost');
  });

  it('fails when the node comes back with the same boot id: it did not reboot', async (t) => {
    const { primary, dataDir, first } = await setUp(t, 'pi-same');
    const task = await reboot(primary, 'pi-same', first, 30_000);
    agent(t, primary, dataDir, 'pi-same', 'boot-1');
    const failed = await finished(primary, task.id);
    assert.equal(failed.state, 'failed');
    assert.match(failed.error?.message ?? '', /same boot id/);
  });
});

// Task schedules end to end with real processes: a primary and two secondaries started through the
// CLI, a schedule added and removed with `picluster schedules`, its runs read back through the CLI
// and GET /api/tasks, and the primary SIGKILLed past missed slots: one catch-up run at the next
// start, not one per slot. The catch-up waits the primary's catchUpDelayMs (10 s) so the nodes are
// back for its broadcast.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ScheduleView } from '../../src/primary/task-schedules.js';
import type { TaskRow } from '../../src/store/store-api.js';
import {
  apiJson,
  nodesOnline,
  type PrimaryProcess,
  runCli,
  startPrimary,
  startSecondary,
  tempDir,
  waitUntil,
} from '../helpers/cluster.js';

const CATCH_UP_DELAY_MS = 10_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const api = <T>(primary: PrimaryProcess, path: string) => apiJson<T>(primary.api, 'GET', path);

/** The schedule's runs from GET /api/tasks, oldest first. */
async function runsOf(primary: PrimaryProcess, id: string): Promise<TaskRow[]> {
  const { tasks } = await api<{ tasks: TaskRow[] }>(primary, '/api/tasks?limit=1000');
  return tasks.filter((task) => task.submittedBy === `schedule:${id}`).reverse();
}

async function listed(primary: PrimaryProcess): Promise<ScheduleView[]> {
  const run = await runCli(['schedules', '--json', '--api', primary.api]);
  assert.equal(run.code, 0, run.stderr);
  return (JSON.parse(run.stdout) as { schedules: ScheduleView[] }).schedules;
}

const online = (primary: PrimaryProcess, names: string[]) => nodesOnline(primary.api, names);

describe('schedules', () => {
  it('every 1000 ms of node.time on all: runs show in `picluster schedules --json` and /api/tasks; after a SIGKILL past missed slots one catch-up run, not one per slot', async (t) => {
    const dir = tempDir(t);
    const primary = await startPrimary(t, { dataDir: join(dir, 'primary') });
    for (const name of ['n1', 'n2']) startSecondary(t, primary, { dataDir: join(dir, name), name });
    await online(primary, ['n1', 'n2']);

    const added = await runCli([
      'schedules',
      'add',
      'node.time',
      '--on',
      'all',
      '--every',
      '1000',
      '--name',
      'tick',
      '--json',
      '--api',
      primary.api,
    ]);
    assert.equal(added.code, 0, added.stderr);
    const schedule = JSON.parse(added.stdout) as ScheduleView;
    assert.deepEqual([schedule.name, schedule.kind, schedule.on, schedule.everyMs], ['tick', 'node.time', 'all', 1000]);
    assert.match(schedule.createdBy, /^cli /);
    assert.ok(schedule.nextRunAt !== null && Math.abs(schedule.nextRunAt - (schedule.createdAt + 1000)) < 50);

    await waitUntil(
      async () => (await runsOf(primary, schedule.id)).filter((r) => r.state === 'succeeded').length >= 3,
      20_000,
      'three runs done',
    );
    const view = (await listed(primary)).find((s) => s.id === schedule.id) as ScheduleView;
    assert.ok(view, 'listed by `picluster schedules --json`');
    const runs = await runsOf(primary, schedule.id);
    assert.ok(view.lastRuns.length >= 3 && view.lastRuns.length <= 5, JSON.stringify(view.lastRuns));
    // The runs read after the listing may have a newer one or two (a run a second): the listing
    // is the newest runs at its time, newest first, with none left out in between.
    const allNewestFirst = [...runs].reverse();
    const from = allNewestFirst.findIndex((r) => r.id === view.lastRuns[0]?.taskId);
    assert.ok(from >= 0 && from <= 3, `the listing's newest run is among the newest: ${from}`);
    assert.deepEqual(
      view.lastRuns.map((r) => r.taskId),
      allNewestFirst.slice(from, from + view.lastRuns.length).map((r) => r.id),
      'the newest runs, newest first',
    );
    assert.ok(view.lastRunAt !== null && view.nextRunAt !== null && view.nextRunAt > view.lastRunAt);
    const done = runs.find((r) => r.state === 'succeeded') as TaskRow;
    assert.deepEqual(done.result, { total: 2, succeeded: 2 }, 'a broadcast to both nodes');
    for (let i = 1; i < runs.length; i++) {
      const gap = (runs[i] as TaskRow).createdAt - (runs[i - 1] as TaskRow).createdAt;
      assert.ok(gap >= 900 && gap < 3000, `runs ${gap} ms apart`);
    }
    const text = await runCli(['schedules', '--api', primary.api]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`${schedule.id}\\s+tick\\s+node\\.time\\s+all\\s+every 1 s`));
    assert.match(text.stdout, /succeeded/);

    // Killed right after a run finished; down long enough for several slots.
    await waitUntil(
      async () => (await runsOf(primary, schedule.id)).at(-1)?.state === 'succeeded',
      5000,
      'the last run done',
    );
    primary.child.kill('SIGKILL');
    await once(primary.child.process, 'exit');
    const killedAt = Date.now();
    await sleep(4000);
    const again = await startPrimary(t, { dataDir: primary.dataDir, port: primary.port, webPort: primary.webPort });
    const restartedAt = Date.now();
    const before = (await runsOf(again, schedule.id)).filter((r) => r.createdAt < killedAt);
    const lastBefore = (before.at(-1) as TaskRow).createdAt;
    const catchUp = await waitUntil(
      async () => (await runsOf(again, schedule.id)).find((r) => r.createdAt > lastBefore),
      CATCH_UP_DELAY_MS + 15_000,
      'the catch-up run',
    );
    assert.ok(catchUp.createdAt > restartedAt, 'nothing ran while the primary was down');
    assert.ok(
      catchUp.createdAt >= restartedAt + CATCH_UP_DELAY_MS - 2000,
      `the catch-up waited for the nodes: ${catchUp.createdAt - restartedAt} ms after the restart`,
    );
    await sleep(2500);
    const after = (await runsOf(again, schedule.id)).filter((r) => r.createdAt > lastBefore);
    assert.equal(after[0]?.id, catchUp.id);
    assert.equal(
      after.filter((r) => r.createdAt < catchUp.createdAt + 900).length,
      1,
      'one catch-up run, not one per missed slot',
    );
    for (let i = 1; i < after.length; i++) {
      const gap = (after[i] as TaskRow).createdAt - (after[i - 1] as TaskRow).createdAt;
      assert.ok(gap >= 900, `runs ${gap} ms apart after the restart`);
    }
    const caughtUp = await waitUntil(
      async () => (await runsOf(again, schedule.id)).find((r) => r.id === catchUp.id && r.state !== 'running'),
      10_000,
      'the catch-up run done',
    );
    assert.equal(caughtUp.state, 'succeeded', JSON.stringify(caughtUp));
    assert.deepEqual(caughtUp.result, { total: 2, succeeded: 2 }, 'both nodes were back for it');

    const removed = await runCli(['schedules', 'remove', schedule.id, '--api', again.api]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(removed.stdout, `${schedule.id} removed\n`);
    const removedAt = Date.now();
    await sleep(2500);
    assert.deepEqual(
      (await runsOf(again, schedule.id)).filter((r) => r.createdAt > removedAt),
      [],
      'no run after the removal',
    );
    assert.deepEqual(await listed(again), []);
    const gone = await runCli(['schedules', 'remove', schedule.id, '--api', again.api]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /404: ERR_NOT_FOUND: no schedule/);
  });

  it('refuses a bad cron expression and a bad time zone with a reason', async (t) => {
    const primary = await startPrimary(t, { dataDir: join(tempDir(t), 'primary') });
    const bad = await runCli([
      'schedules',
      'add',
      'node.time',
      '--on',
      'all',
      '--cron',
      '61 * * * *',
      '--api',
      primary.api,
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /400: ERR_BAD_REQUEST: invalid cron expression "61 \* \* \* \*".*minute: 61/);
    const zone = await runCli([
      'schedules',
      'add',
      'node.time',
      '--on',
      'all',
      '--cron',
      '0 3 * * *',
      '--timezone',
      'Atlantis/Capital',
      '--api',
      primary.api,
    ]);
    assert.equal(zone.code, 1);
    assert.match(zone.stderr, /unknown time zone "Atlantis\/Capital"/);
    const cron = await runCli([
      'schedules',
      'add',
      'node.time',
      '--on',
      'any',
      '--cron',
      '0 3 * * *',
      '--timezone',
      'Europe/Berlin',
      '--api',
      primary.api,
    ]);
    assert.equal(cron.code, 0, cron.stderr);
    assert.match(
      cron.stdout,
      /^[0-9a-f-]{36} next run \d{4}-\d\d-\d\d (01|02):00:00\n$/,
      'the next 03:00 in Berlin, in UTC',
    );
  });
});

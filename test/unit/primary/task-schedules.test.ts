// Task schedules on a fake clock, with a fake submit (tasks stored in a real SQLite store in
// memory): when each schedule runs, how missed slots fold into one run, what is refused, and what
// list() shows. The real-process version is test/integration/schedules.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Logger } from '../../../src/common/logger.js';
import { TaskSchedules, type TaskSchedulesOptions } from '../../../src/primary/task-schedules.js';
import { RequestError } from '../../../src/protocol/errors.js';
import type { TaskState } from '../../../src/protocol/tasks.js';
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.js';
import type { ScheduleRow, TaskRow } from '../../../src/store/store-api.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { scheduleRow, taskRow } from '../store/store-contract.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const CATCH_UP_MS = 10 * SECOND;

/** Lets the promises started by fired timers settle (the store answers at once). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

function setup(options: Partial<TaskSchedulesOptions> = {}, store = new SqliteStore(':memory:')) {
  const clock = new FakeClock();
  const submitted: Array<{ row: TaskRow; by: string }> = [];
  /** Open tasks as the scheduler shows them (newer than the store). */
  const live = new Map<string, TaskRow>();
  const logged: Array<{ level: string; message: string }> = [];
  const log = Object.fromEntries(
    ['debug', 'info', 'warn', 'error'].map((level) => [
      level,
      (_fields: object, message: string) => logged.push({ level, message }),
    ]),
  ) as unknown as Logger;
  const control: { state: TaskState; refuse: Error | undefined } = { state: 'succeeded', refuse: undefined };
  let n = 0;
  const schedules = new TaskSchedules({
    submit: async (request, by) => {
      if (control.refuse) throw control.refuse;
      const row = taskRow(`t${++n}`, {
        kind: request.kind,
        on: request.on,
        args: request.args ?? {},
        submittedBy: by,
        createdAt: clock.wallMs(),
        state: control.state,
        ...(request.timeoutMs === undefined ? {} : { timeoutMs: request.timeoutMs }),
      });
      await store.applyNodeChanges([{ op: 'task', task: row }]);
      submitted.push({ row, by });
      return row;
    },
    write: (changes) => store.applyNodeChanges(changes),
    listStored: () => store.listSchedules(),
    runsOf: (id, limit) => store.scheduleRuns(id, limit),
    getTask: async (id) => live.get(id) ?? store.getTask(id),
    log,
    clock,
    catchUpDelayMs: CATCH_UP_MS,
    ...options,
  });
  /** Moves time on in steps, letting each fired run finish before the next step. */
  const advance = async (ms: number, stepMs = SECOND) => {
    for (let done = 0; done < ms; done += stepMs) {
      clock.advance(Math.min(stepMs, ms - done));
      await settle();
    }
  };
  return { clock, store, schedules, submitted, live, logged, control, advance };
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

describe('TaskSchedules', () => {
  it('cron: runs at each slot of the expression, read in its time zone, with submittedBy schedule:ID', async () => {
    const { clock, schedules, submitted, advance } = setup();
    schedules.start();
    // The fake wall clock starts at 2026-01-01T00:16:40Z.
    assert.equal(iso(clock.wallMs()), '2026-01-01T00:16:40.000Z');
    const five = await schedules.create(
      { kind: 'node.time', on: 'all', cron: '*/5 * * * *', timezone: 'UTC', timeoutMs: 2000 },
      'cli (loopback)',
    );
    const tokyo = await schedules.create(
      { name: 'nightly', kind: 'code.revision', on: 'any', cron: '0 3 * * *', timezone: 'Asia/Tokyo' },
      'cli (loopback)',
    );
    assert.equal(iso(five.nextRunAt), '2026-01-01T00:20:00.000Z');
    assert.equal(five.name, 'node.time on all');
    assert.equal(five.createdBy, 'cli (loopback)');
    assert.equal(iso(tokyo.nextRunAt), '2026-01-01T18:00:00.000Z', '03:00 in Tokyo is 18:00 UTC the day before');
    await advance(3 * MINUTE + 19 * SECOND);
    assert.equal(submitted.length, 0, 'not before its slot');
    await advance(SECOND);
    assert.equal(submitted.length, 1);
    assert.equal(submitted[0]?.by, `schedule:${five.id}`);
    assert.deepEqual(
      [submitted[0]?.row.kind, submitted[0]?.row.on, submitted[0]?.row.timeoutMs],
      ['node.time', 'all', 2000],
    );
    const [listed] = await schedules.list();
    assert.equal(iso(listed?.lastRunAt ?? null), '2026-01-01T00:20:00.000Z');
    assert.equal(iso(listed?.nextRunAt ?? null), '2026-01-01T00:25:00.000Z');
    await advance(15 * MINUTE, 10 * SECOND);
    assert.equal(submitted.length, 4, 'at :25, :30 and :35');
    schedules.stop();
  });

  it('every: runs once per interval on the monotonic clock, whatever the wall clock does', async () => {
    const { clock, schedules, submitted, advance } = setup();
    schedules.start();
    const every = await schedules.create({ kind: 'node.time', on: 'any', everyMs: 2 * SECOND }, 'test');
    assert.equal(every.nextRunAt, clock.wallMs() + 2 * SECOND, 'one interval after its creation');
    await advance(2 * SECOND);
    assert.equal(submitted.length, 1);
    clock.stepWall(3_600_000);
    await advance(SECOND);
    assert.equal(submitted.length, 1, 'an hour more on the wall clock is not a due run');
    await advance(SECOND);
    assert.equal(submitted.length, 2);
    clock.stepWall(-7_200_000);
    await advance(2 * SECOND);
    assert.equal(submitted.length, 3, 'nor is a wall clock set back');
    schedules.stop();
  });

  it('cron: a wall clock that jumps hours ahead runs the schedule once, not once per slot missed', async () => {
    const { clock, schedules, submitted, advance } = setup();
    schedules.start();
    await schedules.create({ kind: 'node.time', on: 'any', cron: '* * * * *', timezone: 'UTC' }, 'test');
    await advance(MINUTE);
    assert.equal(submitted.length, 1);
    clock.stepWall(3 * 3_600_000);
    await advance(MINUTE, 10 * SECOND);
    assert.equal(submitted.length, 2, 'the sleep is capped, so the step is noticed within a minute');
    await advance(MINUTE, 10 * SECOND);
    assert.equal(submitted.length, 3);
    schedules.stop();
  });

  it('a run missed while the primary was down runs once, catchUpDelayMs after start; others keep their time', async () => {
    const store = new SqliteStore(':memory:');
    const first = setup({}, store);
    const now = first.clock.wallMs();
    const stored: ScheduleRow[] = [
      // Ten slots missed each.
      scheduleRow('every', { everyMs: MINUTE, createdAt: now - 3_600_000, lastRunAt: now - 10 * MINUTE }),
      scheduleRow('cron', {
        cron: '* * * * *',
        timezone: 'UTC',
        createdAt: now - 3_600_000,
        lastRunAt: now - 10 * MINUTE,
      }),
      // Never ran; created long ago.
      scheduleRow('never', { everyMs: 5 * MINUTE, createdAt: now - 3_600_000 }),
      // Its next run is 40 s away: nothing missed.
      scheduleRow('later', { everyMs: MINUTE, createdAt: now - 3_600_000, lastRunAt: now - 20 * SECOND }),
    ];
    await store.applyNodeChanges(stored.map((schedule) => ({ op: 'schedule', schedule })));
    const { schedules, submitted, advance, clock } = first;
    await schedules.load();
    schedules.start();
    const next = Object.fromEntries((await schedules.list()).map((s) => [s.id, s.nextRunAt]));
    assert.deepEqual(next, {
      every: now + CATCH_UP_MS,
      cron: now + CATCH_UP_MS,
      never: now + CATCH_UP_MS,
      later: now + 40 * SECOND,
    });
    await advance(CATCH_UP_MS - SECOND);
    assert.equal(submitted.length, 0, 'the nodes get time to reconnect');
    await advance(SECOND);
    assert.deepEqual(submitted.map((s) => s.by).sort(), ['schedule:cron', 'schedule:every', 'schedule:never']);
    await advance(30 * SECOND);
    // One run each for the missed slots, not one per slot; then the cron's own slot at 00:17:00
    // and `later` at its time.
    assert.deepEqual(
      submitted.slice(3).map((s) => [s.by, iso(s.row.createdAt)]),
      [
        ['schedule:cron', '2026-01-01T00:17:00.000Z'],
        ['schedule:later', '2026-01-01T00:17:20.000Z'],
      ],
    );
    const after = Object.fromEntries((await schedules.list()).map((s) => [s.id, s]));
    assert.equal(after.every?.lastRunAt, now + CATCH_UP_MS);
    assert.equal(after.every?.nextRunAt, now + CATCH_UP_MS + MINUTE, 'the interval counts from the catch-up');
    assert.equal(iso(after.cron?.nextRunAt ?? null), '2026-01-01T00:18:00.000Z');
    assert.equal(clock.wallMs(), now + 40 * SECOND);
    schedules.stop();
    // What a restart reads back: each last run as stored.
    const again = setup({}, store);
    await again.schedules.load();
    const reloaded = Object.fromEntries((await again.schedules.list()).map((s) => [s.id, s.lastRunAt]));
    assert.deepEqual(reloaded, {
      every: now + CATCH_UP_MS,
      cron: now + 20 * SECOND,
      never: now + CATCH_UP_MS,
      later: now + 40 * SECOND,
    });
  });

  it('at start, a catch-up whose previous run is still open (loaded from the store) is skipped', async () => {
    const store = new SqliteStore(':memory:');
    const { schedules, submitted, live, advance, clock } = setup({}, store);
    const now = clock.wallMs();
    await store.applyNodeChanges([
      {
        op: 'schedule',
        schedule: scheduleRow('s', { everyMs: MINUTE, createdAt: now - 3_600_000, lastRunAt: now - 5 * MINUTE }),
      },
      {
        op: 'task',
        task: taskRow('old', { submittedBy: 'schedule:s', state: 'assigned', createdAt: now - 5 * MINUTE }),
      },
      // A stored cron expression this version cannot read: listed, never run.
      { op: 'schedule', schedule: scheduleRow('odd', { cron: 'not a cron', createdAt: now - 3_600_000 }) },
    ]);
    await schedules.load();
    schedules.start();
    await advance(CATCH_UP_MS);
    assert.equal(submitted.length, 0);
    const views = Object.fromEntries((await schedules.list()).map((v) => [v.id, v]));
    assert.match(views.s?.lastSkip?.reason ?? '', /previous run old is still assigned/);
    assert.equal(views.odd?.nextRunAt, null);
    live.set('old', { ...taskRow('old'), state: 'succeeded' });
    await advance(MINUTE);
    assert.deepEqual(
      submitted.map((r) => r.by),
      ['schedule:s'],
      'the next slot runs once the old run is done',
    );
    schedules.stop();
  });

  it('refuses bad schedules with ERR_BAD_REQUEST naming the problem', async () => {
    const { schedules } = setup();
    const base = { kind: 'node.time', on: 'all' };
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ ...base, cron: 'every day at 3' }, /invalid cron expression "every day at 3".*five, six/],
      [{ ...base, cron: '61 * * * *' }, /invalid cron expression.*minute: 61/],
      [{ ...base, cron: '0 0 30 2 *' }, /matches no time from now on/],
      [{ ...base }, /needs cron .* or everyMs/],
      [{ ...base, cron: '* * * * *', everyMs: 5000 }, /cron or everyMs, not both/],
      [{ ...base, everyMs: 999 }, /everyMs must be an integer from 1000/],
      [{ ...base, everyMs: 1500.5 }, /everyMs must be an integer/],
      [{ ...base, cron: '* * * * *', timezone: 'Mars/Olympus_Mons' }, /unknown time zone "Mars\/Olympus_Mons"/],
      [{ ...base, everyMs: 5000, timezone: 'UTC' }, /timezone applies to a cron expression/],
      [{ ...base, kind: 'Bad Kind', everyMs: 5000 }, /invalid task kind/],
      [{ ...base, on: 'a=b=c', everyMs: 5000 }, /./],
      [{ ...base, everyMs: 5000, timeoutMs: 0 }, /timeoutMs must be an integer >= 1/],
      [{ ...base, everyMs: 5000, args: [1] }, /args must be an object/],
      // What every target node would refuse at every run, closing its link (found by review).
      [{ ...base, everyMs: 5000, timeoutMs: 8 * 86_400_000 }, /timeoutMs must be at most 604800000 \(7 days\)/],
      [{ ...base, everyMs: 5000, timeoutMs: 1.5 }, /timeoutMs must be an integer >= 1/],
      [{ ...base, kind: 'Node Time', everyMs: 5000 }, /invalid task kind "Node Time"/],
      [
        { ...base, everyMs: 5000, args: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])) },
        /^invalid task: \/args must not have more than 64 properties$/,
      ],
    ];
    for (const [input, message] of cases) {
      await assert.rejects(
        schedules.create(input as never, 'test'),
        (err) => err instanceof RequestError && err.code === 'ERR_BAD_REQUEST' && message.test(err.message),
        JSON.stringify(input),
      );
    }
    assert.equal(schedules.size, 0);
    assert.deepEqual(await schedules.list(), []);
  });

  it('remove stops the schedule and keeps its runs; an unknown id is ERR_NOT_FOUND', async () => {
    const { store, schedules, submitted, advance } = setup();
    schedules.start();
    const every = await schedules.create({ kind: 'node.time', on: 'any', everyMs: SECOND }, 'test');
    await advance(2 * SECOND);
    assert.equal(submitted.length, 2);
    const removed = await schedules.remove(every.id);
    assert.equal(removed.id, every.id);
    await advance(5 * SECOND);
    assert.equal(submitted.length, 2, 'no run after removal');
    assert.deepEqual(await schedules.list(), []);
    assert.deepEqual(await store.listSchedules(), []);
    assert.equal((await store.scheduleRuns(every.id)).length, 2, 'its runs stay');
    await assert.rejects(
      schedules.remove(every.id),
      (err) => err instanceof RequestError && err.code === 'ERR_NOT_FOUND' && /no schedule/.test(err.message),
    );
    schedules.stop();
  });

  it('lists the newest runs first with their states as they are now (open ones from the scheduler)', async () => {
    const { schedules, submitted, live, control, advance } = setup({ lastRuns: 3 });
    schedules.start();
    const every = await schedules.create({ kind: 'node.time', on: 'any', everyMs: SECOND }, 'test');
    await advance(4 * SECOND);
    control.state = 'queued';
    await advance(SECOND);
    assert.equal(submitted.length, 5);
    const newest = submitted[4]?.row as TaskRow;
    // Stored as queued; the scheduler has it running already (its view is newer than the store's).
    live.set(newest.id, { ...newest, state: 'running' });
    // Stored as succeeded: read as stored (the scheduler is asked about open runs only).
    live.set('t4', { ...(submitted[3]?.row as TaskRow), state: 'cancelled' });
    const [view] = await schedules.list();
    assert.equal(view?.id, every.id);
    assert.deepEqual(
      view?.lastRuns.map((r) => [r.taskId, r.state]),
      [
        ['t5', 'running'],
        ['t4', 'succeeded'],
        ['t3', 'succeeded'],
      ],
    );
    assert.equal(view?.lastRuns[0]?.createdAt, newest.createdAt);
    schedules.stop();
  });

  it('skips a run while the previous one is still open, and says why; runs again once it is done', async () => {
    const { schedules, submitted, live, control, advance, logged } = setup();
    control.state = 'queued';
    schedules.start();
    const every = await schedules.create({ kind: 'node.time', on: 'pi-3', everyMs: SECOND }, 'test');
    await advance(SECOND);
    assert.equal(submitted.length, 1);
    const first = submitted[0]?.row as TaskRow;
    await advance(3 * SECOND);
    assert.equal(submitted.length, 1, 'one task waits for the node, not one per slot');
    const [view] = await schedules.list();
    assert.match(view?.lastSkip?.reason ?? '', new RegExp(`previous run ${first.id} is still queued`));
    assert.deepEqual(
      view?.lastRuns.map((r) => r.state),
      ['queued'],
    );
    assert.equal(logged.filter((l) => l.level === 'info' && /skipped/.test(l.message)).length, 1, 'said once');
    live.set(first.id, { ...first, state: 'succeeded' });
    control.state = 'succeeded';
    await advance(SECOND);
    assert.equal(submitted.length, 2);
    assert.equal((await schedules.list())[0]?.id, every.id);
    schedules.stop();
  });

  it('skips a run the scheduler refuses (no node online for a broadcast), with a warning once', async () => {
    const { schedules, submitted, control, advance, logged } = setup();
    control.refuse = new RequestError('ERR_NOT_FOUND', 'no online node matches "all"');
    schedules.start();
    await schedules.create({ kind: 'node.time', on: 'all', everyMs: SECOND }, 'test');
    await advance(3 * SECOND);
    assert.equal(submitted.length, 0);
    const [view] = await schedules.list();
    assert.equal(view?.lastSkip?.reason, 'the task was refused: no online node matches "all"');
    assert.equal(view?.lastRunAt, null);
    assert.equal(logged.filter((l) => l.level === 'warn').length, 1, 'one warning for three refusals');
    control.refuse = undefined;
    await advance(SECOND);
    assert.equal(submitted.length, 1);
    schedules.stop();
  });

  it('runs nothing once stopped, and refuses more than maxSchedules', async () => {
    const { schedules, submitted, advance } = setup({ maxSchedules: 1 });
    schedules.start();
    await schedules.create({ kind: 'node.time', on: 'any', everyMs: SECOND }, 'test');
    await assert.rejects(
      schedules.create({ kind: 'node.time', on: 'any', everyMs: SECOND }, 'test'),
      (err) => err instanceof RequestError && err.code === 'ERR_CONFLICT',
    );
    schedules.stop();
    assert.equal(schedules.state, 'stopped');
    await advance(5 * SECOND);
    assert.equal(submitted.length, 0);
  });
});

// The schedules routes over the app (no socket): the body checks, 201 with the schedule, the list,
// DELETE and its 404, and the guard that keeps a page of another origin from deleting. TaskSchedules
// itself is test/unit/primary/task-schedules.test.ts; with real processes, test/integration/schedules.test.ts.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { silentLogger } from '../../../src/common/logger.js';
import type { ClusterView } from '../../../src/primary/cluster-view.js';
import { type ScheduleView, TaskSchedules } from '../../../src/primary/task-schedules.js';
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.js';
import { createApp } from '../../../src/web/server.js';

function app(withSchedules = true) {
  const store = new SqliteStore(':memory:');
  const schedules = new TaskSchedules({
    submit: async () => {
      throw new Error('no runs in this test');
    },
    write: (changes) => store.applyNodeChanges(changes),
    listStored: () => store.listSchedules(),
    runsOf: (id, limit) => store.scheduleRuns(id, limit),
    getTask: (id) => store.getTask(id),
    log: silentLogger,
  });
  const cluster = new EventEmitter() as ClusterView & EventEmitter;
  Object.assign(cluster, { ready: true, ...(withSchedules ? { schedules } : {}) });
  const web = createApp(cluster);
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await web.request(path, {
      method,
      headers: {
        host: '127.0.0.1:8123',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  return { call, store };
}

const errorOf = (body: Record<string, unknown>) => body.error as { code: string; message: string };

describe('schedules API', () => {
  it('adds a schedule (201), lists it with its next run, removes it, and answers 404 after', async () => {
    const { call, store } = app();
    const created = await call(
      'POST',
      '/api/schedules',
      { kind: 'node.time', on: 'all', everyMs: 60_000, name: 'clock check', args: { x: 1 } },
      { 'x-picluster-client': 'cli' },
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const schedule = created.body as unknown as ScheduleView;
    assert.equal(schedule.name, 'clock check');
    assert.equal(schedule.everyMs, 60_000);
    assert.equal(schedule.createdBy, 'cli (loopback)');
    assert.deepEqual(schedule.lastRuns, []);
    assert.equal(schedule.lastRunAt, null);
    assert.equal((await store.listSchedules())[0]?.id, schedule.id, 'stored before the answer');

    const listed = await call('GET', '/api/schedules');
    assert.equal(listed.status, 200);
    assert.deepEqual(
      (listed.body.schedules as ScheduleView[]).map((s) => [s.id, s.kind, s.on]),
      [[schedule.id, 'node.time', 'all']],
    );

    const removed = await call('DELETE', `/api/schedules/${schedule.id}`);
    assert.deepEqual([removed.status, removed.body], [200, { removed: schedule.id }]);
    const again = await call('DELETE', `/api/schedules/${schedule.id}`);
    assert.equal(again.status, 404);
    assert.equal(errorOf(again.body).code, 'ERR_NOT_FOUND');
    assert.deepEqual((await call('GET', '/api/schedules')).body, { schedules: [] });
  });

  it('refuses a bad body with 400 naming the problem', async () => {
    const { call } = app();
    const cases: Array<[unknown, RegExp]> = [
      ['{not json', /the body must be JSON/],
      [{ kind: 'node.time', on: 'all' }, /needs cron .* or everyMs/],
      [{ kind: 'node.time', on: 'all', everyMs: 10 }, /invalid schedule: \/everyMs/],
      [{ kind: 'node.time', on: 'all', cron: '*/5 * * *' }, /invalid cron expression/],
      [{ kind: 'node.time', on: 'all', cron: '0 3 * * *', timezone: 'Nowhere/Town' }, /unknown time zone/],
      [{ kind: 'No Such', on: 'all', everyMs: 5000 }, /invalid schedule: \/kind/],
      [{ kind: 'node.time', everyMs: 5000 }, /invalid schedule/],
      // What a node's decoder would refuse, closing its link at every run: refused here.
      [{ kind: 'node.time', on: 'all', everyMs: 5000, args: { x: { constructor: 0 } } }, /args: forbidden key/],
    ];
    for (const [body, message] of cases) {
      const answer = await call('POST', '/api/schedules', body);
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.equal(errorOf(answer.body).code, 'ERR_BAD_REQUEST');
      assert.match(errorOf(answer.body).message, message);
    }
    assert.equal((await call('DELETE', '/api/schedules/bad%20id')).status, 400);
  });

  it('refuses a DELETE or POST from a page of another origin (403), on loopback too', async () => {
    const { call } = app();
    const created = await call('POST', '/api/schedules', { kind: 'node.time', on: 'all', everyMs: 5000 });
    const id = (created.body as unknown as ScheduleView).id;
    const evil = { origin: 'http://evil.example' };
    assert.equal((await call('DELETE', `/api/schedules/${id}`, undefined, evil)).status, 403);
    assert.equal(
      (await call('DELETE', `/api/schedules/${id}`, undefined, { 'sec-fetch-site': 'same-site' })).status,
      403,
    );
    assert.equal(
      (await call('POST', '/api/schedules', { kind: 'node.time', on: 'all', everyMs: 5000 }, evil)).status,
      403,
    );
    const own = await call('DELETE', `/api/schedules/${id}`, undefined, { origin: 'http://127.0.0.1:8123' });
    assert.equal(own.status, 200, 'the dashboard itself may');
  });

  it('answers 404 when the primary runs no schedules', async () => {
    const { call } = app(false);
    const answer = await call('GET', '/api/schedules');
    assert.equal(answer.status, 404);
    assert.match(errorOf(answer.body).message, /runs no task schedules/);
  });
});

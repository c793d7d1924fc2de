// A schedule fires on time and its run shows in the history: real headless Chromium against a
// real primary and two real secondaries (processes started through the CLI). The schedule is
// added from the Tasks page's "New schedule" form (as the dashboard); without a reload the page
// lists it with its next run, its first run appears in the history as a broadcast submitted by
// `schedule:ID` about one interval after the schedule was created (everyMs counts from creation)
// and turns succeeded, a second run follows, and the schedule's last runs follow live.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it } from 'node:test';
import type { Page } from 'playwright-core';
import { type DomWindow, launchBrowser, newPage, scriptErrors } from '../helpers/browser.js';
import { getNodes, startPrimary, startSecondary, tempDir, waitUntil } from '../helpers/cluster.js';

declare const window: DomWindow;

const NAMES = ['alpha', 'bravo'];
const EVERY_MS = 2000;
/** A name that tries to inject HTML: it must stay text. */
const NAME = '<img src=x onerror="window.pwned=1"> clocks';

interface Schedule {
  id: string;
  name: string;
  createdAt: number;
  createdBy: string;
  nextRunAt: number;
}

/** A task as the API has it (the fields this test reads). */
interface Task {
  createdAt: number;
  submittedBy: string;
  parent: string | null;
}

async function getTask(api: string, id: string): Promise<Task> {
  return (await (await fetch(`${api}/api/tasks/${encodeURIComponent(id)}`)).json()) as Task;
}

/** The epoch ms of the first <time> under `selector`. */
async function timeOf(page: Page, selector: string): Promise<number> {
  return Date.parse((await page.locator(`${selector} time`).first().getAttribute('datetime')) ?? '');
}

it('schedules: one added on the tasks page fires on time, its runs show in the history and its list, live', async (t) => {
  const context = await launchBrowser(t);
  if (!context) return;
  const dir = tempDir(t);
  const primary = await startPrimary(t, { dataDir: join(dir, 'primary') });
  for (const name of NAMES) startSecondary(t, primary, { dataDir: join(dir, name), name });
  await waitUntil(
    async () => {
      const nodes = await getNodes(primary.api);
      return NAMES.every((name) => nodes.some((n) => n.name === name && n.state === 'online' && n.info));
    },
    20_000,
    'two secondaries online',
  );

  const { page, errors } = await newPage(context);
  await page.goto(`${primary.api}/#/tasks`);
  const form = page.locator('.schedules:not([hidden]) .schedule-form');
  await form.waitFor({ timeout: 10_000 });
  await page.evaluate(() => {
    window.marker = 'same page';
  });

  // Every N seconds or a cron expression, not both: said under the form, nothing sent.
  await page.fill('#schedule-name', NAME);
  await page.fill('#schedule-kind', 'node.time');
  await page.fill('#schedule-on', 'all');
  await page.fill('#schedule-every', String(EVERY_MS / 1000));
  await page.fill('#schedule-cron', '* * * * *');
  await form.locator('button[type="submit"]').click();
  await form.locator('.form-status[data-kind="error"]').waitFor();
  assert.match((await form.locator('.form-status').textContent()) ?? '', /not both/);
  await page.fill('#schedule-cron', '');

  const posted = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/api/schedules'));
  await form.locator('button[type="submit"]').click();
  const response = await posted;
  assert.equal(response.status(), 201);
  assert.equal(response.request().headers()['x-picluster-client'], 'dashboard');
  assert.deepEqual(response.request().postDataJSON(), { kind: 'node.time', on: 'all', name: NAME, everyMs: EVERY_MS });
  const schedule = (await response.json()) as Schedule;
  assert.equal(schedule.createdBy, 'dashboard (loopback)');
  const due = schedule.createdAt + EVERY_MS;
  assert.ok(Math.abs(schedule.nextRunAt - due) <= 250, `next run ${schedule.nextRunAt - schedule.createdAt} ms in`);
  await form.locator('.form-status:not([data-kind="error"])', { hasText: /^Added/ }).waitFor();
  assert.equal(await page.inputValue('#schedule-name'), '');

  // Listed at once, with its next run (the first, unless it came already); the name stays text.
  const row = `.schedules tr[data-id="${schedule.id}"]`;
  await page.locator(row).waitFor({ timeout: 5000 });
  assert.deepEqual(await page.locator(`${row} td`).evaluateAll((tds) => tds.slice(0, 4).map((td) => td.textContent)), [
    NAME,
    'node.time',
    'all',
    'every 2.0 s',
  ]);
  const nextRun = await timeOf(page, `${row} td:nth-child(5)`);
  assert.ok(nextRun >= due - 250 && nextRun <= due + EVERY_MS + 250, `next run ${nextRun - schedule.createdAt} ms in`);
  assert.equal(await page.locator('main img').count(), 0);
  assert.equal(await page.evaluate(() => window.pwned), undefined);

  // The first run: a broadcast in the history, submitted by the schedule, about one interval in.
  const runs = page.locator('.task-history tbody tr', {
    has: page.locator('td:last-child', { hasText: `schedule:${schedule.id}` }),
  });
  await runs.first().waitFor({ timeout: EVERY_MS + 5000 });
  // Newest first: the oldest is the first run.
  const firstId = (await runs.last().getAttribute('data-id')) ?? '';
  const first = page.locator(`.task-history tr[data-id="${firstId}"]`);
  assert.equal(await first.locator('td').nth(1).textContent(), 'all');
  await first.locator('.task-succeeded').waitFor({ timeout: 10_000 });
  assert.match((await first.locator('td.reason').textContent()) ?? '', /2 of 2 succeeded/);
  const firstAt = await timeOf(page, `.task-history tr[data-id="${firstId}"]`);
  const late = firstAt - due;
  assert.ok(late >= -250 && late <= 3000, `first run ${firstAt - schedule.createdAt} ms after creation`);
  const stored = await getTask(primary.api, firstId);
  assert.deepEqual(stored, { ...stored, createdAt: firstAt, submittedBy: `schedule:${schedule.id}`, parent: null });

  // A second run follows, one interval later (give or take the runs' submit times).
  await runs.nth(1).waitFor({ timeout: EVERY_MS + 5000 });
  const secondId = (await runs.nth((await runs.count()) - 2).getAttribute('data-id')) ?? '';
  const gap = (await timeOf(page, `.task-history tr[data-id="${secondId}"]`)) - firstAt;
  assert.ok(gap >= EVERY_MS - 1000 && gap <= EVERY_MS + 3000, `second run ${gap} ms after the first`);
  t.diagnostic(`first run ${late} ms after its slot, the second ${gap} ms after the first`);

  // The schedule's last runs follow live (reloaded when a scheduled task changes: every 5 s at most).
  // (The newest 5 are shown: which ones depends on when it reloaded, each is one of its runs.)
  const lastRun = page.locator(`${row} .last-runs a`, { has: page.locator('.task-succeeded') }).first();
  await lastRun.waitFor({ timeout: 15_000 });
  const shownId = decodeURIComponent(((await lastRun.getAttribute('href')) ?? '').replace('#/tasks/', ''));
  assert.equal((await getTask(primary.api, shownId)).submittedBy, `schedule:${schedule.id}`);
  assert.ok((await timeOf(page, `${row} td:nth-child(5)`)) > firstAt, 'the next run moved on');

  assert.equal(await page.evaluate(() => window.marker), 'same page');
  assert.deepEqual(scriptErrors(errors), []);
});

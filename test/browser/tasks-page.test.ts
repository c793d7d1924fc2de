// The tasks page in real headless Chromium against a real primary and three real secondaries
// (processes started through the CLI): a broadcast submitted from the form whose children arrive
// on screen live — one node held with SIGSTOP so its part is visibly open, then let go — without a
// reload or a second fetch of the task; a shell task's output growing while it runs; a task the
// node refuses shows its error code and message; a queued task is cancelled; target text that
// tries to inject HTML stays text; the node page lists the node's recent tasks and runs node.time;
// the schedules list stays silent while the primary answers 404 for it.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it } from 'node:test';
import type { Page } from 'playwright-core';
import { type DomDocument, type DomWindow, launchBrowser, newPage, scriptErrors } from '../helpers/browser.js';
import { getNodes, startPrimary, startSecondary, tempDir, waitUntil } from '../helpers/cluster.js';

// Browser globals for the callbacks that run inside the page (see DomDocument in the helper).
declare const document: DomDocument;
declare const window: DomWindow;
declare const location: { hash: string };

const NAMES = ['alpha', 'bravo', 'charlie'];
// Slow heartbeats on both sides: a node held with SIGSTOP for a few seconds stays online (the
// primary would call it lost after 3 missed ones) and keeps its link when it resumes.
const HEARTBEAT = ['--heartbeat-interval-ms', '3000'];
const ALLOW_NODE = ['--tasks-allow', 'shell', '--tasks-commands', process.execPath];
/** A program that prints a line every 400 ms, four times. */
const TICKER = 'let i=0;const t=setInterval(()=>{console.log("line "+ ++i);if(i===4)clearInterval(t)},400)';

/** Submits a task from the form; resolves with its id once the page opened it (#/tasks/ID). */
async function submit(page: Page, kind: string, on: string): Promise<string> {
  const before = await page.evaluate(() => location.hash);
  await page.fill('#task-kind', kind);
  await page.fill('#task-on', on);
  await page.locator('.task-form button[type="submit"]').click();
  await page.waitForFunction((old) => location.hash !== old && /^#\/tasks\/[^/?]+/.test(location.hash), before, {
    timeout: 10_000,
  });
  const hash = await page.evaluate(() => location.hash);
  return decodeURIComponent(/^#\/tasks\/([^/?]+)/.exec(hash)?.[1] ?? '');
}

/** Submits a `shell` task with a command line; resolves with its id once the page opened it. */
async function submitShell(page: Page, on: string, command: string): Promise<string> {
  await page.fill('#task-kind', 'shell');
  await page.fill('#task-command', command);
  const id = await submit(page, 'shell', on);
  await page.fill('#task-command', '');
  return id;
}

it('tasks page: a broadcast and shell output fill in live, a refused task shows its error, the node page lists its tasks', async (t) => {
  const context = await launchBrowser(t);
  if (!context) return;
  const dir = tempDir(t);
  const primary = await startPrimary(t, { dataDir: join(dir, 'primary'), args: HEARTBEAT });
  // alpha runs this very node binary as a `shell` task (and nothing else that changes the machine).
  const args = (name: string) => (name === 'alpha' ? [...HEARTBEAT, ...ALLOW_NODE] : HEARTBEAT);
  const children = new Map(
    NAMES.map((name) => [name, startSecondary(t, primary, { dataDir: join(dir, name), name, args: args(name) })]),
  );
  const ids = await waitUntil(
    async () => {
      const nodes = await getNodes(primary.api);
      const online = NAMES.map((name) => nodes.find((n) => n.name === name && n.state === 'online' && n.info));
      return online.every(Boolean) ? new Map(online.map((n) => [n!.name, n!.id])) : undefined;
    },
    20_000,
    'three secondaries online',
  );

  const { page, errors } = await newPage(context);
  const taskFetches: string[] = [];
  page.on('request', (request) => {
    const path = new URL(request.url()).pathname;
    if (request.method() === 'GET' && /^\/api\/tasks\/[^/]+$/.test(path)) taskFetches.push(path);
  });
  const schedulesAnswer = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/schedules');
  await page.goto(`${primary.api}/#/tasks`);
  await page.locator('.tasks-page .task-form').waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('nav a[data-nav="tasks"]').getAttribute('aria-current'), 'page');
  await page.evaluate(() => {
    window.marker = 'same page';
  });

  // Schedules: a primary without the route answers 404 and the page shows nothing of it.
  const schedules = await schedulesAnswer;
  if (schedules.status() === 404) {
    assert.equal(await page.locator('.schedules').isHidden(), true);
  } else {
    await page.locator('.schedules:not([hidden])').waitFor();
    assert.doesNotMatch((await page.locator('.schedules').textContent()) ?? '', /Could not/);
  }

  // The target field offers the fleet's names.
  await page.waitForFunction(() => document.querySelectorAll('#task-targets option').length >= 4 + 3);
  const offered = await page.locator('#task-targets option').evaluateAll((o) => o.map((e) => e.getAttribute('value')));
  for (const name of NAMES) assert.ok(offered.includes(name), offered.join(','));

  // A shell command line is split into argv before it is sent, and says it is not run by a shell.
  await page.fill('#task-kind', 'shell');
  await page.locator('#task-command').waitFor({ state: 'visible' });
  await page.fill('#task-command', `printf '%s\\n' "a b" c;d $HOME`);
  const argv = (await page.locator('#task-argv').textContent()) ?? '';
  assert.ok(argv.includes('["printf","%s\\\\n","a b","c;d","$HOME"]'), argv);
  assert.match(argv, /not by a shell/);

  // --- a broadcast of node.time to all three; charlie is held, so its part is open on screen first.
  const charlie = children.get('charlie')!;
  charlie.kill('SIGSTOP');
  let resumed = false;
  t.after(() => {
    if (!resumed) charlie.kill('SIGCONT');
  });
  const broadcastId = await submit(page, 'node.time', 'all');
  const detail = page.locator(`.task-detail[data-task="${broadcastId}"]`);
  await detail.locator('.task-children tbody tr').nth(2).waitFor({ timeout: 10_000 });
  const childRow = (name: string) => detail.locator(`.task-children tbody tr[data-node="${ids.get(name)}"]`);
  for (const name of ['alpha', 'bravo']) {
    await childRow(name).locator('.task-succeeded').waitFor({ timeout: 10_000 });
  }
  assert.notEqual(await childRow('charlie').getAttribute('data-state'), 'succeeded');
  assert.equal(await detail.getAttribute('data-state'), 'running');
  assert.equal(await detail.locator('.action-cancel').isVisible(), true);
  assert.match((await detail.locator('.task-children h3').textContent()) ?? '', /2 of 3 done/);

  charlie.kill('SIGCONT');
  resumed = true;
  // Live: charlie's part, then the broadcast itself, turn succeeded on the page.
  await childRow('charlie').locator('.task-succeeded').waitFor({ timeout: 15_000 });
  await page.locator(`.task-detail[data-task="${broadcastId}"][data-state="succeeded"]`).waitFor({ timeout: 10_000 });
  for (const name of NAMES) {
    const result = (await childRow(name).locator('.child-result').textContent()) ?? '';
    assert.match(result, /"wallMs":\d+/, `${name}: ${result}`);
    assert.equal(await childRow(name).locator('a').textContent(), name);
  }
  assert.match((await detail.locator('.task-reason').textContent()) ?? '', /3 of 3 succeeded/);
  assert.match((await detail.locator('.task-result').textContent()) ?? '', /"succeeded": 3/);
  assert.equal(await detail.locator('.action-cancel').isHidden(), true);
  // Without a reload: the page is the same, and the task was fetched once, the rest came by stream.
  assert.equal(await page.evaluate(() => window.marker), 'same page');
  assert.deepEqual(taskFetches, [`/api/tasks/${broadcastId}`]);
  assert.deepEqual(scriptErrors(errors), []);
  // The history row followed it too, and names who asked.
  const historyRow = page.locator(`.task-history tr[data-id="${broadcastId}"]`);
  await historyRow.locator('.task-succeeded').waitFor({ timeout: 10_000 });
  assert.equal(await historyRow.locator('.task-link').textContent(), 'node.time');
  assert.equal(await historyRow.locator('td').nth(1).textContent(), 'all');
  assert.equal(await historyRow.locator('td').last().textContent(), 'dashboard (loopback)');

  // --- a shell task's output arrives while it runs, then the final output with the result.
  const shellId = await submitShell(page, 'alpha', `${process.execPath} -e '${TICKER}'`);
  const shell = page.locator(`.task-detail[data-task="${shellId}"]`);
  await page.waitForFunction(
    (id) => {
      const detail = document.querySelector(`.task-detail[data-task="${id}"]`);
      const stdout = detail?.querySelector('.task-stdout');
      return (
        detail?.dataset.state === 'running' &&
        stdout?.dataset.live === 'true' &&
        /line 1/.test(stdout.textContent ?? '')
      );
    },
    shellId,
    { timeout: 10_000 },
  );
  await page.locator(`.task-detail[data-task="${shellId}"][data-state="succeeded"]`).waitFor({ timeout: 15_000 });
  assert.equal(await shell.locator('.task-stdout').textContent(), 'line 1\nline 2\nline 3\nline 4\n');
  assert.match((await shell.locator('.task-result').textContent()) ?? '', /"exitCode": 0/);
  assert.match((await shell.locator('.task-fields').textContent()) ?? '', /-e/);

  // --- a machine-changing kind the node does not allow: failed, with the node's code and message.
  const refusedId = await submit(page, 'os.update', 'alpha');
  const refused = page.locator(`.task-detail[data-task="${refusedId}"][data-state="failed"]`);
  await refused.waitFor({ timeout: 15_000 });
  assert.equal(await refused.locator('.task-error .error-code').textContent(), 'ERR_TASK_REFUSED');
  assert.match((await refused.locator('.task-error .error-message').textContent()) ?? '', /refused|allow/i);
  await page.locator(`.task-history tr[data-id="${refusedId}"] .task-failed`).waitFor({ timeout: 10_000 });
  // Newest first.
  assert.deepEqual(
    (await page.locator('.task-history tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.id))).slice(0, 3),
    [refusedId, shellId, broadcastId],
  );

  // --- a task nobody can take stays queued until cancelled from the page.
  const queuedId = await submit(page, 'node.time', 'role=nowhere');
  const queued = page.locator(`.task-detail[data-task="${queuedId}"]`);
  await page.locator(`.task-detail[data-task="${queuedId}"][data-state="queued"]`).waitFor({ timeout: 10_000 });
  page.once('dialog', (dialog) => void dialog.accept());
  await queued.locator('.action-cancel').click();
  await page.locator(`.task-detail[data-task="${queuedId}"][data-state="cancelled"]`).waitFor({ timeout: 10_000 });
  await page.locator(`.task-history tr[data-id="${queuedId}"] .task-cancelled`).waitFor({ timeout: 10_000 });

  // --- text from the request and the primary's answer stays text.
  const evil = '<img src=x onerror="window.pwned=1">';
  await page.fill('#task-on', evil);
  await page.locator('.task-form button[type="submit"]').click();
  await page.locator('.task-form .form-status[data-kind="error"]').waitFor();
  assert.match((await page.locator('.task-form .form-status').textContent()) ?? '', /<img src=x/);
  assert.equal(await page.locator('main img').count(), 0);
  assert.equal(await page.evaluate(() => window.pwned), undefined);

  // --- the node page lists alpha's recent tasks, live, each linking to its detail.
  await page.goto(`${primary.api}/#/tasks/${encodeURIComponent(refusedId)}`); // straight to a task by its URL
  await refused.waitFor({ timeout: 10_000 });
  await refused.locator('.task-fields a[href^="#/node/"]').click();
  const nodeTasks = page.locator('.node-page .node-tasks');
  await nodeTasks.locator(`li[data-id="${refusedId}"][data-state="failed"]`).waitFor({ timeout: 10_000 });
  const alphaPart = (await getTaskChildren(primary.api, broadcastId)).find((c) => c.nodeId === ids.get('alpha'));
  assert.ok(alphaPart, 'alpha has a part of the broadcast');
  await nodeTasks.locator(`li[data-id="${alphaPart.id}"][data-state="succeeded"]`).waitFor();
  const listed = await nodeTasks.locator('li').evaluateAll((items) => items.map((li) => li.dataset.id));
  await nodeTasks.locator('.action-run-time').click();
  // The new task appears and turns succeeded, live.
  await page.waitForFunction(
    (known) =>
      [...document.querySelectorAll('.node-tasks li[data-state="succeeded"]')].some(
        (li) => !known.includes(li.dataset.id),
      ),
    listed,
    { timeout: 10_000 },
  );
  assert.equal(await nodeTasks.locator('li').first().locator('.task-link').textContent(), 'node.time');
  assert.equal(await nodeTasks.locator('li').first().getAttribute('data-state'), 'succeeded');
  await nodeTasks.locator(`li[data-id="${refusedId}"] .task-link`).click();
  await refused.waitFor({ timeout: 10_000 });

  // A bookmark of the broadcast: after a reload, the whole outcome.
  await page.goto(`${primary.api}/#/tasks/${encodeURIComponent(broadcastId)}`);
  await page.reload();
  await page.locator(`.task-detail[data-task="${broadcastId}"][data-state="succeeded"]`).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('.task-children tbody tr[data-state="succeeded"]').count(), 3);
  assert.deepEqual(scriptErrors(errors), []);
});

async function getTaskChildren(api: string, id: string): Promise<{ id: string; nodeId: string | null }[]> {
  const response = await fetch(`${api}/api/tasks/${encodeURIComponent(id)}`);
  return ((await response.json()) as { children?: { id: string; nodeId: string | null }[] }).children ?? [];
}

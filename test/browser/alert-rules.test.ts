// Alert rules edited on the alerts page, in real headless Chromium against a real primary and
// secondary (processes started through the CLI), with a config-file rule and a webhook channel:
// the rules table shows the defaults, the config file's rule read-only, the channel as a choice
// in the form. A clear on the wrong side of the threshold shows the primary's message in the form
// and creates nothing; a rule made in the form (CPU above 0 %, for 0: always true) is listed as
// made through the API and fires on the node; a default edited in the page (cpu-hot's threshold)
// becomes an API rule with the new value; removing both in the page removes the new rule and
// brings the default back. A summary that tries to inject HTML stays text.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Page } from 'playwright-core';
import { type DomWindow, launchBrowser, newPage, scriptErrors } from '../helpers/browser.js';
import { apiJson, tempDir } from '../helpers/cluster.js';
import { alertCluster, startHttpReceiver } from '../helpers/receivers.js';

declare const window: DomWindow;

const EVIL = '<img src=x onerror="window.pwned=1"> busy';

interface RuleView {
  name: string;
  kind: string;
  source: string;
  threshold?: number;
  clear?: number;
  channels?: string[];
}

async function getRules(api: string): Promise<RuleView[]> {
  return (await apiJson<{ rules: RuleView[] }>(api, 'GET', '/api/alerts/rules')).rules;
}

/** Clicks the form's Save and returns the POST's status and the body the page sent. */
async function save(page: Page): Promise<{ status: number; sent: Record<string, unknown> }> {
  const posted = page.waitForResponse(
    (r) => new URL(r.url()).pathname === '/api/alerts/rules' && r.request().method() === 'POST',
  );
  await page.locator('.rule-form button[type="submit"]').click();
  const response = await posted;
  return { status: response.status(), sent: response.request().postDataJSON() as Record<string, unknown> };
}

it('alert rules: made, refused, edited and removed on the alerts page; a rule made there fires', async (t) => {
  const context = await launchBrowser(t);
  if (!context) return;
  const hook = await startHttpReceiver(t);
  const { primary, nodeId } = await alertCluster(t, tempDir(t), {
    rules: ['[[alerts.rules]]', 'name = "fixed"', 'kind = "offline"', 'for = "1m"'],
    hookUrl: `${hook.url}/hook`,
  });

  // --- the table: a default with its condition in words, the config file's rule read-only.
  const { page, errors } = await newPage(context);
  await page.goto(`${primary.api}/#/alerts`);
  const rowOf = (name: string) => page.locator(`.rules tr[data-name="${name}"]`);
  await rowOf('cpu-hot').waitFor({ timeout: 10_000 });
  assert.equal(await rowOf('cpu-hot').getAttribute('data-source'), 'default');
  assert.equal(await rowOf('cpu-hot').locator('td.condition').textContent(), 'temperature above 80 °C (clear 75 °C)');
  assert.equal(await rowOf('cpu-hot').locator('td.for').textContent(), '5 min');
  assert.equal(await rowOf('cpu-hot').locator('.severity').textContent(), 'warning');
  assert.equal(await rowOf('under-voltage').locator('td.condition').textContent(), 'under-voltage now');
  assert.equal(await rowOf('node-offline').locator('td.condition').textContent(), 'offline');
  assert.equal(await rowOf('cpu-hot').locator('.action-remove').count(), 0);
  assert.equal(await rowOf('fixed').locator('button').count(), 0);
  assert.match((await rowOf('fixed').textContent()) ?? '', /config file/);
  assert.equal(await rowOf('fixed').locator('td.rule-source').textContent(), 'config');
  // The configured channel is a choice in the form.
  const hookBox = page.getByRole('checkbox', { name: 'hook' });
  await hookBox.waitFor({ timeout: 10_000 });

  // --- the form shows the fields of the kind chosen.
  const form = page.locator('.rule-form');
  assert.equal(await form.locator('h3').textContent(), 'New rule');
  await page.selectOption('#rule-kind', 'throttle');
  assert.equal(await page.locator('#rule-flag').isVisible(), true);
  assert.equal(await page.locator('#rule-threshold').isVisible(), false);
  await page.selectOption('#rule-kind', 'vital');
  assert.equal(await page.locator('#rule-flag').isVisible(), false);
  await page.selectOption('#rule-vital', 'diskFreePercent');
  assert.equal(await page.locator('#rule-mount').isVisible(), true);
  assert.equal(await page.locator('#rule-op').inputValue(), 'below', 'the side that is bad for disk free');
  await page.selectOption('#rule-vital', 'cpuPercent');
  assert.equal(await page.locator('#rule-mount').isVisible(), false);

  // --- a clear on the wrong side of the threshold: the primary's message in the form, nothing made.
  await page.fill('#rule-name', 'cpu-any');
  await page.selectOption('#rule-op', 'above');
  await page.fill('#rule-threshold', '50');
  await page.fill('#rule-clear', '60');
  const refused = await save(page);
  assert.equal(refused.status, 400);
  const alert = form.getByRole('alert');
  await alert.filter({ hasText: /clear \(60\) must be on the good side of threshold \(50\)/ }).waitFor();
  assert.equal(await alert.getAttribute('data-kind'), 'error');
  assert.equal(
    (await getRules(primary.api)).some((r) => r.name === 'cpu-any'),
    false,
  );

  // --- fixed in the form: CPU above 0 % for 0 always holds. Numbers go as numbers, empty fields
  // and other kinds' fields stay out of the body.
  await page.fill('#rule-threshold', '0');
  await page.fill('#rule-clear', '');
  await page.fill('#rule-for', '0');
  await page.fill('#rule-summary', EVIL);
  await hookBox.check();
  const made = await save(page);
  assert.equal(made.status, 201);
  assert.deepEqual(made.sent, {
    name: 'cpu-any',
    kind: 'vital',
    vital: 'cpuPercent',
    op: 'above',
    threshold: 0,
    for: '0',
    summary: EVIL,
    severity: 'warning',
    channels: ['hook'],
    enabled: true,
  });
  assert.equal(await alert.textContent(), '');
  await page.locator('.rules tr[data-name="cpu-any"][data-source="api"]').waitFor({ timeout: 10_000 });
  assert.equal(await rowOf('cpu-any').locator('td.condition').textContent(), 'cpuPercent above 0 %');
  assert.equal(await rowOf('cpu-any').locator('td.for').textContent(), 'at once');
  assert.equal(await rowOf('cpu-any').locator('td.rule-channels').textContent(), 'hook');
  assert.equal(await rowOf('cpu-any').locator('td.rule').getAttribute('title'), EVIL);
  assert.equal(await page.locator('main img').count(), 0);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  // The form is back to a new rule; the silence form offers the new rule.
  assert.equal(await page.locator('#rule-name').inputValue(), '');
  await page.locator('#silence-rule option[value="cpu-any"]').waitFor({ state: 'attached', timeout: 10_000 });
  assert.equal(await page.locator(`#silence-node option[value="${nodeId}"]`).textContent(), 'alpha');

  // --- it fires on the node: the open alerts list it.
  await page
    .locator(`.alert-list tr[data-rule="cpu-any"][data-node="${nodeId}"] .alert-firing`)
    .waitFor({ timeout: 15_000 });

  // Its Edit fills the form with it (the name kept); Cancel goes back to a new rule.
  await rowOf('cpu-any').locator('.action-edit').click();
  assert.equal(await form.locator('h3').textContent(), 'Edit rule cpu-any');
  assert.equal(await page.locator('#rule-name').inputValue(), 'cpu-any');
  assert.equal(await page.locator('#rule-name').getAttribute('readonly'), '');
  assert.equal(await page.locator('#rule-vital').inputValue(), 'cpuPercent');
  assert.equal(await page.locator('#rule-for').inputValue(), '0');
  assert.equal(await hookBox.isChecked(), true);
  await form.getByRole('button', { name: 'Cancel' }).click();
  assert.equal(await page.locator('#rule-name').inputValue(), '');
  assert.equal(await hookBox.isChecked(), false);

  // --- a default edited in the page: saved as an API rule of its name, with the new threshold.
  await rowOf('cpu-hot').locator('.action-edit').click();
  assert.equal(await form.locator('h3').textContent(), 'Edit rule cpu-hot');
  assert.equal(await page.locator('#rule-threshold').inputValue(), '80');
  assert.equal(await page.locator('#rule-clear').inputValue(), '75');
  assert.equal(await page.locator('#rule-for').inputValue(), '5m');
  await page.fill('#rule-threshold', '85');
  const edited = await save(page);
  assert.equal(edited.status, 201);
  await page.locator('.rules tr[data-name="cpu-hot"][data-source="api"]').waitFor({ timeout: 10_000 });
  assert.equal(await rowOf('cpu-hot').locator('td.condition').textContent(), 'temperature above 85 °C (clear 75 °C)');
  const cpuHot = (await getRules(primary.api)).filter((r) => r.name === 'cpu-hot');
  assert.deepEqual(
    cpuHot.map((r) => [r.source, r.threshold, r.clear]),
    [['api', 85, 75]],
  );

  // --- removed in the page: the new rule is gone, the default comes back.
  await rowOf('cpu-any').locator('.action-remove').click();
  await rowOf('cpu-any').waitFor({ state: 'detached', timeout: 10_000 });
  assert.equal(
    (await getRules(primary.api)).some((r) => r.name === 'cpu-any'),
    false,
  );
  await rowOf('cpu-hot').locator('.action-remove').click();
  await page.locator('.rules tr[data-name="cpu-hot"][data-source="default"]').waitFor({ timeout: 10_000 });
  assert.equal(await rowOf('cpu-hot').locator('td.condition').textContent(), 'temperature above 80 °C (clear 75 °C)');
  const back = (await getRules(primary.api)).filter((r) => r.name === 'cpu-hot');
  assert.deepEqual(
    back.map((r) => [r.source, r.threshold]),
    [['default', 80]],
  );
  assert.deepEqual(scriptErrors(errors), []);
});

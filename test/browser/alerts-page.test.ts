// The alerts UI in real headless Chromium against a real primary and secondary (processes started
// through the CLI), with a webhook channel pointed at a receiver in this test: a rule that always
// holds fires on the node's first sample; the alerts page lists it as firing, the node's row and
// page carry the badge and the header counts it; the channel gets the firing message, then
// repeats. A silence made in the page (the alert's "Silence" button, then the form) stops the
// repeats while the alert keeps firing, silenced, its held-back count growing; removing the
// silence in the page lets them out again. A comment that tries to inject HTML stays text.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { it, type TestContext } from 'node:test';
import { type DomDocument, type DomWindow, launchBrowser, newPage, scriptErrors } from '../helpers/browser.js';
import { apiJson, tempDir, waitUntil } from '../helpers/cluster.js';
import { alertCluster } from '../helpers/receivers.js';

// Browser globals for the callbacks that run inside the page (see DomDocument in the helper).
declare const document: DomDocument;
declare const window: DomWindow;

const REPEAT_MS = 2000;
/** The deliberate quiet window after the silence: three repeat intervals and a margin. */
const QUIET_WINDOW_MS = 3 * REPEAT_MS + 500;

interface AlertView {
  id: string;
  rule: string;
  node: string;
  state: string;
  silenced: boolean;
  suppressed: number;
  notified: number;
}

/** One POST the webhook receiver got: the message's type, when the primary decided to send it, when it came. */
interface HookMessage {
  type: string;
  sentAt: number;
  receivedAt: number;
}

/** An HTTP receiver for the webhook channel, closed when the test ends. */
async function startReceiver(t: TestContext): Promise<{ url: string; messages: HookMessage[] }> {
  const messages: HookMessage[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      const receivedAt = Date.now();
      try {
        const message = JSON.parse(body) as { type?: unknown; sentAt?: unknown };
        messages.push({ type: String(message.type), sentAt: Number(message.sentAt), receivedAt });
      } catch {
        messages.push({ type: 'not JSON', sentAt: Number.NaN, receivedAt });
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, messages };
}

async function openAlerts(api: string): Promise<AlertView[]> {
  return (await apiJson<{ alerts: AlertView[] }>(api, 'GET', '/api/alerts')).alerts;
}

it('alerts page: a firing alert is listed, badged on its node and counted; a silence made in the page stops its repeats', async (t) => {
  const context = await launchBrowser(t);
  if (!context) return;
  const receiver = await startReceiver(t);
  const rules = ['[[alerts.rules]]', 'name = "busy"', 'kind = "vital"', 'vital = "cpuPercent"'];
  const { primary, nodeId } = await alertCluster(t, tempDir(t), {
    // Threshold 0 always holds: it fires on the first sample.
    rules: [...rules, 'threshold = 0', `repeat = "${REPEAT_MS}ms"`],
    hookUrl: receiver.url,
  });
  const alert = await waitUntil(
    async () =>
      (await openAlerts(primary.api)).find((a) => a.rule === 'busy' && a.node === nodeId && a.state === 'firing'),
    15_000,
    'the busy alert firing',
  );

  // --- the alerts page lists it as firing, with its node by name; the header counts it.
  const { page, errors } = await newPage(context);
  await page.goto(`${primary.api}/#/alerts`);
  const row = page.locator(`.alert-list tr[data-id="${alert.id}"]`);
  await row.locator('.alert-firing').waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('nav a[data-nav="alerts"]').getAttribute('aria-current'), 'page');
  assert.equal(await row.getAttribute('data-rule'), 'busy');
  assert.equal(await row.locator(`a[href="#/node/${nodeId}"]`).textContent(), 'alpha');
  assert.match((await row.locator('td.detail').textContent()) ?? '', /CPU/);
  assert.equal(await row.getAttribute('data-silenced'), 'false');
  const count = page.locator('[data-testid="alerts-count"]');
  await count.waitFor({ state: 'visible', timeout: 10_000 });
  assert.ok(Number(await count.textContent()) >= 1, `header count ${await count.textContent()}`);
  // The channel sent the firing message; the history has the alert.
  await page.waitForFunction(
    () => Number(document.querySelector('.channels tr[data-name="hook"] .sent')?.textContent) >= 1,
    undefined,
    { timeout: 10_000 },
  );
  await page.locator(`.alert-history tr[data-id="${alert.id}"] .alert-firing`).waitFor({ timeout: 10_000 });

  // --- the node's row in the overview, and its page, carry the badge with the rule in its title.
  await page.locator('nav a[data-nav="overview"]').click();
  const badge = page.locator(`.row.node[data-id="${nodeId}"] [data-testid="alert-badge"]`);
  await badge.waitFor({ state: 'visible', timeout: 10_000 });
  assert.equal(await badge.getAttribute('data-count'), '1');
  assert.match((await badge.getAttribute('title')) ?? '', /busy/);
  await page.locator(`.row.node[data-id="${nodeId}"] .name-link`).click();
  const nodeBadge = page.locator('.node-page .node-head [data-testid="alert-badge"]');
  await nodeBadge.waitFor({ state: 'visible', timeout: 10_000 });
  assert.match((await nodeBadge.getAttribute('title')) ?? '', /busy/);

  // --- the channel repeats the firing alert every REPEAT_MS.
  await waitUntil(() => receiver.messages.some((m) => m.type === 'repeat'), 5 * REPEAT_MS, 'a repeat at the receiver');
  assert.ok(
    receiver.messages.some((m) => m.type === 'firing'),
    JSON.stringify(receiver.messages),
  );

  // --- a silence made in the page: "Silence" on the alert fills the form with its rule and node.
  await page.locator('nav a[data-nav="alerts"]').click();
  await row.locator('.action-silence').click();
  assert.equal(await page.locator('#silence-rule').inputValue(), 'busy');
  assert.equal(await page.locator('#silence-node').inputValue(), nodeId);
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'silence-for');
  await page.selectOption('#silence-for', '1h');
  const evil = '<img src=x onerror="window.pwned=1"> maintenance';
  await page.fill('#silence-comment', evil);
  const posted = page.waitForResponse(
    (r) => new URL(r.url()).pathname === '/api/silences' && r.request().method() === 'POST',
  );
  await page.locator('.silence-form button[type="submit"]').click();
  const response = await posted;
  const silencedAt = Date.now();
  assert.equal(response.status(), 201);
  const { silence } = (await response.json()) as { silence: { id: string; rule: string; node: string } };
  assert.equal(silence.rule, 'busy');
  assert.equal(silence.node, nodeId);
  // The page lists the silence (its comment as text), and the alert turns silenced, live.
  const silenceRow = page.locator(`.silences tr[data-id="${silence.id}"]`);
  await silenceRow.waitFor({ timeout: 10_000 });
  assert.equal(await silenceRow.locator('td.comment').textContent(), evil);
  assert.match((await silenceRow.locator('td.scope').textContent()) ?? '', /rule busy · node alpha/);
  assert.equal(await page.locator('main img').count(), 0);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  await page.locator(`.alert-list tr[data-id="${alert.id}"][data-silenced="true"] .mark-silenced`).waitFor();
  const suppressedBefore = (await openAlerts(primary.api)).find((a) => a.id === alert.id)?.suppressed ?? 0;

  // Nothing the primary decides to send after the silence reaches the receiver, over three
  // repeat intervals (a message decided just before it may still arrive: it is sentAt-stamped).
  await new Promise((resolve) => setTimeout(resolve, QUIET_WINDOW_MS));
  const late = receiver.messages.filter((m) => m.receivedAt >= silencedAt && !(m.sentAt < silencedAt));
  assert.deepEqual(late, [], 'messages sent after the silence');
  const after = (await openAlerts(primary.api)).find((a) => a.id === alert.id);
  assert.ok(after, 'the alert is still open');
  assert.equal(after.state, 'firing');
  assert.equal(after.silenced, true);
  assert.ok(after.suppressed >= suppressedBefore + 2, `suppressed ${suppressedBefore} → ${after.suppressed}`);

  // --- removing the silence in the page: the alert is no longer silenced, and repeats again.
  await silenceRow.locator('.action-remove').click();
  const removedAt = Date.now();
  await silenceRow.waitFor({ state: 'detached', timeout: 10_000 });
  await page.locator(`.alert-list tr[data-id="${alert.id}"][data-silenced="false"]`).waitFor({ timeout: 10_000 });
  await waitUntil(
    () => receiver.messages.some((m) => m.type === 'repeat' && m.sentAt >= removedAt),
    3 * REPEAT_MS,
    'a repeat after the silence was removed',
  );
  assert.deepEqual(scriptErrors(errors), []);
});

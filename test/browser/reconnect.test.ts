// The primary going away and coming back, in real headless Chromium: the page says so (a banner),
// keeps what it showed, and recovers by itself — same page, no reload — with the nodes online
// again and fresh vitals flowing. Also: an API answering 401 sends the browser to /login, and the
// dashboard behind the real login (as off loopback) works once logged in.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import {
  type DomDocument,
  type DomWindow,
  launchBrowser,
  newPage,
  rowOf,
  SAMPLE_NODES,
  scriptErrors,
  startDashboardCluster,
  startDashboardServer,
  waitForVitals,
} from '../helpers/browser.js';
import { waitUntil } from '../helpers/cluster.js';

// Browser globals for the callbacks that run inside the page (see DomDocument in the helper).
declare const document: DomDocument;
declare const window: DomWindow;

it('the primary going away shows a banner; the page recovers by itself when it is back', async (t) => {
  const context = await launchBrowser(t);
  if (!context) return;
  const cluster = await startDashboardCluster(t, { nodes: SAMPLE_NODES.slice(0, 3) });
  await waitForVitals(cluster);
  const { page, errors } = await newPage(context);
  await page.goto(cluster.url);
  await page.locator('#overview[data-rows="3"]').waitFor();
  await page.locator('body[data-connection="live"]').waitFor();
  assert.equal(await page.locator('#banner').isHidden(), true);
  await page.evaluate(() => {
    window.marker = 'same page';
  });

  // Gone: cluster listener, store and web server all stop, as in a crash of the process.
  await cluster.stopPrimary();
  await page.locator('#banner[data-kind="down"]').waitFor({ timeout: 5000 });
  assert.match((await page.locator('#banner').textContent()) ?? '', /primary is not reachable/i);
  assert.equal(await page.locator('body').getAttribute('data-connection'), 'down');
  assert.equal(await page.locator('.conn-text').textContent(), 'reconnecting…');
  // What was on screen stays on screen.
  assert.equal(await page.locator('#overview').getAttribute('data-rows'), '3');

  // A few seconds later it is back (same data dir and ports); the nodes reconnect by themselves.
  await new Promise((r) => setTimeout(r, 2000));
  const id = cluster.secondaries[0]!.nodeId;
  await cluster.startPrimary();
  await waitUntil(() => cluster.primary.nodes().every((n) => n.state === 'online'), 10_000, 'nodes back online');
  const backAt = Date.now();
  await page.locator('body[data-connection="live"]').waitFor({ timeout: 10_000 });
  console.log(`page live again ${Date.now() - backAt} ms after the primary was back`);
  await page.locator('#banner[data-kind="ok"]').waitFor();
  await page.locator('#banner').waitFor({ state: 'hidden', timeout: 5000 });

  // Same page, nodes online, vitals flowing again (a fresh sample reaches the screen).
  assert.equal(await page.evaluate(() => window.marker), 'same page');
  for (const node of SAMPLE_NODES.slice(0, 3)) {
    await rowOf(page, node.name).locator('.badge.state-online').waitFor({ timeout: 10_000 });
  }
  const seq = cluster.primary.node(id)?.vitals?.seq ?? 0;
  await waitUntil(() => (cluster.primary.node(id)?.vitals?.seq ?? 0) > seq + 2, 5000, 'new samples');
  await page.goto(`${cluster.url}/#/node/${id}`); // the node page reads the live store too
  await page.waitForFunction(
    (s) => Number(/#(\d+)/.exec(document.querySelector('#now-title + dl')?.textContent ?? '')?.[1]) > s,
    seq,
    { timeout: 5000 },
  );
  assert.deepEqual(scriptErrors(errors), []);
});

it('a 401 from the API sends the browser to the login page', async (t) => {
  const context = await launchBrowser(t);
  if (!context) return;
  const cluster = await startDashboardCluster(t);
  const { page } = await newPage(context);
  // As the API answers off loopback without a session.
  await page.route('**/api/**', (route) =>
    route.fulfill({
      status: 401,
      contentType: 'application/json',
      body: JSON.stringify({ error: { code: 'ERR_AUTH', message: 'log in at /login' } }),
    }),
  );
  await page.route('**/login', (route) =>
    route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>login</h1>' }),
  );
  await page.goto(cluster.url);
  await page.waitForURL(/\/login$/, { timeout: 5000 });
});

it('behind the login: /login first, then the dashboard and its stream with the session cookie', async (t) => {
  const context = await launchBrowser(t);
  if (!context) return;
  const cluster = await startDashboardCluster(t, { nodes: SAMPLE_NODES.slice(0, 2) });
  await waitForVitals(cluster);
  const adminToken = 'browser-test-admin-token-0123456789abcdef';
  const web = await startDashboardServer(cluster.primary, 0, 200, adminToken);
  t.after(() => web.close());
  const url = `http://127.0.0.1:${web.port}`;
  const { page, errors } = await newPage(context);
  await page.goto(url);
  await page.waitForURL(/\/login$/);
  await page.fill('input[name="token"]', 'wrong-token');
  await page.locator('form button[type="submit"]').click();
  await page.waitForURL(/\/login\?failed/);
  await page.fill('input[name="token"]', adminToken);
  await page.locator('form button[type="submit"]').click();
  await page.waitForURL(`${url}/`);
  await page.locator('#overview[data-rows="2"]').waitFor();
  await page.locator('body[data-connection="live"]').waitFor();
  await rowOf(page, SAMPLE_NODES[0]!.name).locator('.c-cpu .num').waitFor();
  assert.deepEqual(scriptErrors(errors), []);
  // The session ends (cookie gone): the next API call sends the browser back to the login. (The
  // node page's chart module may be refused too on the way, which is as it should be.)
  await context.clearCookies();
  await page.locator('.row.node .name-link').first().click();
  await page.waitForURL(/\/login$/, { timeout: 5000 });
});

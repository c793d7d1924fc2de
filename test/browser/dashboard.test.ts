// The overview in real headless Chromium: every node with its vitals and version, live updates
// without a reload, a SIGKILLed secondary (a real process) turning `lost` on screen within the
// detection time, sort and filter, nodes on different versions, the events page following the
// log, and node names that try to inject HTML staying text.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it, type TestContext } from 'node:test';
import type { Page } from 'playwright-core';
import type { Primary } from '../../src/primary/primary.js';
import { Secondary } from '../../src/secondary/secondary.js';
import {
  type DashboardCluster,
  type DomDocument,
  type DomWindow,
  fakeInfo,
  fakeVitals,
  launchBrowser,
  newPage,
  rowOf,
  SAMPLE_NODES,
  scriptErrors,
  startDashboardCluster,
  waitForVitals,
} from '../helpers/browser.js';
import { nodeIdOf, startSecondary, waitUntil } from '../helpers/cluster.js';

// Browser globals for the callbacks that run inside the page (see DomDocument in the helper).
declare const document: DomDocument;
declare const window: DomWindow;
declare const location: { hash: string };

const HEARTBEAT_MS = 300;
/** The version real processes report (the fake nodes of the helper all say 0.1.0). */
const PACKAGE_VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

it('overview: nodes and vitals live, a killed secondary turns lost without a reload', async (t) => {
  const context = await launchBrowser(t);
  if (!context) return;
  const cluster = await startDashboardCluster(t, { nodes: SAMPLE_NODES.slice(0, 4), heartbeatMs: HEARTBEAT_MS });
  // Two nodes as real processes, so they can die for real: SIGKILL (no goodbye, the kernel closes
  // the socket) and SIGSTOP (a hung machine or a pulled cable: the link stays open but silent, so
  // only the missed heartbeats tell).
  const victimDir = join(cluster.dir, 'victim');
  const real = (name: string, dataDir: string) =>
    startSecondary(
      t,
      { port: cluster.primary.port, dataDir: cluster.dir },
      {
        dataDir,
        name,
        tokenFile: cluster.tokenFile,
        args: ['--labels', 'rack=9', '--primary-fingerprint', cluster.primary.tlsFingerprint as string],
      },
    );
  const victim = real('victim-node', victimDir);
  const frozen = real('frozen-node', join(cluster.dir, 'frozen'));
  await waitUntil(() => cluster.primary.nodes().length === 6, 20_000, 'the real secondaries to join');
  await waitForVitals(cluster);

  const { page, errors } = await newPage(context);
  await page.goto(cluster.url);
  await page.locator('#overview[data-rows="6"]').waitFor({ timeout: 10_000 });
  await page.evaluate(() => {
    window.marker = 'same page';
  });

  // Every node with its state and vitals.
  for (const node of SAMPLE_NODES.slice(0, 4)) {
    const row = rowOf(page, node.name);
    assert.equal(await row.locator('.c-state').textContent(), 'online', node.name);
    assert.match((await row.locator('.c-cpu .num').textContent()) ?? '', /^\d+(\.\d)?%$/, `${node.name} CPU`);
    assert.match((await row.locator('.c-ram .num').textContent()) ?? '', /^\d+(\.\d)?%$/, `${node.name} RAM`);
    assert.match((await row.locator('.c-temp .num').textContent()) ?? '', /^\d+\.\d °C$/, `${node.name} temp`);
    assert.match((await row.locator('.c-load').textContent()) ?? '', /^\d+\.\d\d \d+\.\d\d \d+\.\d\d$/);
    assert.match((await row.locator('.c-uptime').textContent()) ?? '', /\d+ (d|h|min|s)/);
    assert.equal(await row.locator('.c-version').textContent(), '0.1.0', `${node.name} version`);
    for (const [k, v] of Object.entries(node.labels ?? {})) {
      assert.ok(await row.locator('.chip', { hasText: `${k}=${v}` }).count(), `${node.name} label ${k}`);
    }
  }
  assert.equal(await rowOf(page, 'victim-node').locator('.c-version').textContent(), PACKAGE_VERSION);
  assert.equal(await page.locator('[role=columnheader][data-key="version"]').textContent(), 'Version');
  assert.equal(await page.locator('.t-online .value').textContent(), '6');
  assert.equal(await page.locator('.t-nodes .value').textContent(), '6');

  // Vitals change on screen without a reload (fake CPU is jittered at every 300 ms sample).
  const cpuBefore = await rowOf(page, 'pi-worker-1').locator('.c-cpu .num').textContent();
  await page.waitForFunction(
    (before) => {
      const row = [...document.querySelectorAll('.row.node')].find(
        (r) => r.querySelector('.name-link')?.textContent === 'pi-worker-1',
      );
      return row?.querySelector('.c-cpu .num')?.textContent !== before;
    },
    cpuBefore,
    { timeout: 5000 },
  );

  // SIGKILL: the row turns lost live, within the detection time (3 heartbeats) plus slack.
  const victimRow = rowOf(page, 'victim-node');
  assert.equal(await victimRow.locator('.c-state').textContent(), 'online');
  const killedAt = Date.now();
  victim.kill('SIGKILL');
  await victimRow.locator('.badge.state-lost').waitFor({ timeout: 3 * HEARTBEAT_MS + 3000 });
  const seenLostMs = Date.now() - killedAt;
  console.log(`victim shown lost ${seenLostMs} ms after SIGKILL`);
  assert.equal(cluster.primary.node(nodeIdOf(victimDir))?.state, 'lost');
  assert.equal(await page.locator('.t-lost .value').textContent(), '1');
  assert.equal(await page.locator('.t-online .value').textContent(), '5');

  // SIGSTOP: silent, so lost after 3 missed heartbeats; on screen within that plus slack.
  const frozenRow = rowOf(page, 'frozen-node');
  const stoppedAt = Date.now();
  frozen.kill('SIGSTOP');
  await frozenRow.locator('.badge.state-lost').waitFor({ timeout: 4 * HEARTBEAT_MS + 3000 });
  const frozenLostMs = Date.now() - stoppedAt;
  console.log(
    `frozen node shown lost ${frozenLostMs} ms after SIGSTOP (detection: 3 heartbeats = ${3 * HEARTBEAT_MS} ms)`,
  );
  assert.ok(frozenLostMs >= 2 * HEARTBEAT_MS, `lost after ${frozenLostMs} ms: too early for heartbeats`);
  frozen.kill('SIGKILL');
  assert.equal(await page.locator('.t-lost .value').textContent(), '2');
  assert.equal(await page.evaluate(() => window.marker), 'same page');

  // Sort by CPU, biggest first: pi-worker-1 (67 %) above pi-master (23 %) above pi-worker-3 (12 %).
  await page.locator('[role=columnheader] button.sort[data-key="cpu"]').click();
  await page.waitForFunction(() => location.hash.includes('sort=-cpu'));
  await page.locator('#overview[data-sort="-cpu"]').waitFor();
  const order = await page.locator('.row.node .name-link').allTextContents();
  const online = order.filter((n) => !n.endsWith('-node'));
  assert.ok(online.indexOf('pi-worker-1') < online.indexOf('pi-master'), order.join(','));
  assert.ok(online.indexOf('pi-master') < online.indexOf('pi-worker-3'), order.join(','));
  assert.equal(await page.locator('[role=columnheader][data-key="cpu"]').getAttribute('aria-sort'), 'descending');

  // Filter by label, by name, by state.
  await page.fill('#filter', 'rack=1');
  await page.locator('#overview[data-rows="3"]').waitFor();
  assert.deepEqual((await page.locator('.row.node .name-link').allTextContents()).sort(), [
    'pi-master',
    'pi-worker-1',
    'pi-worker-2',
  ]);
  await page.fill('#filter', 'worker-3');
  await page.locator('#overview[data-rows="1"]').waitFor();
  await page.fill('#filter', '');
  await page.selectOption('#state-filter', 'lost');
  await page.locator('#overview[data-rows="2"]').waitFor();
  assert.deepEqual((await page.locator('.row.node .name-link').allTextContents()).sort(), [
    'frozen-node',
    'victim-node',
  ]);
  await page.locator('.t-lost').click(); // the tile toggles the same filter off
  await page.locator('#overview[data-rows="6"]').waitFor();

  // The events page shows the log and follows it live: a node leaving appears without a reload.
  await page.locator('nav a[data-nav="events"]').click();
  await page.locator('.events-page tr[data-type="joined"]').first().waitFor();
  await page.locator('.events-page tr[data-type="lost"]', { hasText: 'victim-node' }).waitFor();
  await cluster.secondaries[3]?.stop('maintenance');
  await page.locator('.events-page tr[data-type="left"]', { hasText: 'pi-worker-3' }).waitFor({ timeout: 5000 });
  assert.match(
    (await page.locator('.events-page tr[data-type="left"] .details').first().textContent()) ?? '',
    /maintenance/,
  );

  // Back on the overview (kept alive while hidden) the node is left.
  await page.goBack();
  await rowOf(page, 'pi-worker-3').locator('.badge.state-left').waitFor();
  assert.equal(await page.evaluate(() => window.marker), 'same page');
  assert.deepEqual(scriptErrors(errors), []);
});

it('overview: names and labels from the network are shown as text, never as HTML', async (t) => {
  const context = await launchBrowser(t);
  if (!context) return;
  const evil = '<img src=x onerror="window.pwned=1">';
  const cluster = await startDashboardCluster(t, {
    nodes: [{ name: evil, labels: { note: '<script>window.pwned=2</script>', tag: '"><b>x' }, cpu: 10, tempC: 40 }],
  });
  await waitForVitals(cluster);
  const { page, errors } = await newPage(context);
  await page.goto(cluster.url);
  await page.locator('#overview[data-rows="1"]').waitFor();
  assert.equal(await page.locator('.name-link').textContent(), evil);
  assert.equal(await page.locator('.row.node img').count(), 0);
  assert.equal(await page.locator('.row.node b').count(), 0);
  assert.ok(await page.locator('.chip', { hasText: 'note=<script>' }).count());
  await page.locator('.name-link').click();
  await page.locator('.node-page h1', { hasText: evil }).waitFor();
  await page.locator('.node-page .event-list li[data-type="joined"]').waitFor();
  await page.goto(`${cluster.url}/#/events`);
  await page.locator('.events-page tr[data-type="joined"]').waitFor();
  assert.equal(await page.locator('main img, main script, main b').count(), 0);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  assert.deepEqual(scriptErrors(errors), []);
});

/** An in-process node that reports `version` (the helper's fake nodes all report 0.1.0). */
async function startNodeOnVersion(
  t: TestContext,
  cluster: DashboardCluster,
  name: string,
  version: string,
): Promise<Secondary> {
  const node = { name, labels: { role: 'worker' }, cpu: 30, tempC: 50 };
  const secondary = new Secondary({
    primary: `127.0.0.1:${cluster.primary.port}`,
    dataDir: join(cluster.dir, name),
    name,
    labels: node.labels,
    token: cluster.token,
    tls: { fingerprint: cluster.primary.tlsFingerprint as string },
    heartbeatIntervalMs: HEARTBEAT_MS,
    vitalsPeriodMs: 300,
    stopTimeoutMs: 500,
    version,
    machineInfo: async () => ({ ...fakeInfo(node), version }),
    machineId: async () => `browser-test-version-${name}`,
    vitals: { read: async () => fakeVitals(node) },
  });
  t.after(() => secondary.stop('test over').catch(() => undefined));
  const online = new Promise((resolve) => secondary.once('online', resolve));
  await secondary.start();
  await online;
  return secondary;
}

it('overview: nodes on different versions show in the Version column, the totals and the filter', async (t) => {
  const context = await launchBrowser(t);
  if (!context) return;
  const cluster = await startDashboardCluster(t, { nodes: SAMPLE_NODES.slice(0, 2) }); // 0.1.0
  // 0.9.0 and 0.10.0: a text sort would put 0.10.0 first; by dotted parts it is the newest.
  const old = await startNodeOnVersion(t, cluster, 'pi-old', '0.9.0');
  const canary = await startNodeOnVersion(t, cluster, 'pi-canary', '0.10.0');
  await waitForVitals(cluster);
  const { page, errors } = await newPage(context);
  await page.goto(cluster.url);
  await page.locator('#overview[data-rows="4"]').waitFor();
  assert.equal(await rowOf(page, 'pi-master').locator('.c-version').textContent(), '0.1.0');
  assert.equal(await rowOf(page, 'pi-old').locator('.c-version').textContent(), '0.9.0');
  assert.equal(await rowOf(page, 'pi-canary').locator('.c-version .version').getAttribute('title'), 'picluster 0.10.0');

  // The totals say the fleet is split, and which versions.
  const versions = page.locator('.t-versions');
  assert.equal(await versions.isVisible(), true);
  assert.equal(await versions.locator('.label').textContent(), 'Versions');
  assert.equal(await versions.locator('.value').textContent(), '3');
  assert.equal(await versions.locator('.sub').textContent(), '0.1.0, 0.9.0, 0.10.0');
  assert.equal(await versions.getAttribute('title'), '0.1.0 on 2 nodes, 0.9.0 on 1 node, 0.10.0 on 1 node');

  // Sorted by version, oldest first (ties by name), then newest first.
  await page.locator('[role=columnheader] button.sort[data-key="version"]').click();
  await page.locator('#overview[data-sort="version"]').waitFor();
  assert.deepEqual(await page.locator('.row.node .name-link').allTextContents(), [
    'pi-master',
    'pi-worker-1',
    'pi-old',
    'pi-canary',
  ]);
  assert.equal(await page.locator('[role=columnheader][data-key="version"]').getAttribute('aria-sort'), 'ascending');
  await page.locator('[role=columnheader] button.sort[data-key="version"]').click();
  await page.locator('#overview[data-sort="-version"]').waitFor();
  assert.deepEqual(await page.locator('.row.node .name-link').allTextContents(), [
    'pi-canary',
    'pi-old',
    'pi-master',
    'pi-worker-1',
  ]);

  // `version=` filters on a release series: 0.1 is 0.1.x, not 0.10.0.
  await page.fill('#filter', 'version=0.1');
  await page.locator('#overview[data-rows="2"]').waitFor();
  assert.deepEqual((await page.locator('.row.node .name-link').allTextContents()).sort(), ['pi-master', 'pi-worker-1']);
  await page.fill('#filter', 'version=0.10.0');
  await page.locator('#overview[data-rows="1"]').waitFor();
  assert.equal(await page.locator('.row.node .name-link').textContent(), 'pi-canary');
  await page.fill('#filter', 'version=0.1 role=worker');
  await page.locator('#overview[data-rows="1"]').waitFor();
  await page.fill('#filter', '');
  await page.locator('#overview[data-rows="4"]').waitFor();

  // Nodes that left count no more: one version left, the tile goes away (live, no reload).
  await canary.stop('upgraded the rest');
  await page.locator('.t-versions .value', { hasText: '2' }).waitFor();
  await old.stop('decommissioned');
  await versions.waitFor({ state: 'hidden' });
  assert.equal(await rowOf(page, 'pi-old').locator('.c-version').textContent(), '0.9.0'); // still its row
  assert.deepEqual(scriptErrors(errors), []);
});

/**
 * Waits until the events page shows every event of the primary's log (up to 2,000): the live ones
 * too, since a loaded machine may add a lost and a joined of its own while a test runs.
 */
async function waitForWholeLog(page: Page, primary: Primary): Promise<void> {
  const logSize = async () => {
    const newest = await primary.history.events({ limit: 1000 });
    return newest.length + (await primary.history.events({ limit: 1000, before: newest.at(-1)?.id })).length;
  };
  await waitUntil(
    async () => Number(await page.locator('.events-page').getAttribute('data-rows')) === (await logSize()),
    10_000,
    'every event of the log on the page',
  );
}

it('events page: "Show more" pages back through the whole log, past what one request may ask', async (t) => {
  const context = await launchBrowser(t);
  if (!context) return;
  const cluster = await startDashboardCluster(t, { nodes: SAMPLE_NODES.slice(0, 1) });
  await waitForVitals(cluster);
  // 1,200 old events: more than the API gives in one answer (limit ≤ 1,000).
  const base = Date.now() - 3_600_000;
  await cluster.primary.store.applyNodeChanges(
    Array.from({ length: 1200 }, (_, i) => ({ op: 'event', ts: base + i, nodeId: null, type: 'note', data: { i } })),
  );
  const { page, errors } = await newPage(context);
  await page.goto(`${cluster.url}/#/events`);
  await page.locator('.events-page[data-rows="200"]').waitFor();
  for (let shown = 400; shown <= 1200; shown += 200) {
    await page.locator('.events-page button.more').click();
    await page.locator(`.events-page[data-rows="${shown}"]`).waitFor();
  }
  // The last page: the cluster's own events from before the notes; then nothing older.
  await page.locator('.events-page button.more').click();
  await page.locator('.events-page button.more').waitFor({ state: 'hidden' });
  await waitForWholeLog(page, cluster.primary);
  assert.equal(await page.locator('.events-page tr[data-type="note"]').last().locator('.details').textContent(), 'i=0');
  assert.deepEqual(scriptErrors(errors), []);
});

it('events page: events that arrive live past a page bring "Show more" back', async (t) => {
  const context = await launchBrowser(t);
  if (!context) return;
  const cluster = await startDashboardCluster(t, { nodes: SAMPLE_NODES.slice(0, 1) });
  await waitForVitals(cluster);
  const { page, errors } = await newPage(context);
  await page.goto(`${cluster.url}/#/events`);
  await page.locator('.events-page tr[data-type="joined"]').first().waitFor();
  const more = page.locator('.events-page button.more');
  await more.waitFor({ state: 'hidden' }); // a young cluster: the whole log fits a page
  const before = Number(await page.locator('.events-page').getAttribute('data-rows'));
  await cluster.primary.store.applyNodeChanges(
    Array.from({ length: 300 }, (_, i) => ({ op: 'event', ts: Date.now(), nodeId: null, type: 'note', data: { i } })),
  );
  // Live: the page follows the log, shows a page of it and offers the rest.
  await page.locator('.events-page[data-rows="200"]').waitFor();
  await more.waitFor({ state: 'visible' });
  await more.click();
  await more.waitFor({ state: 'hidden' });
  await waitForWholeLog(page, cluster.primary);
  assert.ok(Number(await page.locator('.events-page').getAttribute('data-rows')) >= before + 300);
  assert.deepEqual(scriptErrors(errors), []);
});

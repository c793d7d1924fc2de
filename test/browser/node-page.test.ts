// A node's page in real headless Chromium: machine info, vitals now, uPlot charts that drew data
// points (the canvas has pixels, the figure says how many points) and grow live, the range
// buttons, recent events, a machine without a temperature sensor, and an unknown node id.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Page } from 'playwright-core';
import {
  backfillHistory,
  type DomDocument,
  launchBrowser,
  newPage,
  SAMPLE_NODES,
  scriptErrors,
  startDashboardCluster,
  waitForVitals,
} from '../helpers/browser.js';

// Browser globals for the callbacks that run inside the page (see DomDocument in the helper).
declare const document: DomDocument;
declare const location: { hash: string };

/** Points the figure of `vital` says it drew, and how many canvas pixels are not blank. */
async function chartOf(page: Page, vital: string): Promise<{ points: number; inked: number }> {
  return page.evaluate((v) => {
    const figure = document.querySelector(`figure.chart[data-vital="${v}"]`);
    const canvas = figure?.querySelector('canvas');
    if (!figure || !canvas) return { points: -1, inked: -1 };
    const ctx = canvas.getContext('2d');
    const pixels = ctx?.getImageData(0, 0, canvas.width, canvas.height).data ?? new Uint8ClampedArray();
    let inked = 0;
    for (let i = 3; i < pixels.length; i += 4) if ((pixels[i] ?? 0) > 0) inked++;
    return { points: Number(figure.dataset.points), inked };
  }, vital);
}

it('node page: machine info, charts with data points, live growth, ranges, events', async (t) => {
  const context = await launchBrowser(t);
  if (!context) return;
  const worker = SAMPLE_NODES[2]!; // pi-worker-2: hot and throttled
  const vm = SAMPLE_NODES[6]!; // edge-vm: no temperature sensor
  const cluster = await startDashboardCluster(t, { nodes: [worker, vm], vitalsMs: 200 });
  await waitForVitals(cluster);
  const id = cluster.primary.nodes().find((n) => n.name === worker.name)!.id;
  await backfillHistory(cluster.primary, id, worker); // 30 days of stored history

  const { page, errors } = await newPage(context);
  await page.goto(`${cluster.url}/#/node/${encodeURIComponent(id)}`);
  await page.locator('.node-page[data-charts="ready"]').waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('.node-page h1').textContent(), worker.name);
  assert.equal(await page.locator('.node-head .badge').textContent(), 'online');
  const machine = (await page.locator('#machine-title + dl').textContent()) ?? '';
  assert.match(machine, /Raspberry Pi 4 Model B Rev 1\.4/);
  assert.match(machine, /Cortex-A72 · 4 cores · arm64/);
  const now = (await page.locator('#now-title + dl').textContent()) ?? '';
  assert.match(now, /Temperature\d+\.\d °C/);
  assert.match(now, /Throttlednow: soft-temp-limit/);
  // What monitoring costs the node: the agent's own memory (and CPU from its second sample on).
  assert.match(now, /Agent\d+(\.\d+)? MiB memory/);
  assert.match((await page.locator('#disks-title + .table-wrap').textContent()) ?? '', /\/boot\/firmware/);

  // Every vital of this machine has a chart, drawn by uPlot with data points.
  const vitals = await page.locator('figure.chart').evaluateAll((els) => els.map((e) => e.dataset.vital));
  assert.deepEqual(vitals, ['cpu', 'temp', 'ram', 'load', 'mhz', 'swap']);
  for (const vital of vitals) {
    const chart = await chartOf(page, vital as string);
    assert.ok(chart.points >= 100, `${vital}: ${chart.points} points`);
    assert.ok(chart.inked > 500, `${vital}: only ${chart.inked} pixels drawn`);
  }
  assert.match((await page.locator('.chart-status').textContent()) ?? '', /points over the last 1 h/);

  // Live: new samples join the 1 h charts without a reload.
  const before = (await chartOf(page, 'cpu')).points;
  await page.waitForFunction(
    (n) => Number(document.querySelector('figure.chart[data-vital="cpu"]')?.dataset.points) > n,
    before,
    { timeout: 10_000 },
  );

  // Recent events of this node.
  await page.locator('.event-list li[data-type="joined"]').first().waitFor();
  assert.equal(
    await page.locator('.event-list li').count(),
    1,
    (await page.locator('.event-list').textContent()) ?? '',
  );

  // Ranges: each loads from the stored history (24 h and longer come from rollups).
  for (const range of ['24h', '7d', '30d', '1h']) {
    const loaded = page.waitForResponse((r) => r.url().includes('/vitals?') && r.status() === 200);
    await page.locator(`button.range[data-range="${range}"]`).click();
    const response = await loaded;
    const body = (await response.json()) as { from: number; to: number; resolution: string; points: unknown[] };
    const spanMs = body.to - body.from;
    const expectedMs = { '1h': 3.6e6, '24h': 8.64e7, '7d': 6.048e8, '30d': 2.592e9 }[range] as number;
    assert.ok(Math.abs(spanMs - expectedMs) < 5000, `${range}: asked for ${spanMs} ms`);
    await page.locator('.node-page[data-charts="ready"]').waitFor();
    assert.equal(await page.locator(`button.range[data-range="${range}"]`).getAttribute('aria-pressed'), 'true');
    assert.equal(await page.locator('button.range[aria-pressed="true"]').count(), 1);
    assert.match((await page.locator('.chart-status').textContent()) ?? '', new RegExp(range.replace(/(\d+)/, '$1 ')));
    const chart = await chartOf(page, 'cpu');
    assert.ok(body.points.length >= 20, `${range} (${body.resolution}): ${body.points.length} points from the API`);
    assert.ok(chart.points >= body.points.length && chart.inked > 500, `${range}: ${JSON.stringify(chart)}`);
  }

  // The range is in the URL: a reload keeps it.
  await page.locator('button.range[data-range="7d"]').click();
  await page.waitForFunction(() => location.hash.endsWith('?range=7d'));
  await page.reload();
  await page.locator('.node-page[data-charts="ready"]').waitFor();
  assert.equal(await page.locator('button.range[data-range="7d"]').getAttribute('aria-pressed'), 'true');

  // A VM: no temperature, so no temperature chart; the rest is there.
  const vmId = cluster.primary.nodes().find((n) => n.name === vm.name)!.id;
  await page.goto(`${cluster.url}/#/node/${encodeURIComponent(vmId)}`);
  await page.locator(`.node-page[data-node="${vmId}"][data-charts="ready"]`).waitFor();
  const vmVitals = await page.locator('figure.chart').evaluateAll((els) => els.map((e) => e.dataset.vital));
  assert.ok(!vmVitals.includes('temp'), vmVitals.join(','));
  assert.ok(vmVitals.includes('cpu') && vmVitals.includes('ram'), vmVitals.join(','));
  assert.match((await page.locator('#now-title + dl').textContent()) ?? '', /Temperature–/);

  // An id nobody has.
  await page.goto(`${cluster.url}/#/node/no-such-node`);
  await page.locator('.node-page[data-missing="true"]').waitFor();
  assert.match((await page.locator('.node-page .empty').textContent()) ?? '', /no node with id no-such-node/i);
  assert.deepEqual(
    scriptErrors(errors).filter((e) => !/404/.test(e)),
    [],
  );
});

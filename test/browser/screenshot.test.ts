// The README's screenshot of the overview, taken by the test tooling: nine nodes with varied names,
// labels and temperatures, one lost (its link cut without a goodbye) and one left. Written to
// docs/screenshot-overview.png with PICLUSTER_SCREENSHOT=1 (otherwise to a temp dir, so a test
// run leaves the working tree alone).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import {
  launchBrowser,
  newPage,
  SAMPLE_NODES,
  scriptErrors,
  startDashboardCluster,
  waitForVitals,
} from '../helpers/browser.js';
import { tempDir, waitUntil } from '../helpers/cluster.js';

const DOCS = new URL('../../docs/screenshot-overview.png', import.meta.url).pathname;

it('screenshot of the overview with several nodes', async (t) => {
  const context = await launchBrowser(t, { width: 1280, height: 820 });
  if (!context) return;
  const cluster = await startDashboardCluster(t, { nodes: SAMPLE_NODES, vitalsMs: 500 });
  const lost = await cluster.addNode(
    { name: 'pi-worker-5', labels: { role: 'worker', rack: '2' }, cpu: 40, tempC: 55 },
    { cuttable: true },
  );
  const leaving = await cluster.addNode({ name: 'pi-old-backup', labels: { role: 'storage' }, cpu: 2, tempC: 44 });
  await waitForVitals(cluster);
  lost.cut?.();
  await leaving.stop('decommissioned');
  await waitUntil(() => cluster.primary.node(lost.nodeId)?.state === 'lost', 5000, 'the cut node to be lost');

  const { page, errors } = await newPage(context);
  await page.emulateMedia({ colorScheme: 'light' });
  await page.goto(cluster.url);
  await page.locator('#overview[data-rows="10"]').waitFor();
  await page.locator('.badge.state-lost').waitFor();
  await page.waitForTimeout(600); // a fresh coalesced vitals message or two
  const file = process.env.PICLUSTER_SCREENSHOT === '1' ? DOCS : join(tempDir(t), 'overview.png');
  await page.screenshot({ path: file });
  const png = readFileSync(file);
  assert.equal(png.subarray(1, 4).toString(), 'PNG');
  assert.equal(png.readUInt32BE(16), 1280); // IHDR width
  assert.equal(png.readUInt32BE(20), 820); // IHDR height
  console.log(`screenshot: ${file} (${png.length} bytes)`);
  assert.deepEqual(scriptErrors(errors), []);
});

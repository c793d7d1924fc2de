// The operator's buttons on a node's page, in real headless Chromium against a primary whose
// admission is "approve": a pending node shows Approve and Deny (and the overview a Pending
// tile); Approve lets it in and the page follows it online; Revoke, confirmed, denies it.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Secondary } from '../../src/secondary/secondary.js';
import {
  fakeInfo,
  launchBrowser,
  newPage,
  SAMPLE_NODES,
  scriptErrors,
  startDashboardServer,
} from '../helpers/browser.js';
import { tempDir, waitUntil } from '../helpers/cluster.js';
import { startLibraryPrimary } from '../helpers/library-primary.js';

const TOKEN = 'node-actions-browser-token-0123';

it("node page: a pending node's Approve lets it in; Revoke, confirmed, denies it", async (t) => {
  const context = await launchBrowser(t);
  if (!context) return;
  const primary = await startLibraryPrimary(t, { token: TOKEN, heartbeatIntervalMs: 300, admission: 'approve' });
  const web = await startDashboardServer(primary);
  t.after(() => web.close());
  const url = `http://127.0.0.1:${web.port}`;
  const node = SAMPLE_NODES[0]!;
  const secondary = new Secondary({
    primary: `127.0.0.1:${primary.port}`,
    dataDir: tempDir(t),
    name: node.name,
    token: TOKEN,
    tls: { fingerprint: primary.tlsFingerprint as string },
    heartbeatIntervalMs: 300,
    reconnect: { initialDelayMs: 50, maxDelayMs: 300 },
    machineInfo: async () => fakeInfo(node),
  });
  await secondary.start();
  t.after(() => secondary.stop());
  await waitUntil(() => primary.node(secondary.nodeId)?.state === 'pending', 10_000, 'pending');

  const { page, errors } = await newPage(context);
  await page.goto(`${url}/#/`);
  await page.locator('.tile.t-pending:not([hidden])').waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('.tile.t-pending .value').textContent(), '1');

  await page.goto(`${url}/#/node/${encodeURIComponent(secondary.nodeId)}`);
  const actions = page.locator('.node-actions');
  await actions.locator('[data-action="approve"]').waitFor({ timeout: 10_000 });
  assert.deepEqual(await actions.locator('button').evaluateAll((b) => b.map((e) => e.dataset.action)), [
    'approve',
    'deny',
  ]);
  await actions.locator('[data-action="approve"]').click();
  // The page says how the request went ("Done." or "Failed: why").
  await page.locator('.node-actions .action-status', { hasText: /Done|Failed/ }).waitFor({ timeout: 10_000 });
  assert.equal(await actions.locator('.action-status').textContent(), 'Done.');
  await waitUntil(() => primary.node(secondary.nodeId)?.state === 'online', 10_000, 'online after Approve');
  await page.locator('.node-head .badge', { hasText: 'online' }).waitFor({ timeout: 10_000 });
  await actions.locator('[data-action="revoke"]').waitFor({ timeout: 10_000 });

  page.once('dialog', (dialog) => void dialog.accept());
  await actions.locator('[data-action="revoke"]').click();
  await waitUntil(() => primary.node(secondary.nodeId)?.state === 'denied', 10_000, 'denied after Revoke');
  await page.locator('.node-head .badge', { hasText: 'denied' }).waitFor({ timeout: 10_000 });
  const events = await primary.store.events({ node: secondary.nodeId });
  assert.deepEqual(
    events
      .map((e) => e.type)
      .filter((type) => ['pending', 'approved', 'revoked'].includes(type))
      .reverse(),
    ['pending', 'approved', 'revoked'],
  );
  assert.deepEqual(scriptErrors(errors), []);
});

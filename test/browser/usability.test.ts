// The dashboard by keyboard, on a phone-sized screen, and in both system themes (real headless
// Chromium): focus reaches every node with a visible ring and Enter opens it; nothing scrolls
// sideways at 1280 or 390 px; rows become cards; light and dark follow prefers-color-scheme.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import {
  type DomDocument,
  type DomElement,
  type DomStyle,
  type DomWindow,
  launchBrowser,
  newPage,
  SAMPLE_NODES,
  scriptErrors,
  startDashboardCluster,
  waitForVitals,
} from '../helpers/browser.js';

// Browser globals for the callbacks that run inside the page (see DomDocument in the helper).
declare const document: DomDocument;
declare const window: DomWindow;
declare const location: { hash: string };
declare const getComputedStyle: DomStyle;

it('keyboard, phone screen and both themes', async (t) => {
  const context = await launchBrowser(t);
  if (!context) return;
  const cluster = await startDashboardCluster(t, { nodes: SAMPLE_NODES.slice(0, 4) });
  await waitForVitals(cluster);
  const { page, errors } = await newPage(context);
  await page.goto(cluster.url);
  await page.locator('#overview[data-rows="4"]').waitFor();

  // --- keyboard: the skip link first, then on through the controls to the first node.
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
  await page.keyboard.press('Enter'); // to the content, past the header; the route stays
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
  assert.equal(await page.evaluate(() => location.hash), '');
  assert.equal(await page.locator('#overview').isVisible(), true);
  let reached = '';
  for (let i = 0; i < 40 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() =>
      document.activeElement?.classList.contains('name-link') ? (document.activeElement.textContent ?? '') : '',
    );
  }
  assert.equal(reached, 'pi-master', 'Tab reaches the first node (sorted by name)');
  // Focus is visible: the focused node's row carries a 3 px ring.
  const ring = await page.evaluate(() => {
    const row = document.activeElement?.closest('.row') as DomElement;
    const style = getComputedStyle(row);
    return { style: style.outlineStyle, width: style.outlineWidth };
  });
  assert.deepEqual(ring, { style: 'solid', width: '3px' });
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'pi-worker-1');
  await page.keyboard.press('Enter');
  await page.locator('.node-page h1', { hasText: 'pi-worker-1' }).waitFor();
  // Focus moved to the page's heading (screen readers announce the new page).
  assert.equal(await page.evaluate(() => document.activeElement?.tagName), 'H1');
  await page.locator('.node-page[data-charts="ready"]').waitFor();
  // The range buttons work from the keyboard.
  await page.locator('button.range[data-range="24h"]').focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => location.hash.endsWith('?range=24h'));
  // Back to the overview; "/" jumps to the filter.
  await page.goBack();
  await page.locator('#overview:not([hidden])').waitFor();
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'filter');
  await page.keyboard.type('worker-2');
  await page.locator('#overview[data-rows="1"]').waitFor();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Backspace');
  await page.locator('#overview[data-rows="4"]').waitFor();

  // --- themes: both follow the system setting.
  const background = () => page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  await page.emulateMedia({ colorScheme: 'light' });
  assert.equal(await background(), 'rgb(245, 246, 248)');
  await page.emulateMedia({ colorScheme: 'dark' });
  assert.equal(await background(), 'rgb(14, 17, 22)');
  const text = await page.evaluate(() => getComputedStyle(document.querySelector('.name-link') as DomElement).color);
  assert.equal(text, 'rgb(230, 233, 238)');

  // --- a laptop (1280 px): every column fits, nothing scrolls sideways.
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.equal(await overflow(), 0, 'overview scrolls sideways at 1280 px');

  // --- a phone: no sideways scrolling, rows become cards, the sort menu replaces the headers.
  await page.setViewportSize({ width: 390, height: 844 });
  assert.equal(await overflow(), 0, 'overview scrolls sideways at 390 px');
  assert.equal(await page.locator('.thead').isHidden(), true);
  assert.equal(await page.locator('#sort').isVisible(), true);
  const card = await page.evaluate(() => {
    const row = document.querySelector('.row.node') as DomElement;
    const cells = Array.from(row.children).map((c) => c.getBoundingClientRect());
    return { rowWidth: row.getBoundingClientRect().width, lines: new Set(cells.map((r) => Math.round(r.top))).size };
  });
  assert.ok(card.rowWidth <= 390 && card.lines >= 3, JSON.stringify(card));
  // The version is on the card too, under its label.
  const version = page.locator('.row.node .c-version').first();
  assert.equal(await version.isVisible(), true);
  assert.equal(await version.textContent(), '0.1.0');
  assert.equal(await version.getAttribute('data-label'), 'Version');
  await page.selectOption('#sort', '-temp');
  await page.waitForFunction(() => location.hash.includes('sort=-temp'));
  // The URL changes at once, the rows on the next frame: wait for the rows in this order.
  await page.locator('#overview[data-sort="-temp"]').waitFor();
  assert.equal(await page.locator('.row.node .name-link').first().textContent(), 'pi-worker-2'); // 81 °C
  await page.locator('.row.node .name-link').first().click();
  await page.locator('.node-page[data-charts="ready"]').waitFor();
  assert.equal(await overflow(), 0, 'node page scrolls sideways at 390 px');
  await page.goto(`${cluster.url}/#/events`);
  await page.locator('.events-page tr[data-type="joined"]').first().waitFor();
  assert.equal(await overflow(), 0, 'events page scrolls sideways at 390 px');
  assert.deepEqual(scriptErrors(errors), []);
});

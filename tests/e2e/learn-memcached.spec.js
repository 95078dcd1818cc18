// Memcached labs and live questions in the page: the lab's scenario is
// built on the Memcached tab's cluster (worker nodes behind the
// application's auto-discovery client), the learner works in its console
// and buttons, and Check asks the live nodes. Every Memcached lab fails on
// its untouched scenario and passes after its reference solution, played
// on the page's cluster.
const { test, expect } = require('@playwright/test');
const path = require('path');

const { watchErrors, labIds, labReady, playLab } = require('./helpers');

const shots = path.join(__dirname, '..', '..', 'docs', 'screenshots');

test('memcached lab: store a session through the client in the console, Check turns green', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/?lab=lab-mc-client-store-read');
  const dock = page.locator('#lab-dock');
  await expect(dock).toHaveAttribute('data-lab', 'lab-mc-client-store-read');
  await expect(page.locator('#tab-memcached')).toHaveAttribute('aria-selected', 'true');
  await labReady(page, 'lab-mc-client-store-read', 30_000);
  await expect(dock).toBeVisible();
  // Untouched: the session is not there.
  await page.locator('#lab-check').click();
  await expect(page.locator('#lab-outcomes .outcome')).toHaveCount(2, { timeout: 10_000 });
  await expect(page.locator('#lab-outcomes .outcome.bad')).toHaveCount(2);
  // Through the application's client, the value inline.
  await page.locator('#mc-node-picker').selectOption({ label: 'client (hashes the key)' });
  const input = page.locator('#mc-console-input');
  await input.fill('set session:8f2a 0 1800 user=alice');
  await input.press('Enter');
  await expect(page.locator('#mc-console-output .line').filter({ hasText: 'STORED' })).toHaveCount(1, { timeout: 10_000 });
  await expect(page.locator('#mc-console-output .line.cmd').last()).toContainText('hashes to node');
  await input.fill('get session:8f2a');
  await input.press('Enter');
  // The reply's data line (the command's own line names the value too).
  await expect(page.locator('#mc-console-output .line:not(.cmd)').filter({ hasText: 'user=alice' })).toHaveCount(1, { timeout: 10_000 });
  // The protocol's own form: a byte count, then the data line, to the same node.
  await input.fill('set menu 0 0 4');
  await input.press('Enter');
  await input.fill('soup');
  await input.press('Enter');
  await expect(page.locator('#mc-console-output .line').filter({ hasText: 'STORED' })).toHaveCount(2, { timeout: 10_000 });
  await page.locator('#lab-check').click();
  await expect(dock).toHaveAttribute('data-passed', 'true', { timeout: 10_000 });
  await expect(page.locator('#lab-debrief')).toBeVisible();
  const ms = parseFloat(await dock.getAttribute('data-grade-ms'));
  console.log(`memcached lab check: ${ms} ms of main-thread work, ${await dock.getAttribute('data-grade-wall-ms')} ms wall`);
  expect(ms).toBeLessThan(50);
  await page.screenshot({ path: path.join(shots, 'learn-lab-memcached.png') });
  expect(errors).toEqual([]);
});

test('memcached lab: a node fails with the Kill button; the survivors keep their keys', async ({ page }) => {
  await page.goto('/?lab=lab-mc-node-fails');
  await labReady(page, 'lab-mc-node-fails', 30_000);
  await expect(page.locator('.mc-card[data-node="0001"]')).toContainText('4 items', { timeout: 10_000 });
  await page.locator('.mc-card[data-node="0002"] .kill').click();
  await expect(page.locator('.mc-card[data-node="0002"]')).toHaveAttribute('data-state', 'failed');
  await page.locator('#lab-check').click();
  await expect(page.locator('#lab-dock')).toHaveAttribute('data-passed', 'true', { timeout: 10_000 });
});

test('every Memcached lab fails untouched and passes after its reference solution, in the page', async ({ page }) => {
  test.setTimeout(300_000);
  const errors = watchErrors(page);
  const labs = await labIds(page, 'memcached');
  expect(labs.length).toBeGreaterThanOrEqual(9);
  for (const id of labs) await playLab(page, id, 30_000);
  expect(errors).toEqual([]);
});

test('memcached live question: the configuration version read off the live cluster', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/?q=live-mc-config-version');
  await expect(page.locator('.live-badge')).toBeVisible();
  await page.locator('#live-start').click();
  await expect(page.locator('#opt-0')).toBeVisible({ timeout: 45_000 });
  await page.locator('#opt-0 label').click();
  await page.locator('#practice-submit').click();
  await expect(page.locator('#practice-feedback')).toBeVisible();
  await expect(page.locator('.opt[data-correct="true"]')).toHaveCount(1);
  await expect(page.locator('.opt[data-correct="true"]')).toContainText('4');
  await page.screenshot({ path: path.join(shots, 'learn-live-memcached.png'), fullPage: true });
  // The Memcached tab shows the cluster the answer was read from: 5 nodes.
  await page.locator('#tab-memcached').click();
  await expect(page.locator('.mc-card')).toHaveCount(5);
  expect(errors).toEqual([]);
});

// The embeds: docs/embed.html (a docs page with a restrictive CSS reset and
// two <cachelab-demo> elements, each its own cluster in its own worker),
// played to the end; removing an element stops its worker; the ?embed= URL
// form; Pub/Sub's subscriber; an unknown scenario says so.
const { test, expect } = require('@playwright/test');
const path = require('path');
const { watchErrors } = require('./helpers');

const shots = path.join(__dirname, '..', '..', 'docs', 'screenshots');

/// Clicks Next until the demo ends, checking the caption advances each time.
async function playThrough(demo) {
  const steps = parseInt((await demo.locator('.status').textContent()).split('/')[1], 10);
  expect(steps).toBeGreaterThanOrEqual(2);
  for (let i = 1; i <= steps; i++) {
    await demo.locator('button[aria-label="next step"]').click();
    await expect(demo.locator('.caption .count')).toHaveText(`Step ${i} of ${steps}`, { timeout: 30_000 });
    await expect(demo.locator('.status')).toHaveText(`${i} / ${steps}`);
  }
  await expect(demo.locator('button[aria-label="next step"]')).toBeDisabled();
  return steps;
}

test('the docs page: two demos play to their end, each its own cluster, unharmed by the page\'s CSS reset', async ({ page }) => {
  test.setTimeout(120_000);
  const errors = watchErrors(page);
  const t0 = Date.now();
  await page.goto('/docs/embed.html');
  const failover = page.locator('#demo-failover');
  const replication = page.locator('#demo-replication');
  await expect(failover.locator('.title')).toHaveText('Multi-AZ failover: the primary fails, a replica takes over', { timeout: 30_000 });
  await expect(failover.locator('.node')).toHaveCount(3);
  await expect(failover.locator('.node.primary')).toHaveCount(1);
  // The first step, played.
  await failover.locator('button[aria-label="next step"]').click();
  await expect(failover.locator('.caption .count')).toHaveText('Step 1 of 5');
  const firstStep = Date.now() - t0;
  console.log(`embed: first step rendered ${firstStep} ms after navigation`);
  await expect(failover.locator('.log')).toContainText('> SET order:1001 paid');
  await expect(failover.locator('.log')).toContainText('OK');
  // Two workers: one per demo.
  expect(page.workers().length).toBe(2);

  // The page's reset (buttons hot pink and 30px, lists purple squares) stops
  // at the shadow root.
  const button = failover.locator('button[aria-label="next step"]');
  expect(await button.evaluate((b) => getComputedStyle(b).fontSize)).toBe('13px');
  expect(await button.evaluate((b) => getComputedStyle(b).backgroundColor)).not.toBe('rgb(255, 105, 180)');
  expect(await failover.locator('.node').first().evaluate((n) => getComputedStyle(n).listStyleType)).toBe('none');

  // Play the rest: the primary fails, a replica is promoted, the old one comes back a replica.
  for (let i = 2; i <= 5; i++) {
    await button.click();
    await expect(failover.locator('.caption .count')).toHaveText(`Step ${i} of 5`, { timeout: 30_000 });
    if (i === 3) await expect(failover.locator('.node.failed')).toHaveCount(1);
  }
  await expect(failover.locator('.log')).toContainText('paid');
  await expect(failover.locator('.log')).toContainText('role:master');
  await expect(failover.locator('.log .err')).toHaveCount(0);
  await expect(failover.locator('.node.primary')).toHaveCount(1);
  await expect(failover.locator('.node.replica')).toHaveCount(2);
  await expect(button).toBeDisabled();

  // Back one step replays the same cluster to step 4 (deterministic).
  await failover.locator('button[aria-label="step back"]').click();
  await expect(failover.locator('.status')).toHaveText('4 / 5');
  await expect(failover.locator('.caption .count')).toHaveText('Step 4 of 5');

  // The second demo (minimal controls, dark) is independent.
  await expect(replication.locator('button[aria-label="step back"]')).toHaveCount(0);
  await playThrough(replication);
  await expect(replication.locator('.log')).toContainText('READONLY');
  await expect(replication.locator('.log')).toContainText('bonjour');
  await page.screenshot({ path: path.join(shots, 'embed-docs.png'), fullPage: true });

  // Removing an element terminates its worker.
  await page.evaluate(() => document.getElementById('demo-replication').remove());
  await expect.poll(() => page.workers().length).toBe(1);
  expect(errors).toEqual([]);
});

test('autoplay, the ?embed= URL form, Pub/Sub with a subscriber, and an unknown scenario saying so', async ({ page }) => {
  test.setTimeout(90_000);
  const errors = watchErrors(page);
  await page.goto('/?embed=leaderboard&controls=none&speed=8');
  const demo = page.locator('cachelab-demo');
  await expect(demo.locator('.title')).toHaveText('A leaderboard with a sorted set', { timeout: 30_000 });
  await expect(demo.locator('button')).toHaveCount(0);
  // controls=none plays on its own, to the end.
  await expect(demo.locator('.log')).toContainText('> ZREVRANK leaderboard bob', { timeout: 30_000 });
  await expect(demo.locator('.caption')).toContainText('A player\'s rank');
  await page.screenshot({ path: path.join(shots, 'embed-iframe.png') });

  // Pub/Sub: a subscriber's connection stays open between steps.
  await page.goto('/?embed=pubsub&controls=none&speed=8');
  await expect(demo.locator('.log')).toContainText('sub> SUBSCRIBE news', { timeout: 30_000 });
  await expect(demo.locator('.log')).toContainText('"cache warmed"', { timeout: 30_000 });
  await expect(demo.locator('.log')).toContainText('Error: Server closed the connection', { timeout: 60_000 });
  await page.screenshot({ path: path.join(shots, 'embed-pubsub.png') });
  await page.goto('/?embed=no-such-demo');
  await expect(demo.locator('.notice.error')).toContainText('There is no demo "no-such-demo". Demos: failover, replication', { timeout: 30_000 });
  expect(errors).toEqual([]);
});

// The use-case recipes: each runs real commands through the console to the
// primary endpoint and draws what the replies say.
const { test, expect } = require('@playwright/test');
const path = require('path');

const shots = path.join(__dirname, '..', '..', 'docs', 'screenshots');
const card = (page, name) => page.locator(`.card[data-node="${name}"]`);

test('each recipe runs against the live group and draws its result', async ({ page }) => {
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto('/');
  await expect(card(page, 'demo-001')).toHaveAttribute('data-role', 'primary', { timeout: 30_000 });

  // Leaderboard: ZADD, ZINCRBY bob 500, then the ranked table.
  await page.locator('#recipe-leaderboard').click();
  const rows = page.locator('#leaderboard-table tbody tr');
  await expect(rows).toHaveCount(4, { timeout: 15_000 });
  await expect(rows.nth(0)).toHaveAttribute('data-player', 'carol');
  await expect(rows.nth(1)).toHaveAttribute('data-player', 'bob');
  await expect(rows.nth(1).locator('.score-text')).toHaveText('3390');
  await expect(page.locator('#console-output .line.reply').filter({ hasText: '(integer) 1' }).first()).toBeVisible();

  // Session store: a hash with a TTL appears in the key table as hash · listpack.
  await page.locator('#recipe-session').click();
  await expect(page.locator('#key-table tr[data-key="session:abc"]')).toContainText('hash · listpack', { timeout: 15_000 });

  // Work queue: BRPOP took the oldest job.
  await page.locator('#recipe-queue').click();
  await expect(page.locator('#queue-result')).toHaveText('jobs waiting (newest first): email:7, resize:2', { timeout: 15_000 });

  // Unique visitors: HyperLogLog within 2% of the exact count, in far less memory.
  await page.locator('#recipe-visitors').click();
  const result = page.locator('#visitors-result');
  await expect(result).toContainText('SCARD 2000', { timeout: 15_000 });
  const text = await result.textContent();
  const est = Number(/PFCOUNT (\d+)/.exec(text)[1]);
  expect(Math.abs(est - 2000)).toBeLessThan(40);
  await expect(result).toContainText('memory');

  // Cache-aside and chat run too.
  await page.locator('#recipe-cache').click();
  await expect(page.locator('#console-output .line.reply').filter({ hasText: 'lamp' }).first()).toBeVisible({ timeout: 15_000 });
  await expect(page.locator('#console-output .line.reply').filter({ hasText: '(integer) 300' }).first()).toBeVisible();
  await page.locator('#recipe-chat').click();
  await expect(page.locator('#console-output .line.cmd').last()).toContainText('PUBLISH chat:lobby hello', { timeout: 15_000 });

  await page.locator('#use-cases').scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(shots, 'use-cases.png'), fullPage: false });
  expect(errors).toEqual([]);
});

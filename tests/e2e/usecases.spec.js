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

  // Chat: a second client subscribes and receives both messages; in
  // subscriber mode it may not run GET, and PING answers as a message.
  await page.locator('#recipe-chat').click();
  const sub = page.locator('#subscriber-console');
  await expect(sub).toContainText('Reading messages...', { timeout: 15_000 });
  await expect(sub.locator('.line.reply').filter({ hasText: 'hello from the console' })).toBeVisible({ timeout: 15_000 });
  await expect(sub.locator('.line.reply').filter({ hasText: 'anyone for lunch?' })).toBeVisible();
  await expect(sub.locator('.line.error')).toContainText("Can't execute 'get'");
  // The messages arrive between the commands, as they happened.
  const texts = await sub.locator('.line').allTextContents();
  const at = (t) => texts.findIndex((x) => x.includes(t));
  expect(at('hello from the console')).toBeGreaterThan(at('SUBSCRIBE chat:lobby'));
  expect(at('GET product:42')).toBeGreaterThan(at('anyone for lunch?'));
  await expect(sub.locator('.line.reply').filter({ hasText: '"pong"' })).toBeVisible();
  // PUBLISH reached one subscriber (integer) 1, and NUMSUB counted it.
  await expect(page.locator('#console-output .line.reply').filter({ hasText: '2) (integer) 1' }).first()).toBeVisible();
  await page.locator('#use-cases').scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(shots, 'use-cases.png'), fullPage: false });

  // Restaurants: all eight on the map, the two within 1 km highlighted,
  // nearest first with Redis's distances.
  await page.locator('#recipe-geo').click();
  await expect(page.locator('#geo-map .place')).toHaveCount(8, { timeout: 15_000 });
  await expect(page.locator('#geo-map .place.hit')).toHaveCount(3, { timeout: 15_000 });
  await expect(page.locator('#nearby-list li').first()).toContainText('space-cafe — 0.0');
  await expect(page.locator('#geo-map .radius')).toHaveCount(1);
  await page.locator('#geo-map').scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(shots, 'use-case-geo.png'), fullPage: false });

  // Orders stream: three entries, worker-1 holds two pending, worker-2 one;
  // XACK on a row removes it from the pending list.
  await page.locator('#recipe-stream').click();
  await expect(page.locator('#stream-entries tbody tr')).toHaveCount(3, { timeout: 15_000 });
  const pending = page.locator('#pending-table tbody tr');
  await expect(pending).toHaveCount(3, { timeout: 15_000 });
  await expect(page.locator('.group-line')).toContainText('pending 3 · lag 0');
  await expect(pending.nth(0)).toContainText('worker-1');
  await expect(pending.nth(2)).toContainText('worker-2');
  await pending.nth(0).locator('button.ack').click();
  await expect(pending).toHaveCount(2, { timeout: 15_000 });
  await expect(page.locator('.group-line')).toContainText('pending 2');
  // worker-1 "crashes": XAUTOCLAIM hands its remaining entry to worker-2.
  await page.locator('#stream-autoclaim').click();
  await expect(pending.filter({ hasText: 'worker-1' })).toHaveCount(0, { timeout: 15_000 });
  await expect(pending.filter({ hasText: 'worker-2' })).toHaveCount(2);
  await page.locator('#stream-view').scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(shots, 'use-case-stream.png'), fullPage: false });
  expect(errors).toEqual([]);
});

test('Lua scripts in the worker: a rate limiter and an atomic check-and-set', async ({ page }) => {
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto('/');
  await expect(card(page, 'demo-001')).toHaveAttribute('data-role', 'primary', { timeout: 30_000 });

  // Five requests against a limit of 3: the script allows three, refuses two.
  await page.locator('#recipe-ratelimit').click();
  const reqs = page.locator('#rate-result .req');
  await expect(reqs).toHaveCount(5, { timeout: 15_000 });
  await expect(page.locator('#rate-result .req.allowed')).toHaveCount(3);
  await expect(page.locator('#rate-result .req.refused')).toHaveCount(2);
  await expect(reqs.nth(3)).toHaveText('#4 refused');
  // The key got its TTL on the first request.
  await expect(page.locator('#console-output .line.reply').filter({ hasText: /^\(integer\) (5[0-9]|60)$/ }).first()).toBeVisible();

  // Compare-and-swap: the first swap succeeds, the second sees 4, not 5.
  await page.locator('#recipe-cas').click();
  await expect(page.locator('#cas-result')).toHaveText(
    'attempt 1: stock was 5 → set to 4 · attempt 2: stock no longer 5 → refused, re-read and retry',
    { timeout: 15_000 });
  await expect(page.locator('#console-output .line.reply').filter({ hasText: '"4"' }).last()).toBeVisible();
  await page.locator('#rate-result').scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(shots, 'use-case-scripts.png'), fullPage: false });
  expect(errors).toEqual([]);
});

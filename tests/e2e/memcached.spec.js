// The Memcached view end to end: a 3-node ElastiCache for Memcached cluster
// (one Web Worker per node), an auto-discovery client running cache-aside
// in front of a database, node loss, replacement, and resharding.
const { test, expect } = require('@playwright/test');
const path = require('path');
const { watchErrors } = require('./helpers');

const shots = path.join(__dirname, '..', '..', 'docs', 'screenshots');
const card = (page, id) => page.locator(`.mc-card[data-node="${id}"]`);
const percent = async (page) => parseInt((await page.locator('#hit-rate').textContent()).replace('%', ''), 10);


async function clusterUp(page) {
  await page.goto('/');
  await page.click('#tab-memcached');
  for (const id of ['0001', '0002', '0003']) {
    await expect(card(page, id)).toHaveAttribute('data-state', /available|warming/, { timeout: 30_000 });
  }
  await expect(page.locator('#mc-versions')).toContainText("the client's: 1");
}

test('a node is lost: the hit rate drops by about 1/N, the database takes the load, a replacement re-warms', async ({ page }) => {
  const errors = watchErrors(page);
  await clusterUp(page);
  await page.locator('main.mc button', { hasText: '10x' }).click();
  // The cache warms up: lazy loading fills it.
  await expect.poll(() => percent(page), { timeout: 40_000 }).toBeGreaterThan(85);
  for (const id of ['0001', '0002', '0003']) {
    await expect(card(page, id)).toHaveAttribute('data-state', 'available', { timeout: 30_000 });
  }
  await page.screenshot({ path: path.join(shots, 'memcached-warm.png'), fullPage: true });
  const warm = await percent(page);

  await card(page, '0002').locator('button.kill').click();
  await expect(card(page, '0002')).toHaveAttribute('data-state', 'failed');
  // Requests to it fail (served from the database); about a third of reads miss.
  await expect.poll(async () => parseInt(await page.locator('#errors').textContent(), 10), { timeout: 10_000 }).toBeGreaterThan(0);
  // About a third of the reads now miss. One second can read lower (the
  // failures are counted at once, some of that second's hits a little
  // later when the machine is busy), so wait for a second in the band.
  await expect.poll(async () => {
    const p = await percent(page);
    return p < warm - 15 && p > warm - 55 ? 'about 1/3 lower' : `${p}% (warm ${warm}%)`;
  }, { timeout: 10_000 }).toBe('about 1/3 lower');
  // The chart shows the drop: the hit-rate line's last points sit lower than before.
  const ys = await page.locator('svg.chart[data-chart="hit"] polyline').evaluate((el) =>
    el.getAttribute('points').trim().split(' ').map((p) => parseFloat(p.split(',')[1])));
  expect(ys.length).toBeGreaterThan(8);
  const before = Math.min(...ys.slice(0, -5)); // the best second before the kill
  const after = Math.max(...ys.slice(-3)); // the worst of the last three
  expect(after).toBeGreaterThan(before + 10); // SVG y grows downwards
  await expect(page.locator('#mc-events')).toContainText('Cache node 0002 failed');
  await page.screenshot({ path: path.join(shots, 'memcached-node-lost.png'), fullPage: true });

  // ElastiCache replaces it: empty, same endpoint; misses, then re-warms.
  await card(page, '0002').locator('button.replace').click();
  await expect(card(page, '0002')).toHaveAttribute('data-state', 'warming');
  await expect(page.locator('#mc-events')).toContainText('Finished recovery for cache nodes 0002');
  // The replacement answers (misses, then the application's sets fill it)…
  await expect(card(page, '0002')).toContainText(/[1-9]\d* items/, { timeout: 20_000 });
  await expect(card(page, '0002')).toContainText(/hits [1-9]/, { timeout: 20_000 });
  // …and the hit rate climbs back.
  await expect.poll(() => percent(page), { timeout: 40_000 }).toBeGreaterThan(warm - 8);
  await page.screenshot({ path: path.join(shots, 'memcached-recovered.png'), fullPage: true });
  expect(errors).toEqual([]);
});

test('adding a node: the configuration version goes up, ketama moves about 1/n of the keys, modulo most', async ({ page }) => {
  const errors = watchErrors(page);
  await clusterUp(page);
  await page.click('#mc-add');
  await expect(page.locator('#mc-versions')).toContainText('cluster configuration version 2');
  await expect(page.locator('#mc-config')).toContainText('.0004.');
  // The client learns of it when it polls (here: at once).
  await expect(card(page, '0004')).toContainText('not yet discovered');
  await page.click('#mc-poll');
  await expect(page.locator('#mc-versions')).toContainText("the client's: 2");
  await expect(card(page, '0004')).not.toContainText('not yet discovered');
  const moved = await page.locator('#mc-moved').textContent();
  const ketama = parseFloat(moved.match(/ketama moved ([\d.]+)%/)[1]);
  const modulo = parseFloat(moved.match(/modulo would move ([\d.]+)%/)[1]);
  expect(ketama).toBeGreaterThan(15);
  expect(ketama).toBeLessThan(35);
  expect(modulo).toBeGreaterThan(65);

  // The node quota is a setting: at 4 nodes, a fifth is refused in AWS's words.
  await page.locator('#mc-node-limit').fill('4');
  await page.locator('#mc-node-limit').dispatchEvent('change');
  await page.click('#mc-add');
  await expect(page.locator('#mc-error')).toContainText('NodeQuotaForClusterExceeded');
  await expect(page.locator('#mc-versions')).toContainText('cluster configuration version 2');

  // The text protocol, straight to a node.
  await page.locator('#mc-node-picker').selectOption({ label: '0001' });
  const input = page.locator('#mc-console-input');
  await input.fill('set greeting 0 0 5');
  await input.press('Enter');
  await input.fill('hello');
  await input.press('Enter');
  await expect(page.locator('#mc-console-output .line.reply').last()).toHaveText('STORED');
  await input.fill('get greeting');
  await input.press('Enter');
  await expect(page.locator('#mc-console-output')).toContainText('VALUE greeting 0 5');
  await input.fill('bogus');
  await input.press('Enter');
  await expect(page.locator('#mc-console-output .line.error').last()).toHaveText('ERROR');
  await page.screenshot({ path: path.join(shots, 'memcached-resharding.png'), fullPage: true });
  expect(errors).toEqual([]);
});

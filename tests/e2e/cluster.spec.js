// Cluster mode enabled end to end: a CME replication group of three shards
// (a primary and a replica each, one Web Worker per node) assembled over
// the cluster bus by the control plane, a console that follows MOVED,
// online resharding while keys stay readable, a primary's failure (and an
// AZ's) handled by the bus's election and ElastiCache's node replacement.
const { test, expect } = require('@playwright/test');
const path = require('path');
const { watchErrors, labIds, playLab } = require('./helpers');

const shots = path.join(__dirname, '..', '..', 'docs', 'screenshots');
const node = (page, name) => page.locator(`.cme-node[data-node="${name}"]`);
const shard = (page, id) => page.locator(`.cme-shard[data-shard="${id}"]`);

async function run(page, command) {
  const input = page.locator('#cme-console-input');
  await input.focus();
  await input.fill(command);
  await input.press('Enter');
}

async function groupUp(page, shards) {
  await page.goto('/');
  await page.click('#tab-cluster');
  await expect(page.locator('#cme-status')).toContainText('available', { timeout: 90_000 });
  for (let s = 1; s <= shards; s++) {
    const id = String(s).padStart(4, '0');
    await expect(node(page, `demo-cme-${id}-001`)).toHaveAttribute('data-role', 'primary', { timeout: 60_000 });
    await expect(node(page, `demo-cme-${id}-002`)).toHaveAttribute('data-role', 'replica', { timeout: 60_000 });
  }
}

const slotsOf = async (page, id) =>
  parseInt((await shard(page, id).locator('.note').first().textContent()).split(' ')[0], 10);

test('a cluster-mode group serves its slots, the console follows MOVED, and an AZ outage fails over', async ({ page }) => {
  test.setTimeout(240_000);
  const errors = watchErrors(page);
  await groupUp(page, 3);
  await expect(page.locator('#cme-endpoint')).toHaveText('demo-cme.xyz123.clustercfg.use1.cache.amazonaws.com:6379');
  // redis-cli --cluster create's split.
  expect(await slotsOf(page, '0001')).toBe(5461);
  expect(await slotsOf(page, '0002')).toBe(5462);
  expect(await slotsOf(page, '0003')).toBe(5461);
  // Three ranges on the map, split at its rows' ends (2048 slots a row).
  const shardsOnMap = await page.locator('#slot-map rect.range').evaluateAll((rs) => [...new Set(rs.map((r) => r.dataset.shard))]);
  expect(shardsOnMap).toEqual(['0001', '0002', '0003']);
  await expect(page.locator('#slot-map rect.range')).toHaveCount(10);

  await run(page, 'CLUSTER KEYSLOT user:1');
  await expect(page.locator('#cme-console-output .line.reply').last()).toHaveText('(integer) 10778');
  await expect(page.locator('#key-probe')).toHaveText('user:1 → slot 10778 → shard 0002');
  await run(page, 'SET user:1 alice');
  await expect(page.locator('#cme-console-output .line.reply').last()).toHaveText('OK');
  await run(page, 'GET user:1');
  await expect(page.locator('#cme-console-output .line.reply').last()).toHaveText('"alice"');
  // Whichever node the console started on, user:1's slot is shard 0002's.
  await expect(page.locator('.cme-shard[data-shard="0002"]')).toContainText('1 keys', { timeout: 10_000 });
  await run(page, 'SET {user:1}:cart 3');
  await run(page, 'MSET a 1 b 2');
  await expect(page.locator('#cme-console-output .line.error').last()).toHaveText("(error) CROSSSLOT Keys in request don't hash to the same slot");
  await run(page, 'CLUSTER SHARDS');
  await expect(page.locator('#cme-console-output')).toContainText('"slots"');
  // The bus is shown: nodes met (MEET) and ping each other.
  await expect(page.locator('#bus-counts')).toContainText('PING');
  await expect(page.locator('#bus-counts')).toContainText('MEET');
  await page.screenshot({ path: path.join(shots, 'cluster-mode.png'), fullPage: true });

  // A replica added to shard 0003 syncs and serves; removed, it is gone.
  await shard(page, '0003').locator('button', { hasText: 'Add replica' }).click();
  await expect(node(page, 'demo-cme-0003-003')).toHaveAttribute('data-role', 'replica', { timeout: 60_000 });
  await expect(page.locator('#cme-events')).toContainText('Added cache node demo-cme-0003-003', { timeout: 30_000 });
  await node(page, 'demo-cme-0003-003').locator('button.remove').click();
  await expect(node(page, 'demo-cme-0003-003')).toHaveCount(0, { timeout: 60_000 });
  await expect(page.locator('#cme-events')).toContainText('Removed cache node demo-cme-0003-003', { timeout: 30_000 });

  // us-east-1a goes down: shard 0001's primary and shard 0003's replica
  // die. Two primaries of three vote, 0001's replica is elected, every
  // slot stays served; the replacements wait for the zone.
  await page.locator('main.cme button', { hasText: '10x' }).click();
  await page.locator('#cme-azs button[data-az="us-east-1a"]').click();
  await expect(page.locator('#cme-azs button[data-az="us-east-1a"]')).toHaveText('us-east-1a back');
  await expect(node(page, 'demo-cme-0001-001')).toHaveAttribute('data-role', 'failed');
  await expect(node(page, 'demo-cme-0003-002')).toHaveAttribute('data-role', 'failed');
  await expect(node(page, 'demo-cme-0001-002')).toHaveAttribute('data-role', 'primary', { timeout: 60_000 });
  await expect(page.locator('#cme-events')).toContainText('demo-cme-0001-001: its replacement waits until us-east-1a is available', { timeout: 60_000 });
  await run(page, 'GET user:1');
  await expect(page.locator('#cme-console-output .line.reply').last()).toHaveText('"alice"');
  await page.screenshot({ path: path.join(shots, 'cluster-az-outage.png'), fullPage: true });
  await page.locator('#cme-azs button[data-az="us-east-1a"]').click();
  await expect(page.locator('#cme-events')).toContainText('demo-cme-0001-001: Finished recovery for cache nodes 0001', { timeout: 90_000 });
  await expect(page.locator('#cme-events')).toContainText('demo-cme-0003-002: Finished recovery for cache nodes 0001', { timeout: 90_000 });
  await expect(node(page, 'demo-cme-0001-001')).toHaveAttribute('data-role', 'replica', { timeout: 60_000 });
  await expect(node(page, 'demo-cme-0003-002')).toHaveAttribute('data-role', 'replica', { timeout: 60_000 });
  expect(errors).toEqual([]);
});

test('scale out moves slots to a new shard online, keys stay readable, and a failed primary is replaced', async ({ page }) => {
  test.setTimeout(240_000);
  const errors = watchErrors(page);
  await groupUp(page, 3);
  await page.click('#cme-load');
  await expect(page.locator('#cme-loaded')).toContainText('200 writes acknowledged', { timeout: 30_000 });

  await page.click('#cme-scale-out');
  await expect(page.locator('#cme-reshard')).toBeVisible({ timeout: 60_000 });
  await expect(page.locator('#cme-reshard')).toContainText(/Resharding: [1-9]\d* of 4096 slots/, { timeout: 60_000 });
  // The slot being moved slides from its shard to the new one.
  await expect(page.locator('#cme-slide .cme-chip')).toHaveText(/^slot \d+$/, { timeout: 30_000 });
  await expect(page.locator('#cme-slide .cme-end').last()).toHaveText('0004');
  // New nodes with no slots yet do not make the cluster look down.
  await expect(page.locator('#cme-down')).toHaveCount(0);
  await page.screenshot({ path: path.join(shots, 'cluster-resharding.png'), fullPage: true });
  await expect(page.locator('#cme-status')).toContainText('available', { timeout: 180_000 });
  await expect(page.locator('#cme-reshard')).toHaveCount(0);
  for (const id of ['0001', '0002', '0003', '0004']) {
    await expect.poll(() => slotsOf(page, id), { timeout: 30_000 }).toBeGreaterThan(4090);
  }
  await expect(page.locator('#cme-events')).toContainText('Resharding of replication group demo-cme completed');
  // The keys moved with their slots: four shards hold the 200 between them.
  const keysPerShard = async () => (await page.locator('#cme-keys .cme-keys-n').allTextContents()).map((t) => parseInt(t, 10));
  await expect.poll(async () => (await keysPerShard()).length).toBe(4);
  await expect.poll(async () => (await keysPerShard()).reduce((a, b) => a + b, 0), { timeout: 10_000 }).toBe(200);
  expect(Math.min(...await keysPerShard())).toBeGreaterThan(20);
  // Every key is still there, wherever it moved.
  for (const n of [0, 57, 199]) {
    await run(page, `GET item:${n}`);
    await expect(page.locator('#cme-console-output .line.reply').last()).toHaveText(`"${n}"`);
  }
  await page.screenshot({ path: path.join(shots, 'cluster-scaled-out.png'), fullPage: true });

  // Shard 0001's primary dies: the bus fails it over to its replica, then
  // ElastiCache replaces the dead node, which rejoins as a replica.
  await page.locator('main.cme button', { hasText: '10x' }).click();
  await node(page, 'demo-cme-0001-001').locator('button.kill').click();
  await expect(node(page, 'demo-cme-0001-001')).toHaveAttribute('data-role', 'failed');
  await expect(node(page, 'demo-cme-0001-002')).toHaveAttribute('data-role', 'primary', { timeout: 60_000 });
  await expect(page.locator('#cme-events')).toContainText('Failover from primary node demo-cme-0001-001 to replica node demo-cme-0001-002 completed', { timeout: 30_000 });
  await expect(page.locator('#cme-events')).toContainText('Finished recovery for cache nodes 0001', { timeout: 90_000 });
  await expect(node(page, 'demo-cme-0001-001')).toHaveAttribute('data-role', 'replica', { timeout: 60_000 });
  await page.screenshot({ path: path.join(shots, 'cluster-failover.png'), fullPage: true });
  expect(errors).toEqual([]);
});

test('a shard that loses every node takes the whole cluster down until ElastiCache replaces it, empty; a reboot is refused', async ({ page }) => {
  test.setTimeout(180_000);
  const errors = watchErrors(page);
  await groupUp(page, 3);
  await run(page, 'SET user:1 alice'); // slot 10778: shard 0002
  await run(page, 'SET product:1 shoes'); // shard 0001
  await expect(page.locator('#cme-console-output .line.reply').last()).toHaveText('OK');
  await expect(page.locator('#cme-down')).toHaveCount(0);
  // RebootCacheCluster is refused in cluster mode, in the API's words.
  await node(page, 'demo-cme-0001-002').locator('button.reboot').click();
  await expect(page.locator('#cme-error')).toContainText('Rebooting is not supported on Valkey or Redis OSS (cluster mode enabled) clusters.');
  await expect(node(page, 'demo-cme-0001-002')).toHaveAttribute('data-role', 'replica');

  // Shard 0002 loses both nodes: nobody is left to elect, its slots are
  // unserved, and every node refuses every key.
  await page.locator('main.cme button', { hasText: '10x' }).click();
  await shard(page, '0002').locator('button.lose').click();
  await expect(node(page, 'demo-cme-0002-001')).toHaveAttribute('data-role', 'failed');
  await expect(node(page, 'demo-cme-0002-002')).toHaveAttribute('data-role', 'failed');
  await expect(page.locator('#slot-map rect.unserved').first()).toBeVisible();
  await expect(page.locator('#cme-down')).toContainText('2 of 2 primaries serving slots report cluster_state:fail', { timeout: 30_000 });
  await expect(page.locator('#cme-down')).toContainText('No primary serves slots 5461-10922.');
  await run(page, '@0001-001 GET product:1');
  await expect(page.locator('#cme-console-output .line.error').last()).toHaveText('(error) CLUSTERDOWN The cluster is down');
  await page.screenshot({ path: path.join(shots, 'cluster-down.png'), fullPage: true });

  // ElastiCache replaces the nodes: the shard serves its slots again, empty.
  await expect(page.locator('#cme-events')).toContainText('demo-cme-0002-001: Finished recovery for cache nodes 0001', { timeout: 90_000 });
  await expect(page.locator('#cme-down')).toHaveCount(0, { timeout: 30_000 });
  await expect(page.locator('#slot-map rect.unserved')).toHaveCount(0);
  await run(page, 'GET product:1');
  await expect(page.locator('#cme-console-output .line.reply').last()).toHaveText('"shoes"');
  await run(page, 'GET user:1');
  await expect(page.locator('#cme-console-output .line.reply').last()).toHaveText('(nil)');
  expect(errors).toEqual([]);
});

test('every cluster-mode lab fails untouched and passes after its solution, on the page\'s workers', async ({ page }) => {
  test.setTimeout(900_000);
  const errors = watchErrors(page);
  const labs = await labIds(page, 'cluster');
  expect(labs.length).toBeGreaterThanOrEqual(11);
  for (const id of labs) await playLab(page, id, 180_000);
  await page.screenshot({ path: path.join(shots, 'cluster-lab.png'), fullPage: true });
  expect(errors).toEqual([]);
});

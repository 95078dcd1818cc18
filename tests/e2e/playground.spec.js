// The playground end to end: the real page, one Web Worker per node, a
// replication group with its control plane, virtual time.
const { test, expect } = require('@playwright/test');
const path = require('path');

const shots = path.join(__dirname, '..', '..', 'docs', 'screenshots');

const { watchErrors, run, lastReply, card } = require('./helpers');

const lastError = (page) => page.locator('#console-output .line.error').last();

async function groupUp(page) {
  await page.goto('/');
  await expect(card(page, 'demo-001')).toHaveAttribute('data-role', 'primary', { timeout: 30_000 });
  await expect(card(page, 'demo-002')).toHaveAttribute('data-role', 'replica', { timeout: 30_000 });
  await expect(card(page, 'demo-003')).toHaveAttribute('data-role', 'replica', { timeout: 30_000 });
}

test('a console like redis-cli, through the endpoints, keys expiring in virtual time', async ({ page }) => {
  const errors = watchErrors(page);
  await groupUp(page);
  await expect(page.locator('input[type=text]').first()).toHaveId('console-input');
  await expect(page.locator('#console-input')).toBeFocused();

  await run(page, 'SET foo bar');
  await expect(lastReply(page)).toHaveText('OK');
  await run(page, 'GET foo');
  await expect(lastReply(page)).toHaveText('"bar"');
  await expect(page.locator('#console-output .line.cmd').last()).toContainText('(demo-001)');
  await run(page, 'NOSUCH a');
  await expect(lastError(page)).toHaveText("(error) ERR unknown command 'NOSUCH', with args beginning with: 'a' ");
  await page.locator('#console-input').press('ArrowUp');
  await expect(page.locator('#console-input')).toHaveValue('NOSUCH a');
  await page.locator('#console-input').fill('');

  // Tab completes a command's name; the hint line shows its arguments,
  // from Redis's command docs, as redis-cli hints them.
  const input = page.locator('#console-input');
  await input.pressSequentially('geosea');
  await input.press('Tab');
  await expect(page.locator('#console-hint')).toHaveText('GEOSEARCH  GEOSEARCHSTORE');
  await expect(input).toHaveValue('GEOSEARCH');
  await input.fill('');
  await input.pressSequentially('lcs');
  await input.press('Tab');
  await expect(input).toHaveValue('LCS ');
  await expect(page.locator('#console-hint')).toHaveText('key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]');
  await input.pressSequentially('a ');
  await expect(page.locator('#console-hint')).toHaveText('key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]');
  await input.fill('');
  await run(page, 'help SET');
  await expect(lastReply(page)).toContainText('SET key value [NX|XX] [GET]');
  await expect(lastReply(page)).toContainText('summary: Set the string value of a key');
  await run(page, 'help @hyperloglog');
  await expect(lastReply(page)).toContainText('PFCOUNT key [key ...]');

  // Freeze time, set a key with a 1.5 s TTL, then step virtual time past it.
  await page.locator('#btn-pause').click();
  await expect(page.locator('#virtual-clock')).toContainText('paused');
  await run(page, 'SET session alice PX 1500');
  await expect(lastReply(page)).toHaveText('OK');
  await run(page, 'INFO replication');
  await expect(lastReply(page)).toContainText('connected_slaves:2');
  await expect(page.locator('#key-table tr[data-key="session"] .ttl-text')).toHaveText('1.5 s');
  await expect(page.locator('#key-table tr[data-key="foo"] .ttl-text')).toHaveText('no TTL');
  await page.locator('#btn-step').click();
  await expect(page.locator('#key-table tr[data-key="session"] .ttl-text')).toHaveText('0.5 s');
  await run(page, 'PTTL session');
  await expect(lastReply(page)).toHaveText('(integer) 500');
  await page.locator('#btn-step').click();
  await expect(page.locator('#key-table tr[data-key="session"]')).toHaveCount(0);
  await run(page, 'GET session');
  await expect(lastReply(page)).toHaveText('(nil)');

  // The reader endpoint reaches a replica: reads work, writes are refused.
  await page.locator('#btn-pause').click();
  await page.locator('#endpoint-picker').selectOption({ label: 'reader endpoint' });
  await run(page, 'GET foo');
  await expect(lastReply(page)).toHaveText('"bar"');
  await run(page, 'SET x 1');
  await expect(lastError(page)).toHaveText("(error) READONLY You can't write against a read only replica.");
  await run(page, 'ROLE');
  await expect(lastReply(page)).toContainText('1) "slave"');
  await page.screenshot({ path: path.join(shots, 'playground.png') });
  expect(errors).toEqual([]);
});

test('killing the primary: a replica is promoted, the endpoint moves, the same session keeps writing', async ({ page }) => {
  const errors = watchErrors(page);
  await groupUp(page);
  await run(page, 'SET before failover');
  await expect(lastReply(page)).toHaveText('OK');
  // Cause and effect: the write flows from the primary to the replicas.
  await expect(card(page, 'demo-002')).toHaveClass(/receiving/);
  await expect(page.locator('#traffic')).toContainText('demo-001 → demo-002 STREAM');
  // In the protocol's words: the command as propagated, with its offsets.
  await expect(page.locator('#traffic .detail').filter({ hasText: 'SET before failover' }).first()).toContainText(/offset \d+→\d+/);
  await expect(page.locator('#traffic')).toContainText('REPLCONF ACK');
  await expect(page.locator('#ep-primary .target')).toHaveText('demo-001');
  await page.screenshot({ path: path.join(shots, 'failover-before.png') });

  // Crash the primary. The control plane misses its health checks (5 s).
  await card(page, 'demo-001').locator('button.kill').click();
  await expect(card(page, 'demo-001')).toHaveAttribute('data-role', 'failed');
  await page.screenshot({ path: path.join(shots, 'failover-during.png'), fullPage: true });
  await page.locator('#btn-10x').click();
  // Within the configured virtual time (5 s detection + ≤ 1 s offsets), a replica is primary.
  await expect(page.locator('#ep-primary .target')).not.toHaveText('demo-001', { timeout: 15_000 });
  const promoted = await page.locator('#ep-primary .target').textContent();
  await expect(card(page, promoted)).toHaveAttribute('data-role', 'primary');
  await expect(page.locator('#event-log')).toContainText(`Failover from primary node demo-001 to replica node ${promoted} completed`);
  await expect(page.locator('#event-log')).toContainText('Recovering cache nodes 0001');
  // The same console session: its next write reconnects through the endpoint and succeeds.
  await run(page, 'SET after failover');
  await expect(lastReply(page)).toHaveText('OK');
  await expect(page.locator('#console-output .line.cmd').last()).toContainText(`(${promoted})`);
  await run(page, 'GET before');
  await expect(lastReply(page)).toHaveText('"failover"');
  // The replacement comes up in the failed node's AZ as a replica.
  await expect(page.locator('#event-log')).toContainText('Finished recovery for cache nodes 0001', { timeout: 15_000 });
  await expect(card(page, 'demo-001')).toHaveAttribute('data-role', 'replica', { timeout: 15_000 });
  await page.locator('#btn-1x').click();
  // AWS's order: failover, then recovery.
  const log = await page.locator('#event-log li .msg').allTextContents();
  const order = log.reverse();
  const i = (s) => order.findIndex((m) => m.includes(s));
  expect(i('Failover from primary node demo-001')).toBeLessThan(i('Recovering cache nodes 0001'));
  expect(i('Recovering cache nodes 0001')).toBeLessThan(i('Finished recovery for cache nodes 0001'));
  await page.screenshot({ path: path.join(shots, 'failover-after.png'), fullPage: true });
  expect(errors).toEqual([]);
});

test('lost writes: asynchronous replication loses the tail, WAIT 1 loses none', async ({ page }) => {
  const errors = watchErrors(page);
  await groupUp(page);
  // Without WAIT: write, crash the primary, fail over, check.
  await page.locator('#btn-writer').click();
  await expect(page.locator('#writer-stats')).toContainText(/[1-9]\d* acknowledged/);
  await page.waitForTimeout(1500);
  // Freeze the clock: the last writes are acknowledged (clients need no
  // clock) but their replication is still in the air when the primary dies.
  await page.locator('#btn-pause').click();
  await page.waitForTimeout(300);
  await card(page, 'demo-001').locator('button.kill').click();
  await page.locator('#btn-pause').click();
  await page.locator('#btn-10x').click();
  await expect(page.locator('#ep-primary .target')).not.toHaveText('demo-001', { timeout: 15_000 });
  await page.locator('#btn-writer').click();
  await page.locator('#btn-check').click();
  await expect(page.locator('#checks li')).toHaveCount(1, { timeout: 10_000 });
  const lost = Number(await page.locator('#checks li').first().getAttribute('data-lost'));
  expect(lost).toBeGreaterThan(0);
  await expect(page.locator('#checks li').first()).toContainText('asynchronous replication');

  // With WAIT 1: every counted write is on a replica before it counts.
  await expect(card(page, 'demo-001')).toHaveAttribute('data-role', 'replica', { timeout: 20_000 });
  await page.locator('#btn-1x').click();
  await page.locator('#chk-wait').check();
  await page.locator('#btn-writer').click();
  await expect(page.locator('#writer-stats')).toContainText(/[1-9]\d* acknowledged \(with WAIT 1\)/, { timeout: 10_000 });
  await page.waitForTimeout(1500);
  const primary = await page.locator('#ep-primary .target').textContent();
  await card(page, primary).locator('button.kill').click();
  await page.locator('#btn-10x').click();
  await expect(page.locator('#ep-primary .target')).not.toHaveText(primary, { timeout: 15_000 });
  await page.locator('#btn-writer').click();
  await page.locator('#btn-check').click();
  await expect(page.locator('#checks li')).toHaveCount(2, { timeout: 10_000 });
  await expect(page.locator('#checks li').first()).toHaveAttribute('data-lost', '0');
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(shots, 'lost-writes.png'), fullPage: true });
  expect(errors).toEqual([]);
});

test('an AZ cut off by a partition: the control plane fails over to another AZ', async ({ page }) => {
  const errors = watchErrors(page);
  await groupUp(page);
  await page.locator('.lane[data-az="us-east-1a"] button.az-partition').click();
  await expect(card(page, 'demo-001')).toHaveAttribute('data-role', 'primary');
  await page.locator('#btn-10x').click();
  // The control plane cannot reach demo-001: it takes it offline and promotes a replica.
  await expect(page.locator('#ep-primary .target')).not.toHaveText('demo-001', { timeout: 15_000 });
  await expect(page.locator('#event-log')).toContainText('Failover from primary node demo-001');
  await page.locator('.lane[data-az="us-east-1a"] button.az-partition').click();
  await expect(card(page, 'demo-001')).toHaveAttribute('data-role', 'replica', { timeout: 20_000 });
  // One primary in the whole group.
  await expect(page.locator('.card[data-role="primary"]')).toHaveCount(1);
  expect(errors).toEqual([]);
});

test('a replica cut off past repl-timeout: the backlog window decides partial or full resync', async ({ page }) => {
  const errors = watchErrors(page);
  await groupUp(page);
  await run(page, 'CONFIG SET repl-backlog-size 16384');
  await expect(lastReply(page)).toHaveText('OK');
  const backlog = page.locator('#backlog');
  await expect(backlog).toContainText('16.0 KB configured');
  await expect(backlog.locator('li', { hasText: 'demo-002' })).toContainText('resyncs partially');
  // Only the link between demo-002 and the primary: the control plane still reaches both.
  await card(page, 'demo-002').locator('button.cut-link').click();
  await expect(card(page, 'demo-002').locator('button.cut-link')).toHaveText('Heal link');
  await run(page, `EVAL "for i=1,40 do redis.call('SET','bulk:'..i,string.rep('x',1000)) end return 40" 0`);
  await expect(lastReply(page)).toHaveText('(integer) 40');
  // The stream waits at the partition; 40 KB of writes push the window past demo-002's offset.
  await expect(page.locator('#traffic')).toContainText('waiting at the partition');
  await expect(backlog.locator('li', { hasText: 'demo-002' })).toContainText('behind the backlog', { timeout: 10_000 });
  await page.screenshot({ path: path.join(shots, 'backlog-behind.png'), fullPage: true });
  // Past repl-timeout (60 s) the link breaks; healed, demo-002 asks PSYNC and gets a full sync.
  await page.locator('#btn-10x').click();
  await expect(card(page, 'demo-002')).toHaveAttribute('data-role', 'syncing', { timeout: 20_000 });
  await page.locator('#btn-1x').click();
  await card(page, 'demo-002').locator('button.cut-link').click();
  await expect(card(page, 'demo-002')).toHaveAttribute('data-role', 'replica', { timeout: 15_000 });
  await run(page, 'INFO stats');
  // Two initial syncs (demo-002, demo-003), and demo-002's second one.
  await expect(page.locator('#console-output')).toContainText('sync_full:3');
  await expect(page.locator('#console-output')).toContainText('sync_partial_err:1');
  await page.screenshot({ path: path.join(shots, 'backlog-full-sync.png'), fullPage: true });
  expect(errors).toEqual([]);
});

// The playground end to end: real page, three real Web Workers, virtual time.
const { test, expect } = require('@playwright/test');
const path = require('path');

const shots = path.join(__dirname, '..', '..', 'docs', 'screenshots');

async function run(page, command) {
  const input = page.locator('#console-input');
  await input.fill(command);
  await input.press('Enter');
}

test('three worker nodes, a console like redis-cli, keys expiring in virtual time', async ({ page }) => {
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));

  await page.goto('/');
  await expect(page.locator('#ready-count')).toHaveAttribute('data-ready', '3', { timeout: 30_000 });
  // The console's input is the first text field and has focus on load.
  await expect(page.locator('input[type=text]').first()).toHaveId('console-input');
  await expect(page.locator('#console-input')).toBeFocused();

  await run(page, 'SET foo bar');
  await expect(page.locator('#console-output .line.reply').last()).toHaveText('OK');
  await run(page, 'GET foo');
  await expect(page.locator('#console-output .line.reply').last()).toHaveText('"bar"');
  await run(page, 'NOSUCH a');
  await expect(page.locator('#console-output .line.error').last()).toHaveText("(error) ERR unknown command 'NOSUCH', with args beginning with: 'a' ");

  // History: ↑ recalls the previous command.
  await page.locator('#console-input').press('ArrowUp');
  await expect(page.locator('#console-input')).toHaveValue('NOSUCH a');
  await page.locator('#console-input').fill('');

  // Freeze time, set a key with a 1.5 s TTL, then step virtual time past it.
  await page.locator('#btn-pause').click();
  await expect(page.locator('#virtual-clock')).toContainText('paused');
  await page.locator('#console-input').focus();
  await run(page, 'SET session alice PX 1500');
  await expect(page.locator('#console-output .line.reply').last()).toHaveText('OK');
  await run(page, 'GET session');
  await expect(page.locator('#console-output .line.reply').last()).toHaveText('"alice"');
  await run(page, 'KEYS *');
  await expect(page.locator('#console-output .line.reply').last()).toContainText('1) ');
  // The keys panel shows the key and its time to live, from the node's view.
  await expect(page.locator('#key-table tr[data-key="session"] .ttl-text')).toHaveText('1.5 s');
  await expect(page.locator('#key-table tr[data-key="foo"] .ttl-text')).toHaveText('no TTL');
  await page.screenshot({ path: path.join(shots, 'playground.png') });

  await page.locator('#btn-step').click();
  await expect(page.locator('#key-table tr[data-key="session"] .ttl-text')).toHaveText('0.5 s');
  await page.locator('#console-input').focus();
  await run(page, 'PTTL session');
  await expect(page.locator('#console-output .line.reply').last()).toHaveText('(integer) 500');
  await page.locator('#btn-step').click();
  // Active expiry (the node's cron, driven by virtual time) removed it: no command needed.
  await expect(page.locator('#key-table tr[data-key="session"]')).toHaveCount(0);
  await expect(page.locator('tr[data-node="node-1"] td').nth(5)).toHaveText('1');
  await page.locator('#console-input').focus();
  await run(page, 'GET session');
  await expect(page.locator('#console-output .line.reply').last()).toHaveText('(nil)');

  // The node panel reports the selected node live: one key left (foo).
  await expect(page.locator('tr[data-node="node-1"] td.keys')).toHaveText('1');

  // Another node is independent.
  await page.locator('#node-picker').selectOption('1');
  await page.locator('#console-input').focus();
  await run(page, 'GET foo');
  await expect(page.locator('#console-output .line.reply').last()).toHaveText('(nil)');
  await page.screenshot({ path: path.join(shots, 'playground-expired.png') });

  expect(errors).toEqual([]);
});

// Backups in the playground: a manual backup from a read replica with its
// progress and the forking node drawn, an automatic backup appearing in its
// window, restore into a NEW group beside the old one, a downloaded .rdb
// that a real redis-server loads, an uploaded dump seeding a group, export
// to the bucket, backups kept across a reload, and Memcached refusing.
const { test, expect } = require('@playwright/test');
const path = require('path');
const fs = require('fs');
const os = require('os');
const { spawn, execFileSync } = require('child_process');

const shots = path.join(__dirname, '..', '..', 'docs', 'screenshots');

const { watchErrors, run, lastReply, card } = require('./helpers');

const row = (page, name) => page.locator(`.backup-row[data-backup="${name}"]`);

async function groupUp(page) {
  await page.goto('/');
  await expect(card(page, 'demo-002')).toHaveAttribute('data-role', 'replica', { timeout: 30_000 });
  await expect(card(page, 'demo-003')).toHaveAttribute('data-role', 'replica', { timeout: 30_000 });
}

async function backup(page, name) {
  await page.locator('#backup-name').fill(name);
  await page.locator('#backup-create').click();
  await expect(row(page, name)).toBeVisible();
}

/// A real redis-server loading `file`; returns the reply of redis-cli `args`.
async function redisServerLoads(file, args) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cachelab-rdb-'));
  fs.copyFileSync(file, path.join(dir, 'dump.rdb'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--dbfilename', 'dump.rdb', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 100; i++) {
      try {
        execFileSync('redis-cli', ['-p', String(port), 'PING'], { stdio: 'pipe' });
        break;
      } catch (e) {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return execFileSync('redis-cli', ['-p', String(port), ...args]).toString().trim();
  } finally {
    server.kill();
  }
}

test('manual backup from a replica, restore into a new group, download a .rdb redis-server loads', async ({ page }) => {
  const errors = watchErrors(page);
  await groupUp(page);
  await run(page, 'SET price 10');
  await expect(lastReply(page)).toHaveText('OK');
  await run(page, 'HSET user:1 name alice plan pro');
  await expect(lastReply(page)).toHaveText('(integer) 2');
  await page.waitForTimeout(300);

  await backup(page, 'before-release');
  // Taken from a read replica: its card shows the fork while the file travels.
  await expect(row(page, 'before-release')).toHaveAttribute('data-status', 'creating');
  await expect(row(page, 'before-release')).toContainText('replica');
  await expect(page.locator('.card .forking')).toHaveCount(1);
  // Side by side: the replica writing the file pays the fork; the primary,
  // serving writes, does not.
  const forker = page.locator('#fork-costs .cost-card.forking');
  await expect(forker).toHaveCount(1);
  await expect(forker).toHaveAttribute('data-role', 'replica');
  await expect(forker).toContainText('writing backup before-release');
  await expect(forker.locator('.fork-pause')).toContainText('last fork paused it');
  await expect(page.locator('#fork-costs .cost-card[data-role="primary"] .fork-pause')).toHaveText('no fork yet');
  await page.locator('#fork-costs').scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(shots, 'backups-creating.png') });
  await page.locator('#btn-10x').click();
  await expect(row(page, 'before-release')).toHaveAttribute('data-status', 'available', { timeout: 30_000 });
  await expect(page.locator('#event-log')).toContainText('succeeded for snapshot before-release');

  // The data changes after the backup.
  await run(page, 'SET price 12');
  await expect(lastReply(page)).toHaveText('OK');

  // Download: a real redis-server loads the file and has the moment's data.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    row(page, 'before-release').locator('.b-download').click(),
  ]);
  expect(download.suggestedFilename()).toBe('before-release.rdb');
  const file = await download.path();
  expect(await redisServerLoads(file, ['GET', 'price'])).toBe('10');
  expect(await redisServerLoads(file, ['HGET', 'user:1', 'plan'])).toBe('pro');

  // Copy under a name of one's own (and the name checked as AWS does).
  await page.locator('#copy-as').fill('bad--name');
  await row(page, 'before-release').locator('.b-copy').click();
  await expect(page.locator('#backup-error')).toContainText('InvalidParameterValue');
  await page.locator('#copy-as').fill('before-release');
  await row(page, 'before-release').locator('.b-copy').click();
  await expect(page.locator('#backup-error')).toContainText('SnapshotAlreadyExistsFault');
  await page.locator('#copy-as').fill('release-archive');
  await row(page, 'before-release').locator('.b-copy').click();
  await expect(page.locator('#backup-error')).toHaveText('');
  await expect(row(page, 'release-archive')).toHaveAttribute('data-kind', 'manual');
  await expect(page.locator('#copy-as')).toHaveValue('');

  // Export to the bucket.
  await row(page, 'before-release').locator('.b-export').click();
  await expect(page.locator('#bucket li[data-object="before-release-0001.rdb"]')).toBeVisible();

  // Restore: a new group beside the old one, with the moment's data.
  await row(page, 'before-release').locator('.b-restore').click();
  await expect(page.locator('#backup-note')).toContainText('demo-restored');
  await expect(page.locator('.group-tab[data-group="demo-restored"]')).toBeVisible();
  await page.locator('.group-tab[data-group="demo-restored"]').click();
  await expect(page.locator('#group-name')).toHaveText('demo-restored');
  await expect(card(page, 'demo-restored-001')).toHaveAttribute('data-role', 'primary', { timeout: 30_000 });
  await expect(card(page, 'demo-restored-002')).toHaveAttribute('data-role', 'replica', { timeout: 30_000 });
  await run(page, 'GET price');
  await expect(lastReply(page)).toHaveText('"10"');
  await page.screenshot({ path: path.join(shots, 'backups-restored.png'), fullPage: true });
  // The source group is untouched.
  await page.locator('.group-tab[data-group="demo"]').click();
  await expect(page.locator('#group-name')).toHaveText('demo');
  await run(page, 'GET price');
  await expect(lastReply(page)).toHaveText('"12"');
  // DeleteReplicationGroup with a final backup: the group goes, the final
  // backup stays with the account (and restores the group's data).
  await page.locator('.group-tab[data-group="demo-restored"]').click();
  await page.locator('#final-backup-name').fill('restored-final');
  await page.locator('#btn-delete-group').click();
  await expect(page.locator('.group-tab[data-group="demo-restored"]')).toHaveCount(0, { timeout: 20_000 });
  await expect(page.locator('#group-name')).toHaveText('demo');
  await expect(row(page, 'restored-final')).toHaveAttribute('data-kind', 'final');
  await expect(row(page, 'restored-final')).toHaveAttribute('data-status', 'available', { timeout: 30_000 });
  await expect(page.locator('#event-log')).toContainText('Replication group demo-restored deleted');
  expect(errors).toEqual([]);
});

test('an automatic backup appears in its window; backups survive a reload and restore into a fresh page', async ({ page }) => {
  const errors = watchErrors(page);
  await groupUp(page);
  await run(page, 'SET visits 42');
  await expect(lastReply(page)).toHaveText('OK');
  await page.locator('#backup-retention').fill('2');
  await page.locator('#backup-window-next').click();
  await expect(page.locator('#backup-error')).toHaveText('');
  await page.locator('#btn-10x').click();
  const auto = page.locator('.backup-row[data-kind="automatic"]');
  await expect(auto).toHaveCount(1, { timeout: 30_000 });
  await expect(auto).toHaveAttribute('data-status', 'available', { timeout: 30_000 });
  await expect(page.locator('#backup-timeline .mark.available')).toHaveCount(1);
  await backup(page, 'keep-me');
  await expect(row(page, 'keep-me')).toHaveAttribute('data-status', 'available', { timeout: 30_000 });
  await page.locator('#backups').scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(shots, 'backups-timeline.png') });

  // A reload keeps them (IndexedDB), and the account's clock carries on
  // (the backups' dates never lie in the future); a restore from one works
  // in the new page.
  const clock = async () => Number(await page.locator('#virtual-clock').getAttribute('data-ms'));
  const before = await clock();
  await page.waitForTimeout(600);
  await page.reload();
  await expect(card(page, 'demo-002')).toHaveAttribute('data-role', 'replica', { timeout: 30_000 });
  expect(await clock()).toBeGreaterThanOrEqual(before);
  await expect(row(page, 'keep-me')).toHaveAttribute('data-status', 'available', { timeout: 10_000 });
  await expect(page.locator('.backup-row[data-kind="automatic"]')).toHaveCount(1);
  await expect(page.locator('#backup-retention')).toHaveValue('2');
  await page.locator('#restore-as').fill('from-reload');
  await row(page, 'keep-me').locator('.b-restore').click();
  await page.locator('.group-tab[data-group="from-reload"]').click();
  await expect(card(page, 'from-reload-001')).toHaveAttribute('data-role', 'primary', { timeout: 30_000 });
  await run(page, 'GET visits');
  await expect(lastReply(page)).toHaveText('"42"');
  // Deleting a manual backup: it is gone after a reload too.
  await page.locator('.group-tab[data-group="demo"]').click();
  await row(page, 'keep-me').locator('.b-delete').click();
  await expect(row(page, 'keep-me')).toHaveCount(0);
  await page.waitForTimeout(500);
  await page.reload();
  await expect(card(page, 'demo-002')).toHaveAttribute('data-role', 'replica', { timeout: 30_000 });
  await expect(page.locator('.backup-row[data-kind="automatic"]')).toHaveCount(1, { timeout: 10_000 });
  await expect(row(page, 'keep-me')).toHaveCount(0);
  expect(errors).toEqual([]);
});

test('errors in AWS words; an uploaded redis-server dump seeds a group; Memcached has no backups', async ({ page }) => {
  const errors = watchErrors(page);
  await groupUp(page);
  await page.locator('#backup-name').fill('bad--name');
  await page.locator('#backup-create').click();
  await expect(page.locator('#backup-error')).toContainText('InvalidParameterValue');
  await page.locator('#backup-window').fill('03:00-03:30');
  await page.locator('#backup-policy-apply').click();
  await expect(page.locator('#backup-error')).toContainText('at least 60 minutes');

  // A dump written by redis-server itself.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cachelab-up-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--dbfilename', 'real.rdb', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 100; i++) {
      try { execFileSync('redis-cli', ['-p', String(port), 'PING'], { stdio: 'pipe' }); break; } catch (e) { await new Promise((r) => setTimeout(r, 100)); }
    }
    execFileSync('redis-cli', ['-p', String(port), 'RPUSH', 'queue', 'a', 'b', 'c']);
    execFileSync('redis-cli', ['-p', String(port), 'SAVE']);
  } finally {
    server.kill();
  }
  await page.locator('#rdb-upload').setInputFiles(path.join(dir, 'real.rdb'));
  await expect(page.locator('#backup-note')).toContainText('uploaded');
  await page.locator('.group-tab[data-group="uploaded"]').click();
  await expect(card(page, 'uploaded-001')).toHaveAttribute('data-role', 'primary', { timeout: 30_000 });
  await run(page, 'LRANGE queue 0 -1');
  await expect(page.locator('#console-output .line.reply').last()).toContainText('3) "c"');

  await page.locator('#tab-memcached').click();
  await page.locator('#mc-backup').click();
  await expect(page.locator('#mc-error')).toHaveText('InvalidParameterCombination: Backup and restore are not supported for the Memcached engine.');
  expect(errors).toEqual([]);
});

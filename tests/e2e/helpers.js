// What several specs share: errors watched, the console, node cards, and
// a lab played in the page (fails untouched, passes after its solution).
const { expect } = require('@playwright/test');

function watchErrors(page) {
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  return errors;
}

async function run(page, command) {
  const input = page.locator('#console-input');
  await input.focus();
  await input.fill(command);
  await input.press('Enter');
}

const lastReply = (page) => page.locator('#console-output .line.reply').last();
const card = (page, name) => page.locator(`.card[data-node="${name}"]`);

/// The ids of the labs whose scenario runs on `kind` (replication, memcached).
async function labIds(page, kind) {
  await page.goto('/?learn');
  await expect(page.locator('#learn-labs-tab')).toBeVisible();
  return page.evaluate(async (k) => {
    const r = await fetch('learn.json');
    const c = await r.json();
    return c.labs.filter((l) => l.scenario.kind === k).map((l) => l.id);
  }, kind);
}

/// The lab's setup is done (its status says Ready); if it never is, the
/// failure names what the starting cluster still waits for.
async function labReady(page, id, timeout) {
  await expect(page.locator('#lab-status'), id).toContainText('Ready', { timeout }).catch(async (e) => {
    throw new Error(`${id} never got ready. ${await page.locator('#lab-status').getAttribute('title')}\n${e.message}`);
  });
}

/// Lab `id` in the page: Check fails on its untouched scenario; after every
/// hint, its reference solution played on the live cluster passes.
async function playLab(page, id, timeout) {
  await page.goto(`/?lab=${id}`);
  await labReady(page, id, timeout);
  await page.locator('#lab-check').click();
  await expect(page.locator('#lab-outcomes .outcome').first(), id).toBeVisible({ timeout: 10_000 });
  await expect(page.locator('#lab-dock'), `${id} passes untouched`).toHaveAttribute('data-passed', 'false');
  await page.locator('#lab-task').click();
  const hints = await page.locator('#lab-hint').textContent();
  const n = parseInt(hints.split('/')[1], 10);
  for (let i = 0; i < n; i++) await page.keyboard.press('h');
  await page.locator('#lab-solution').click();
  await page.locator('#lab-play-solution').click();
  await expect(page.locator('#lab-dock'), `${id} after its solution: ${await page.locator('#lab-status').textContent()}`)
    .toHaveAttribute('data-passed', 'true', { timeout });
}

module.exports = { watchErrors, run, lastReply, card, labIds, labReady, playLab };

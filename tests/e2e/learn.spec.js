// The Learn tab: practice questions with feedback, a lab completed through
// the console and graded on the live group, a mock exam that survives a
// reload, and progress kept in localStorage.
const { test, expect } = require('@playwright/test');
const path = require('path');

const { watchErrors, labIds, playLab } = require('./helpers');

const shots = path.join(__dirname, '..', '..', 'docs', 'screenshots');


test('practice: a right and a wrong answer, explained; progress survives a reload', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/?learn');
  await expect(page.locator('#tab-learn')).toHaveAttribute('aria-selected', 'true');
  await expect(page.locator('#learning-path .topic-row')).toHaveCount(12);
  await expect(page.locator('.topic-row[data-topic="backups"]')).toContainText('labs arrive with the feature');
  await page.screenshot({ path: path.join(shots, 'learn-path.png') });

  // Right: a "choose two" question, answered with the keyboard.
  await page.goto('/?q=repl-failover-automatic-actions');
  await expect(page.locator('.question')).toHaveAttribute('data-qid', 'repl-failover-automatic-actions');
  await expect(page.locator('.stem')).toContainText('Choose two.');
  await expect(page.locator('#practice-submit')).toBeDisabled();
  await page.locator('.q-meta').click();
  await page.keyboard.press('1');
  await page.keyboard.press('3');
  await page.keyboard.press('Enter');
  await expect(page.locator('#practice-feedback')).toHaveClass(/right/);
  await expect(page.locator('.opt[data-correct="true"]')).toHaveCount(2);
  await expect(page.locator('.opt .why')).toHaveCount(await page.locator('.opt').count());
  await expect(page.locator('#see-it')).toContainText('replication group playground');
  await page.screenshot({ path: path.join(shots, 'learn-practice-right.png'), fullPage: true });

  // Wrong: a single-answer question whose seed fact has a current note.
  await page.goto('/?q=bas-engines-then-and-now');
  await page.locator('#opt-0 label').click();
  await page.locator('#practice-submit').click();
  await expect(page.locator('#practice-feedback')).toHaveClass(/wrong/);
  await expect(page.locator('#opt-0')).toHaveClass(/wrong/);
  await expect(page.locator('#opt-4')).toHaveClass(/right/);
  await expect(page.locator('.current-note').first()).toContainText('Current AWS documentation');
  await page.screenshot({ path: path.join(shots, 'learn-practice-wrong.png'), fullPage: true });
  // "See it" switches to the replication group.
  await page.locator('#see-it').click();
  await expect(page.locator('#tab-redis')).toHaveAttribute('aria-selected', 'true');

  // Progress survives a reload.
  await page.goto('/?learn');
  await expect(page.locator('.topic-row[data-topic="replication"] .topic-stats')).toContainText('answered 1/');
  await expect(page.locator('.topic-row[data-topic="replication"] .topic-correct')).toHaveText('100% correct');
  await expect(page.locator('.topic-row[data-topic="basics"] .topic-correct')).toHaveText('0% correct');
  await page.locator('#learn-progress-tab').click();
  await expect(page.locator('#progress-summary')).toContainText('2 of');
  await expect(page.locator('#review-due')).toHaveText('1 due for review');
  await page.screenshot({ path: path.join(shots, 'learn-progress.png'), fullPage: true });

  // Export, reset, import: the answers come back.
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#progress-export').click()]);
  expect(download.suggestedFilename()).toBe('cachelab-progress.json');
  const file = await download.path();
  page.once('dialog', (d) => d.accept());
  await page.locator('#progress-reset').click();
  await expect(page.locator('#progress-summary')).toContainText('0 of');
  await page.locator('#progress-import').setInputFiles(file);
  await expect(page.locator('#progress-summary')).toContainText('2 of');
  await expect(page.locator('#review-due')).toHaveText('1 due for review');
  expect(errors).toEqual([]);
});

test('lab: write through the primary, read through the reader endpoint, Check turns green', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/?lab=lab-repl-write-read');
  const dock = page.locator('#lab-dock');
  await expect(dock).toHaveAttribute('data-lab', 'lab-repl-write-read');
  await expect(page.locator('#lab-status')).toContainText('Ready', { timeout: 30_000 });

  // Checked before the task: the goals are not met.
  await page.locator('#lab-check').click();
  await expect(page.locator('#lab-outcomes .outcome')).toHaveCount(3, { timeout: 10_000 });
  await expect(page.locator('#lab-outcomes .outcome.bad').first()).toBeVisible();
  await expect(dock).toHaveAttribute('data-passed', 'false');
  await page.locator('#lab-task').click();
  await page.keyboard.press('h');
  await expect(page.locator('#lab-hints li')).toHaveCount(1);
  await page.screenshot({ path: path.join(shots, 'learn-lab-before.png') });

  // The task, through the console and its endpoint menu.
  const input = page.locator('#console-input');
  await input.fill('SET user:42 alice');
  await input.press('Enter');
  await expect(page.locator('#console-output .line.reply').filter({ hasText: 'OK' }).first()).toBeVisible({ timeout: 10_000 });
  await page.locator('#endpoint-picker').selectOption({ label: 'reader endpoint' });
  await page.waitForTimeout(1500);
  await input.fill('GET user:42');
  await input.press('Enter');
  await expect(page.locator('#console-output .line.reply').filter({ hasText: '"alice"' }).first()).toBeVisible({ timeout: 10_000 });

  await page.locator('#lab-check').click();
  await expect(dock).toHaveAttribute('data-passed', 'true', { timeout: 10_000 });
  await expect(page.locator('#lab-outcomes .outcome.ok')).toHaveCount(3);
  await expect(page.locator('#lab-debrief')).toBeVisible();
  const ms = Number(await dock.getAttribute('data-grade-ms'));
  console.log(`lab check: ${ms} ms of main-thread work, ${await dock.getAttribute('data-grade-wall-ms')} ms wall`);
  expect(ms).toBeLessThan(50);
  await page.screenshot({ path: path.join(shots, 'learn-lab-passed.png') });

  // The pass is kept.
  await page.goto('/?learn');
  await expect(page.locator('.topic-row[data-topic="replication"] .topic-stats')).toContainText('labs passed 1/');
  await page.locator('#learn-labs-tab').click();
  await expect(page.locator('.lab-row[data-lab="lab-repl-write-read"]')).toHaveClass(/passed/);
  await page.screenshot({ path: path.join(shots, 'learn-labs.png') });
  expect(errors).toEqual([]);
});

test('lab: TestFailover with the button, then a write through the primary endpoint', async ({ page }) => {
  await page.goto('/?lab=lab-repl-test-failover');
  await expect(page.locator('#lab-status')).toContainText('Ready', { timeout: 30_000 });
  // Every hint, then the reference solution.
  await page.locator('#lab-task').click();
  for (let i = 0; i < 3; i++) await page.keyboard.press('h');
  await expect(page.locator('#lab-hints li')).toHaveCount(3);
  await page.locator('#lab-solution').click();
  await expect(page.locator('#lab-solution-steps')).toContainText('!failover');
  await page.locator('#btn-10x').click();
  await page.locator('#btn-test-failover').click();
  await expect(page.locator('#event-log')).toContainText('Failover from primary node', { timeout: 30_000 });
  await expect(page.locator('#ep-primary .target')).not.toHaveText('demo-001', { timeout: 30_000 });
  await expect(page.locator('#ep-primary .target')).not.toHaveText('—', { timeout: 30_000 });
  const input = page.locator('#console-input');
  await input.fill('INCR cart:7');
  await input.press('Enter');
  await expect(page.locator('#console-output .line.reply').filter({ hasText: '(integer) 4' }).first()).toBeVisible({ timeout: 10_000 });
  await page.locator('#lab-check').click();
  await expect(page.locator('#lab-dock')).toHaveAttribute('data-passed', 'true', { timeout: 10_000 });
  await page.screenshot({ path: path.join(shots, 'learn-lab-failover.png') });
});

test('exam: a short timed exam survives a reload and ends with a report', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/?exam&n=4&min=10');
  await expect(page.locator('#exam-run')).toBeVisible();
  await expect(page.locator('#exam-pos')).toHaveText('Question 1 of 4');
  await expect(page.locator('#exam-timer')).toContainText('left');
  await page.locator('#exam-pos').click();
  await page.keyboard.press('1');
  await page.keyboard.press('Enter');
  await expect(page.locator('#exam-pos')).toHaveText('Question 2 of 4');
  await page.keyboard.press('2');
  await page.keyboard.press('f');
  await expect(page.locator('#exam-flag')).toContainText('Flagged');
  // No feedback while the exam runs.
  await expect(page.locator('.opt .why')).toHaveCount(0);
  await page.screenshot({ path: path.join(shots, 'learn-exam.png') });

  await page.reload();
  await expect(page.locator('#exam-pos')).toHaveText('Question 2 of 4');
  await expect(page.locator('.nav-q.answered')).toHaveCount(2);
  await expect(page.locator('.nav-q.flagged')).toHaveCount(1);
  await page.locator('#exam-next').click();
  await page.locator('#opt-0 label').click();
  await page.locator('#exam-submit').click();
  await expect(page.locator('#exam-report')).toBeVisible();
  await expect(page.locator('#exam-score')).toContainText('of 4');
  await expect(page.locator('#exam-by-topic tbody tr').first()).toBeVisible();
  await expect(page.locator('.exam-review > li')).toHaveCount(4);
  await page.screenshot({ path: path.join(shots, 'learn-exam-report.png') });
  expect(errors).toEqual([]);
});

test('live question: the scenario is built on the group and the answer read off it', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/?q=live-repl-reader-count');
  await expect(page.locator('.live-badge')).toBeVisible();
  await page.locator('#live-start').click();
  await expect(page.locator('#opt-0')).toBeVisible({ timeout: 45_000 });
  // The answer comes from the control plane: the reader endpoint's nodes.
  await page.locator('#opt-0 label').click();
  await page.locator('#practice-submit').click();
  await expect(page.locator('#practice-feedback')).toBeVisible();
  await expect(page.locator('.opt[data-correct="true"]')).toHaveCount(1);
  await expect(page.locator('.live-how')).toContainText('How the page found it');
  await page.screenshot({ path: path.join(shots, 'learn-live.png'), fullPage: true });
  // The Redis tab shows the scenario the answer was read from.
  await page.locator('#tab-redis').click();
  await expect(page.locator('.card[data-node="demo-004"]')).toBeVisible();
  expect(errors).toEqual([]);
});

test('every replication-group lab fails untouched and passes after its reference solution, in the page', async ({ page }) => {
  test.setTimeout(900_000);
  const errors = watchErrors(page);
  const labs = await labIds(page, 'replication');
  expect(labs.length).toBeGreaterThanOrEqual(40);
  const started = Date.now();
  for (const id of labs) {
    const t0 = Date.now();
    await playLab(page, id, 60_000);
    console.log(`${id}: ${Date.now() - t0} ms`);
  }
  console.log(`${labs.length} labs in ${Date.now() - started} ms`);
  expect(errors).toEqual([]);
});

// `cargo xtask bench` (CACHELAB_BENCH=embed): time from navigation to an
// embed's first rendered step, in headless Chromium, each run in a fresh
// browser context (nothing cached). Prints one JSON line of milliseconds.
// Usage: node bench-embed.js URL [runs]
const { chromium } = require('@playwright/test');
const config = require('./playwright.config.js');

(async () => {
  const base = process.argv[2];
  const runs = Number(process.argv[3] || 5);
  const browser = await chromium.launch(config.use.launchOptions);
  const times = [];
  for (let i = 0; i < runs; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const start = Date.now();
    await page.goto(new URL('?embed=failover&autoplay&speed=1', base).href);
    // The first step's caption ("Step 1 of N") is drawn.
    await page.locator('cachelab-demo .count').first().waitFor({ timeout: 30_000 });
    times.push(Date.now() - start);
    await context.close();
  }
  await browser.close();
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ first_step_ms: times, median_ms: times[times.length >> 1] }));
})().catch((e) => { console.error(e); process.exit(1); });

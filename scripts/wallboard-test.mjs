// The wallboard in a headless Chromium (playwright-core driving the system browser; see
// scripts/wallboard-test, which starts the demos this is pointed at).
//
//   node scripts/wallboard-test.mjs LIVE_URL ALARM_URL SCREENSHOT
//
// LIVE_URL and ALARM_URL are the demos' printed `wallboard: http://.../wallboard/?token=...`
// lines. Test 1 (LIVE_URL): the ?token= login lands on the clean URL, the overview lists the
// live campaign, its page's figures change without a reload, an agent tile changes state;
// a screenshot is saved. Test 2 (ALARM_URL, a campaign paced too hard for its agents
// against a low target): the abandonment warning appears. Test 3 (ALARM_URL, minutes of its
// fast clock later): a page opened, then reloaded, mid-shift draws the shift so far from the
// feed's history before any live figures. No wall-clock assertions: every
// wait is for a condition, with a generous deadline.
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.resolve("target/browser-test/package.json"));
const { chromium } = require("playwright-core");

const [liveUrl, alarmUrl, shot] = process.argv.slice(2);
const DEADLINE = 120_000;
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

const started = Date.now();
const log = (msg) => console.log(`wallboard-test: [${((Date.now() - started) / 1000).toFixed(1)} s] ${msg}`);

function ok(cond, msg) {
  if (!cond) throw new Error(msg);
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
let failed = false;
try {
  // ---- Test 1: live figures and agent tiles, then the screenshot.
  {
    const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    const resp = await page.goto(liveUrl);
    ok(resp.ok(), `login: ${resp.status()}`);
    const url = new URL(page.url());
    ok(url.pathname === "/wallboard/" && !url.search, `not redirected to the clean URL: ${page.url()}`);
    const card = page.getByTestId("campaign-card-floor");
    await card.waitFor({ timeout: DEADLINE });
    await card.click();
    await page.waitForURL(/\/wallboard\/campaign\/floor$/, { timeout: DEADLINE });
    await page.waitForFunction(() => document.getElementById("conn")?.classList.contains("live"), null, { timeout: DEADLINE });
    // Figures change without a reload: the campaign clock and the dials counter move.
    const clock0 = await page.getByTestId("updated-at").textContent();
    const dials0 = await page.getByTestId("dials-total").textContent();
    await page.waitForFunction((c) => document.querySelector('[data-testid="updated-at"]').textContent !== c, clock0, { timeout: DEADLINE });
    await page.waitForFunction((d) => document.querySelector('[data-testid="dials-total"]').textContent !== d, dials0, { timeout: DEADLINE });
    log(`figures changed without a reload (dials "${dials0}" -> "${await page.getByTestId("dials-total").textContent()}")`);
    // An agent tile changes state: remember every tile's state, wait until one differs.
    await page.locator('[data-testid^="agent-"]').first().waitFor({ timeout: DEADLINE });
    const before = await page.evaluate(() =>
      Object.fromEntries([...document.querySelectorAll(".agent")].map((a) => [a.dataset.agent, a.dataset.state])));
    const changed = await page.waitForFunction((b) => {
      for (const a of document.querySelectorAll(".agent")) {
        if (a.dataset.agent in b && b[a.dataset.agent] !== a.dataset.state) return `${a.dataset.agent}: ${b[a.dataset.agent]} -> ${a.dataset.state}`;
      }
      return false;
    }, before, { timeout: DEADLINE });
    log(`an agent tile changed state (${await changed.jsonValue()})`);
    // Charts need two points: wait for the drawn series, then take the picture.
    await page.locator('[data-testid="chart-occupancy"] path.series').waitFor({ timeout: DEADLINE });
    await page.screenshot({ path: shot, fullPage: true });
    log(`screenshot ${path.resolve(shot)}`);
    await page.setViewportSize({ width: 1366, height: 768 });
    await page.screenshot({ path: shot.replace(/\.png$/, "-laptop.png"), fullPage: true });
    ok(errors.length === 0, `page errors: ${errors.join("; ")}`);
    await page.close();
  }
  // ---- Test 2: the abandonment warning.
  {
    const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
    const target = new URL(alarmUrl);
    target.pathname = "/wallboard/campaign/floor";
    const resp = await page.goto(target.toString());
    ok(resp.ok(), `login: ${resp.status()}`);
    const banner = page.getByTestId("abandon-warning");
    await page.waitForFunction(() => {
      const b = document.querySelector('[data-testid="abandon-warning"]');
      return b && !b.hidden && b.dataset.level === "over";
    }, null, { timeout: DEADLINE });
    const text = await banner.textContent();
    ok(/over the target/.test(text), `banner text: ${text}`);
    const kpiLevel = await page.locator('[data-testid="kpi-abandon-today"], [data-testid="kpi-abandon-window"]').evaluateAll((ks) => ks.map((k) => k.dataset.level));
    ok(kpiLevel.includes("over"), `no abandonment tile marked over: ${kpiLevel}`);
    log(`the abandonment warning is shown ("${text.trim()}")`);
    await page.screenshot({ path: shot.replace(/\.png$/, "-alarm.png"), fullPage: true });

    // ---- Test 3: a page opened (and reloaded) mid-shift draws the shift so far. Once the
    // campaign's clock is three minutes past what this page first showed, the campaign has
    // at least three one-minute samples: a new page gets them before any live figures.
    const minutes = (t) => { const [h, m] = t.split(":").map(Number); return h * 60 + m; };
    const first = minutes(await page.getByTestId("updated-at").textContent());
    await page.waitForFunction(([f]) => {
      const t = document.querySelector('[data-testid="updated-at"]').textContent.split(":").map(Number);
      return ((t[0] * 60 + t[1] - f) % 1440 + 1440) % 1440 >= 3;
    }, [first], { timeout: DEADLINE });
    await page.close();
    const late = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
    for (const how of ["opened", "reloaded"]) {
      if (how === "opened") await late.goto(target.toString()); else await late.reload();
      const history = await late.waitForFunction(() => {
        const n = Number(document.querySelector('[data-testid="chart-abandon"]')?.dataset.historyPoints);
        return n > 0 ? n : false;
      }, null, { timeout: DEADLINE });
      const n = await history.jsonValue();
      ok(n >= 3, `a page ${how} mid-shift got ${n} points of history, want at least 3`);
      await late.locator('[data-testid="chart-abandon"] path.series').waitFor({ timeout: DEADLINE });
      await late.locator('[data-testid="chart-occupancy"] path.series').waitFor({ timeout: DEADLINE });
      log(`a page ${how} mid-shift drew the shift so far (${n} one-minute points)`);
    }
    await late.screenshot({ path: shot.replace(/\.png$/, "-mid-shift.png"), fullPage: true });
    await late.close();
  }
  // ---- Unauthenticated and agent access get the login page.
  {
    const page = await browser.newPage();
    const base = new URL(liveUrl);
    const resp = await page.goto(`${base.origin}/wallboard/`);
    ok(resp.status() === 401, `no token: ${resp.status()}`);
    await page.getByTestId("login-token").waitFor({ timeout: DEADLINE });
    await page.close();
  }
} catch (e) {
  failed = true;
  console.error(`wallboard-test: FAILED: ${e.stack || e}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);

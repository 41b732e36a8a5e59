// Browser end-to-end test of the dashboard, run by browser_test.go: it
// drives headless Chromium with playwright-core and talks to the Go test
// with JSON lines: {"need": ...} asks for a change to the stack and waits for
// "ok" on stdin; {"pass": ...} reports a passed check; {"stats": ...} the load
// measurements. Any failed check throws and exits non-zero.
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const URL_ = process.env.TELEMESH_URL;
const ART = process.env.TELEMESH_ARTIFACTS_DIR;
const rl = createInterface({ input: process.stdin });
const lines = rl[Symbol.asyncIterator]();

const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const pass = (what) => say({ pass: what });

async function need(what) {
  say({ need: what });
  const { value, done } = await lines.next();
  if (done || value.trim() !== 'ok') throw new Error('no ok for ' + what);
}

function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}

const nodesListed = (page) => page.$$eval('#nodes a', (as) => as.map((a) => a.dataset.node));

async function waitNodes(page, pred, what, timeout = 15000) {
  await page.waitForFunction(pred, null, { timeout }).catch(async (e) => {
    throw new Error(what + ': ' + e.message + ' (listed: ' + (await nodesListed(page)).join(',') + ')');
  });
}

// liveWithin checks that a chart gets a reading newer than any it had,
// stamped within the last two seconds, within ms.
async function liveWithin(page, field, ms) {
  const before = await page.evaluate((f) => (window.__telemeshCharts().find((c) => c.field === f) || {}).last || 0, field);
  const t0 = Date.now();
  await page.waitForFunction(([f, b]) => {
    const c = window.__telemeshCharts().find((x) => x.field === f);
    return c && c.last > b && c.last > Date.now() / 1000 - 2;
  }, [field, before], { timeout: ms, polling: 50 });
  return Date.now() - t0;
}

const browser = await chromium.launchPersistentContext(process.env.TELEMESH_PROFILE_DIR, {
  executablePath: process.env.TELEMESH_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 900 },
  acceptDownloads: true,
});
try {
  const page = browser.pages()[0] || await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') say({ log: 'console: ' + m.text() }); });

  await page.goto(URL_ + '#node=sim');
  await page.waitForSelector('#conn[data-state="connected"]', { timeout: 15000 });
  pass('connected');
  await waitNodes(page, () => {
    const ns = [...document.querySelectorAll('#nodes a')].map((a) => a.dataset.node);
    return ['sim', 'doomed', 'load'].every((n) => ns.includes(n));
  }, 'node list');
  pass('nodes listed: ' + (await nodesListed(page)).join(','));

  await page.waitForSelector('#fields tr[data-field="temperature"]', { timeout: 10000 });
  const rows = await page.$$eval('#fields tbody tr', (trs) => trs.map((tr) => ({
    field: tr.dataset.field, units: tr.querySelector('.units').textContent, value: tr.querySelector('.value').textContent,
  })));
  check(rows.length >= 3, 'sim fields shown: ' + JSON.stringify(rows));
  check(rows.some((r) => r.units), 'units shown: ' + JSON.stringify(rows));
  pass('fields shown: ' + rows.map((r) => r.field + ' [' + r.units + ']').join(', '));

  await page.waitForFunction(() => window.__telemeshCharts().length > 0 && window.__telemeshCharts().every((c) => !c.loading && c.points > 0), null, { timeout: 10000 });
  const charts = await page.evaluate(() => window.__telemeshCharts());
  check(charts.some((c) => c.points > 100), 'history backfilled: ' + JSON.stringify(charts));
  pass('charts backfilled: ' + charts.map((c) => c.field + '=' + c.points).join(', '));
  const field = charts[0].field;
  const ms = await liveWithin(page, field, 2000);
  pass('live chart ' + field + ' got new points in ' + ms + ' ms');
  await page.waitForFunction(() => [...document.querySelectorAll('#fields .value')].every((td) => td.textContent !== '—'), null, { timeout: 5000 });
  pass('latest values shown');
  await page.screenshot({ path: path.join(ART, 'desktop.png') });

  // CSV of what is shown.
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#csv')]);
  const csv = readFileSync(await dl.path(), 'utf8').split('\n');
  check(csv[0] === 'time_utc,unix,field,value,units', 'csv header: ' + csv[0]);
  check(csv.length > 100 && csv[1].includes(',' + charts[0].field + ','), 'csv rows: ' + csv.slice(0, 3));
  pass('csv download: ' + (csv.length - 2) + ' rows');

  // Time range: 1 h asks for a longer window with the same point budget.
  await page.selectOption('#range', '1h');
  await page.waitForFunction(() => window.__telemeshCharts().every((c) => !c.loading && c.points > 0), null, { timeout: 10000 });
  pass('range 1h: ' + (await page.evaluate(() => window.__telemeshCharts().map((c) => c.points).join(','))));

  // Custom range: a past window, no live points appended.
  const pad = (n) => String(n).padStart(2, '0');
  const local = (t) => { const d = new Date(t * 1000); return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' + pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()); };
  const now = Math.floor(Date.now() / 1000);
  await page.selectOption('#range', 'custom');
  await page.fill('#from', local(now - 600));
  await page.fill('#to', local(now - 300));
  await page.click('#apply');
  await page.waitForFunction(([a, b]) => window.__telemeshCharts().every((c) => !c.loading && c.points > 0 && c.first >= a - 3 && c.last < b), [now - 600, now - 300], { timeout: 10000 });
  await page.waitForTimeout(500);
  const fixed = await page.evaluate(() => window.__telemeshCharts());
  // Buckets are stamped at their start, aligned to multiples of their width: the first may start just before the range.
  check(fixed.every((c) => c.last < now - 300), 'custom range stays fixed: ' + JSON.stringify(fixed));
  pass('custom range: ' + fixed.map((c) => c.points).join(','));
  await page.selectOption('#range', '15m');
  await page.waitForFunction(() => window.__telemeshCharts().every((c) => !c.loading && c.last > Date.now() / 1000 - 5), null, { timeout: 10000 });

  // A node that leaves disappears from the list.
  await page.evaluate(() => { window.__sameDocument = true; });
  await need('kill-doomed');
  await waitNodes(page, () => ![...document.querySelectorAll('#nodes a')].some((a) => a.dataset.node === 'doomed'), 'doomed node removed');
  pass('killed node removed from the list');

  // A restarted router is reconnected to without a reload.
  let sawReconnecting = false;
  await need('restart-router');
  try {
    await page.waitForSelector('#conn:not([data-state="connected"])', { timeout: 3000 });
    sawReconnecting = true;
  } catch (e) { /* reconnected faster than we looked */ }
  await page.waitForSelector('#conn[data-state="connected"]', { timeout: 20000 });
  await waitNodes(page, () => [...document.querySelectorAll('#nodes a')].some((a) => a.dataset.node === 'sim'), 'sim relisted after router restart', 20000);
  const ms2 = await liveWithin(page, field, 15000);
  check(await page.evaluate(() => window.__sameDocument === true), 'page was not reloaded');
  pass('router restart: reconnected without reload (reconnecting state seen: ' + sawReconnecting + '), live again after ' + ms2 + ' ms');

  // Load: 50 fields at 10 Hz, every chart open.
  await page.evaluate(() => { location.hash = '#node=load'; });
  await page.waitForFunction(() => document.querySelectorAll('#fields tbody tr').length === 50, null, { timeout: 10000 });
  await page.$$eval('#fields input[type=checkbox]', (cbs) => cbs.forEach((cb) => { if (!cb.checked) cb.click(); }));
  await page.waitForFunction(() => window.__telemeshCharts().length === 50 && window.__telemeshCharts().every((c) => !c.loading), null, { timeout: 15000 });
  await page.waitForTimeout(1000);
  await page.evaluate(() => window.__telemeshStats.reset());
  await page.waitForTimeout(5000);
  const stats = await page.evaluate(() => window.__telemeshStats.snapshot());
  say({ stats });
  check(stats.points > 50 * 10 * 3, 'load readings arrived: ' + stats.points);
  await page.screenshot({ path: path.join(ART, 'load.png') });
  pass('load measured');

  // Phone-sized screen.
  const phone = await browser.newPage();
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(URL_ + '#node=sim');
  await phone.waitForFunction(() => window.__telemeshCharts && window.__telemeshCharts().length > 0 && window.__telemeshCharts().every((c) => c.points > 0), null, { timeout: 15000 });
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth);
  await phone.screenshot({ path: path.join(ART, 'phone.png'), fullPage: true });
  check(overflow <= 390, 'no horizontal scrolling at 390 px: width ' + overflow);
  pass('phone layout fits 390 px');

  check(errors.length === 0, 'page errors: ' + errors.join('; '));
} catch (e) {
  for (const p of browser.pages()) {
    const info = await p.evaluate(() => ({
      conn: document.getElementById('conn').textContent, node: document.getElementById('node-name').textContent,
      msg: document.getElementById('msg').textContent,
    })).catch(() => ({}));
    say({ log: 'failure state: ' + JSON.stringify(info) });
    await p.screenshot({ path: path.join(ART, 'failure-' + browser.pages().indexOf(p) + '.png') }).catch(() => {});
  }
  throw e;
} finally {
  await browser.close();
  rl.close();
}

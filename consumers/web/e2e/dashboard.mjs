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

  // The landing page: every node at a glance, no toolbar.
  await page.goto(URL_);
  await page.waitForSelector('#conn[data-state="connected"]', { timeout: 15000 });
  pass('connected');
  await waitNodes(page, () => {
    const ns = [...document.querySelectorAll('#nodes a')].map((a) => a.dataset.node);
    return ['sim', 'doomed', 'load'].every((n) => ns.includes(n));
  }, 'node list');
  pass('nodes listed: ' + (await nodesListed(page)).join(','));
  const header = await page.evaluate(() => document.querySelector('h1').textContent + ' ' + document.getElementById('realm').textContent);
  check(!/telemesh\s+telemesh/.test(header), 'header repeats itself: ' + header);
  check(await page.isHidden('#toolbar') && await page.isHidden('#csv'), 'toolbar hidden before a node is chosen');
  await page.waitForFunction(() => ['sim', 'doomed', 'load'].every((n) => {
    const card = document.querySelector('.node-card[data-node="' + n + '"]');
    const vals = card ? [...card.querySelectorAll('tr[data-field] .value')] : [];
    return vals.length > 0 && vals.every((td) => td.textContent !== '—');
  }), null, { timeout: 15000 });
  check(await page.$$eval('.node-card[data-node="load"] tr[data-field]', (trs) => trs.length) === 8, 'a card lists at most 8 fields');
  const ov = await page.$$eval('.node-card', (cards) => cards.map((c) => ({
    node: c.dataset.node,
    fields: [...c.querySelectorAll('tr[data-field]')].map((tr) => ({
      f: tr.dataset.field, v: tr.querySelector('.value').textContent, u: tr.querySelector('.units').textContent,
      age: tr.querySelector('.age').textContent, limit: tr.querySelector('.value').dataset.limit || '', stale: tr.classList.contains('stale'),
    })),
  })));
  const simCard = ov.find((c) => c.node === 'sim');
  check(simCard.fields.some((f) => f.u === 'degC') && simCard.fields.every((f) => /ago/.test(f.age)), 'overview units and ages: ' + JSON.stringify(simCard));
  check(simCard.fields.every((f) => !f.stale), 'live sim fields are not stale: ' + JSON.stringify(simCard));
  check(simCard.fields.find((f) => f.f === 'temperature').limit === 'warning', 'temperature coloured by its warning limit: ' + JSON.stringify(simCard));
  const liveBefore = await page.$eval('.node-card[data-node="sim"] tr[data-field="temperature"] .value', (td) => td.title);
  await page.waitForFunction((b) => document.querySelector('.node-card[data-node="sim"] tr[data-field="temperature"] .value').title !== b, liveBefore, { timeout: 5000 });
  await page.waitForTimeout(1200); // let the sparklines and ages settle for the picture
  await page.screenshot({ path: path.join(ART, 'overview.png'), fullPage: true });
  pass('overview: ' + ov.map((c) => c.node + ' ' + c.fields.map((f) => f.f + '=' + f.v + f.u).join(' ')).join('; ') + ', live');

  await page.click('.node-card[data-node="sim"] h3 a');

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
  check(await page.isVisible('#toolbar'), 'toolbar shown once a node is chosen');

  // Limits: the value is coloured and the chart shades its band.
  await page.waitForFunction(() => document.querySelector('#fields tr[data-field="temperature"] .value').dataset.limit === 'warning', null, { timeout: 5000 });
  await page.waitForFunction(() => (window.__telemeshCharts().find((c) => c.field === 'temperature') || {}).bands > 0, null, { timeout: 5000 });
  pass('alarm limit: temperature value coloured as warning, band drawn');
  await page.screenshot({ path: path.join(ART, 'desktop.png') });

  // Hover: the legend shows the value under the cursor.
  const over = await page.$('.chart[data-field="temperature"] .u-over');
  const box = await over.boundingBox();
  await page.mouse.move(box.x + box.width * 0.8, box.y + box.height / 2);
  await page.waitForFunction(() => /^-?[0-9.]+(e[-+][0-9]+)?$/.test(document.querySelector('.chart[data-field="temperature"] .u-legend .u-series:nth-child(2) .u-value').textContent), null, { timeout: 3000 });
  const hover = await page.$eval('.chart[data-field="temperature"] .u-legend', (l) => l.textContent);
  await page.screenshot({ path: path.join(ART, 'hover.png') });
  pass('hover shows ' + hover.replace(/\s+/g, ' '));

  // Drag to zoom: every chart narrows to the dragged span, Reset returns.
  const span = (cs) => cs.map((c) => c.xmax - c.xmin);
  const before = span(await page.evaluate(() => window.__telemeshCharts()));
  await page.mouse.move(box.x + box.width * 0.4, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await page.waitForFunction((b) => {
    const cs = window.__telemeshCharts();
    return cs.every((c, i) => !c.loading && c.points > 0 && c.xmax - c.xmin < b[i] * 0.4);
  }, before, { timeout: 5000 });
  const zoomed = span(await page.evaluate(() => window.__telemeshCharts()));
  check(await page.isVisible('#reset-zoom'), 'reset button shown when zoomed');
  await page.screenshot({ path: path.join(ART, 'zoomed.png') });

  // CSV of the zoomed range: raw readings, labelled columns, no buckets.
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#csv')]);
  const csv = readFileSync(await dl.path(), 'utf8').trim().split('\n');
  check(/^time_utc,unix,/.test(csv[0]) && csv[0].includes('temperature [degC]'), 'csv header: ' + csv[0]);
  const times = csv.slice(1).map((l) => Number(l.split(',')[1]));
  check(new Set(times).size === times.length, 'csv has one row per time (readings, not min/max buckets)');
  const expect = zoomed[0] / 0.1; // the sim node reads every 100 ms
  check(times.length > expect * 0.8 && times.length < expect * 1.2, 'csv holds the readings of the range: ' + times.length + ' rows for ' + zoomed[0].toFixed(1) + ' s');
  check(times.every((t, i) => !i || (t > times[i - 1] && Math.abs(t - times[i - 1] - 0.1) < 0.05)), 'csv rows 100 ms apart');
  pass('csv download: ' + times.length + ' readings over ' + zoomed[0].toFixed(1) + ' s, header ' + csv[0]);

  await page.click('#reset-zoom');
  await page.waitForFunction((b) => window.__telemeshCharts().every((c, i) => !c.loading && Math.abs(c.xmax - c.xmin - b[i]) < 5), before, { timeout: 5000 });
  check(await page.isHidden('#reset-zoom'), 'reset button hidden after reset');
  pass('zoom ' + before[0].toFixed(0) + ' s -> ' + zoomed[0].toFixed(1) + ' s, reset back');

  // Time range: 1 h asks for a longer window with the same point budget.
  await page.selectOption('#range', '1h');
  await page.waitForFunction(() => window.__telemeshCharts().every((c) => !c.loading && c.points > 0), null, { timeout: 10000 });
  pass('range 1h: ' + (await page.evaluate(() => window.__telemeshCharts().map((c) => c.points).join(','))));
  // A CSV of the hour is more than one reply may hold: it comes in slices.
  const [dl2] = await Promise.all([page.waitForEvent('download', { timeout: 30000 }), page.click('#csv')]);
  const hour = readFileSync(await dl2.path(), 'utf8').trim().split('\n').length - 1;
  const csvMsg = await page.textContent('#msg');
  check(hour > 15000 && /in [0-9]+ slices/.test(csvMsg), 'csv of 1 h holds every reading, progressively: ' + hour + ' rows, ' + csvMsg);
  pass('csv of 1 h: ' + csvMsg);

  // Custom range: a past window, no live points appended.
  const pad = (n) => String(n).padStart(2, '0');
  const local = (t) => { const d = new Date(t * 1000); return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' + pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()); };
  const now = Math.floor(Date.now() / 1000);
  await page.selectOption('#range', 'custom');
  await page.waitForTimeout(700);
  const untouched = await page.evaluate(() => window.__telemeshCharts());
  check(untouched.every((c) => c.points > 0 && c.xmax - c.xmin > 3000), 'choosing custom keeps the charts until Apply: ' + JSON.stringify(untouched));
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

  // An unknown node shows nothing of the previous one and no raw error URI.
  await page.evaluate(() => { location.hash = '#node=nosuch'; });
  await page.waitForSelector('#node-empty:not([hidden])', { timeout: 5000 });
  const unknown = await page.evaluate(() => ({
    text: document.getElementById('node-pane').innerText, charts: window.__telemeshCharts().length,
    fieldsHidden: document.getElementById('fields').hidden, toolbarHidden: document.getElementById('toolbar').hidden,
    title: document.getElementById('node-name').textContent,
  }));
  check(unknown.title === 'nosuch' && /No data node named .nosuch. is connected/.test(unknown.text), 'unknown node state: ' + unknown.text);
  check(unknown.charts === 0 && unknown.fieldsHidden && unknown.toolbarHidden && !/temperature|humidity|co2/.test(unknown.text), 'no stale fields under the new name: ' + JSON.stringify(unknown));
  check(!/wamp\.error/.test(await page.evaluate(() => document.body.innerText)), 'no raw error URI on the page');
  await page.screenshot({ path: path.join(ART, 'unknown-node.png') });
  pass('unknown node: ' + unknown.text.replace(/\s+/g, ' '));

  // No node chosen: back to the overview, toolbar hidden.
  await page.click('#node-empty a');
  await page.waitForSelector('#overview:not([hidden]) .node-card[data-node="sim"]', { timeout: 5000 });
  check(await page.isHidden('#toolbar') && await page.isHidden('#node-view'), 'no node: no toolbar');
  check(await page.evaluate(() => window.__telemeshCharts().length === 0), 'no node: no charts');
  pass('no node chosen: overview, no toolbar');
  await page.evaluate(() => { location.hash = '#node=sim'; });
  await page.waitForFunction(() => window.__telemeshCharts().length > 0 && window.__telemeshCharts().every((c) => !c.loading && c.points > 0), null, { timeout: 10000 });

  // A node that leaves disappears from the list.
  await page.evaluate(() => { window.__sameDocument = true; });
  await need('kill-doomed');
  await waitNodes(page, () => ![...document.querySelectorAll('#nodes a')].some((a) => a.dataset.node === 'doomed'), 'doomed node removed');
  pass('killed node removed from the list');
  // The overview keeps the node that left, marked offline and stale.
  await page.evaluate(() => { location.hash = ''; });
  await page.waitForSelector('.node-card.offline[data-node="doomed"]', { timeout: 5000 });
  const gone = await page.$eval('.node-card[data-node="doomed"]', (c) => ({
    badge: c.querySelector('.state-badge').textContent, stale: [...c.querySelectorAll('tr[data-field]')].every((tr) => tr.classList.contains('stale')),
  }));
  check(gone.badge === 'offline' && gone.stale, 'offline node marked: ' + JSON.stringify(gone));
  await page.screenshot({ path: path.join(ART, 'overview-offline.png'), fullPage: true });
  pass('overview marks the node that left offline, its values stale');
  await page.evaluate(() => { location.hash = '#node=sim'; });
  await page.waitForFunction(() => window.__telemeshCharts().length > 0 && window.__telemeshCharts().every((c) => !c.loading && c.points > 0), null, { timeout: 10000 });

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

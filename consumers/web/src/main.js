// telemesh dashboard: node list from the hub, a node's fields with their
// latest values, live charts fed by the node's data topic and backfilled
// with get_data. Read-only: it only calls get_* procedures and subscribes.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { Link, loadCreds, saveCreds, unwrap, errText, errURI } from './conn.js';
import { RANGES, fmtValue, fmtTime, toCSV, toNumber, localInput, timelineOf } from './data.js';

const $ = (id) => document.getElementById(id);
const DEFAULT_CHARTS = 4;
const POLL_MS = 10000;
const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#be185d', '#4d7c0f'];

const st = {
  cfg: null,
  link: null,
  session: null,
  uri: null,
  nodes: new Map(),
  node: null, // selected node name
  nodeGone: false,
  fields: {},
  timelines: {},
  latest: new Map(), // field -> {t, v}
  dirty: new Set(), // fields whose latest value changed since the last frame
  charts: new Map(), // field -> chart
  open: null, // fields whose chart is open, kept across reconnects
  range: { kind: '15m', start: 0, end: 0 },
  gen: 0, // bumped when the session or node changes, to drop stale replies
  refetchFields: null,
  unknown: new Set(), // live fields get_fields did not list
  lastEvent: 0, // performance.now() of the last live batch
  lastPoll: 0,
  sub: null, // subscription to the selected node's data topic
};

// Measurements for load tests: frames per second and event lag, the time
// from a reading's timestamp to the frame that drew it.
const stats = {
  fps: 0, fpsMin: Infinity, frames: 0, events: 0, points: 0,
  lagLastMs: 0, lagMaxMs: 0, lagSumMs: 0, lagN: 0, lags: [],
  reset() {
    Object.assign(this, { fpsMin: Infinity, frames: 0, events: 0, points: 0, lagLastMs: 0, lagMaxMs: 0, lagSumMs: 0, lagN: 0, lags: [] });
  },
  snapshot() {
    const l = this.lags.slice().sort((a, b) => a - b);
    const q = (p) => (l.length ? l[Math.min(l.length - 1, Math.floor(p * l.length))] : 0);
    return {
      fps: this.fps, fpsMin: this.fpsMin === Infinity ? 0 : this.fpsMin, frames: this.frames,
      events: this.events, points: this.points,
      lagAvgMs: this.lagN ? this.lagSumMs / this.lagN : 0, lagP50Ms: q(0.5), lagP95Ms: q(0.95), lagMaxMs: this.lagMaxMs,
      charts: st.charts.size, fields: Object.keys(st.fields).length,
    };
  },
};
window.__telemeshStats = stats;
// What the charts hold, for tests and debugging.
window.__telemeshCharts = () => [...st.charts.values()].map((ch) => ({
  field: ch.field, points: ch.t.length, loading: ch.loading,
  first: ch.t.length ? ch.t[0] : null, last: ch.t.length ? ch.t[ch.t.length - 1] : null,
}));

function names(base) {
  const u = (s) => base + '.' + s;
  return {
    listNodes: u('consumer.list_nodes'),
    getDataNode: u('consumer.get_data_node'),
    added: u('consumer.data_node_added'),
    subtracted: u('consumer.data_node_subtracted'),
    getFields: (n) => u('consumer.' + n + '.get_fields'),
    getData: (n) => u('consumer.' + n + '.get_data'),
    data: (n) => u('consumer.' + n + '.data'),
  };
}

// ---- connection state -------------------------------------------------

function setState(name, text) {
  const el = $('conn');
  el.className = 'state ' + name;
  el.textContent = text;
  el.dataset.state = name;
  document.body.dataset.conn = name;
}

function message(text) {
  $('msg').textContent = text || '';
}

async function onOpen(session) {
  st.session = session;
  st.gen++;
  const gen = st.gen;
  $('login').hidden = true;
  $('logout').hidden = !loadCreds();
  try {
    await session.subscribe(st.uri.added, (args) => nodeAdded(args && args[0]));
    await session.subscribe(st.uri.subtracted, (args) => nodeSubtracted(args && args[0]));
    await listNodes(gen);
    if (st.node) await selectNode(st.node, true);
  } catch (e) {
    if (gen === st.gen) message('hub: ' + errText(e));
  }
}

function onClose() {
  st.session = null;
  st.sub = null;
  st.gen++;
}

function showLogin(msg) {
  $('login').hidden = false;
  $('login-msg').textContent = loadCreds() && msg
    ? 'The router refused these credentials: ' + msg
    : 'The router requires you to sign in.';
  const c = loadCreds();
  if (c) {
    $('authid').value = c.authid;
    $('method').value = c.method || 'ticket';
  }
  $('authid').focus();
}

// ---- nodes ------------------------------------------------------------

async function listNodes(gen) {
  let list;
  try {
    list = unwrap(await st.session.call(st.uri.listNodes));
  } catch (e) {
    if (errURI(e) !== 'wamp.error.no_such_procedure') throw e;
    list = unwrap(await st.session.call(st.uri.getDataNode)); // a sisock hub
  }
  if (gen !== st.gen) return;
  st.nodes.clear();
  for (const n of list || []) if (n && n.name) st.nodes.set(n.name, n);
  renderNodes();
}

function nodeAdded(n) {
  if (!n || !n.name) return;
  st.nodes.set(n.name, Object.assign(st.nodes.get(n.name) || {}, n));
  renderNodes();
  if (n.name === st.node && st.nodeGone) selectNode(n.name, true);
}

function nodeSubtracted(n) {
  if (!n || !n.name) return;
  st.nodes.delete(n.name);
  renderNodes();
  if (n.name === st.node) {
    st.nodeGone = true;
    renderNodeHead();
  }
}

function renderNodes() {
  const ul = $('nodes');
  const sorted = [...st.nodes.values()].sort((a, b) => a.name.localeCompare(b.name));
  ul.replaceChildren(...sorted.map((n) => {
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.href = '#node=' + encodeURIComponent(n.name);
    a.dataset.node = n.name;
    if (n.name === st.node) a.setAttribute('aria-current', 'true');
    const b = document.createElement('strong');
    b.textContent = n.name;
    const d = document.createElement('span');
    d.className = 'muted';
    d.textContent = n.description || '';
    a.append(b, d);
    li.append(a);
    return li;
  }));
  $('no-nodes').hidden = sorted.length > 0;
  $('node-count').textContent = sorted.length ? '(' + sorted.length + ')' : '';
}

function renderNodeHead() {
  const n = st.nodes.get(st.node);
  $('node-name').textContent = st.node || 'Select a node';
  document.title = st.node ? st.node + ' · telemesh' : 'telemesh';
  $('node-desc').textContent = n ? n.description || '' : '';
  const badge = $('node-state');
  badge.hidden = !st.nodeGone;
  badge.textContent = st.nodeGone ? 'offline' : '';
}

// selectNode shows a node: its fields, live subscription, chart backfill.
// same is true when re-showing the selected node after a reconnect.
async function selectNode(name, same) {
  const session = st.session;
  if (!same || name !== st.node) {
    clearCharts();
    st.open = null;
    st.latest.clear();
    st.dirty.clear();
    st.unknown.clear();
    st.fields = {};
    st.timelines = {};
  }
  st.node = name;
  st.nodeGone = false;
  st.gen++;
  const gen = st.gen;
  renderNodes();
  renderNodeHead();
  $('toolbar').hidden = false;
  if (!session) return;
  try {
    const r = await session.call(st.uri.getFields(name), [1, 0]);
    if (gen !== st.gen) return;
    const [fields, timelines] = pair(r);
    st.fields = fields || {};
    st.timelines = timelines || {};
    renderFields();
    if (st.sub) {
      const old = st.sub;
      st.sub = null;
      if (old.session === session) session.unsubscribe(old).catch(() => {});
    }
    st.sub = await session.subscribe(st.uri.data(name), (args, kwargs) => {
      if (gen === st.gen) onData((args && args[0]) || kwargs);
    });
    syncCharts(true);
    message('');
  } catch (e) {
    if (gen !== st.gen) return;
    if (!st.nodes.has(name)) st.nodeGone = true;
    renderNodeHead();
    message(name + ': ' + errText(e));
  }
}

// pair reads get_fields' [field, timeline]: sent as two positional
// arguments or, by sisock's Python nodes, as one list.
function pair(r) {
  if (r && r.args) return r.args.length >= 2 ? [r.args[0], r.args[1]] : pair(r.args[0]);
  return Array.isArray(r) ? r : [r && r.field, r && r.timeline];
}

// ---- fields and latest values -----------------------------------------

function sortedFields() {
  return Object.keys(st.fields).sort();
}

function isNumeric(f) {
  const t = st.fields[f] && st.fields[f].type;
  return !t || t === 'number' || t === 'bool';
}

function renderFields() {
  const tbody = $('fields').tBodies[0];
  const fs = sortedFields();
  if (st.open === null) st.open = new Set(fs.filter(isNumeric).slice(0, DEFAULT_CHARTS));
  tbody.replaceChildren(...fs.map((f) => {
    const info = st.fields[f] || {};
    const tr = document.createElement('tr');
    tr.dataset.field = f;
    const c = document.createElement('td');
    c.className = 'c';
    if (isNumeric(f)) {
      const cb = document.createElement('input');
      cb.type = 'checkbox';
      cb.checked = st.open.has(f);
      cb.setAttribute('aria-label', 'chart ' + f);
      cb.addEventListener('change', () => {
        if (cb.checked) st.open.add(f); else st.open.delete(f);
        syncCharts();
      });
      c.append(cb);
    }
    const name = document.createElement('td');
    name.className = 'name';
    name.textContent = f;
    name.title = info.description || '';
    const val = document.createElement('td');
    val.className = 'num value';
    const l = st.latest.get(f);
    val.textContent = l ? fmtValue(l.v) : '—';
    if (l) val.title = fmtTime(l.t);
    const units = document.createElement('td');
    units.className = 'units';
    units.textContent = info.units || '';
    const desc = document.createElement('td');
    desc.className = 'desc';
    desc.textContent = info.description || '';
    tr.append(c, name, val, units, desc);
    return tr;
  }));
  $('fields').hidden = fs.length === 0;
  if (!fs.length) message('This node has no fields yet.');
}

function onData(batch) {
  if (!batch || !batch.data || !batch.timeline) return;
  stats.events++;
  st.lastEvent = performance.now();
  let unknown = false;
  for (const f of Object.keys(batch.data)) {
    if (!st.fields[f] && !st.unknown.has(f)) {
      st.unknown.add(f); // ask for the field list once per unknown field
      unknown = true;
    }
    const tl = timelineOf(batch, f, st.fields[f] && st.fields[f].timeline);
    const vals = batch.data[f];
    if (!tl || !tl.t || !vals || !vals.length) continue;
    const n = Math.min(tl.t.length, vals.length);
    if (!n) continue;
    stats.points += n;
    st.latest.set(f, { t: tl.t[n - 1], v: vals[n - 1] });
    st.dirty.add(f);
    const ch = st.charts.get(f);
    if (ch) {
      for (let i = 0; i < n; i++) {
        ch.pt.push(tl.t[i]);
        ch.pv.push(toNumber(vals[i]));
      }
    }
  }
  if (unknown && !st.refetchFields) {
    // A field the node did not list: fetch the field list again, once.
    st.refetchFields = setTimeout(() => {
      st.refetchFields = null;
      if (st.node) selectNode(st.node, true);
    }, 1000);
  }
}

// ---- charts -----------------------------------------------------------

function liveRange() {
  return st.range.kind !== 'custom';
}

// xRange is the time window shown: the last span for a live range.
function xRange() {
  if (liveRange()) {
    const now = Date.now() / 1000;
    return [now - RANGES[st.range.kind], now];
  }
  return [st.range.start, st.range.end];
}

// query returns get_data's start and end: relative times for live ranges
// so that a skewed browser clock does not matter.
function query() {
  if (liveRange()) return [-RANGES[st.range.kind], 0];
  return [st.range.start, st.range.end];
}

function chartWidth() {
  return Math.max(200, $('charts').clientWidth - 2);
}

function chartHeight() {
  return window.innerWidth < 600 ? 130 : 160;
}

function makeChart(f, idx) {
  const info = st.fields[f] || {};
  const box = document.createElement('div');
  box.className = 'chart';
  box.dataset.field = f;
  const title = document.createElement('div');
  title.className = 'chart-title';
  const name = document.createElement('strong');
  name.textContent = f;
  const units = document.createElement('span');
  units.className = 'muted';
  units.textContent = info.units ? ' [' + info.units + ']' : '';
  const latest = document.createElement('span');
  latest.className = 'chart-latest';
  title.append(name, units, latest);
  const plotEl = document.createElement('div');
  box.append(title, plotEl);
  const plot = new uPlot({
    width: chartWidth(),
    height: chartHeight(),
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true, range: () => xRange() } },
    axes: [{ stroke: '#555' }, { stroke: '#555', size: 56 }],
    series: [{}, { label: f, stroke: COLORS[idx % COLORS.length], width: 1.25, points: { show: false }, spanGaps: false }],
  }, [[], []], plotEl);
  return { field: f, box, plot, latest, t: [], v: [], pt: [], pv: [], loading: false, drawn: 0 };
}

function clearCharts() {
  for (const ch of st.charts.values()) ch.plot.destroy();
  st.charts.clear();
  $('charts').replaceChildren();
}

// syncCharts opens and closes charts to match st.open and backfills the
// new ones, or all of them (after a reconnect or a node restart).
function syncCharts(all) {
  const want = sortedFields().filter((f) => st.open && st.open.has(f));
  for (const [f, ch] of st.charts) {
    if (!want.includes(f)) {
      ch.plot.destroy();
      ch.box.remove();
      st.charts.delete(f);
    }
  }
  const fresh = [];
  want.forEach((f, i) => {
    if (!st.charts.has(f)) {
      st.charts.set(f, makeChart(f, i));
      fresh.push(f);
    }
  });
  // keep DOM order = field order
  $('charts').replaceChildren(...want.map((f) => st.charts.get(f).box));
  backfill(all ? want : fresh);
}

async function backfill(fields) {
  if (!fields.length || !st.session || !st.node) return;
  const gen = st.gen;
  const charts = fields.map((f) => st.charts.get(f)).filter(Boolean);
  charts.forEach((ch) => { ch.loading = true; });
  const [start, end] = query();
  const maxPoints = Math.max(50, Math.floor(chartWidth()));
  try {
    const res = unwrap(await st.session.call(st.uri.getData(st.node), [fields, start, end], { max_points: maxPoints, agg: 'minmax' }));
    if (gen !== st.gen) return;
    for (const ch of charts) {
      if (st.charts.get(ch.field) !== ch) continue;
      const info = st.fields[ch.field];
      const tl = res && res.timeline ? timelineOf(res, ch.field, info && info.timeline) : null;
      const vals = (res && res.data && res.data[ch.field]) || [];
      ch.t = tl ? tl.t.slice(0, vals.length) : [];
      ch.v = vals.slice(0, ch.t.length).map(toNumber);
      ch.drawn = 0;
      if (!liveRange()) { ch.pt = []; ch.pv = []; }
    }
  } catch (e) {
    if (gen === st.gen) message('get_data: ' + errText(e));
  } finally {
    charts.forEach((ch) => { ch.loading = false; ch.dirty = true; });
  }
}

// applyPending moves live points into a chart; called once per frame.
function applyPending(ch, nowS) {
  const live = liveRange();
  let lagT = 0;
  if (ch.pt.length) {
    lagT = ch.pt[ch.pt.length - 1];
    if (live) {
      const last = ch.t.length ? ch.t[ch.t.length - 1] : -Infinity;
      for (let i = 0; i < ch.pt.length; i++) {
        if (ch.pt[i] > last) { ch.t.push(ch.pt[i]); ch.v.push(ch.pv[i]); }
      }
    }
    ch.pt = [];
    ch.pv = [];
  }
  if (live) {
    const [x0] = xRange();
    let k = 0;
    while (k < ch.t.length && ch.t[k] < x0) k++;
    if (k) { ch.t.splice(0, k); ch.v.splice(0, k); }
    // Raw live points pile up on long ranges: fetch a downsampled copy again.
    if (ch.t.length > 4 * chartWidth() && !ch.loading && !ch.refetch) {
      ch.refetch = true;
      backfill([ch.field]).finally(() => { ch.refetch = false; });
    }
  }
  ch.plot.setData([ch.t, ch.v]);
  if (lagT) {
    const lag = nowS * 1000 - lagT * 1000;
    stats.lagLastMs = lag;
    stats.lagMaxMs = Math.max(stats.lagMaxMs, lag);
    stats.lagSumMs += lag;
    stats.lagN++;
    if (stats.lags.length < 100000) stats.lags.push(lag);
  }
}

// ---- frame loop: all DOM and chart updates, batched per animation frame

let fpsFrames = 0;
let fpsSince = performance.now();
let lastRedraw = 0;

function frame(now) {
  requestAnimationFrame(frame); // first, so that one bad frame cannot stop the loop
  stats.frames++;
  fpsFrames++;
  if (now - fpsSince >= 1000) {
    stats.fps = (fpsFrames * 1000) / (now - fpsSince);
    stats.fpsMin = Math.min(stats.fpsMin, stats.fps);
    fpsFrames = 0;
    fpsSince = now;
  }
  const nowS = Date.now() / 1000;
  // Live windows slide even without data: redraw idle charts twice a second.
  const slide = liveRange() && now - lastRedraw > 500;
  if (slide) lastRedraw = now;
  // Nodes without a live topic (sisock's) are polled instead.
  if (liveRange() && st.session && st.charts.size && now - st.lastEvent > POLL_MS && now - st.lastPoll > POLL_MS) {
    st.lastPoll = now;
    backfill([...st.charts.keys()]);
  }
  for (const ch of st.charts.values()) {
    if (ch.loading) continue;
    if (ch.pt.length || ch.dirty || slide) {
      ch.dirty = false;
      applyPending(ch, nowS);
    }
  }
  if (st.dirty.size) {
    const tbody = $('fields').tBodies[0];
    for (const f of st.dirty) {
      const l = st.latest.get(f);
      if (!l) continue;
      const tr = tbody.querySelector('tr[data-field="' + CSS.escape(f) + '"]');
      if (tr) {
        const td = tr.querySelector('.value');
        td.textContent = fmtValue(l.v);
        td.title = fmtTime(l.t);
      }
      const ch = st.charts.get(f);
      if (ch) ch.latest.textContent = ' ' + fmtValue(l.v);
    }
    st.dirty.clear();
  }
}

// ---- toolbar ----------------------------------------------------------

function setRange(kind) {
  st.range.kind = kind;
  $('custom').hidden = kind !== 'custom';
  if (kind === 'custom') {
    if (!$('from').value) {
      const now = Date.now() / 1000;
      $('from').value = localInput(now - 3600);
      $('to').value = localInput(now);
    }
    return; // applied with the Apply button
  }
  reloadCharts();
}

function reloadCharts() {
  for (const ch of st.charts.values()) { ch.t = []; ch.v = []; ch.pt = []; ch.pv = []; }
  backfill([...st.charts.keys()]);
}

function downloadCSV() {
  const series = [...st.charts.values()].map((ch) => ({
    field: ch.field, units: (st.fields[ch.field] || {}).units, t: ch.t, v: ch.v,
  }));
  const blob = new Blob([toCSV(series)], { type: 'text/csv' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = 'telemesh-' + st.node + '-' + new Date().toISOString().replace(/[:.]/g, '-') + '.csv';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

function nodeFromHash() {
  const m = /(?:^#|&)node=([^&]*)/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

function wire() {
  window.addEventListener('hashchange', () => {
    const n = nodeFromHash();
    if (n && n !== st.node) selectNode(n, false);
  });
  $('range').addEventListener('change', (e) => setRange(e.target.value));
  $('toolbar').addEventListener('submit', (e) => {
    e.preventDefault();
    const a = new Date($('from').value).getTime() / 1000;
    const b = new Date($('to').value).getTime() / 1000;
    if (!(a < b)) { message('custom range: "from" must be before "to"'); return; }
    st.range.start = a;
    st.range.end = b;
    message('');
    reloadCharts();
  });
  $('csv').addEventListener('click', downloadCSV);
  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    saveCreds({ authid: $('authid').value, secret: $('secret').value, method: $('method').value });
    $('secret').value = '';
    $('login').hidden = true;
    st.link.start();
  });
  $('logout').addEventListener('click', () => {
    saveCreds(null);
    $('logout').hidden = true;
    st.link.start();
  });
  let rt = null;
  window.addEventListener('resize', () => {
    clearTimeout(rt);
    rt = setTimeout(() => {
      for (const ch of st.charts.values()) ch.plot.setSize({ width: chartWidth(), height: chartHeight() });
    }, 150);
  });
}

async function main() {
  wire();
  requestAnimationFrame(frame);
  let cfg;
  try {
    const r = await fetch('config.json', { cache: 'no-store' });
    cfg = await r.json();
  } catch (e) {
    setState('error', 'no config.json');
    return;
  }
  st.cfg = cfg;
  st.uri = names(cfg.base);
  $('realm').textContent = cfg.realm;
  st.node = nodeFromHash();
  renderNodeHead();
  st.link = new Link(cfg, {
    open: onOpen,
    close: onClose,
    state: setState,
    auth: showLogin,
  });
  st.link.start();
}

main();

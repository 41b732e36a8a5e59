// telemesh dashboard: an overview of every node (latest values, sparklines,
// ages, limits), and per node its fields with their latest values and live
// charts fed by the node's data topic and backfilled with get_data.
// Read-only: it only calls get_* procedures and subscribes.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { Link, loadCreds, saveCreds, unwrap, errText, errURI, callProgressive } from './conn.js';
import { RANGES, fmtValue, fmtTime, toNumber, localInput, readingsCSV, limitState, fmtAge, timelineOf } from './data.js';

const $ = (id) => document.getElementById(id);
const DEFAULT_CHARTS = 4;
const POLL_MS = 10000;
const SPARK_S = 900; // the overview's sparklines show the last 15 minutes
const SPARK_POINTS = 90;
const OV_FIELDS = 8; // fields per overview card; the node's page has the rest
const BAND = { warning: 'rgba(212, 167, 44, 0.16)', alarm: 'rgba(207, 34, 46, 0.14)' };
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
  zoom: null, // [start, end] chosen by dragging over a chart
  offline: new Set(), // nodes that left while listed
  ov: new Map(), // overview: node -> {fields, timelines, latest: Map, spark: Map, sub, card}
  ovDirty: new Set(), // overview nodes to redraw
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
  xmin: ch.plot.scales.x.min, xmax: ch.plot.scales.x.max, bands: ch.bands || 0,
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
    else showOverview();
  } catch (e) {
    if (gen === st.gen) message('hub: ' + errText(e));
  }
}

function onClose() {
  st.session = null;
  st.sub = null;
  for (const o of st.ov.values()) o.sub = null;
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
  st.offline.clear();
  for (const n of list || []) if (n && n.name) st.nodes.set(n.name, n);
  renderNodes();
}

function nodeAdded(n) {
  if (!n || !n.name) return;
  st.nodes.set(n.name, Object.assign(st.nodes.get(n.name) || {}, n));
  st.offline.delete(n.name);
  renderNodes();
  if (n.name === st.node && st.nodeGone) selectNode(n.name, true);
  if (!st.node) {
    const o = st.ov.get(n.name);
    if (o) o.fields = null; // fields may have changed: ask again
    renderOverview();
    watchNode(n.name);
  }
}

function nodeSubtracted(n) {
  if (!n || !n.name) return;
  st.nodes.delete(n.name);
  if (st.ov.has(n.name)) st.offline.add(n.name);
  renderNodes();
  if (n.name === st.node) {
    st.nodeGone = true;
    renderNodeHead();
  }
  if (!st.node) renderOverview();
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
  $('overview-link').toggleAttribute('aria-current', !st.node);
}

function renderNodeHead() {
  const n = st.nodes.get(st.node);
  $('node-name').textContent = st.node || 'All nodes';
  document.title = st.node ? st.node + ' · telemesh' : 'telemesh';
  $('overview').hidden = !!st.node;
  $('node-view').hidden = !st.node;
  $('node-desc').textContent = n ? n.description || '' : '';
  const badge = $('node-state');
  badge.hidden = !st.nodeGone;
  badge.textContent = st.nodeGone === 'unknown' ? 'unknown' : st.nodeGone ? 'offline' : '';
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
    st.zoom = null;
    renderFields(); // nothing of the previous node stays on screen
  }
  leaveOverview();
  st.node = name;
  st.nodeGone = false;
  st.gen++;
  const gen = st.gen;
  renderNodes();
  renderNodeHead();
  message('');
  $('toolbar').hidden = !Object.keys(st.fields).length;
  if (!session) return;
  try {
    const r = await session.call(st.uri.getFields(name), [1, 0]);
    if (gen !== st.gen) return;
    const [fields, timelines] = pair(r);
    st.fields = fields || {};
    st.timelines = timelines || {};
    $('toolbar').hidden = false;
    renderFields();
    if (!Object.keys(st.fields).length) nodeState('This node has no fields yet.');
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
    if (!st.nodes.has(name)) st.nodeGone = st.ov.has(name) ? true : 'unknown';
    renderNodeHead();
    if (errURI(e) === 'wamp.error.no_such_procedure' && !Object.keys(st.fields).length) {
      nodeState(st.nodes.has(name) ? 'Node ' + name + ' is not answering.' : 'No data node named “' + name + '” is connected.');
    } else if (!Object.keys(st.fields).length) {
      nodeState('Could not read the fields of ' + name + ': ' + errText(e));
    } else {
      message(name + ': ' + errText(e));
    }
  }
}

// nodeState shows why a node has nothing to show, with a way back.
function nodeState(text) {
  $('toolbar').hidden = true;
  $('fields').hidden = true;
  clearCharts();
  const p = $('node-empty');
  p.hidden = false;
  p.querySelector('span').textContent = text + ' ';
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
  if (st.open === null && fs.length) st.open = new Set(fs.filter(isNumeric).slice(0, DEFAULT_CHARTS));
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
  $('node-empty').hidden = true;
  for (const f of fs) paintLimit(f);
}

// paintLimit colours a field's latest value by its limits.
function paintLimit(f) {
  const l = st.latest.get(f);
  const state = l ? limitState((st.fields[f] || {}).limits, l.v) : '';
  const tr = $('fields').tBodies[0].querySelector('tr[data-field="' + CSS.escape(f) + '"]');
  if (tr) tr.querySelector('.value').dataset.limit = state;
  const ch = st.charts.get(f);
  if (ch) ch.latest.dataset.limit = state;
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
  return !st.zoom && st.range.kind !== 'custom';
}

// xRange is the time window shown: the zoomed one, or the last span for a
// live range.
function xRange() {
  if (st.zoom) return st.zoom;
  if (liveRange()) {
    const now = Date.now() / 1000;
    return [now - RANGES[st.range.kind], now];
  }
  return [st.range.start, st.range.end];
}

// query returns get_data's start and end: relative times for live ranges
// so that a skewed browser clock does not matter.
function query() {
  if (st.zoom) return st.zoom;
  if (liveRange()) return [-RANGES[st.range.kind], 0];
  return [st.range.start, st.range.end];
}

// zoomTo shows [a, b] in every chart at full resolution; resetZoom returns
// to the chosen range.
function zoomTo(a, b) {
  if (!(b > a)) return;
  st.zoom = [a, b];
  $('reset-zoom').hidden = false;
  reloadCharts();
}

function resetZoom() {
  st.zoom = null;
  $('reset-zoom').hidden = true;
  reloadCharts();
}

// limitBands is a uPlot plugin that shades where a field's values would
// be a warning or an alarm, and counts the bands it drew (for tests).
function limitBands(f, ch) {
  return {
    hooks: {
      drawClear: [(u) => {
        const lim = (st.fields[f] || {}).limits;
        let n = 0;
        if (lim) {
          const { ctx } = u;
          const { left, top, width, height } = u.bbox;
          const ymin = u.scales.y.min;
          const ymax = u.scales.y.max;
          const shade = (lo, hi, color) => {
            const a = Math.max(lo, ymin);
            const b = Math.min(hi, ymax);
            if (!(b > a)) return;
            const y0 = u.valToPos(b, 'y', true);
            const y1 = u.valToPos(a, 'y', true);
            ctx.fillStyle = color;
            ctx.fillRect(left, y0, width, Math.max(1, y1 - y0));
            n++;
          };
          ctx.save();
          ctx.beginPath();
          ctx.rect(left, top, width, height);
          ctx.clip();
          for (const kind of ['warning', 'alarm']) {
            const r = lim[kind];
            if (!r) continue;
            if (r.high !== undefined && r.high !== null) shade(r.high, Infinity, BAND[kind]);
            if (r.low !== undefined && r.low !== null) shade(-Infinity, r.low, BAND[kind]);
          }
          ctx.restore();
        }
        ch.bands = n;
      }],
    },
  };
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
  const ch = { field: f, box, latest, t: [], v: [], pt: [], pv: [], loading: false, drawn: 0, bands: 0 };
  ch.plot = new uPlot({
    width: chartWidth(),
    height: chartHeight(),
    // The legend shows the time and value under the cursor.
    legend: { show: true, live: true },
    cursor: { drag: { x: true, y: false, setScale: false } },
    scales: { x: { time: true, range: () => xRange() } },
    axes: [{ stroke: '#555' }, { stroke: '#555', size: 56 }],
    series: [
      { value: (u, v) => (v === null || v === undefined ? '—' : fmtTime(v)) },
      { label: f, stroke: COLORS[idx % COLORS.length], width: 1.25, points: { show: false }, spanGaps: false, value: (u, v) => fmtValue(v) },
    ],
    plugins: [limitBands(f, ch)],
    hooks: {
      setSelect: [(u) => {
        // A drag over the chart zooms every chart to its span.
        if (u.select.width > 4) {
          zoomTo(u.posToVal(u.select.left, 'x'), u.posToVal(u.select.left + u.select.width, 'x'));
        }
        u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
      }],
    },
  }, [[], []], plotEl);
  return ch;
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
      paintLimit(f);
    }
    st.dirty.clear();
  }
  if (!st.node) {
    for (const name of st.ovDirty) drawOverviewNode(name);
    st.ovDirty.clear();
    if (now - lastAges > 1000) {
      lastAges = now;
      overviewAges();
    }
  }
}

let lastAges = 0;

// ---- overview: every node at a glance ----------------------------------

// showOverview shows the landing page: a card per node with each field's
// latest value, a sparkline of the last minutes and the reading's age.
function showOverview() {
  if (st.node) {
    clearCharts();
    if (st.sub && st.session) st.session.unsubscribe(st.sub).catch(() => {});
    st.sub = null;
    st.node = null;
    st.fields = {};
    st.latest.clear();
    renderFields();
  }
  st.gen++;
  renderNodes();
  renderNodeHead();
  renderOverview();
  for (const name of st.nodes.keys()) watchNode(name);
}

// leaveOverview stops the overview's subscriptions.
function leaveOverview() {
  for (const o of st.ov.values()) {
    if (o.sub && st.session && o.sub.session === st.session) st.session.unsubscribe(o.sub).catch(() => {});
    o.sub = null;
  }
}

function overviewNode(name) {
  let o = st.ov.get(name);
  if (!o) {
    o = { fields: null, timelines: {}, latest: new Map(), spark: new Map(), sub: null, card: null, error: '' };
    st.ov.set(name, o);
  }
  return o;
}

// watchNode fills a node's card: fields (from list_nodes, else get_fields),
// the sparklines' history, and a subscription to its live readings.
async function watchNode(name) {
  const session = st.session;
  if (!session || st.node) return;
  const gen = st.gen;
  const o = overviewNode(name);
  try {
    if (!o.fields) {
      const info = st.nodes.get(name) || {};
      if (info.fields && Object.keys(info.fields).length) {
        o.fields = info.fields;
        o.timelines = info.timelines || {};
      } else {
        const [fields, timelines] = pair(await session.call(st.uri.getFields(name), [1, 0]));
        o.fields = fields || {};
        o.timelines = timelines || {};
      }
      renderOverview();
    }
    if (gen !== st.gen) return;
    if (!o.sub || o.sub.session !== session) {
      o.sub = await session.subscribe(st.uri.data(name), (args, kwargs) => overviewData(name, (args && args[0]) || kwargs, false));
      if (gen !== st.gen) { session.unsubscribe(o.sub).catch(() => {}); o.sub = null; return; }
    }
    const all = Object.keys(o.fields);
    if (all.length) {
      // Sparklines: the last minutes, bucketed; strings get their last value.
      const res = unwrap(await session.call(st.uri.getData(name), [all, -SPARK_S, 0], { max_points: SPARK_POINTS, agg: 'mean' }));
      if (gen !== st.gen) return;
      overviewData(name, res, true);
    }
    o.error = '';
  } catch (e) {
    o.error = errURI(e) === 'wamp.error.no_such_procedure' ? 'not answering' : errText(e);
  }
  st.ovDirty.add(name);
}

// overviewData takes a live batch or the sparkline history of a node.
function overviewData(name, batch, history) {
  const o = st.ov.get(name);
  if (!o || !o.fields || !batch || !batch.data) return;
  const cut = Date.now() / 1000 - SPARK_S;
  for (const f of Object.keys(batch.data)) {
    const tl = timelineOf(batch, f, o.fields[f] && o.fields[f].timeline);
    const vals = batch.data[f];
    if (!tl || !tl.t || !vals || !vals.length) continue;
    const n = Math.min(tl.t.length, vals.length);
    const last = o.latest.get(f);
    if (!last || tl.t[n - 1] >= last.t) o.latest.set(f, { t: tl.t[n - 1], v: vals[n - 1] });
    let sp = o.spark.get(f);
    if (!sp || history) { sp = { t: [], v: [] }; o.spark.set(f, sp); }
    for (let i = 0; i < n; i++) {
      const v = toNumber(vals[i]);
      if (v === null) continue;
      // Live points between buckets would crowd the line: keep one per
      // bucket width.
      if (!history && sp.t.length && tl.t[i] - sp.t[sp.t.length - 1] < SPARK_S / SPARK_POINTS) continue;
      sp.t.push(tl.t[i]);
      sp.v.push(v);
    }
    while (sp.t.length && sp.t[0] < cut) { sp.t.shift(); sp.v.shift(); }
  }
  st.ovDirty.add(name);
}

// renderOverview builds the cards; drawOverviewNode fills them in.
function renderOverview() {
  const box = $('overview-cards');
  if (!box) return;
  const names = [...new Set([...st.nodes.keys(), ...st.offline])].sort();
  $('overview-empty').hidden = names.length > 0 || !st.session;
  box.replaceChildren(...names.map((name) => {
    const o = overviewNode(name);
    const card = document.createElement('article');
    card.className = 'node-card';
    card.dataset.node = name;
    const h = document.createElement('h3');
    const a = document.createElement('a');
    a.href = '#node=' + encodeURIComponent(name);
    a.textContent = name;
    const badge = document.createElement('span');
    badge.className = 'badge state-badge';
    h.append(a, badge);
    const d = document.createElement('p');
    d.className = 'muted desc';
    const listed = st.nodes.get(name);
    if (listed) o.description = listed.description || '';
    d.textContent = o.description || '';
    const table = document.createElement('table');
    table.className = 'ov-fields';
    const tb = document.createElement('tbody');
    const names = Object.keys(o.fields || {}).sort();
    for (const f of names.slice(0, OV_FIELDS)) {
      const tr = document.createElement('tr');
      tr.dataset.field = f;
      const info = o.fields[f] || {};
      tr.innerHTML = '<td class="name"></td><td class="num value">—</td><td class="units"></td><td class="spark"><canvas width="120" height="26"></canvas></td><td class="age muted"></td>';
      tr.querySelector('.name').textContent = f;
      tr.querySelector('.name').title = info.description || '';
      tr.querySelector('.units').textContent = info.units || '';
      tb.append(tr);
    }
    table.append(tb);
    if (names.length > OV_FIELDS) {
      const more = document.createElement('a');
      more.className = 'more';
      more.href = '#node=' + encodeURIComponent(name);
      more.textContent = '… ' + (names.length - OV_FIELDS) + ' more fields';
      table.after(more);
      card.more = more;
    }
    const note = document.createElement('p');
    note.className = 'muted note';
    card.append(h, d, table);
    if (card.more) card.append(card.more);
    card.append(note);
    o.card = card;
    st.ovDirty.add(name);
    return card;
  }));
}

function drawOverviewNode(name) {
  const o = st.ov.get(name);
  if (!o || !o.card) return;
  const offline = st.offline.has(name);
  o.card.classList.toggle('offline', offline);
  const badge = o.card.querySelector('.state-badge');
  badge.textContent = offline ? 'offline' : '';
  badge.hidden = !offline;
  o.card.querySelector('.note').textContent = o.error ? 'Cannot read this node: ' + o.error
    : o.fields && !Object.keys(o.fields).length ? 'No fields yet.' : '';
  for (const tr of o.card.querySelectorAll('tr[data-field]')) {
    const f = tr.dataset.field;
    const l = o.latest.get(f);
    const td = tr.querySelector('.value');
    td.textContent = l ? fmtValue(l.v) : '—';
    td.title = l ? fmtTime(l.t) : '';
    const lim = (o.fields[f] || {}).limits;
    td.dataset.limit = l ? limitState(lim, l.v) : '';
    sparkline(tr.querySelector('canvas'), o.spark.get(f), lim);
  }
  overviewAges(name);
}

// overviewAges writes how old each latest reading is and marks stale ones:
// older than three sampling intervals, and at least 15 s.
function overviewAges(only) {
  const now = Date.now() / 1000;
  for (const [name, o] of st.ov) {
    if ((only && name !== only) || !o.card) continue;
    for (const tr of o.card.querySelectorAll('tr[data-field]')) {
      const f = tr.dataset.field;
      const l = o.latest.get(f);
      const tl = o.timelines[(o.fields[f] || {}).timeline] || {};
      const limit = Math.max(15, 3 * (tl.interval || 0));
      const age = l ? now - l.t : Infinity;
      tr.querySelector('.age').textContent = l ? fmtAge(age) : 'no reading';
      const stale = !l || age > limit || st.offline.has(name);
      tr.classList.toggle('stale', stale);
    }
  }
}

// sparkline draws a small line of the last minutes on a canvas, with the
// limit bands shaded as on the charts.
function sparkline(cv, sp, lim) {
  const ctx = cv.getContext('2d');
  const w = cv.width;
  const h = cv.height;
  ctx.clearRect(0, 0, w, h);
  if (!sp || sp.t.length < 2) return;
  const now = Date.now() / 1000;
  let lo = Math.min(...sp.v);
  let hi = Math.max(...sp.v);
  if (hi === lo) { hi += 1; lo -= 1; }
  const x = (t) => ((t - (now - SPARK_S)) / SPARK_S) * (w - 2) + 1;
  const y = (v) => h - 2 - ((v - lo) / (hi - lo)) * (h - 4);
  if (lim) {
    for (const kind of ['warning', 'alarm']) {
      const r = lim[kind];
      if (!r) continue;
      ctx.fillStyle = BAND[kind];
      if (r.high !== undefined && r.high !== null && r.high < hi) ctx.fillRect(0, 0, w, Math.max(0, y(r.high)));
      if (r.low !== undefined && r.low !== null && r.low > lo) ctx.fillRect(0, y(r.low), w, h - y(r.low));
    }
  }
  ctx.strokeStyle = '#2563eb';
  ctx.lineWidth = 1.25;
  ctx.beginPath();
  sp.t.forEach((t, i) => (i ? ctx.lineTo(x(t), y(sp.v[i])) : ctx.moveTo(x(t), y(sp.v[i]))));
  ctx.stroke();
}

// ---- toolbar ----------------------------------------------------------

function setRange(kind) {
  $('custom').hidden = kind !== 'custom';
  if (kind === 'custom') {
    // The charts keep what they show until Apply.
    if (!$('from').value) {
      const [a, b] = xRange();
      $('from').value = localInput(a);
      $('to').value = localInput(b);
    }
    return;
  }
  st.range.kind = kind;
  st.zoom = null;
  $('reset-zoom').hidden = true;
  reloadCharts();
}

function reloadCharts() {
  for (const ch of st.charts.values()) { ch.t = []; ch.v = []; ch.pt = []; ch.pv = []; }
  backfill([...st.charts.keys()]);
}

// downloadCSV saves the readings of the charted fields in the shown
// range: raw data from get_data, fetched progressively in slices so that
// a long range never hits the reply limit, not the charts' buckets.
async function downloadCSV() {
  const fields = [...st.charts.keys()];
  if (!st.session || !st.node || !fields.length) { message('CSV: open a chart first'); return; }
  const node = st.node;
  const gen = st.gen;
  let [start, end] = xRange();
  start = Math.floor(start * 1000) / 1000;
  end = Math.ceil(end * 1000) / 1000;
  const btn = $('csv');
  btn.disabled = true;
  let n = 0;
  try {
    message('CSV: reading…');
    const slices = await callProgressive(st.session, st.uri.getData(node), [fields, start, end], {}, (res) => {
      for (const f of fields) n += ((res && res.data && res.data[f]) || []).length;
      if (gen === st.gen) message('CSV: ' + n + ' readings…');
    });
    if (gen !== st.gen) return;
    const { text, rows } = readingsCSV(fields, slices, st.fields);
    const blob = new Blob([text], { type: 'text/csv' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = 'telemesh-' + node + '-' + new Date(start * 1000).toISOString().replace(/[:.]/g, '-') + '.csv';
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    message('CSV: ' + rows + ' rows, ' + n + ' readings in ' + slices.length + (slices.length === 1 ? ' reply' : ' slices'));
  } catch (e) {
    if (gen === st.gen) message('CSV: ' + errText(e));
  } finally {
    btn.disabled = false;
  }
}

function nodeFromHash() {
  const m = /(?:^#|&)node=([^&]*)/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

function wire() {
  window.addEventListener('hashchange', () => {
    const n = nodeFromHash();
    if (n && n !== st.node) selectNode(n, false);
    if (!n && st.node) showOverview();
  });
  $('reset-zoom').addEventListener('click', resetZoom);
  $('range').addEventListener('change', (e) => setRange(e.target.value));
  $('toolbar').addEventListener('submit', (e) => {
    e.preventDefault();
    const a = new Date($('from').value).getTime() / 1000;
    const b = new Date($('to').value).getTime() / 1000;
    if (!(a < b)) { message('custom range: "from" must be before "to"'); return; }
    st.range.kind = 'custom';
    st.range.start = a;
    st.range.end = b;
    st.zoom = null;
    $('reset-zoom').hidden = true;
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
  // The realm is worth showing only when it is not the product's name.
  $('realm').textContent = cfg.realm && cfg.realm !== 'telemesh' ? 'realm ' + cfg.realm : '';
  st.node = nodeFromHash();
  renderNodeHead();
  renderOverview();
  st.link = new Link(cfg, {
    open: onOpen,
    close: onClose,
    state: setState,
    auth: showLogin,
  });
  st.link.start();
}

main();

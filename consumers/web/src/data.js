// Pure helpers: formatting, CSV, range arithmetic, the timeline join.

export const RANGES = { '15m': 900, '1h': 3600, '24h': 86400, '7d': 604800 };

export function fmtValue(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') {
    if (!isFinite(v)) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e7 || a < 1e-4)) return v.toExponential(4);
    return String(Number(v.toPrecision(6)));
  }
  return String(v);
}

export function fmtTime(t) {
  return new Date(t * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function csvCell(s) {
  s = String(s);
  return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

// readingsCSV writes the readings of get_data results (the slices of a
// progressive call) in wide form, like `telemesh get --format csv`: one row
// per time, a labelled column per field ("co2 [ppm]"), empty where a field
// has no reading at that time.
export function readingsCSV(fields, results, info) {
  const rows = new Map(); // t -> cells
  fields.forEach((f, col) => {
    for (const res of results) {
      const vals = (res && res.data && res.data[f]) || [];
      const tl = timelineOf(res, f, info[f] && info[f].timeline);
      if (!tl || !tl.t) continue;
      for (let i = 0; i < Math.min(vals.length, tl.t.length); i++) {
        const t = tl.t[i];
        let r = rows.get(t);
        if (!r) { r = new Array(fields.length).fill(''); rows.set(t, r); }
        r[col] = vals[i] === null || vals[i] === undefined ? '' : vals[i];
      }
    }
  });
  const head = ['time_utc', 'unix'].concat(fields.map((f) => (info[f] && info[f].units ? f + ' [' + info[f].units + ']' : f)));
  const out = [head.map(csvCell).join(',')];
  for (const t of [...rows.keys()].sort((a, b) => a - b)) {
    out.push([new Date(t * 1000).toISOString(), t].concat(rows.get(t)).map(csvCell).join(','));
  }
  return { text: out.join('\n') + '\n', rows: rows.size };
}

// limitState is the state of value v under a field's limits ({warning,
// alarm: {low, high}}): 'alarm', 'warning' or '' (none or inside).
export function limitState(limits, v) {
  if (!limits || typeof v !== 'number') return '';
  const out = (r) => r && ((r.low !== undefined && r.low !== null && v < r.low) || (r.high !== undefined && r.high !== null && v > r.high));
  if (out(limits.alarm)) return 'alarm';
  if (out(limits.warning)) return 'warning';
  return '';
}

// fmtAge prints how long ago a reading was, in s, min, h or d.
export function fmtAge(seconds) {
  if (!(seconds >= 0)) return '';
  if (seconds < 60) return Math.floor(seconds) + ' s ago';
  if (seconds < 3600) return Math.floor(seconds / 60) + ' min ago';
  if (seconds < 86400) return Math.floor(seconds / 3600) + ' h ago';
  return Math.floor(seconds / 86400) + ' d ago';
}

// toNumber maps a field value to what a chart can plot.
export function toNumber(v) {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return null;
}

// localInput formats epoch seconds for a datetime-local input.
export function localInput(t) {
  const d = new Date(t * 1000);
  const p = (n) => String(n).padStart(2, '0');
  return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' +
    p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
}

// timelineOf joins a field of a get_data result or live batch to its
// timeline, mirroring the Go vocabulary's one rule (DataResult.Series):
// the declared timeline when the batch has it with as many times as the
// field has values, else the only timeline of that length; null when none
// or several fit.
export function timelineOf(batch, field, declared) {
  const vals = batch.data && batch.data[field];
  if (!vals || !vals.length) return null;
  const own = declared !== undefined && batch.timeline[declared];
  if (own && own.t && own.t.length === vals.length) return own;
  let found = null;
  let count = 0;
  for (const tl of Object.values(batch.timeline)) {
    if (tl && tl.t && tl.t.length === vals.length) {
      found = tl;
      count++;
    }
  }
  return count === 1 ? found : null;
}

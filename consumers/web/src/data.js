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

// toCSV writes series [{field, units, t: [], v: []}] in long form: one row
// per reading, so fields on different timelines need no alignment.
export function toCSV(series) {
  const rows = ['time_utc,unix,field,value,units'];
  for (const s of series) {
    for (let i = 0; i < s.t.length; i++) {
      const t = s.t[i];
      rows.push([new Date(t * 1000).toISOString(), t, s.field, s.v[i] === null ? '' : s.v[i], s.units || '']
        .map(csvCell).join(','));
    }
  }
  return rows.join('\n') + '\n';
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

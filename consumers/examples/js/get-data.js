#!/usr/bin/env node
// Fetch history of some fields of one data node, optionally downsampled.
//
//   # the last hour of CO2 and temperature, at most 100 points, as CSV:
//   node --experimental-websocket get-data.js sim co2 temperature --since 3600 --max-points 100 --csv
//
//   # keep spikes when downsampling: min and max of every bucket
//   node get-data.js sim co2 --url tcp://127.0.0.1:8081 --since 1d --max-points 500 --agg minmax --csv
//
// Without --csv it prints a short summary per field. Large answers arrive in
// slices (WAMP progressive results) and are put back together here.
'use strict';

const { run } = require('./connect');

const UNITS = { s: 1, m: 60, h: 3600, d: 86400 };

// seconds parses "3600", "90m", "1h" or "2d".
function seconds(text) {
  const unit = UNITS[text.slice(-1)];
  const n = Number(unit ? text.slice(0, -1) : text);
  if (!Number.isFinite(n)) throw new Error(`not a duration: ${text}`);
  return n * (unit || 1);
}

// merge appends one get_data result (or progressive slice) to another.
function merge(into, part) {
  for (const [field, values] of Object.entries((part && part.data) || {})) {
    (into.data[field] = into.data[field] || []).push(...values);
  }
  for (const [name, tl] of Object.entries((part && part.timeline) || {})) {
    const mine = (into.timeline[name] = into.timeline[name] || { t: [], finalized_until: null });
    mine.t.push(...(tl.t || []));
    mine.finalized_until = tl.finalized_until;
  }
}

async function fetch(session, args, fields) {
  const kwargs = { agg: args.agg };
  if (args['max-points']) kwargs.max_points = Number(args['max-points']);
  if (args['min-stride']) kwargs.min_stride = Number(args['min-stride']);
  const result = { data: {}, timeline: {} };
  // Times <= 0 are relative to now: -3600 is "an hour ago", 0 is "now".
  const call = session.call(`${args.base}.consumer.${args.node}.get_data`,
    [fields, -seconds(args.since), -seconds(args.until)], kwargs, { receive_progress: true });
  if (call.progress) call.progress((part) => merge(result, part));
  merge(result, await call);
  return result;
}

function iso(t) {
  return new Date(t * 1000).toISOString();
}

function writeCSV(result, timelineOf, fields, epoch) {
  // rows maps "t/k" to the k-th row at time t: minmax gives two points per
  // bucket, both stamped at its start.
  const rows = new Map();
  fields.forEach((field, i) => {
    const times = (result.timeline[timelineOf[field]] || {}).t || [];
    const values = result.data[field] || [];
    const seen = new Map();
    times.forEach((t, j) => {
      const k = (seen.get(t) ?? -1) + 1;
      seen.set(t, k);
      const key = `${t}/${k}`;
      if (!rows.has(key)) rows.set(key, { t, k, values: new Array(fields.length).fill('') });
      rows.get(key).values[i] = values[j];
    });
  });
  const lines = [['time', ...fields].join(',')];
  for (const r of [...rows.values()].sort((a, b) => a.t - b.t || a.k - b.k)) {
    lines.push([epoch ? r.t : iso(r.t), ...r.values].join(','));
  }
  process.stdout.write(lines.join('\n') + '\n');
}

function summary(result, fields) {
  for (const field of fields) {
    const values = (result.data[field] || []).filter((v) => typeof v === 'number');
    if (values.length === 0) {
      console.log(`${field}: no data`);
      continue;
    }
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    console.log(`${field}: ${values.length} points  min ${Math.min(...values)}  max ${Math.max(...values)}  mean ${mean}  last ${values[values.length - 1]}`);
  }
}

const usage = 'get-data.js NODE FIELD... [--since 3600] [--until 0] [--max-points N] [--min-stride S] [--agg mean|min|max|last|minmax] [--csv] [--epoch]';
run(usage, {
  since: { type: 'string', default: '3600' },
  until: { type: 'string', default: '0' },
  'max-points': { type: 'string' },
  'min-stride': { type: 'string' },
  agg: { type: 'string', default: 'mean' },
  csv: { type: 'boolean' },
  epoch: { type: 'boolean' },
}, async (session, args) => {
  const [node, ...fields] = args.positionals;
  if (!node || fields.length === 0) throw new Error(`usage: ${usage}`);
  args.node = node;
  // Fetch data first: an unknown node or field is reported by get_data.
  const result = await fetch(session, args, fields);
  if (!args.csv) {
    summary(result, fields);
    return 0;
  }
  // Values line up with the times of their field's timeline.
  const [fieldInfo] = await session.call(`${args.base}.consumer.${node}.get_fields`, [1, 0]);
  const timelineOf = Object.fromEntries(Object.entries(fieldInfo).map(([f, info]) => [f, info.timeline]));
  writeCSV(result, timelineOf, fields, args.epoch);
  return 0;
});

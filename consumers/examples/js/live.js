#!/usr/bin/env node
// Print live readings of a data node as they arrive.
//
//   node --experimental-websocket live.js sim                 # every field, until Ctrl-C
//   node live.js sim co2 --count 5 --url tcp://127.0.0.1:8081  # five batches, then exit
//
// Each batch has the shape of a get_data result: {data, timeline}.
'use strict';

const { run } = require('./connect');

function show(batch, fields) {
  const data = batch.data || {};
  const timelines = Object.values(batch.timeline || {});
  for (const field of Object.keys(data).sort()) {
    if (fields.length && !fields.includes(field)) continue;
    const values = data[field];
    // A batch rarely spans more than one timeline: pair times by length.
    const tl = timelines.find((x) => (x.t || []).length === values.length);
    values.forEach((v, i) => {
      const when = tl ? new Date(tl.t[i] * 1000).toISOString().slice(11, 23) : '?';
      console.log(`${when}  ${field.padEnd(20)} ${v}`);
    });
  }
}

run('live.js NODE [FIELD...] [--count N]', {
  count: { type: 'string', default: '0' },
}, (session, args) => new Promise((resolve, reject) => {
  const [node, ...fields] = args.positionals;
  if (!node) return reject(new Error('usage: live.js NODE [FIELD...] [--count N]'));
  const count = Number(args.count);
  let seen = 0;
  // The topic carries every field of the node; filter here.
  session.subscribe(`${args.base}.consumer.${node}.data`, ([batch]) => {
    if (!batch || (fields.length && !fields.some((f) => f in (batch.data || {})))) return;
    seen++;
    console.log(`batch ${seen}`);
    show(batch, fields);
    if (count && seen >= count) resolve(0);
  }).then(null, reject);
}));

#!/usr/bin/env node
// List the data nodes a telemesh hub knows, with their fields and units.
//
//   node --experimental-websocket list-nodes.js --url ws://127.0.0.1:8080/ws
//   node list-nodes.js --url tcp://127.0.0.1:8081 --authid alice   # RawSocket
'use strict';

const { run } = require('./connect');

// nodes returns [{name, description, fields, timelines}], asking an older
// (sisock) hub for each node's fields when it lacks list_nodes.
async function nodes(session, base) {
  try {
    return await session.call(`${base}.consumer.list_nodes`);
  } catch (err) {
    if (err.error !== 'wamp.error.no_such_procedure') throw err;
  }
  const found = [];
  for (const n of await session.call(`${base}.consumer.get_data_node`)) {
    // get_fields(1, 0): all time (0 is "now").
    const [fields, timelines] = await session.call(`${base}.consumer.${n.name}.get_fields`, [1, 0]);
    found.push({ ...n, fields, timelines });
  }
  return found;
}

run('list-nodes.js [--url URL]', {}, async (session, args) => {
  const found = (await nodes(session, args.base)).sort((a, b) => a.name.localeCompare(b.name));
  if (found.length === 0) console.log('no data nodes');
  for (const n of found) {
    console.log(`${n.name}  ${n.description || ''}`);
    const timelines = n.timelines || {};
    for (const [name, f] of Object.entries(n.fields || {}).sort()) {
      const interval = (timelines[f.timeline] || {}).interval;
      const every = interval ? `every ${interval} s` : 'aperiodic';
      console.log(`  ${name.padEnd(20)} ${(f.units || '-').padEnd(8)} ${(f.type || '').padEnd(7)} timeline ${f.timeline}  ${every}`);
    }
  }
  return 0;
});

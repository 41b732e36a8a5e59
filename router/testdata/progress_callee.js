// A callee in autobahn-js, which announces progressive call results but not
// call canceling: it registers PROC over RawSocket and answers each call
// with the progressive results 1 and 2, then the result 3.
//
// usage: node progress_callee.js HOST PORT REALM PROC
'use strict';
const autobahn = require('autobahn');
const [host, port, realm, proc] = process.argv.slice(2);
const conn = new autobahn.Connection({
  transports: [{ type: 'rawsocket', host, port: Number(port) }],
  realm,
  max_retries: 0,
});
conn.onopen = async (session) => {
  await session.register(proc, (args, kwargs, details) => {
    if (!details.progress) {
      return 'no progress';
    }
    details.progress([1]);
    details.progress([2]);
    return 3;
  });
  console.log('registered');
};
conn.onclose = (reason) => {
  console.log('closed', reason);
  process.exit(1);
};
conn.open();

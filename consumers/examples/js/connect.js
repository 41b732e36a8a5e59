// Connection helpers shared by the telemesh JavaScript examples.
//
// Every example takes the same connection options:
//
//   --url         ws://host:8080/ws, wss://host/ws or tcp://host:8081 (RawSocket)
//   --profile     telemesh (realm telemesh, base telemesh) or sisock
//                 (realm test_realm, base org.simonsobservatory)
//   --realm       WAMP realm (default: the profile's)
//   --base        base URI of the protocol (default: the profile's)
//   --authid      your user name; leave empty for anonymous (loopback only)
//   --authmethod  wampcra (default with an authid) or ticket
//   --secret      the password; better: the TELEMESH_SECRET environment variable
//   --ca-file     PEM file of the CA that signed the router's certificate (wss://)
//   --serializer  json, msgpack or cbor (WebSocket only; RawSocket speaks json)
//
// Copy this file next to your own script and call run(usage, options, main),
// where main is `async (session, args) => exitCode`.
'use strict';

const { parseArgs } = require('node:util');
const { spawnSync } = require('node:child_process');
const autobahn = require('autobahn');

const PROFILES = {
  telemesh: { realm: 'telemesh', base: 'telemesh' },
  sisock: { realm: 'test_realm', base: 'org.simonsobservatory' },
};

const CONNECTION_OPTIONS = {
  url: { type: 'string', default: process.env.TELEMESH_URL || 'ws://127.0.0.1:8080/ws' },
  profile: { type: 'string', default: 'telemesh' },
  realm: { type: 'string' },
  base: { type: 'string' },
  authid: { type: 'string', default: process.env.TELEMESH_AUTHID || '' },
  authmethod: { type: 'string', default: 'wampcra' },
  secret: { type: 'string', default: process.env.TELEMESH_SECRET || '' },
  'ca-file': { type: 'string' },
  serializer: { type: 'string', default: 'json' },
  help: { type: 'boolean', short: 'h' },
};

// parse reads the command line: connection options plus the script's own.
function parse(usage, options) {
  let parsed;
  try {
    parsed = parseArgs({ options: { ...CONNECTION_OPTIONS, ...options }, allowPositionals: true });
  } catch (err) {
    fail(`${err.message}\nusage: ${usage}`);
  }
  const args = { ...parsed.values, positionals: parsed.positionals };
  if (args.help) {
    console.log(`usage: ${usage}\nconnection options: ${Object.keys(CONNECTION_OPTIONS).map((k) => '--' + k).join(' ')}`);
    process.exit(0);
  }
  const profile = PROFILES[args.profile];
  if (!profile) fail(`unknown profile ${args.profile}: use telemesh or sisock`);
  args.realm = args.realm || profile.realm;
  args.base = args.base || profile.base;
  return args;
}

function fail(msg) {
  console.error(`error: ${msg}`);
  process.exit(2);
}

// errorText returns "uri: message" for a WAMP error.
function errorText(err) {
  if (err instanceof autobahn.Error) {
    return `${err.error}: ${(err.args && err.args[0]) || ''}`;
  }
  return String((err && err.message) || err);
}

function serializer(name) {
  switch (name) {
    case 'json': return new autobahn.serializer.JSONSerializer();
    case 'msgpack': return new autobahn.serializer.MsgpackSerializer();
    case 'cbor': return new autobahn.serializer.CBORSerializer();
  }
  return fail(`unknown serializer ${name}: use json, msgpack or cbor`);
}

// transport turns --url into an autobahn transport description.
function transport(args) {
  const u = new URL(args.url);
  switch (u.protocol) {
    case 'ws:':
    case 'wss:':
      if (typeof globalThis.WebSocket === 'undefined') {
        fail('this Node.js has no WebSocket: run it with `node --experimental-websocket` (Node 20/21), ' +
          'use Node 22 or newer, or connect over RawSocket with --url tcp://host:8081');
      }
      return { type: 'websocket', url: args.url, serializers: [serializer(args.serializer)] };
    case 'tcp:':
    case 'rs:':
      // autobahn-js RawSocket speaks JSON only.
      return { type: 'rawsocket', host: u.hostname, port: Number(u.port || 8081) };
    case 'tcps:':
    case 'rss:':
      return fail('autobahn-js has no RawSocket over TLS: use wss:// instead');
  }
  return fail(`unsupported URL ${args.url}: use ws://, wss:// or tcp://`);
}

// auth returns the authentication options of autobahn.Connection.
function auth(args) {
  if (!args.authid) return {};
  if (!args.secret) fail('--authid needs a secret: set TELEMESH_SECRET or pass --secret');
  if (args.authmethod === 'ticket') {
    return { authmethods: ['ticket'], authid: args.authid, onchallenge: () => args.secret };
  }
  return {
    authmethods: ['wampcra'],
    authid: args.authid,
    onchallenge: (session, method, extra) => {
      // A salted secret is stored as a derived key; derive it the same way.
      const key = extra.salt
        ? autobahn.auth_cra.derive_key(args.secret, extra.salt, extra.iterations, extra.keylen)
        : args.secret;
      return autobahn.auth_cra.sign(key, extra.challenge);
    },
  };
}

// connect opens one session, without retries: a script that cannot reach
// the router should say so and exit.
function connect(args) {
  return new Promise((resolve, reject) => {
    const conn = new autobahn.Connection({
      transports: [transport(args)],
      realm: args.realm,
      max_retries: 0,
      retry_if_unreachable: false,
      ...auth(args),
    });
    let opened = false;
    conn.onopen = (session) => {
      opened = true;
      resolve({ conn, session });
    };
    conn.onclose = (reason, details) => {
      if (!opened) {
        reject(new Error(`cannot connect to ${args.url}: ${details.reason || reason}` +
          (details.message ? `: ${details.message}` : '')));
      }
      return true; // no reconnect
    };
    conn.open();
  });
}

// run parses the command line, connects, runs main and exits with its code.
async function run(usage, options, main) {
  const args = parse(usage, options);
  // Node reads extra CAs only at start, so restart with the CA file given.
  if (args['ca-file'] && process.env.NODE_EXTRA_CA_CERTS !== args['ca-file']) {
    const r = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      stdio: 'inherit', env: { ...process.env, NODE_EXTRA_CA_CERTS: args['ca-file'] },
    });
    process.exit(r.status === null ? 1 : r.status);
  }
  let code = 1;
  let conn;
  try {
    let session;
    ({ conn, session } = await connect(args));
    code = (await main(session, args)) || 0;
  } catch (err) {
    console.error(`error: ${errorText(err)}`);
    code = 1;
  }
  if (conn) conn.close();
  process.exit(code);
}

module.exports = { run, errorText, PROFILES };

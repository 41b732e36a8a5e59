// Link keeps one WAMP session to the router alive: autobahn's own
// auto-reconnect with a bounded delay, plus a reopen of our own when autobahn
// gives up (it stops retrying after a router's GOODBYE, e.g. on shutdown).
// Credentials live in sessionStorage only.
import autobahn from 'autobahn';

const CREDS_KEY = 'telemesh.auth';
const MAX_DELAY = 5; // seconds

// Abort reasons meaning "who you are is not accepted": ask for credentials.
const AUTH_ERRORS = new Set([
  'wamp.error.not_authorized',
  'wamp.error.authorization_failed',
  'wamp.error.authentication_failed',
  'wamp.error.no_auth_method',
  'wamp.error.cannot_authenticate',
  'wamp.error.no_such_principal',
  'wamp.error.no_such_role',
]);

export function loadCreds() {
  try {
    const c = JSON.parse(sessionStorage.getItem(CREDS_KEY) || 'null');
    return c && c.authid && c.secret ? c : null;
  } catch (e) {
    return null;
  }
}

export function saveCreds(c) {
  if (c) sessionStorage.setItem(CREDS_KEY, JSON.stringify(c));
  else sessionStorage.removeItem(CREDS_KEY);
}

// wsURL resolves the configured WebSocket path against the page's origin.
export function wsURL(path) {
  if (/^wss?:\/\//.test(path)) return path;
  const u = new URL(path || '/ws', location.href);
  u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.href;
}

function onchallenge(creds) {
  return (session, method, extra) => {
    if (method === 'ticket') return creds.secret;
    if (method === 'wampcra') {
      const key = extra.salt
        ? autobahn.auth_cra.derive_key(creds.secret, extra.salt, extra.iterations, extra.keylen)
        : creds.secret;
      return autobahn.auth_cra.sign(key, extra.challenge);
    }
    throw new Error('unsupported authentication method ' + method);
  };
}

export class Link {
  // handlers: open(session, details), close(), state(name, text), auth(message)
  constructor(cfg, handlers) {
    this.cfg = cfg;
    this.h = handlers;
    this.conn = null;
    this.delay = 0.5;
    this.timer = null;
    this.everOpen = false;
  }

  start() {
    this.stop();
    this.stopped = false;
    const creds = loadCreds();
    const opts = {
      url: wsURL(this.cfg.ws_path),
      realm: this.cfg.realm,
      serializers: [new autobahn.serializer.JSONSerializer()],
      max_retries: -1,
      initial_retry_delay: 0.5,
      max_retry_delay: MAX_DELAY,
      retry_delay_growth: 1.5,
      retry_if_unreachable: true,
      use_deferred: progressDeferred,
    };
    if (creds) {
      opts.authmethods = [creds.method || 'ticket'];
      opts.authid = creds.authid;
      opts.onchallenge = onchallenge(creds);
    } else {
      opts.authmethods = ['anonymous'];
    }
    const conn = new autobahn.Connection(opts);
    this.conn = conn;
    conn.onopen = (session, details) => {
      if (conn !== this.conn) return;
      this.delay = 0.5;
      this.everOpen = true;
      const who = details.authmethod && details.authmethod !== 'anonymous' ? details.authid : '';
      this.h.state('connected', who ? 'connected as ' + who : 'connected');
      this.h.open(session, details);
    };
    conn.onclose = (reason, details) => {
      if (conn !== this.conn) return true;
      this.h.close();
      if (this.stopped) return true;
      if (AUTH_ERRORS.has(details.reason)) {
        this.h.state('login', 'sign-in required');
        this.h.auth(details.message || details.reason);
        return true;
      }
      if (details.will_retry) {
        this.h.state('reconnecting', 'reconnecting in ' + details.retry_delay.toFixed(1) + ' s');
        return false;
      }
      const d = this.delay;
      this.delay = Math.min(this.delay * 1.5, MAX_DELAY);
      this.h.state('reconnecting', 'reconnecting in ' + d.toFixed(1) + ' s');
      this.timer = setTimeout(() => {
        this.timer = null;
        try { conn.open(); } catch (e) { /* already opening */ }
      }, d * 1000);
      return true;
    };
    this.h.state('connecting', 'connecting');
    conn.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
    const c = this.conn;
    this.conn = null;
    if (c) {
      try { c.close(); } catch (e) { /* already closed */ }
    }
  }
}

// unwrap returns the payload of a call result or event: autobahn hands
// back a Result when there are kwargs or several positional arguments.
export function unwrap(r) {
  if (r instanceof autobahn.Result) {
    if (r.args && r.args.length) return r.args[0];
    return r.kwargs;
  }
  return r;
}

// progressDeferred is autobahn's deferred on native promises plus notify,
// which autobahn calls with each progressive result: the promise's
// onprogress, when set, receives them.
function progressDeferred() {
  const d = {};
  d.promise = new Promise((resolve, reject) => { d.resolve = resolve; d.reject = reject; });
  d.notify = (r) => { if (d.promise.onprogress) d.promise.onprogress(r); };
  return d;
}

// callProgressive calls proc asking for progressive results and returns
// every slice, the final result last; onSlice sees each as it arrives.
export async function callProgressive(session, proc, args, kwargs, onSlice) {
  const slices = [];
  const p = session.call(proc, args, kwargs, { receive_progress: true });
  p.onprogress = (r) => { const v = unwrap(r); slices.push(v); if (onSlice) onSlice(v, slices.length); };
  const last = unwrap(await p);
  if (last) { slices.push(last); if (onSlice) onSlice(last, slices.length); }
  return slices;
}

// Sentences for the router's own error URIs, which a page should not show.
const WAMP_ERRORS = {
  'wamp.error.no_such_procedure': 'nobody serves this (is the node connected?)',
  'wamp.error.not_authorized': 'not allowed for this session',
  'wamp.error.authorization_failed': 'not allowed for this session',
  'wamp.error.canceled': 'cancelled',
  'wamp.error.timeout': 'timed out',
  'wamp.error.no_such_realm': 'the router has no such realm',
};

// errText is the sentence to show for an error: the callee's own message
// when it sent one, else a sentence for the router's URI.
export function errText(e) {
  if (!e) return 'error';
  if (e instanceof autobahn.Error) {
    const m = e.args && e.args.length ? String(e.args[0]) : '';
    if (WAMP_ERRORS[e.error]) return WAMP_ERRORS[e.error];
    return m || e.error.replace(/^.*\.error\./, '').replace(/_/g, ' ');
  }
  return e.message || String(e);
}

export function errURI(e) {
  return e instanceof autobahn.Error ? e.error : '';
}

"""Connection helpers shared by the telemesh example scripts.

Every example takes the same connection options, so they live here once:

    --url         ws://host:8080/ws, wss://..., tcp://host:8081 or tcps://...
                  (tcp:// and tcps:// are WAMP RawSocket)
    --realm       WAMP realm (default: the profile's)
    --base        base URI of the protocol (default: the profile's)
    --profile     telemesh (realm telemesh, base telemesh) or sisock
                  (realm test_realm, base org.simonsobservatory)
    --authid      your user name; leave empty for anonymous (loopback only)
    --authmethod  wampcra (default with an authid) or ticket
    --secret      the password; better: the TELEMESH_SECRET environment variable
    --ca-file     PEM file of the CA that signed the router's certificate
                  (the ca.crt that `telemesh tls init` writes)
    --serializer  json, msgpack or cbor

Copy this file next to your own script and call ``run(args, main)``, where
``main`` is ``async def main(session, args)`` returning an exit code.
"""

import argparse
import asyncio
import os
import ssl
import sys
from urllib.parse import urlparse

import txaio
from autobahn.asyncio.component import Component
from autobahn.asyncio.rawsocket import WampRawSocketClientProtocol
from autobahn.wamp.exception import ApplicationError

# autobahn 22.7 (Debian 12) forgot this property on asyncio RawSocket
# clients, so joining over tcp:// failed with an AttributeError.
if not hasattr(WampRawSocketClientProtocol, "transport_details"):
    WampRawSocketClientProtocol.transport_details = property(lambda self: self._transport_details)

PROFILES = {
    "telemesh": ("telemesh", "telemesh"),
    "sisock": ("test_realm", "org.simonsobservatory"),
}


def parser(description):
    """Return an argument parser with the connection options already added."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--url", default=os.environ.get("TELEMESH_URL", "ws://127.0.0.1:8080/ws"),
                   help="router URL: ws://, wss://, tcp:// or tcps:// (default %(default)s)")
    p.add_argument("--profile", choices=sorted(PROFILES), default="telemesh",
                   help="naming profile (default %(default)s)")
    p.add_argument("--realm", help="realm (default: the profile's)")
    p.add_argument("--base", help="base URI (default: the profile's)")
    p.add_argument("--authid", default=os.environ.get("TELEMESH_AUTHID", ""),
                   help="authentication id; empty for anonymous")
    p.add_argument("--authmethod", choices=["wampcra", "ticket"], default="wampcra",
                   help="how to authenticate with --authid (default %(default)s)")
    p.add_argument("--secret", default=os.environ.get("TELEMESH_SECRET", ""),
                   help="password or ticket (default: $TELEMESH_SECRET)")
    p.add_argument("--ca-file", help="CA certificate (PEM) to trust for wss:// and tcps://")
    p.add_argument("--serializer", choices=["json", "msgpack", "cbor"], default="msgpack",
                   help="WAMP serializer (default %(default)s)")
    return p


def names(args):
    """Return (realm, base) from the profile and the --realm/--base overrides."""
    realm, base = PROFILES[args.profile]
    return args.realm or realm, args.base or base


def _transport(args):
    u = urlparse(args.url)
    secure = u.scheme in ("wss", "tcps", "rss")
    tls = False
    if secure:
        # Trust the lab's own CA when given, the system's CAs otherwise.
        tls = ssl.create_default_context(cafile=args.ca_file)
    endpoint = {"type": "tcp", "host": u.hostname, "port": u.port or (443 if secure else 80), "tls": tls}
    if u.scheme in ("ws", "wss"):
        return {"type": "websocket", "url": args.url, "endpoint": endpoint,
                "serializers": [args.serializer], "max_retries": 0}
    if u.scheme in ("tcp", "tcps", "rs", "rss"):
        return {"type": "rawsocket", "url": args.url, "endpoint": endpoint,
                "serializer": args.serializer, "max_retries": 0}
    raise SystemExit(f"unsupported URL scheme {u.scheme!r}: use ws://, wss://, tcp:// or tcps://")


def _authentication(args):
    if not args.authid:
        return None
    if not args.secret:
        raise SystemExit("--authid needs a secret: set TELEMESH_SECRET or pass --secret")
    if args.authmethod == "ticket":
        return {"ticket": {"authid": args.authid, "ticket": args.secret}}
    # autobahn derives the key itself when the router sends a salt.
    return {"wampcra": {"authid": args.authid, "secret": args.secret}}


def error_text(err):
    """Return 'uri: message' for a WAMP error, the way the examples print it."""
    if isinstance(err, ApplicationError):
        msg = err.args[0] if err.args else ""
        return f"{err.error}: {msg}"
    return str(err)


def component(args, main):
    """Build a Component that runs ``main(session, args)`` once and leaves.

    The exit code ``main`` returns (or 1 on a WAMP error) ends up in
    ``comp.exit_code``; why the router refused or dropped the session, if it
    did, in ``comp.problem``.
    """
    realm, _ = names(args)
    comp = Component(transports=[_transport(args)], realm=realm,
                     authentication=_authentication(args))
    comp.exit_code, comp.finished, comp.problem = 1, False, None

    @comp.on_join
    async def joined(session, details):
        try:
            comp.exit_code = await main(session, args) or 0
        except ApplicationError as err:
            print(f"error: {error_text(err)}", file=sys.stderr)
            comp.exit_code = 1
        finally:
            comp.finished = True
            # Leaving ends the component, and with it the event loop.
            session.leave()

    @comp.on_leave
    def left(session, details):
        # A refused login (wrong secret, unknown realm) ends up here.
        if not comp.finished and details.reason != "wamp.close.normal":
            comp.problem = f"{details.reason}: {details.message or ''}"

    @comp.on_connectfailure
    def connect_failed(c, err):
        # No route, refused port, untrusted certificate, ...
        comp.problem = str(err) or type(err).__name__

    return comp


def run(args, main):
    """Connect, run ``main(session, args)``, disconnect and exit with its code."""
    # autobahn logs every reconnect attempt; the examples report errors
    # themselves on stderr so that data written to stdout (CSV) stays clean.
    txaio.start_logging(out=sys.stderr, level="critical")
    comp = component(args, main)

    # autobahn's own run() helper uses asyncio.coroutine, which Python 3.11
    # removed; starting the component from asyncio.run works everywhere.
    async def start():
        await comp.start(asyncio.get_running_loop())

    try:
        asyncio.run(start())
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as err:
        # autobahn 22.7 reports a RawSocket session that left normally as a
        # failed connection; only a session that never finished is an error.
        if not comp.finished:
            print(f"error: cannot connect to {args.url}: {comp.problem or error_text(err)}", file=sys.stderr)
            sys.exit(1)
    sys.exit(comp.exit_code)

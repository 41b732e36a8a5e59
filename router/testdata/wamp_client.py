"""WAMP client for the router's end-to-end tests (Debian python3-autobahn).

usage: wamp_client.py URL REALM SERIALIZER AUTHMETHOD AUTHID SECRET CAFILE ACTION...

URL is ws://, wss://, rs:// or rss:// (RawSocket, rss with TLS); SERIALIZER
is json, msgpack or cbor; AUTHMETHOD is anonymous, ticket, wampcra or
cryptosign (SECRET is then the hex Ed25519 seed); AUTHID, SECRET and CAFILE
may be "-". Each ACTION is call:URI, register:URI, publish:URI,
subscribe:URI or sleep:SECONDS. Prints "joined AUTHID AUTHROLE", then one line per action,
"ok ACTION URI [RESULT]" or "error ACTION URI ERROR_URI", or "refused
REASON" when the router does not admit the session.
"""
import asyncio
import ssl
import sys
from urllib.parse import urlparse

from autobahn.asyncio.rawsocket import WampRawSocketClientFactory, WampRawSocketClientProtocol
from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp import auth
from autobahn.wamp.cryptosign import CryptosignKey
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer
from autobahn.wamp.types import ComponentConfig, PublishOptions

# autobahn 22.7's asyncio RawSocket protocol lacks the transport_details
# property that its session expects on WELCOME.
if not hasattr(WampRawSocketClientProtocol, "transport_details"):
    WampRawSocketClientProtocol.transport_details = property(lambda self: self._transport_details)

url, realm, sername, method, authid, secret, cafile = sys.argv[1:8]
actions = sys.argv[8:]
authid = None if authid == "-" else authid
serializer = {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}[sername]()
key = CryptosignKey.from_bytes(bytes.fromhex(secret)) if method == "cryptosign" else None
done = asyncio.get_event_loop().create_future()
state = {"joined": False, "refused": False}


def say(*words):
    print(*words, flush=True)


class Session(ApplicationSession):
    def onConnect(self):
        extra = {"pubkey": key.public_key()} if key else None
        self.join(realm, [method], authid, authextra=extra)

    def onChallenge(self, challenge):
        if challenge.method == "ticket":
            return secret
        if challenge.method == "wampcra":
            k = secret
            if "salt" in challenge.extra:
                k = auth.derive_key(secret, challenge.extra["salt"],
                                    challenge.extra["iterations"], challenge.extra["keylen"])
            return auth.compute_wcs(k, challenge.extra["challenge"])
        if challenge.method == "cryptosign":
            return key.sign_challenge(challenge)
        raise Exception("unexpected challenge " + challenge.method)

    async def onJoin(self, details):
        state["joined"] = True
        say("joined", details.authid, details.authrole)
        for a in actions:
            kind, uri = a.split(":", 1)
            try:
                res = ""
                if kind == "sleep":
                    await asyncio.sleep(float(uri))
                elif kind == "call":
                    res = await self.call(uri, "x")
                elif kind == "register":
                    await self.register(lambda *args: args, uri)
                elif kind == "publish":
                    await self.publish(uri, "x", options=PublishOptions(acknowledge=True))
                elif kind == "subscribe":
                    await self.subscribe(lambda *args: None, uri)
                say("ok", kind, uri, res)
            except ApplicationError as e:
                say("error", kind, uri, e.error)
        self.leave()

    def onLeave(self, details):
        if details.reason not in ("wamp.close.normal", "wamp.close.goodbye_and_out"):
            state["refused"] = True
            say("refused", details.reason, details.message or "")
        self.disconnect()

    def onDisconnect(self):
        # The router may close the transport right after its ABORT.
        if not state["joined"] and not state["refused"]:
            say("refused", "transport closed before WELCOME")
        if not done.done():
            done.set_result(None)


async def main():
    u = urlparse(url)
    tls = None
    if u.scheme in ("wss", "rss"):
        tls = ssl.create_default_context(cafile=cafile)
    make = lambda: Session(ComponentConfig(realm))
    if u.scheme in ("ws", "wss"):
        factory = WampWebSocketClientFactory(make, url=url, serializers=[serializer])
    else:
        factory = WampRawSocketClientFactory(make, serializer=serializer)
    await asyncio.get_event_loop().create_connection(factory, u.hostname, u.port, ssl=tls)
    await asyncio.wait_for(done, 20)


asyncio.get_event_loop().run_until_complete(main())

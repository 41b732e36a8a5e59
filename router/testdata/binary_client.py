"""Binary payloads across serializers (Debian python3-autobahn).

usage: binary_client.py WS_URL RS_HOST RS_PORT REALM PREFIX

Joins one callee per serializer over WebSocket (registering PREFIX + name,
which answers with the type name and value of its argument) and one caller
per serializer over RawSocket, then has every caller call every callee with
a bytes argument. Prints, per pair, "pair CALLEE CALLER CALLEE_TYPE
CALLER_TYPE EQUAL", then "done".
"""
import asyncio
import sys
from urllib.parse import urlparse

from autobahn.asyncio.rawsocket import WampRawSocketClientFactory, WampRawSocketClientProtocol
from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer
from autobahn.wamp.types import ComponentConfig

if not hasattr(WampRawSocketClientProtocol, "transport_details"):
    WampRawSocketClientProtocol.transport_details = property(lambda self: self._transport_details)

ws_url, rs_host, rs_port, realm, prefix = sys.argv[1:6]
SERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}
PAYLOAD = b"\x00\x01binary\xff"
loop = asyncio.get_event_loop()


class Callee(ApplicationSession):
    async def onJoin(self, details):
        await self.register(lambda b: [type(b).__name__, b], prefix + self.config.extra["ser"])
        self.config.extra["joined"].set_result(self)


class Caller(ApplicationSession):
    async def onJoin(self, details):
        self.config.extra["joined"].set_result(self)


async def join(cls, ser, ws):
    joined = loop.create_future()
    make = lambda: cls(ComponentConfig(realm, extra={"ser": ser, "joined": joined}))
    if ws:
        u = urlparse(ws_url)
        factory = WampWebSocketClientFactory(make, url=ws_url, serializers=[SERS[ser]()])
        await loop.create_connection(factory, u.hostname, u.port)
    else:
        factory = WampRawSocketClientFactory(make, serializer=SERS[ser]())
        await loop.create_connection(factory, rs_host, int(rs_port))
    return await asyncio.wait_for(joined, 10)


async def main():
    for s in SERS:
        await join(Callee, s, True)
    for caller_ser in SERS:
        caller = await join(Caller, caller_ser, False)
        for callee_ser in SERS:
            res = await caller.call(prefix + callee_ser, PAYLOAD)
            print("pair", callee_ser, caller_ser, res[0], type(res[1]).__name__, res[1] == PAYLOAD, flush=True)
    print("done", flush=True)


loop.run_until_complete(asyncio.wait_for(main(), 30))

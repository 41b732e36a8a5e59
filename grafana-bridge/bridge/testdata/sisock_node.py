#!/usr/bin/python3
"""A data node written the way sisock's DataNodeServer is: get_data takes
(field, start, end, min_stride=None) only and returns every sample at 1 Hz,
ignoring min_stride. One field "temp" is 20 everywhere except a spike of 99
at SPIKE.

Usage: sisock_node.py URL REALM BASE NAME SPIKE
Prints "added <result>" once announced and serves until stdin closes.
"""
import math
import sys

from autobahn.twisted.wamp import ApplicationRunner, ApplicationSession
from twisted.internet import reactor, stdio
from twisted.protocols.basic import LineReceiver

URL, REALM, BASE, NAME, SPIKE = sys.argv[1:6]
SPIKE = float(SPIKE)


class StdinWatch(LineReceiver):
    delimiter = b"\n"

    def lineReceived(self, line):
        pass

    def connectionLost(self, reason):
        if reactor.running:
            reactor.stop()


class DataNodeServer(ApplicationSession):
    def get_fields(self, start, end):
        field = {"temp": {"description": "a temperature", "timeline": "t0",
                          "type": "number", "units": "K"}}
        timeline = {"t0": {"interval": 1.0, "field": ["temp"]}}
        return field, timeline

    def get_data(self, field, start, end, min_stride=None):
        t = [float(s) for s in range(int(math.ceil(start)), int(math.ceil(end)))]
        v = [99.0 if s == SPIKE else 20.0 for s in t]
        data = {f: v for f in field if f == "temp"}
        tl = {"t0": {"t": t, "finalized_until": end}} if data else {}
        return {"data": data, "timeline": tl}

    async def onJoin(self, details):
        prefix = BASE + ".consumer." + NAME + "."
        await self.register(self.get_fields, prefix + "get_fields")
        await self.register(self.get_data, prefix + "get_data")
        res = await self.call(BASE + ".data_node.add", NAME, "sisock-style node", details.session)
        print("added", res, flush=True)


if __name__ == "__main__":
    stdio.StandardIO(StdinWatch())
    ApplicationRunner(URL, REALM).run(DataNodeServer)

#!/usr/bin/python3
"""A data node written the way sisock's DataNodeServer is.

Usage: sisock_node.py URL REALM BASE NAME [--description D] [--spike S]

It registers BASE.consumer.NAME.get_fields and .get_data, then calls
BASE.data_node.add(name, description, details.session) exactly like sisock,
prints "added <result>" and serves until its standard input
closes. get_data takes (field, start, end, min_stride=None) only and returns
every sample at 1 Hz, ignoring min_stride: one field "temp" is 20
everywhere except a spike of 99 at time S.
"""
import argparse
import math

from autobahn.twisted.wamp import ApplicationRunner, ApplicationSession
from twisted.internet import reactor, stdio
from twisted.protocols.basic import LineReceiver

ap = argparse.ArgumentParser()
ap.add_argument("url")
ap.add_argument("realm")
ap.add_argument("base")
ap.add_argument("name")
ap.add_argument("--description", default="sisock-style test node")
ap.add_argument("--spike", type=float, default=None)
ARGS = ap.parse_args()


class StdinWatch(LineReceiver):
    delimiter = b"\n"

    def lineReceived(self, line):
        pass

    def connectionLost(self, reason):
        if reactor.running:
            reactor.stop()


class DataNodeServer(ApplicationSession):
    name = ARGS.name
    description = ARGS.description

    def get_fields(self, start, end):
        field = {"temp": {"description": "a temperature", "timeline": "t0",
                          "type": "number", "units": "K"}}
        timeline = {"t0": {"interval": 1.0, "field": ["temp"]}}
        return field, timeline

    def get_data(self, field, start, end, min_stride=None):
        t = [float(s) for s in range(int(math.ceil(start)), int(math.ceil(end)))]
        v = [99.0 if s == ARGS.spike else 20.0 for s in t]
        data = {f: v for f in field if f == "temp"}
        tl = {"t0": {"t": t, "finalized_until": end}} if data else {}
        return {"data": data, "timeline": tl}

    async def onJoin(self, details):
        prefix = ARGS.base + ".consumer." + self.name + "."
        await self.register(self.get_fields, prefix + "get_fields")
        await self.register(self.get_data, prefix + "get_data")
        res = await self.call(ARGS.base + ".data_node.add", self.name,
                              self.description, details.session)
        print("added", res, flush=True)


if __name__ == "__main__":
    stdio.StandardIO(StdinWatch())
    ApplicationRunner(ARGS.url, ARGS.realm).run(DataNodeServer)

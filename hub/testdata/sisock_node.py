#!/usr/bin/python3
"""A data node written the way sisock's DataNodeServer is.

Usage: sisock_node.py URL REALM BASE NAME [DESCRIPTION]

It registers BASE.consumer.NAME.get_fields and .get_data, then calls
BASE.data_node.add(name, description, details.session) exactly like sisock,
prints "added <result>" and serves until its standard input closes.
"""
import sys
import time

from autobahn.twisted.wamp import ApplicationRunner, ApplicationSession
from twisted.internet import reactor, stdio
from twisted.protocols.basic import LineReceiver

URL, REALM, BASE, NAME = sys.argv[1:5]
DESCRIPTION = sys.argv[5] if len(sys.argv) > 5 else "sisock-style test node"


class StdinWatch(LineReceiver):
    delimiter = b"\n"

    def lineReceived(self, line):
        pass

    def connectionLost(self, reason):
        if reactor.running:
            reactor.stop()


class DataNodeServer(ApplicationSession):
    name = NAME
    description = DESCRIPTION

    def get_fields(self, start, end):
        field = {"temp": {"description": "a temperature", "timeline": "t0",
                          "type": "number", "units": "K"}}
        timeline = {"t0": {"interval": 1.0, "field": ["temp"]}}
        return field, timeline

    def get_data(self, field, start, end, min_stride=None):
        now = time.time()
        return {"data": {"temp": [1.0, 2.0]},
                "timeline": {"t0": {"t": [now - 2, now - 1], "finalized_until": now - 1}}}

    async def onJoin(self, details):
        prefix = BASE + ".consumer." + self.name + "."
        await self.register(self.get_fields, prefix + "get_fields")
        await self.register(self.get_data, prefix + "get_data")
        res = await self.call(BASE + ".data_node.add", self.name,
                              self.description, details.session)
        print("added", res, details.session, flush=True)


if __name__ == "__main__":
    stdio.StandardIO(StdinWatch())
    ApplicationRunner(URL, REALM).run(DataNodeServer)

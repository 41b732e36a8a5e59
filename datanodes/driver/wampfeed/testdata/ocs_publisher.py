"""Publishes feed events shaped as OCS agents publish them, for tests.

Usage: ocs_publisher.py URL REALM AGENT COUNT

OCS publishes one positional argument, the pair (message, feed_data). On
the recorded feed "temperatures" the message maps block names to
{"block_name", "data": {key: [values]}, "timestamps": [t, ...]} (two
samples per event); on the unrecorded feed "status" it is the agent's own
message: {"block_name", "timestamp", "data": {key: value}}, and on
"status_lists" the same with "timestamps" and lists. COUNT events go to
each feed, one every 0.05 s; then it prints "done".
"""
import asyncio
import sys
import time

from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession
from autobahn.wamp.serializer import JsonSerializer

URL, REALM, AGENT, COUNT = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ADDRESS = "observatory." + AGENT


def feed_data(feed, record):
    return {"agent_address": ADDRESS, "agg_params": {"frame_length": 60},
            "feed_name": feed, "address": ADDRESS + ".feeds." + feed,
            "record": record, "session_id": "1700000000.0",
            "agent_class": "Lakeshore372Agent"}


class Publisher(ApplicationSession):
    async def onJoin(self, details):
        t0 = time.time() - 100
        for i in range(COUNT):
            t = t0 + 2 * i
            blocks = {"temps": {"block_name": "temps",
                                "data": {"Channel 01 R": [100.0 + 2 * i, 101.0 + 2 * i],
                                         "Heater On": [True, False]},
                                "timestamps": [t, t + 1]}}
            self.publish(ADDRESS + ".feeds.temperatures", (blocks, feed_data("temperatures", True)))
            own = {"block_name": "state", "timestamp": t, "data": {"Scan Speed": 0.5 * i, "Mode": "idle"}}
            self.publish(ADDRESS + ".feeds.status", (own, feed_data("status", False)))
            lists = {"block_name": "pair", "timestamps": [t, t + 1], "data": {"Az": [10.0 + i, 11.0 + i]}}
            self.publish(ADDRESS + ".feeds.status_lists", (lists, feed_data("status_lists", False)))
            await asyncio.sleep(0.05)
        print("done", flush=True)
        self.leave()

    def onDisconnect(self):
        asyncio.get_event_loop().stop()


ApplicationRunner(URL, REALM, serializers=[JsonSerializer()]).run(Publisher)

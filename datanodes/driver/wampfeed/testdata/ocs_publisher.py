"""Publishes OCS-shaped feed events the way ocs_feed.py does, for tests.

Usage: ocs_publisher.py URL REALM AGENT COUNT
Publishes COUNT events (one every 0.1 s) on observatory.AGENT.feeds.temperatures.
"""
import asyncio
import sys
import time

from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession
from autobahn.wamp.serializer import JsonSerializer

URL, REALM, AGENT, COUNT = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


class Publisher(ApplicationSession):
    async def onJoin(self, details):
        address = "observatory." + AGENT
        for i in range(COUNT):
            message = {"temps": {"block_name": "temps", "timestamps": [time.time()],
                                 "data": {"Channel 01 R": [100.0 + i], "Heater On": [True]}}}
            feed_data = {"agent_address": address, "agg_params": {}, "feed_name": "temperatures",
                         "address": address + ".feeds.temperatures", "record": True,
                         "session_id": "0", "agent_class": "Lakeshore372Agent"}
            self.publish(address + ".feeds.temperatures", message, feed_data)
            await asyncio.sleep(0.1)
        self.leave()

    def onDisconnect(self):
        asyncio.get_event_loop().stop()


ApplicationRunner(URL, REALM, serializers=[JsonSerializer()]).run(Publisher)

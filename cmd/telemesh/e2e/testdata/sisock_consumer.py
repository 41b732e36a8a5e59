#!/usr/bin/python3
"""A consumer written the way sisock-era scripts and the Grafana bridge are.

Usage: sisock_consumer.py URL REALM BASE

It calls BASE.consumer.get_data_node(), then for every node
get_fields(1, 0) and get_data(fields, -60, 0, min_stride=1) with min_stride
as a keyword (as grafana_http_json.py passes it), and prints one JSON line
per node: {"node", "fields", "timelines", "points"} with the number of
values returned per field, then "done".
"""
import json
import sys

from autobahn.twisted.wamp import ApplicationRunner, ApplicationSession
from twisted.internet import reactor

URL, REALM, BASE = sys.argv[1:4]


class Consumer(ApplicationSession):
    async def onJoin(self, details):
        try:
            nodes = await self.call(BASE + ".consumer.get_data_node")
            for n in nodes:
                prefix = BASE + ".consumer." + n["name"] + "."
                field, timeline = await self.call(prefix + "get_fields", 1, 0)
                names = sorted(field)
                res = await self.call(prefix + "get_data", names, -60, 0, min_stride=1)
                points = {f: len(v) for f, v in res["data"].items()}
                for tl, d in res["timeline"].items():
                    if "finalized_until" not in d:
                        raise ValueError("timeline %s lacks finalized_until" % tl)
                # Every field's values align with its timeline's t list.
                for f, v in res["data"].items():
                    t = res["timeline"][field[f]["timeline"]]["t"]
                    if len(t) != len(v):
                        raise ValueError("field %s: %d values for %d times" % (f, len(v), len(t)))
                print(json.dumps({"node": n["name"], "description": n["description"],
                                  "fields": names, "timelines": sorted(timeline),
                                  "points": points}), flush=True)
            print("done", flush=True)
        except Exception as e:
            print("error", repr(e), flush=True)
        self.leave()

    def onDisconnect(self):
        if reactor.running:
            reactor.stop()


if __name__ == "__main__":
    ApplicationRunner(URL, REALM).run(Consumer)

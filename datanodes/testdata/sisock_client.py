"""A sisock-era consumer: calls a telemesh data node with autobahn-python
the way sisock scripts and its Grafana bridge did, and prints what it got
as one JSON line."""
import asyncio
import json
import sys

from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallOptions

URL, REALM, BASE, NODE, T0 = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])


class Client(ApplicationSession):
    async def onJoin(self, details):
        out = {}
        pre = "%s.consumer.%s." % (BASE, NODE)
        try:
            field, timeline = await self.call(pre + "get_fields", 1, 0)
            out["fields"] = sorted(field)
            out["timeline_field"] = timeline["tl"]["field"]
            r = await self.call(pre + "get_data", ["a", "b"], T0, T0 + 10)
            out["raw_a"] = r["data"]["a"]
            out["raw_t"] = r["timeline"]["tl"]["t"]
            r = await self.call(pre + "get_data", ["a"], T0, T0 + 10, min_stride=2)
            out["kw_stride"] = r["data"]["a"]
            r = await self.call(pre + "get_data", ["a"], T0, T0 + 10, 2)
            out["pos_stride"] = r["data"]["a"]
            try:
                await self.call(pre + "get_data", ["nope"], T0, T0 + 10)
            except ApplicationError as e:
                out["unknown_error"] = e.error
            try:
                await self.call(pre + "get_data", ["big"], T0, T0 + 1000)
            except ApplicationError as e:
                out["big_error"] = e.error
                out["big_points"] = e.kwargs.get("points")
            slices = []
            final = await self.call(pre + "get_data", ["big"], T0, T0 + 1000,
                                    options=CallOptions(on_progress=lambda r: slices.append(len(r["data"].get("big", [])))))
            slices.append(len(final["data"].get("big", [])))
            out["slices"] = slices
        except Exception as e:  # report, do not hang
            out["exception"] = repr(e)
        print(json.dumps(out), flush=True)
        self.leave()

    def onDisconnect(self):
        asyncio.get_event_loop().stop()


ApplicationRunner(URL, REALM, serializers=None).run(Client)

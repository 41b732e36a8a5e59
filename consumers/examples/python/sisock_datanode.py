#!/usr/bin/env python3
"""A data node written the way sisock's DataNodeServer nodes were: a sine wave.

sisock data nodes registered two procedures under B.consumer.<name>. and
announced themselves to the hub with B.data_node.add. telemesh keeps that
contract, so a sisock-era node ports by pointing it at telemesh:

    # with the router's sisock profile (realm test_realm, base
    # org.simonsobservatory) and a datanode-role user named like the node:
    TELEMESH_SECRET=... python3 sisock_datanode.py --profile sisock \\
        --url ws://127.0.0.1:8080/ws --authid sine --name sine

What changes compared with sisock:
  * authenticate: a node may only register under B.consumer.<its authid>.,
    so --authid must equal --name;
  * accept extra keyword arguments in get_data (telemesh consumers send
    max_points and agg); honour them if you can, ignore them otherwise;
  * optionally publish live readings on B.consumer.<name>.data, shaped like
    a get_data result, so dashboards update without polling;
  * raise B.error.unknown_field for a field you do not have.

The node keeps nothing on disk: every value is computed from its time.
"""

import asyncio
import math
import time

from autobahn.wamp.exception import ApplicationError

import tmconnect

INTERVAL = 1.0  # seconds between samples
PERIOD = 60.0   # seconds per sine period


def sine(t, amplitude):
    return amplitude * math.sin(2 * math.pi * t / PERIOD)


class SineNode:
    """The procedures of one node, in sisock's signatures."""

    def __init__(self, base, name, amplitude):
        self.base, self.name, self.amplitude = base, name, amplitude
        self.started = time.time()

    def fields(self):
        # field -> {description, timeline, type, units}; timeline -> {interval, field}
        field = {"sine": {"description": "a sine wave", "timeline": "sine_tl", "type": "number", "units": "V"}}
        timeline = {"sine_tl": {"interval": INTERVAL, "field": ["sine"]}}
        return field, timeline

    def get_fields(self, start, end):
        """sisock: (start, end) -> [field, timeline]."""
        return list(self.fields())

    def get_data(self, field, start, end, min_stride=None, max_points=None, agg=None, **kwargs):
        """sisock: (field_list, start, end, min_stride=None) -> {data, timeline}."""
        now = time.time()
        # Times <= 0 are relative to now (sisock's rule).
        start = now + start if start <= 0 else start
        end = now + end if end <= 0 else end
        for f in field:
            if f != "sine":
                raise ApplicationError(f"{self.base}.error.unknown_field", f"unknown field {f}")
        step = max(INTERVAL, min_stride or 0, (end - start) / max_points if max_points else 0)
        start = max(start, self.started - 3600)  # an hour of "history"
        t = math.ceil(start / step) * step
        times = []
        while t < min(end, now) and len(times) < 100000:
            times.append(t)
            t += step
        if "sine" not in field or not times:
            return {"data": {}, "timeline": {}}
        return {"data": {"sine": [sine(t, self.amplitude) for t in times]},
                "timeline": {"sine_tl": {"t": times, "finalized_until": times[-1]}}}


async def main(session, args):
    _, base = tmconnect.names(args)
    node = SineNode(base, args.name, args.amplitude)
    prefix = f"{base}.consumer.{args.name}."
    await session.register(node.get_fields, prefix + "get_fields")
    await session.register(node.get_data, prefix + "get_data")
    field, timeline = node.fields()
    # sisock's call, plus telemesh's optional kwargs so the hub can list the
    # fields without asking.
    ok = await session.call(f"{base}.data_node.add", args.name, args.description, session.session_id,
                            fields=field, timelines=timeline)
    if not ok:
        print(f"error: another live node is already called {args.name}", flush=True)
        return 1
    print(f"node {args.name} added; serving until Ctrl-C", flush=True)
    while True:
        # One live reading per interval, shaped like a get_data result.
        t = math.floor(time.time())
        session.publish(prefix + "data", {"data": {"sine": [sine(t, node.amplitude)]},
                                          "timeline": {"sine_tl": {"t": [t], "finalized_until": t}}})
        await asyncio.sleep(INTERVAL)


if __name__ == "__main__":
    p = tmconnect.parser(__doc__.splitlines()[0])
    p.add_argument("--name", default="sine", help="node name (default %(default)s); must equal --authid")
    p.add_argument("--description", default="sine wave (sisock-style example node)")
    p.add_argument("--amplitude", type=float, default=1.0, help="peak value of the sine (default 1)")
    tmconnect.run(p.parse_args(), main)

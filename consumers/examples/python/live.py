#!/usr/bin/env python3
"""Print live readings of a data node as they arrive.

    python3 live.py sim                  # every field, until Ctrl-C
    python3 live.py sim co2 --count 5    # five batches of CO2, then exit

Each batch has the shape of a get_data result: {data, timeline}.
"""

import asyncio
from datetime import datetime, timezone

import tmconnect


def show(batch, fields):
    """Print one line per reading in the batch."""
    data, timelines = batch.get("data", {}), batch.get("timeline", {})
    # Values of a field line up with the times of the timeline it is on;
    # a batch rarely spans more than one timeline, so pair them by length.
    for field in sorted(data):
        if fields and field not in fields:
            continue
        values = data[field]
        times = next((tl["t"] for tl in timelines.values() if len(tl.get("t", [])) == len(values)), [None] * len(values))
        for t, v in zip(times, values):
            when = datetime.fromtimestamp(t, timezone.utc).strftime("%H:%M:%S.%f")[:-3] if t else "?"
            print(f"{when}  {field:<20} {v}", flush=True)


async def main(session, args):
    _, base = tmconnect.names(args)
    batches = asyncio.Queue()
    # The topic carries every field of the node; filter here.
    await session.subscribe(lambda batch: batches.put_nowait(batch), f"{base}.consumer.{args.node}.data")
    seen = 0
    while not args.count or seen < args.count:
        batch = await batches.get()
        if args.fields and not set(args.fields) & set(batch.get("data", {})):
            continue
        seen += 1
        print(f"batch {seen}", flush=True)
        show(batch, args.fields)
    return 0


if __name__ == "__main__":
    p = tmconnect.parser(__doc__.splitlines()[0])
    p.add_argument("node", help="data node name, e.g. sim")
    p.add_argument("fields", nargs="*", metavar="FIELD", help="only these fields (default: all)")
    p.add_argument("--count", type=int, default=0, help="exit after this many batches (default: run until Ctrl-C)")
    tmconnect.run(p.parse_args(), main)

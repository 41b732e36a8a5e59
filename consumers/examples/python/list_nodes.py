#!/usr/bin/env python3
"""List the data nodes a telemesh hub knows, with their fields and units.

    python3 list_nodes.py --url ws://127.0.0.1:8080/ws

prints one block per node:

    sim  simulated sensors (telemesh up)
      co2          ppm    number  timeline sim  every 1 s
      ...
"""

from autobahn.wamp.exception import ApplicationError

import tmconnect


async def nodes(session, base):
    """Return [{name, description, fields, timelines}], asking an older
    (sisock) hub for each node's fields when it lacks list_nodes."""
    try:
        return await session.call(f"{base}.consumer.list_nodes")
    except ApplicationError as err:
        if err.error != "wamp.error.no_such_procedure":
            raise
    found = []
    for n in await session.call(f"{base}.consumer.get_data_node"):
        # get_fields(1, 0): all time ("0" is now, see the protocol).
        fields, timelines = await session.call(f"{base}.consumer.{n['name']}.get_fields", 1, 0)
        found.append(dict(n, fields=fields, timelines=timelines))
    return found


async def main(session, args):
    _, base = tmconnect.names(args)
    found = sorted(await nodes(session, base), key=lambda n: n["name"])
    if not found:
        print("no data nodes")
    for n in found:
        print(f"{n['name']}  {n.get('description') or ''}")
        timelines = n.get("timelines") or {}
        for name, f in sorted((n.get("fields") or {}).items()):
            tl = f.get("timeline") or ""
            interval = (timelines.get(tl) or {}).get("interval")
            every = f"every {interval:g} s" if interval else "aperiodic"
            print(f"  {name:<20} {f.get('units') or '-':<8} {f.get('type') or '':<7} timeline {tl}  {every}")
    return 0


if __name__ == "__main__":
    tmconnect.run(tmconnect.parser(__doc__.splitlines()[0]).parse_args(), main)

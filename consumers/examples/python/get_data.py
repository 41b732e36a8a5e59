#!/usr/bin/env python3
"""Fetch history of some fields of one data node, optionally downsampled.

    # the last hour of CO2 and temperature, at most 100 points, as CSV:
    python3 get_data.py sim co2 temperature --since 3600 --max-points 100 --csv > out.csv

    # keep spikes when downsampling: two points (min and max) per bucket
    python3 get_data.py sim co2 --since 1d --max-points 500 --agg minmax --csv

Without --csv it prints a short summary per field. Large answers arrive in
slices (WAMP progressive results), so a long range never hits the router's
message size limit.
"""

import csv
import math
import sys
from datetime import datetime, timezone

from autobahn.wamp.types import CallOptions

import tmconnect

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(text):
    """Parse '3600', '90m', '1h' or '2d' into seconds."""
    if text and text[-1] in UNITS:
        return float(text[:-1]) * UNITS[text[-1]]
    return float(text)


def merge(into, part):
    """Append one get_data result (or progressive slice) to another."""
    for field, values in part.get("data", {}).items():
        into["data"].setdefault(field, []).extend(values)
    for name, tl in part.get("timeline", {}).items():
        mine = into["timeline"].setdefault(name, {"t": [], "finalized_until": None})
        mine["t"].extend(tl.get("t", []))
        mine["finalized_until"] = tl.get("finalized_until")


async def fetch(session, base, args):
    """Call get_data and return the whole result, slices put together."""
    kwargs = {"agg": args.agg}
    if args.max_points:
        kwargs["max_points"] = args.max_points
    if args.min_stride:
        kwargs["min_stride"] = args.min_stride
    result = {"data": {}, "timeline": {}}
    # Times <= 0 are relative to now: -3600 is "an hour ago", 0 is "now".
    final = await session.call(
        f"{base}.consumer.{args.node}.get_data", args.fields, -args.since, -args.until,
        options=CallOptions(on_progress=lambda part: merge(result, part)), **kwargs)
    merge(result, final)
    return result


async def field_timelines(session, base, node):
    """Return {field: timeline name}, to line values up with their times."""
    fields, _ = await session.call(f"{base}.consumer.{node}.get_fields", 1, 0)
    return {name: f["timeline"] for name, f in fields.items()}


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_csv(result, timelines, fields, epoch):
    """Write one row per time stamp, one column per field (empty if none)."""
    rows = {}
    for i, field in enumerate(fields):
        times = result["timeline"].get(timelines.get(field), {}).get("t", [])
        # minmax gives two points per bucket, both stamped at its start:
        # the k-th value at a time stamp goes to the k-th row of that time.
        seen = {}
        for t, v in zip(times, result["data"].get(field, [])):
            k = seen[t] = seen.get(t, -1) + 1
            rows.setdefault((t, k), [""] * len(fields))[i] = v
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["time"] + fields)
    for t, k in sorted(rows):
        out.writerow([t if epoch else iso(t)] + rows[(t, k)])


def summary(result, fields):
    for field in fields:
        values = [v for v in result["data"].get(field, []) if isinstance(v, (int, float))]
        if not values:
            print(f"{field}: no data")
            continue
        mean = math.fsum(values) / len(values)
        print(f"{field}: {len(values)} points  min {min(values):g}  max {max(values):g}  mean {mean:g}  last {values[-1]:g}")


async def main(session, args):
    _, base = tmconnect.names(args)
    # Fetch data first: an unknown node or field is reported by get_data.
    result = await fetch(session, base, args)
    if args.csv:
        write_csv(result, await field_timelines(session, base, args.node), args.fields, args.epoch)
    else:
        summary(result, args.fields)
    return 0


if __name__ == "__main__":
    p = tmconnect.parser(__doc__.splitlines()[0])
    p.add_argument("node", help="data node name, e.g. sim")
    p.add_argument("fields", nargs="+", metavar="FIELD", help="field names, e.g. co2")
    p.add_argument("--since", type=seconds, default=3600.0, help="start, seconds ago (or 90m, 1h, 2d; default 3600)")
    p.add_argument("--until", type=seconds, default=0.0, help="end, seconds ago (default 0: now)")
    p.add_argument("--max-points", type=int, default=0, help="downsample to about this many points")
    p.add_argument("--min-stride", type=float, default=0.0, help="downsample to buckets of at least this many seconds")
    p.add_argument("--agg", choices=["mean", "min", "max", "last", "minmax"], default="mean",
                   help="how a bucket is summarised when downsampling (default %(default)s)")
    p.add_argument("--csv", action="store_true", help="write CSV to stdout")
    p.add_argument("--epoch", action="store_true", help="with --csv: times as UNIX seconds, not ISO 8601")
    tmconnect.run(p.parse_args(), main)

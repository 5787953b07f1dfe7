#!/usr/bin/env python3
"""Writes a seed corpus for each fuzz target from the landings in ../sample_data.

Each record becomes one corpus file in the input form its target reads (see README.md): the
CloudWatch `message`, the AKS `properties.log`, a Security Lake row as `time` and tab-separated
`unmapped` entries, a typed row as one JSON line; the parsers get the records' timestamps plus a
few durations. Records are taken evenly across each format's objects, so the scenarios mixed into
the sample data are represented.

    python3 fuzz/seed_corpus.py [--records N] [--out fuzz/corpus]

Needs pyarrow. Deterministic: the same sample data gives the same files.
"""

import argparse
import datetime
import glob
import hashlib
import json
import os

import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.join(HERE, "..", "sample_data")
DURATIONS = ["90s", "15m", "1h30m", "7d", "0", "36525d", "36525d1s", "213503982d", "1w", ""]


def rows(fmt, columns):
    """Every row of `fmt`'s sample objects (in path order), as dicts of `columns`."""
    for path in sorted(glob.glob(os.path.join(SAMPLES, fmt, "**", "*.parquet"), recursive=True)):
        yield from pq.read_table(path, columns=columns).to_pylist()


def spread(items, n):
    """`n` items taken evenly from `items`."""
    items = list(items)
    step = max(1, len(items) // n)
    return items[::step][:n]


def as_json(v):
    if isinstance(v, datetime.datetime):
        return v.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    raise TypeError(type(v))


def write(out, target, inputs):
    folder = os.path.join(out, target)
    os.makedirs(folder, exist_ok=True)
    for text in inputs:
        data = text.encode()
        with open(os.path.join(folder, hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)
    print(f"{target}: {len(inputs)} inputs")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=300, help="records per format (default 300)")
    p.add_argument("--out", default=os.path.join(HERE, "corpus"))
    a = p.parse_args()
    n = a.records

    messages = spread((r["message"] for r in rows("eks_cloudwatch", ["message"]) if r["message"]), n)
    write(a.out, "eks_cloudwatch", messages)
    logs = spread((r["properties"]["log"] for r in rows("aks_diagnostics", ["properties"]) if r["properties"] and r["properties"]["log"]), n)
    write(a.out, "aks_diagnostics", logs)
    lake = spread(rows("security_lake", ["time", "unmapped"]), n)
    write(a.out, "security_lake", ["\t".join([str(r["time"])] + [f"{k}={v}" for k, v in (r["unmapped"] or [])]) for r in lake])
    typed = spread(rows("k8s_audit", None), n)
    write(a.out, "k8s_audit", [json.dumps({k: v for k, v in r.items() if v is not None}, default=as_json) for r in typed])
    times = sorted({json.loads(m).get("stageTimestamp", "") for m in messages[: n // 4]} | {json.loads(l).get("requestReceivedTimestamp", "") for l in logs[: n // 4]})
    write(a.out, "parsers", [t for t in times if t] + DURATIONS)


if __name__ == "__main__":
    main()

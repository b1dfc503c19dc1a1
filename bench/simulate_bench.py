"""Throughput of `simulate` over the demo workspace, beside a parse-only baseline in the same run.

    .venv/bin/python bench/simulate_bench.py --customers 100000 --events 1000000

Not a test: figures are reported as events per second and as a ratio to the baseline.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

from engine.runtimes.simulate import simulate
from rules.events import parse_event
from rules.workspace import load_workspace

ROOT = Path(__file__).resolve().parents[1]
# a storefront's stream: mostly browsing; carts, purchases and sign-ups are rarer
MIX = ["page_viewed", "cart_updated", "cart_viewed", "purchase", "signed_up", "email_opened", "email_clicked"]
WEIGHTS = [70, 8, 5, 4, 3, 6, 4]
ZONES = ["UTC", "America/New_York", "Europe/Paris", "Asia/Tokyo", "Australia/Sydney"]


def workload(customers: int, events: int, seed: int = 7) -> list[bytes]:
    """A storefront's month: browsing, carts, purchases, sign-ups, email engagement."""
    rng = random.Random(seed)
    start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    lines = []
    for n in range(events):
        c = rng.randrange(customers)
        at = start + timedelta(seconds=rng.randrange(30 * 86400))
        kind = rng.choices(MIX, WEIGHTS)[0]
        event = {"id": f"e{n}", "type": kind, "customer_id": f"c{c}", "timestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "properties": {}}
        if kind == "signed_up" or n < customers:
            event["traits"] = {"email": f"c{c}@example.com", "first_name": f"C{c}", "timezone": ZONES[c % len(ZONES)],
                               "phone": f"+1555{c:07d}", "sms_subscribed": c % 3 == 0}
        if kind in ("cart_updated", "cart_viewed"):
            event["properties"] = {"cart_id": f"cart{c}", "cart_total": rng.randrange(5, 300)}
        elif kind == "purchase":
            event["properties"] = {"order_id": f"o{n}", "total": rng.randrange(5, 500)}
        elif kind == "page_viewed":
            event["properties"] = {"page": rng.choice(["home", "pricing", "product"])}
        lines.append(orjson.dumps(event))
    lines.sort(key=lambda line: orjson.loads(line)["timestamp"])
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--workspace", type=Path, default=ROOT)
    args = parser.parse_args()
    workspace = load_workspace(args.workspace).workspace
    lines = workload(args.customers, args.events)

    t0 = time.perf_counter()
    events = [parse_event(orjson.loads(line)) for line in lines]
    parse_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    result = simulate(workspace, events)
    engine_s = time.perf_counter() - t0
    sends = sum(1 for r in result.records if r["type"] == "send")

    total = parse_s + engine_s
    print(f"workload: {args.events:,} events, {args.customers:,} customers, {len(workspace.journeys)} journeys")
    print(f"outcome records: {len(result.records):,} ({sends:,} sends)")
    print(f"baseline (parse only):  {args.events / parse_s:>12,.0f} events/s")
    print(f"simulate (parse+engine):{args.events / total:>12,.0f} events/s")
    print(f"engine alone:           {args.events / engine_s:>12,.0f} events/s")
    print(f"ratio simulate/baseline: {parse_s / total:.3f}")


if __name__ == "__main__":
    main()

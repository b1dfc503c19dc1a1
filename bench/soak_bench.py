"""Soak: a burst whose backlog outlasts the journey's waits, checked against `simulate`.

    .venv/bin/python bench/soak_bench.py --customers 25000 --rate 4000

The reproduction of issue #11.1 at full size: every customer sends `cart_updated`, then
`purchase` 1.5 s later; the cart journey waits 2 s and exits on a purchase, so a buyer must get
the thanks and never the reminder. The events are posted as fast as `--rate` allows, so the
engine falls behind by more than the waits. Afterwards the event log is exported from the
database with each event's `received_at`, replayed through `nudge simulate`, and the outbox is
compared with simulate's sends message by message. Reports the largest lag seen, the
throughput, and every difference (there must be none).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest_bench import KEY, start  # noqa: E402
from engine.runtimes.jsonl import read_events  # noqa: E402
from engine.runtimes.simulate import simulate  # noqa: E402
from engine.testing import email, write_workspace  # noqa: E402
from rules.workspace import load_workspace  # noqa: E402

CART = """\
id: cart
trigger: {event: cart_updated}
reentry: restart
exit_on:
  - {event: purchase}
steps:
  - wait: 2s
  - {id: reminder, send: email, template: reminder}
"""
THANKS = """\
id: thanks
trigger: {event: purchase}
reentry: after_exit
steps:
  - {id: thanks, send: email, template: thanks}
"""
TEMPLATES = {"reminder.email.html": email("You left something behind"),
             "thanks.email.html": email("Thanks for your order")}
FIELDS = ("customer_id", "journey", "step", "template", "to", "subject")


def script(customers: int, rate: int) -> list[tuple[float, dict[str, object]]]:
    """(seconds from start, event): carts spread over the burst, each purchase 1.5 s after its cart."""
    spread = customers / (rate / 2)  # half the events are carts
    out: list[tuple[float, dict[str, object]]] = []
    for n in range(customers):
        cid, at = f"s{n}", n / customers * spread
        out.append((at, {"id": f"cart_{cid}", "type": "cart_updated", "customer_id": cid,
                         "properties": {"cart_total": 20}, "traits": {"email": f"{cid}@example.com"}}))
        out.append((at + 1.5, {"id": f"buy_{cid}", "type": "purchase", "customer_id": cid,
                               "properties": {"total": 20}}))
    return sorted(out, key=lambda p: p[0])


async def burst(url: str, plan: list[tuple[float, dict[str, object]]], rate: int) -> float:
    """Post in batches of 100 when each event's moment has come, capped at `rate` events a second."""
    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as client:
        tasks = []
        for i in range(0, len(plan), 100):
            chunk = plan[i:i + 100]
            due = max(chunk[-1][0], i / rate)
            await asyncio.sleep(max(0.0, t0 + due - time.perf_counter()))
            tasks.append(asyncio.create_task(client.post("/v1/events", content=orjson.dumps([e for _, e in chunk]))))
        for r in await asyncio.gather(*tasks):
            assert r.status_code == 202, r.text
    return time.perf_counter() - t0


def watch_lag(url: str) -> float:
    """Poll /healthz until nothing is left to do; the largest age of the oldest pending event."""
    worst = 0.0
    while True:
        health = httpx.get(url + "/healthz", timeout=10).json()
        oldest = health.get("oldest_pending_received_at")
        if oldest:
            worst = max(worst, time.time() - oldest)
        if health["events_pending"] == 0 and health["timers_pending"] == 0 and not health["messages"].get("pending"):
            return worst
        time.sleep(0.05)


def export(db: Path, out: Path) -> None:
    """The event log as `simulate` reads it: every accepted event with its received_at."""
    with sqlite3.connect(db) as conn, out.open("wb") as handle:
        for body, received in conn.execute("SELECT body, received_at FROM events ORDER BY seq"):
            line = orjson.loads(body)
            line["received_at"] = line.get("received_at") or datetime.fromtimestamp(received, timezone.utc).isoformat()
            handle.write(orjson.dumps({k: v for k, v in line.items() if v is not None and k != "anonymous_id"}) + b"\n")


def in_time(log: Path) -> set[str]:
    """Customers whose purchase was accepted (received_at) at or before their cart's reminder was due."""
    received: dict[tuple[str, str], datetime] = {}
    for raw in log.read_bytes().splitlines():
        line = orjson.loads(raw)
        received[(line["customer_id"], line["type"])] = datetime.fromisoformat(line["received_at"])
    return {c for (c, kind), at in received.items()
            if kind == "purchase" and (c, "cart_updated") in received
            and (at - received[(c, "cart_updated")]).total_seconds() <= 2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=25_000)
    parser.add_argument("--rate", type=int, default=4000)
    parser.add_argument("--port", type=int, default=18081)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nudge-soak-") as tmp:
        work = Path(tmp)
        workspace = write_workspace(work / "ws", "timezone: UTC\nsender:\n  email: \"Shop <s@shop.example>\"\n"
                                                 "  postal_address: \"1 Main St\"\n",
                                    {"01_cart": CART, "02_thanks": THANKS}, TEMPLATES)
        proc = start(workspace, work / "nudge.db", args.port)
        url = f"http://127.0.0.1:{args.port}"
        try:
            posted = asyncio.run(burst(url, script(args.customers, args.rate), args.rate))
            t_drain = time.perf_counter()
            lag = watch_lag(url)
            drained = time.perf_counter() - t_drain
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        export(work / "nudge.db", work / "events.jsonl")
        expected = simulate(load_workspace(workspace).workspace, read_events(work / "events.jsonl")).records
        outbox = [orjson.loads(line) for line in (workspace / "outbox" / "messages.jsonl").read_bytes().splitlines()]
        bought_in_time = in_time(work / "events.jsonl")
    want = Counter(tuple(r.get(f) for f in FIELDS) for r in expected if r["type"] == "send" and r["status"] == "sent")
    got = Counter(tuple(m.get(f) for f in FIELDS) for m in outbox)
    overtaken = sum(1 for key in got if key[2] == "reminder" and key[0] in bought_in_time)
    print(f"{2 * args.customers:,} events posted in {posted:.1f} s; backlog drained {drained:.1f} s later; "
          f"largest lag {lag:.2f} s (the journey waits 2 s)")
    print(f"outbox {sum(got.values()):,} messages, simulate {sum(want.values()):,}; "
          f"{len(bought_in_time):,} purchases accepted before the reminder was due, {overtaken} of them reminded anyway")
    missing, extra = want - got, got - want
    print(f"differences: {sum(missing.values())} missing, {sum(extra.values())} extra")
    for key, n in list((missing + extra).items())[:10]:
        print("  ", n, key)
    if missing or extra or overtaken:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

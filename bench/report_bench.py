"""Building a report over 1,000,000 sent messages, beside a baseline that only reads the same logs.

    .venv/bin/python bench/report_bench.py --messages 1000000

Not a test. The logs are JSONL files as `nudge simulate` writes them (records) plus provider
feedback and purchases (events); both runs read them with the same reader.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections import deque
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

from engine.reports import ReportInput, build_report
from engine.reports.catalog import Catalog
from engine.reports.page import render_html
from engine.runtimes.report_sources import from_files

JOURNEYS = {"welcome": ("w1", "w2", "w3"), "abandoned_cart": ("reminder", "last_call"), "winback": ("w1", "w2"),
            "review_request": ("ask",)}


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_logs(folder: Path, messages: int, seed: int = 11) -> tuple[Path, Path, int, int]:
    """Entries of about 2 messages each over 30 days; 40% delivered, 25% opened, 4% clicked, 3% converted."""
    rng = random.Random(seed)
    start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    customers = messages // 5
    records, events = folder / "records.jsonl", folder / "events.jsonl"
    n_records = n_events = sent = 0
    with records.open("wb") as rec, events.open("wb") as ev:
        while sent < messages:
            journey = rng.choice(list(JOURNEYS))
            customer = f"c{rng.randrange(customers)}"
            at = start + timedelta(seconds=rng.randrange(30 * 86400))
            rows: list[dict[str, Any]] = [{"at": stamp(at), "customer_id": customer, "journey": journey,
                                           "type": "entered"}]
            variant = rng.choice(("A", "B")) if journey == "review_request" else None
            for step in JOURNEYS[journey]:
                mid = f"m{sent}"
                status = "sent" if rng.random() < 0.93 else "suppressed"
                rows.append({"at": stamp(at), "customer_id": customer, "journey": journey, "type": "send", "step": step,
                             "channel": "email", "template": step, "to": f"{customer}@example.com", "status": status,
                             "reason": None if status == "sent" else "frequency_cap", "subject": "Hello",
                             "text": "A short plain-text part of a marketing email.", "variant": variant,
                             "transactional": False, "message_id": mid})
                sent += 1
                later = at + timedelta(minutes=rng.randrange(1, 600))
                if status == "sent":
                    for kind, p in (("email_delivered", 0.40), ("email_opened", 0.25), ("email_clicked", 0.04)):
                        if rng.random() < p:
                            ev.write(orjson.dumps({"id": f"{kind}{mid}", "type": kind, "customer_id": customer,
                                                   "timestamp": stamp(later), "properties": {"message_id": mid}}) + b"\n")
                            n_events += 1
                at += timedelta(days=1)
            if rng.random() < 0.06:
                total = round(rng.uniform(10, 300), 2)
                rows.append({"at": stamp(at), "customer_id": customer, "journey": journey, "type": "converted", "value": total})
                ev.write(orjson.dumps({"id": f"o{n_records}", "type": "purchase", "customer_id": customer,
                                       "timestamp": stamp(at), "properties": {"total": total}}) + b"\n")
                n_events += 1
            rec.write(b"".join(orjson.dumps(r) + b"\n" for r in rows))
            n_records += len(rows)
    return records, events, n_records, n_events


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        records, events, n_records, n_events = write_logs(Path(tmp), args.messages)
        print(f"generated {n_records:,} records and {n_events:,} events in {time.perf_counter() - t:.1f} s "
              f"({records.stat().st_size / 1e6:.0f} MB + {events.stat().st_size / 1e6:.0f} MB)")

        t = time.perf_counter()
        logs = from_files(records, events)
        deque(logs.records, maxlen=0)
        deque(logs.events, maxlen=0)
        baseline = time.perf_counter() - t
        print(f"baseline: read and parse only   {baseline:6.2f} s  1.00")

        t = time.perf_counter()
        logs = from_files(records, events)
        report = build_report(ReportInput(logs.records, logs.events, catalog=Catalog(), source="bench"))
        built = time.perf_counter() - t
        print(f"report: read, parse and compute {built:6.2f} s  {built / baseline:.2f}")

        t = time.perf_counter()
        html = render_html(report)
        rendered = time.perf_counter() - t
        print(f"HTML rendering                  {rendered:6.2f} s  ({len(html) / 1e3:.0f} kB)")
        print(f"sent {report['totals']['sent']:,}, goal conversions {report['totals']['conversions']:,}, "
              f"purchasing customers {report['customers']['customers']:,}")


if __name__ == "__main__":
    main()

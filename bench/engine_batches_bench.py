"""Embedded runtime: the engine process's work alone, `Processor.run_batch` on events already committed.

    .venv/bin/python bench/engine_batches_bench.py --events 50000 [--signups 10] [--runs 3]

The events of `bench/ingest_bench.py`'s sustained phase (a page view per new customer, traits email and
first_name), stored as ingest stores them in a fresh database, then processed in batches as `nudge run`'s
engine process does (the cyclic collector paused in each batch, as in engine_child.py; `--collector-on` for
the code from before that), in one process: no
HTTP, no server beside it, so the figure moves little with the machine's load. `--signups N` makes one
event in N a sign-up (a welcome email rendered and queued), `--customers N` has the events come from N customers
(known ones after the first N). Prints the CPU time per event and a digest of
what the batches wrote (records, outbox, customers, events' status, timers): two versions of the code,
run one after the other on the same events, must print the same digest.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import statistics
import tempfile
import time
from pathlib import Path

from engine.events import Event
from engine.links import SignedLinks
from engine.runtimes.embedded import database
from engine.runtimes.embedded.ingest import INSERT, stored
from engine.runtimes.embedded.processor import Processor
from engine.runtimes.kernel.codecs import from_epoch
from rules.workspace import load_workspace

ROOT = Path(__file__).resolve().parents[1]
START = 1_780_000_000.0  # epoch seconds: the events' journey time, whatever the wall clock says
WRITTEN = ("SELECT at, customer, journey, type, body FROM records ORDER BY seq",
           "SELECT id, channel, customer, journey, step, payload, origin, status FROM outbox ORDER BY seq",
           "SELECT key, customer_id, state, active, email, phone FROM customers ORDER BY key",
           "SELECT seq, status FROM events ORDER BY seq",
           "SELECT id, due, key, kind, journey, token FROM timers ORDER BY id")


def rows(total: int, signups: int, customers: int) -> list[tuple[str | None, str, float, str, bytes]]:
    """The events table's rows, as ingest writes them (received 10 µs apart)."""
    out: list[tuple[str | None, str, float, str, bytes]] = []
    for n in range(total):
        customer, received = f"b{n % customers}", START + n * 1e-5
        kind = "signed_up" if signups and n % signups == 0 else "page_viewed"
        event = Event(type=kind, timestamp=from_epoch(received - 1), id=f"bench-{n}", customer_id=customer,
                      properties={"page": "home"}, traits={"email": f"{customer}@example.com", "first_name": "B"})
        out.append((event.id, customer, received, event.timestamp.isoformat(), stored(event, from_epoch(received))))
    return out


def run(events: list[tuple[str | None, str, float, str, bytes]], folder: Path, pause: bool) -> tuple[float, str]:
    """CPU seconds per event of the batches that process `events`, and the digest of what they wrote."""
    db = folder / "nudge.db"
    database.create(db)
    conn = database.connect(db)
    with database.transaction(conn):
        conn.executemany(INSERT, events)
    processor = Processor(conn, load_workspace(ROOT).workspace, SignedLinks(b"bench" * 8, "http://127.0.0.1"),
                          lambda: START + 60)
    gc.collect()
    started, done = time.process_time(), 0
    while True:
        if pause:
            gc.disable()  # as engine_child.py's collector_paused (written out: the bench also runs older code)
        try:
            result = processor.run_batch()
        finally:
            gc.enable()
        done += result.events
        if not result.work:
            break
    used = (time.process_time() - started) / done
    digest = hashlib.sha256()
    for query in WRITTEN:
        for row in conn.execute(query):
            digest.update(repr(row).encode())
    conn.close()
    return used, digest.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--signups", type=int, default=0, help="one event in N a sign-up (0: none)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--customers", type=int, default=0, help="customers the events come from (0: one each)")
    parser.add_argument("--collector-on", action="store_true",
                        help="the collector on during batches (the engine process before it paused it)")
    args = parser.parse_args()
    events = rows(args.events, args.signups, args.customers or args.events)
    used, digests = [], set()
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="nudge-engine-bench-") as tmp:
            cpu, digest = run(events, Path(tmp), pause=not args.collector_on)
        used.append(cpu * 1e6)
        digests.add(digest)
    print(f"engine batches, {args.events:,} events ({'one in %d a sign-up' % args.signups if args.signups else 'page views'}): "
          f"CPU per event min {min(used):.1f} us, median {statistics.median(used):.1f} us "
          f"({', '.join(f'{u:.1f}' for u in used)})")
    print(f"digest of what they wrote: {', '.join(sorted(digests))}")


if __name__ == "__main__":
    main()

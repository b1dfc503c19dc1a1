"""Starting a broadcast to 1,000,000 profiles, beside a baseline that renders its template 1,000,000 times.

    .venv/bin/python bench/broadcast_bench.py --profiles 1000000

Not a test. The profiles sit in a `nudge run` database (customers table, as the engine keeps
them; writing it is not timed): past buyers (the demo broadcast's audience) in 8 time zones, a
third with opens for best time. Timed: the start the engine loop makes (every customer's entry
timer, chosen, timed, paced and committed a chunk at a time by the engine loop's batches, which
pause between chunks only for writers waiting for the database: none here; the longest chunk is
what an event waits at most; the peak memory is the start's),
then the plan an operator reads first (`nudge broadcast plan`: audience, sends by hour, suppressed
by reason; the same after the start, as nobody has entered yet). The
baseline renders the demo broadcast's email (templates/spring_sale.email.html) as many times
in one process, so the ratio says what selecting and planning cost next to producing the
messages at all.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from engine import state_codec
from engine.runtimes.embedded import broadcasts, database
from engine.runtimes.embedded.database import transaction
from engine.runtimes.embedded.processor import Processor
from engine.links import SignedLinks
from engine.runtimes.embedded.sqlite_store import CUSTOMER_UPSERT, customer_row
from engine.state import ActivityMap, CustomerState
from rules.workspace import load_workspace

ROOT = Path(__file__).resolve().parents[1]
ZONES = ("America/Los_Angeles", "America/Chicago", "America/New_York", "Europe/London", "Europe/Paris",
         "Europe/Berlin", "Asia/Kolkata", "Australia/Sydney")
CHUNK = 50_000


def fill(db: Path, profiles: int, seed: int = 13) -> None:
    rng = random.Random(seed)
    seen = datetime(2026, 3, 1, tzinfo=timezone.utc)
    conn = database.connect(db)
    for start in range(0, profiles, CHUNK):
        rows = []
        for n in range(start, min(profiles, start + CHUNK)):
            state = CustomerState.for_key(f"c{n}")
            state.traits = {"email": f"c{n}@example.com", "first_name": "Ann", "timezone": rng.choice(ZONES)}
            if rng.random() < 0.05:
                state.traits["email_subscribed"] = False
            state.activity = ActivityMap({"purchase": {"count": 1, "first_at": seen, "last_at": seen}})  # past buyers
            if rng.random() < 0.33:
                hours = [0] * 24
                hours[rng.randrange(24)] = rng.randrange(1, 5)
                state.activity["email_opened"] = {"count": sum(hours), "first_at": seen, "last_at": seen, "hours": hours}
            rows.append(customer_row(state))
        with transaction(conn):
            conn.executemany(CUSTOMER_UPSERT, rows)


def baseline(workspace_root: Path, profiles: int) -> tuple[float, float]:
    """Render the broadcast's email `profiles` times with a profile's context: (seconds, seconds of CPU)."""
    ws = load_workspace(workspace_root).workspace
    now = datetime(2026, 3, 24, 9, tzinfo=timezone.utc)
    context = {"profile": {"email": "a@example.com", "first_name": "Ann"}, "activity": ActivityMap(), "event": {},
               "trigger_event": {}, "journey": {"id": "spring_sale", "name": "Spring sale", "entered_at": now,
                                                "variant": {}},
               "now": now, "settings": ws.settings.raw, "unsubscribe_url": "https://x.example/u/t"}
    began, cpu = time.perf_counter(), time.process_time()
    for _ in range(profiles):
        ws.renderer.render("spring_sale", "email", None, context)
    return time.perf_counter() - began, time.process_time() - cpu


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=1_000_000)
    args = parser.parse_args()
    ws = load_workspace(ROOT).workspace
    with tempfile.TemporaryDirectory(prefix="nudge-broadcast-bench-") as folder:
        db = Path(folder) / "nudge.db"
        database.create(db)
        began = time.perf_counter()
        fill(db, args.profiles)
        print(f"{args.profiles:,} profiles written in {time.perf_counter() - began:.1f} s (not timed)")
        # the demo's send_at is past: the start and the plan are at the same moment, now
        wall = datetime(2026, 3, 23, 20, tzinfo=timezone.utc).timestamp()

        processor = Processor(database.connect(db), ws, SignedLinks(b"bench", "http://x"), lambda: wall)
        processor.schedule_broadcast("spring_sale")
        began, cpu = time.perf_counter(), time.process_time()
        chunks, longest = 0, 0.0
        while processor.conn.execute("SELECT status FROM broadcasts").fetchone()[0] in ("scheduled", "starting"):
            chunk_began = time.perf_counter()
            processor.run_batch()  # the engine loop's batch: a chunk, a pause only for writers waiting, its inputs
            longest = max(longest, time.perf_counter() - chunk_began)
            chunks += 1
        started_in, start_cpu = time.perf_counter() - began, time.process_time() - cpu
        timers = database.connect(db).execute("SELECT COUNT(*) FROM timers WHERE kind = 'broadcast'").fetchone()[0]
        print(f"start: {timers:,} entry timers committed in {started_in:.1f} s ({start_cpu:.1f} s of CPU), {chunks:,} chunks of "
              f"{processor.broadcast_chunk:,} customers, the longest {longest * 1000:.0f} ms (what an event waits at most); "
              f"paused {processor.turns.given_way} times for writers waiting (none here: an idle server never pauses)")
        print(f"peak resident memory after the start: {peak_mb():.0f} MB")

        # the plan (read-only) after the start: the same, as nobody has entered yet; it holds its audience in memory
        began, cpu = time.perf_counter(), time.process_time()
        plan = broadcasts.forecast(database.connect(db), ws, "spring_sale", wall)
        planned_in, plan_cpu = time.perf_counter() - began, time.process_time() - cpu
        print(f"plan: audience {plan['audience']:,}, will send {plan['will_send']:,}, suppressed {plan['suppressed']} "
              f"in {planned_in:.1f} s ({plan_cpu:.1f} s of CPU)")
        print(f"peak resident memory after the plan: {peak_mb():.0f} MB")

    rendered_in, render_cpu = baseline(ROOT, args.profiles)
    print(f"baseline: {args.profiles:,} renders of spring_sale.email.html in {rendered_in:.1f} s ({render_cpu:.1f} s of CPU)")
    print(f"ratio (plan + start) / baseline: {(planned_in + started_in) / rendered_in:.3f} "
          f"(of CPU time, steadier on a shared machine: {(plan_cpu + start_cpu) / render_cpu:.3f})")


if __name__ == "__main__":
    main()

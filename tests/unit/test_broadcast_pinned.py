"""A broadcast's plan on a generated population, pinned: making the planning faster must not change a single
entry (who, when, which zone), a diagnostic, or a figure of `nudge broadcast plan`.

The population mixes what the planning looks at: zones (real, unknown, not text, none), consent, past buyers,
opens and clicks by hour (best time), customers who already had the broadcast, anonymous profiles, recent
sends (frequency caps), quiet hours, a holdout group and an audience that fails for some. The pinned digests
were taken from the planning before it was made faster (commit d6baccb).
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

from engine import broadcasts as planning
from engine.effects import Diagnostic, Schedule
from engine.links import SignedLinks
from engine.model import Journey, Workspace
from engine.runtimes.embedded import broadcasts, database
from engine.runtimes.embedded.database import transaction
from engine.runtimes.embedded.processor import Processor
from engine.runtimes.embedded.sqlite_store import CUSTOMER_UPSERT, customer_row
from engine.state import ActivityMap, CustomerState, JourneyHistory
from rules.workspace import load_workspace
from tests.unit.test_broadcasts import workspace

ROOT = Path(__file__).resolve().parents[2]
UTC = timezone.utc
NOW = datetime(2026, 3, 23, 20, tzinfo=UTC)
ZONES = ("America/Los_Angeles", "America/New_York", "Europe/London", "Europe/Paris", "Asia/Kolkata",
         "Australia/Sydney", "Pacific/Kiritimati", "Mars/Olympus", 7, None)
CONTROLLED = """\
id: timed_sale
audience: "profile.email is defined and (profile.age is not defined or profile.age > 20)"
send_at: {local: "2026-03-24T09:00", best_time: 9h}
throttle: 700/h
steps:
  - split:
      name: timing
      variants:
        - name: best_time
          weight: 3
          steps:
            - {id: announce, send: email, template: sale}
        - {name: send_at, weight: 1}
  - id: announce_control
    send: email
    template: sale
"""


def population(size: int, seed: int = 7) -> list[CustomerState]:
    rng = random.Random(seed)
    seen = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
    people = []
    for n in range(size):
        state = CustomerState.for_key(f"anon:v{n}" if rng.random() < 0.03 else f"c{n:05}")
        zone = rng.choice(ZONES)
        state.traits = {"first_name": "Ann"} | ({"timezone": zone} if zone is not None else {})
        if rng.random() < 0.95:
            state.traits["email"] = f"c{n}@example.com"
        if rng.random() < 0.05:
            state.traits["email_subscribed"] = False
        if rng.random() < 0.1:
            state.traits["age"] = rng.choice([18, 40, "old"])  # "old" > 20 fails: a diagnostic, not in the audience
        state.activity = ActivityMap()
        if rng.random() < 0.8:
            state.activity["purchase"] = {"count": rng.randrange(1, 4), "first_at": seen, "last_at": seen}
        for kind in ("email_opened", "email_clicked"):
            if rng.random() < 0.3:
                hours = [0] * 24
                for _ in range(rng.randrange(1, 4)):
                    hours[rng.randrange(24)] += rng.randrange(1, 3)
                state.activity[kind] = {"count": sum(hours), "first_at": seen, "last_at": seen, "hours": hours}
        if rng.random() < 0.05:
            state.history[rng.choice(["spring_sale", "timed_sale"])] = JourneyHistory(1, seen)
        state.sent = [("email", NOW - timedelta(days=rng.randrange(0, 6))) for _ in range(rng.choice([0, 0, 1, 3]))]
        people.append(state)
    return people


def broadcast(ws: Workspace, broadcast_id: str) -> Journey:
    return next(j for j in ws.broadcasts if j.id == broadcast_id)


def digest(rows: list[Any]) -> str:
    return hashlib.sha256(orjson.dumps(rows, option=orjson.OPT_NON_STR_KEYS)).hexdigest()[:16]


def planned(ws: Workspace, broadcast_id: str, people: list[CustomerState]) -> tuple[int, int, str]:
    """Entries and diagnostics, planned in chunks with the throttle carried across them as the runtime does."""
    journey = broadcast(ws, broadcast_id)
    per_hour = planning.schedule_of(journey).per_hour
    pacer = planning.Pacer(NOW, per_hour) if per_hour else None
    rows: list[Any] = []
    for first in range(0, len(people), 500):
        for effect in planning.plan(journey, people[first:first + 500], ws.settings, NOW, pacer):
            if isinstance(effect, Schedule):
                timer = effect.timer
                rows.append([timer.id, timer.due.isoformat(), timer.key, timer.kind, timer.journey, timer.token])
            elif isinstance(effect, Diagnostic):
                rows.append([effect.customer_id, effect.journey, effect.step, effect.message, effect.at.isoformat()])
    timers = sum(1 for row in rows if len(row) == 6)
    return timers, len(rows) - timers, digest(rows)


def forecast(ws: Workspace, broadcast_id: str, people: list[CustomerState]) -> dict[str, Any]:
    listed = {"c7@example.com": "bounced", "c11@example.com": "complained"}
    return planning.forecast(broadcast(ws, broadcast_id), people, ws.settings, NOW, listed.get).as_dict()


def test_the_demo_broadcast_plans_a_generated_population_as_pinned() -> None:
    ws = load_workspace(ROOT).workspace
    people = population(6000)
    assert planned(ws, "spring_sale", people) == (4317, 0, "d79299eaf4564422")
    found = forecast(ws, "spring_sale", people)
    assert (found["audience"], found["will_send"], found["suppressed"]) == (
        4317, 3091, {"bounced": 1, "complained": 1, "frequency_cap": 994, "unsubscribed": 230})
    assert digest([found]) == "23791a52c9b67805"


def test_a_broadcast_with_a_holdout_and_a_failing_audience_plans_as_pinned(tmp_path: Path) -> None:
    ws = load_workspace(workspace(tmp_path, {"timed": CONTROLLED}, settings="""\
        quiet_hours: {start: "21:00", end: "08:00"}
        frequency_caps: {email: {max: 2, per: 7d}}
        """)).workspace
    people = population(6000, seed=11)
    assert planned(ws, "timed_sale", people) == (5041, 195, "d162a3e5c92ee621")
    found = forecast(ws, "timed_sale", people)
    assert (found["audience"], found["will_send"], found["suppressed"]) == (
        5041, 3624, {"bounced": 1, "complained": 1, "frequency_cap": 1176, "unsubscribed": 239})
    assert digest([found]) == "43e116808a3a1d82"


def test_the_embedded_start_writes_the_pinned_entry_timers(tmp_path: Path) -> None:
    ws = load_workspace(ROOT).workspace
    db = tmp_path / "nudge.db"
    database.create(db)
    conn = database.connect(db)
    with transaction(conn):
        conn.executemany(CUSTOMER_UPSERT, [customer_row(state) for state in population(3000, seed=5)])
    processor = Processor(database.connect(db), ws, SignedLinks(b"k", "http://x"), lambda: NOW.timestamp(),
                          broadcast_chunk=700)
    processor.schedule_broadcast("spring_sale")
    while conn.execute("SELECT status FROM broadcasts").fetchone()[0] != "sending":
        processor.run_batch()
    rows = conn.execute("SELECT id, due, key, kind, journey, token FROM timers ORDER BY id").fetchall()
    assert (len(rows), digest([list(row) for row in rows])) == (2119, "371047b327d3f701")
    assert broadcasts.status(conn, "spring_sale")["planned"] == len(rows)

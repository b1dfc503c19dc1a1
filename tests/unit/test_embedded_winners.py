"""`nudge run` decides winners (SPEC §11) from its own database: exposures, records and provider events;
the decision timer is a row of the timers table, so it survives a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from engine.links import SignedLinks
from engine.runtimes.embedded import database
from engine.runtimes.embedded.processor import Processor
from engine.testing import email, write_workspace
from rules.workspace import load_workspace
from tests.unit.test_embedded_runtime import T0, Clock, ingest, signup

OFFER = """\
id: promo
trigger: {event: signed_up}
steps:
  - id: offer
    send: email
    template: offer
    variants:
      - {name: A, weight: 1}
      - {name: B, weight: 1, template: offer_b}
    winner: {metric: clicked, after: 1d, min_per_variant: 20, confidence: 0.95}
"""
DAY = 86400.0


def processor(root: Path, db: Path, clock: Clock) -> Processor:
    return Processor(database.connect(db), load_workspace(root).workspace, SignedLinks(b"k", "http://x"), clock)


def run(p: Processor) -> None:
    while p.run_batch().work:
        pass


def bodies(db: Path, kind: str) -> list[dict[str, Any]]:
    conn = database.connect(db)
    return [orjson.loads(b) for (b,) in conn.execute("SELECT body FROM records WHERE type = ? ORDER BY seq", (kind,))]


def test_a_winner_is_decided_from_the_database_after_a_restart_and_applied_to_new_sends(tmp_path: Path) -> None:
    root = write_workspace(tmp_path / "ws", journeys={"promo": OFFER},
                           templates={"offer.email.html": email("A"), "offer_b.email.html": email("B")})
    db = tmp_path / "nudge.db"
    database.create(db)
    clock = Clock(T0)
    world = {"db": db, "clock": clock}
    ingest(world, *(signup(f"c{n}", T0) for n in range(80)))
    run(processor(root, db, clock))
    sends = bodies(db, "send")
    assert len(sends) == 80 and {s["variant"] for s in sends} == {"offer:A", "offer:B"}
    conn = database.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM exposures").fetchone() == (80,)
    assert conn.execute("SELECT due FROM timers WHERE kind = 'winner'").fetchall() == [(T0 + DAY,)]

    clock.now = T0 + 3600   # B's recipients click nine times in ten, A's one in ten
    clicks = [{"type": "email_clicked", "customer_id": s["customer_id"], "timestamp": s["at"],
               "properties": {"message_id": s["message_id"]}}
              for n, s in enumerate(sends) if n % 10 < (9 if s["variant"] == "offer:B" else 1)]
    ingest(world, *clicks)
    run(processor(root, db, clock))
    assert bodies(db, "winner") == []

    clock.now = T0 + DAY + 60            # a new process: the check waited in the timers table
    run(processor(root, db, clock))
    assert bodies(db, "winner") == [{"at": "2026-03-03T12:00:00Z", "journey": "promo", "type": "winner",
                                     "step": "offer", "variant": "B", "metric": "clicked", "reason": "significant"}]
    assert conn.execute("SELECT winner, reason FROM experiments").fetchall() == [("B", "significant")]
    assert conn.execute("SELECT COUNT(*) FROM timers WHERE kind = 'winner'").fetchone() == (0,)

    ingest(world, *(signup(f"late{n}", clock.now) for n in range(10)))
    run(processor(root, db, clock))
    later = [s for s in bodies(db, "send") if s["customer_id"].startswith("late")]
    assert [(s["variant"], s["template"], s["winner"]) for s in later] == [("offer:B", "offer_b", True)] * 10
    assert conn.execute("SELECT COUNT(*) FROM exposures").fetchone() == (80,)


def test_an_undecided_check_comes_back_a_day_later(tmp_path: Path) -> None:
    root = write_workspace(tmp_path / "ws", journeys={"promo": OFFER},
                           templates={"offer.email.html": email("A"), "offer_b.email.html": email("B")})
    db = tmp_path / "nudge.db"
    database.create(db)
    clock = Clock(T0)
    ingest({"db": db, "clock": clock}, *(signup(f"c{n}", T0) for n in range(10)))   # below min_per_variant
    run(processor(root, db, clock))
    clock.now = T0 + DAY
    run(processor(root, db, clock))
    conn = database.connect(db)
    assert bodies(db, "winner") == []
    assert conn.execute("SELECT due FROM timers WHERE kind = 'winner'").fetchall() == [(T0 + 2 * DAY,)]


def test_erasing_a_customer_removes_them_from_the_experiments(tmp_path: Path) -> None:
    from engine.runtimes.embedded import queries

    root = write_workspace(tmp_path / "ws", journeys={"promo": OFFER},
                           templates={"offer.email.html": email("A"), "offer_b.email.html": email("B")})
    db = tmp_path / "nudge.db"
    database.create(db)
    clock = Clock(T0)
    ingest({"db": db, "clock": clock}, *(signup(f"c{n}", T0) for n in range(3)))
    run(processor(root, db, clock))
    conn = database.connect(db)
    assert queries.erase(conn, "c1")
    assert sorted(c for (c,) in conn.execute("SELECT customer FROM exposures")) == ["c0", "c2"]

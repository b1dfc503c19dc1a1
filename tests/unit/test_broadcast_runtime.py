"""Broadcasts in the embedded runtime, on a real SQLite file with a manual wall clock: scheduled only
when an operator sends one, started at the first wave, reached in waves, cancelled mid-way."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.links import SignedLinks
from engine.runtimes.embedded import broadcasts, database
from engine.runtimes.embedded.processor import Processor
from rules.workspace import load_workspace
from tests.unit.test_broadcasts import LOCAL_9AM, workspace
from tests.unit.test_embedded_runtime import Clock, ingest

T0 = datetime(2026, 3, 9, 12, 0, tzinfo=timezone.utc).timestamp()  # the day before the sale
ZONES = {"tokyo": "Asia/Tokyo", "paris": "Europe/Paris", "nyc": "America/New_York"}


def at(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    root = workspace(tmp_path, {"spring": LOCAL_9AM + "  - wait: 1d\n  - id: later\n    send: email\n    template: sale\n"})
    db = tmp_path / "nudge.db"
    database.create(db)
    clock = Clock(T0)
    ws = load_workspace(root).workspace
    world = {"db": db, "clock": clock, "workspace": ws, "conn": database.connect(db),
             "processor": Processor(database.connect(db), ws, SignedLinks(b"k", "http://x"), clock)}
    ingest(world, *({"type": "signed_up", "customer_id": c, "timestamp": "2026-03-09T11:00:00Z",
                     "traits": {"email": f"{c}@x.example", "timezone": z}} for c, z in ZONES.items()))
    run_until(world, T0)
    return world


def run_until(world: dict[str, Any], moment: float) -> None:
    world["clock"].now = moment
    while world["processor"].run_batch().work:
        pass


def sent(world: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = world["conn"].execute("SELECT customer, step, payload FROM outbox WHERE journey = 'spring_sale' ORDER BY seq")
    return [(customer, step, orjson.loads(payload)["at"]) for customer, step, payload in rows]


def test_a_broadcast_in_the_workspace_sends_nothing_until_an_operator_sends_it(world: dict[str, Any]) -> None:
    run_until(world, at("2026-03-11T00:00:00Z"))
    assert sent(world) == []


def test_a_sent_broadcast_starts_at_its_first_wave_and_reaches_each_zone_at_nine(world: dict[str, Any]) -> None:
    broadcasts.schedule(world["conn"], world["workspace"], "spring_sale", T0)
    assert world["processor"].next_due() == at("2026-03-09T19:00:00Z")  # 09:00 at UTC+14
    run_until(world, at("2026-03-10T08:30:00Z"))
    view = broadcasts.status(world["conn"], "spring_sale")
    assert (view["status"], view["planned"], view["entered"], view["sent"]) == ("sending", 3, 2, 2)
    assert view["waiting_by_zone"] == {"America/New_York": 1}
    run_until(world, at("2026-03-12T00:00:00Z"))
    assert sent(world) == [("tokyo", "announce", "2026-03-10T00:00:00Z"), ("paris", "announce", "2026-03-10T08:00:00Z"),
                           ("nyc", "announce", "2026-03-10T13:00:00Z"), ("tokyo", "later", "2026-03-11T00:00:00Z"),
                           ("paris", "later", "2026-03-11T08:00:00Z"), ("nyc", "later", "2026-03-11T13:00:00Z")]
    assert broadcasts.status(world["conn"], "spring_sale")["status"] == "sent"


def test_a_broadcast_is_sent_once(world: dict[str, Any]) -> None:
    broadcasts.schedule(world["conn"], world["workspace"], "spring_sale", T0)
    with pytest.raises(broadcasts.BroadcastError, match="already scheduled"):
        broadcasts.schedule(world["conn"], world["workspace"], "spring_sale", T0)
    with pytest.raises(broadcasts.BroadcastError, match="no broadcast 'autumn'"):
        broadcasts.schedule(world["conn"], world["workspace"], "autumn", T0)


def test_a_disabled_broadcast_cannot_be_sent(tmp_path: Path) -> None:
    root = workspace(tmp_path, {"spring": LOCAL_9AM + "enabled: false\n"})
    db = tmp_path / "n.db"
    database.create(db)
    with pytest.raises(broadcasts.BroadcastError, match="enabled: false"):
        broadcasts.schedule(database.connect(db), load_workspace(root).workspace, "spring_sale", T0)


def test_send_now_reaches_everyone_from_now_whatever_send_at_says(world: dict[str, Any]) -> None:
    broadcasts.schedule(world["conn"], world["workspace"], "spring_sale", T0, now=True)
    run_until(world, T0)
    assert sorted(c for c, _, _ in sent(world)) == ["nyc", "paris", "tokyo"]
    assert {a for _, _, a in sent(world)} == {"2026-03-09T12:00:00Z"}


def test_cancelling_mid_way_leaves_those_not_yet_reached_with_nothing(world: dict[str, Any]) -> None:
    broadcasts.schedule(world["conn"], world["workspace"], "spring_sale", T0)
    run_until(world, at("2026-03-10T01:00:00Z"))  # Tokyo has had it
    done = world["processor"].cancel_broadcast("spring_sale")
    assert done == {"not_reached": 2, "exited": 1, "messages_not_sent": 1}  # Tokyo's message was still queued
    run_until(world, at("2026-03-13T00:00:00Z"))
    assert sent(world) == [("tokyo", "announce", "2026-03-10T00:00:00Z")]
    exits = world["conn"].execute("SELECT customer, json_extract(body, '$.reason') FROM records "
                                  "WHERE journey = 'spring_sale' AND type = 'exited'").fetchall()
    assert exits == [("tokyo", "cancelled")]
    view = broadcasts.status(world["conn"], "spring_sale")
    assert (view["status"], view["waiting"], view["messages"]) == ("cancelled", 0, {"cancelled": 1})
    with pytest.raises(broadcasts.BroadcastError, match="already cancelled"):
        world["processor"].cancel_broadcast("spring_sale")


def test_a_broadcast_never_sent_cannot_be_cancelled(world: dict[str, Any]) -> None:
    with pytest.raises(broadcasts.BroadcastError, match="never sent"):
        world["processor"].cancel_broadcast("spring_sale")


def test_a_customer_first_known_after_the_start_joins_if_their_moment_is_still_to_come(world: dict[str, Any]) -> None:
    broadcasts.schedule(world["conn"], world["workspace"], "spring_sale", T0)
    run_until(world, at("2026-03-09T20:00:00Z"))  # started at 19:00
    ingest(world, {"type": "signed_up", "customer_id": "ny_new", "timestamp": "2026-03-09T20:00:00Z",
                   "traits": {"email": "n@x.example", "timezone": "America/New_York"}})
    run_until(world, at("2026-03-10T01:00:00Z"))  # 10:00 in Tokyo: its wave has gone
    ingest(world, {"type": "signed_up", "customer_id": "tokyo_new", "timestamp": "2026-03-10T01:00:00Z",
                   "traits": {"email": "t@x.example", "timezone": "Asia/Tokyo"}})
    run_until(world, at("2026-03-10T23:00:00Z"))
    firsts = [(c, a) for c, step, a in sent(world) if step == "announce"]
    assert ("ny_new", "2026-03-10T13:00:00Z") in firsts
    assert "tokyo_new" not in [c for c, _ in firsts]

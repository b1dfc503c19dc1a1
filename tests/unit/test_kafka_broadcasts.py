"""Broadcasts on Kafka without a broker: each partition's worker selects and plans its own customers."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from engine.runtimes.kafka import envelopes
from engine.runtimes.kafka.broadcasts import CANCEL, START, control_key
from engine.runtimes.kafka.store import partition_for
from tests.kafka_wire import live_workspace
from tests.unit.test_kafka_router import Wire

FLASH = """\
id: flash
audience: "profile.email is defined"
send_at: {utc: "2026-03-05T10:00:00Z"}
steps:
  - id: announce
    send: email
    template: hi
"""
CUSTOMERS = [f"c{n}" for n in range(12)]
START_AT = datetime(2026, 3, 5, 10, tzinfo=timezone.utc).timestamp()


def wire_with_customers(tmp_path: Path) -> Wire:
    wire = Wire(tmp_path)
    (tmp_path / "ws" / "broadcasts").mkdir()
    (tmp_path / "ws" / "broadcasts" / "flash.yaml").write_text(FLASH)
    wire.router.live = live_workspace(tmp_path / "ws", wire.tables.progress)
    for c in CUSTOMERS:
        wire.post(type="identified", customer_id=c, id=f"v-{c}", traits={"email": f"{c}@example.com"})
    wire.post(type="identified", customer_id="nomail", id="v-nomail")
    wire.run()
    return wire


def tell(wire: Wire, action: str) -> None:
    """What the API does: one envelope to each partition, keyed to land there."""
    for p in range(4):
        value = envelopes.broadcast_envelope("flash", action, START_AT, False, 4)
        wire.topics["events"].append((control_key("flash", p, 4).encode(), value, None))
    wire.run()


def fire_everything(wire: Wire, keys: list[str]) -> None:
    for key in keys:
        wire.fire_all(key)


def test_each_partition_plans_its_own_customers_and_everyone_gets_the_broadcast_once(tmp_path: Path) -> None:
    wire = wire_with_customers(tmp_path)
    controls = [control_key("flash", p, 4) for p in range(4)]
    assert sorted(partition_for(k, 4) for k in controls) == [0, 1, 2, 3]
    tell(wire, START)
    assert wire.sent() == []  # nothing before the start timer fires
    fire_everything(wire, controls)
    assert all(len(wire.record(c).timers) == 1 for c in CUSTOMERS)
    assert wire.record("nomail").timers == {}  # not in the audience
    fire_everything(wire, controls + CUSTOMERS)  # a start fired again does nothing more
    fire_everything(wire, CUSTOMERS)
    assert sorted(wire.sent()) == sorted((c, "announce") for c in CUSTOMERS)


def test_a_cancel_drops_the_entries_not_yet_made_on_every_partition(tmp_path: Path) -> None:
    wire = wire_with_customers(tmp_path)
    controls = [control_key("flash", p, 4) for p in range(4)]
    tell(wire, START)
    fire_everything(wire, controls)
    wire.fire_all("c0")  # reached before the cancel
    tell(wire, CANCEL)
    fire_everything(wire, CUSTOMERS)
    assert wire.sent() == [("c0", "announce")]
    assert all(wire.record(c).timers == {} for c in CUSTOMERS)

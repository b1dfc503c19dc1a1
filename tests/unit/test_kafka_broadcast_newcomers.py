"""On Kafka a customer first known after a broadcast's start joins it when their own moment is still to come,
as in the embedded runtime and simulate; none joins one started with `--now`. The stand-in broker, no Kafka."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from engine.runtimes.kafka import envelopes
from engine.runtimes.kafka.broadcasts import START, control_key
from tests.kafka_wire import live_workspace
from tests.unit.test_kafka_router import Wire

LOCAL = """\
id: flash
audience: "profile.email is defined"
send_at: {local: "2026-03-05T10:00"}
steps:
  - id: announce
    send: email
    template: hi
"""
FIRST_WAVE = datetime(2026, 3, 4, 20, tzinfo=timezone.utc).timestamp()  # 10:00 at UTC+14
CONTROLS = [control_key("flash", p, 4) for p in range(4)]


def started(tmp_path: Path, now: bool = False) -> Wire:
    """One customer known before; the broadcast sent and started on every partition."""
    wire = Wire(tmp_path)
    (tmp_path / "ws" / "broadcasts").mkdir()
    (tmp_path / "ws" / "broadcasts" / "flash.yaml").write_text(LOCAL)
    wire.router.live = live_workspace(tmp_path / "ws", wire.tables.progress)
    wire.post(type="identified", customer_id="old", id="v-old", timestamp="2026-03-04T12:00:00Z",
              traits={"email": "old@example.com", "timezone": "Europe/Paris"})
    wire.run()
    for p in range(4):
        value = envelopes.broadcast_envelope("flash", START, FIRST_WAVE, now, 4)
        wire.topics["events"].append((control_key("flash", p, 4).encode(), value, None))
    wire.run()
    for key in CONTROLS:
        wire.fire_all(key)
    return wire


def join(wire: Wire, customer: str, at: str, zone: str) -> None:
    wire.post(type="identified", customer_id=customer, id=f"v-{customer}", timestamp=at,
              traits={"email": f"{customer}@example.com", "timezone": zone})
    wire.run()


def entries(wire: Wire, customer: str) -> list[str]:
    return [t["due"] for t in wire.record(customer).timers.values() if t["journey"] == "flash"]


def test_a_customer_first_known_after_the_start_joins_when_their_own_moment_is_still_to_come(tmp_path: Path) -> None:
    wire = started(tmp_path)
    join(wire, "paris_new", "2026-03-05T01:00:00Z", "Europe/Paris")  # 09:00Z, 10:00 in Paris: to come
    join(wire, "tokyo_new", "2026-03-05T02:00:00Z", "Asia/Tokyo")    # 01:00Z, 10:00 in Tokyo: gone
    assert len(entries(wire, "paris_new")) == 1
    assert entries(wire, "tokyo_new") == []
    for customer in ("old", "paris_new", "tokyo_new"):
        wire.fire_all(customer)
    join(wire, "paris_new", "2026-03-05T10:00:00Z", "Europe/Paris")  # known now: no second entry
    wire.fire_all("paris_new")
    assert sorted(wire.sent()) == [("old", "announce"), ("paris_new", "announce")]


def test_nobody_joins_a_broadcast_started_with_now(tmp_path: Path) -> None:
    wire = started(tmp_path, now=True)
    join(wire, "paris_new", "2026-03-04T21:00:00Z", "Europe/Paris")
    assert entries(wire, "paris_new") == []


def test_the_broadcasts_record_closes_to_newcomers_at_its_last_wave(tmp_path: Path) -> None:
    wire = started(tmp_path)
    for key in CONTROLS:  # the mark fires at the last wave (10:00 at UTC-12) and goes
        wire.fire_all(key)
    assert all(wire.record(key).timers == {} for key in CONTROLS)

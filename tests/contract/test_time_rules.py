"""The time rules every runtime shares (SPEC §4, §14), where they decide the outcome: an event at a
timer's due time goes first, and an event accepted more than `late_events` after its timestamp is late."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

from engine.events import Event
from engine.testing import email, write_workspace
from tests.contract.runtimes import every_runtime

T = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
REMIND = """\
id: remind
trigger: {event: signed_up}
exit_on:
  - {event: purchase}
steps:
  - wait: 1h
  - id: reminder
    send: email
    template: hi
"""


def signed_up(customer: str, at: datetime, received_at: datetime | None = None) -> Event:
    return Event("signed_up", at, id=f"s-{customer}", customer_id=customer, traits={"email": f"{customer}@example.com"},
                 received_at=received_at)


def test_every_runtime_takes_an_event_before_a_timer_due_at_its_time_and_leaves_a_late_event_out(
        tmp_path: Path) -> None:
    root = write_workspace(tmp_path / "ws", journeys={"remind": REMIND}, templates={"hi.email.html": email("Hi")})
    events = [
        signed_up("c1", T),
        Event("purchase", T + timedelta(hours=1), id="p-c1", customer_id="c1"),  # at the reminder's due time
        signed_up("c2", T - timedelta(days=4), received_at=T),  # accepted 4 days late (late_events: 72h)
        signed_up("c3", T + timedelta(minutes=10)),
        Event("purchase", T + timedelta(hours=2), id="p-c3", customer_id="c3"),  # after its reminder
    ]
    outputs = every_runtime(root, events, T + timedelta(days=1), tmp_path)
    records = [orjson.loads(r) for r in outputs["simulate"]]
    assert sorted((r["customer_id"], r["type"], r.get("reason")) for r in records if r["type"] != "converted") == [
        ("c1", "entered", None), ("c1", "exited", "exit_event"),
        ("c3", "entered", None), ("c3", "exited", "completed"), ("c3", "send", None)]
    assert outputs["embedded"] == outputs["simulate"]
    assert outputs["kafka"] == outputs["simulate"]

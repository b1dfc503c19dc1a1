"""Turning text reminders off in the demo programme stops the one already waiting for its moment."""

from __future__ import annotations

from pathlib import Path

from engine.runtimes.jsonl import read_events
from engine.runtimes.simulate import simulate
from rules.events import parse_event
from rules.workspace import load_workspace

ROOT = Path(__file__).resolve().parents[2]


def test_a_customer_who_turns_reminders_off_while_one_is_planned_gets_no_more_texts() -> None:
    events = [e for e in read_events(ROOT / "samples" / "change_one_thing.jsonl") if e.id != "cot_013"]
    # Monday 30 March, 11:00 in New York: after week 4's email, while Tuesday's reminder is planned
    events.append(parse_event({"id": "off", "type": "preferences_updated", "customer_id": "c_theo",
                               "timestamp": "2026-03-30T15:00:00Z", "traits": {"sms_reminders": False}}))
    events.sort(key=lambda e: e.timestamp)
    records = simulate(load_workspace(ROOT).workspace, events).records
    reminders = [(r["at"], r["status"]) for r in records
                 if r["type"] == "send" and r["customer_id"] == "c_theo" and r["step"] == "reminder"]
    assert [at for at, status in reminders if status == "sent"] == [
        "2026-03-10T23:00:00Z", "2026-03-17T23:00:00Z", "2026-03-24T23:00:00Z"]

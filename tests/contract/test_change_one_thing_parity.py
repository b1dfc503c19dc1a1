"""The demo's "Change One Thing" sample (customer-chosen times in three zones, one moved mid-programme, DST
changes, repeats) gives the same messages in simulate, the embedded runtime and the Kafka router (issue #18)."""

from __future__ import annotations

from pathlib import Path

from engine.runtimes.jsonl import read_events
from engine.runtimes.simulate import DEFAULT_RUN_ON
from tests.contract.runtimes import every_runtime

ROOT = Path(__file__).resolve().parents[2]


def test_the_runtimes_write_the_same_records_for_the_programme_sample(tmp_path: Path) -> None:
    events = read_events(ROOT / "samples" / "change_one_thing.jsonl")
    outputs = every_runtime(ROOT, events, max(e.journey_time for e in events) + DEFAULT_RUN_ON, tmp_path)
    reminders = [r for r in outputs["simulate"] if b'"step":"reminder"' in r and b'"status":"sent"' in r]
    assert len(reminders) == 29  # Ines 16 (Mondays and Thursdays, 8 weeks), Theo 8, Wren 5 (completes); Pablo none
    assert outputs["embedded"] == outputs["simulate"]
    assert outputs["kafka"] == outputs["simulate"]

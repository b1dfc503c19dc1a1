"""The demo workspace a marketer starts from is valid, and its sample tells the story in samples/README.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.runtimes.jsonl import read_events, read_profiles
from engine.runtimes.simulate import simulate
from rules.workspace import load_workspace

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def records() -> list[dict[str, object]]:
    loaded = load_workspace(ROOT)
    assert loaded.warnings == []
    events = read_events(ROOT / "samples" / "events.jsonl")
    profiles = read_profiles(ROOT / "samples" / "profiles.jsonl")
    return simulate(loaded.workspace, events, profiles).records


def sends(records: list[dict[str, object]], customer: str) -> list[tuple[object, ...]]:
    return [(r["at"], r["journey"], r["step"], r["status"], r.get("reason"))
            for r in records if r["type"] == "send" and r["customer_id"] == customer]


def test_the_demo_has_the_five_journeys_the_product_promises() -> None:
    ids = {j.id for j in load_workspace(ROOT).workspace.journeys}
    assert {"welcome", "abandoned_cart", "review_request", "winback", "birthday"} <= ids


def test_every_template_of_the_demo_renders_for_the_sample(records: list[dict[str, object]]) -> None:
    assert not [r for r in records if r["type"] == "send" and r["status"] == "failed"]


def test_quiet_hours_hold_fatimas_welcome_until_8_in_kolkata(records: list[dict[str, object]]) -> None:
    assert ("2026-03-08T02:30:00Z", "welcome", "hello", "sent", None) in sends(records, "c_fatima")


def test_the_frequency_cap_holds_back_brunos_third_email_of_the_week(records: list[dict[str, object]]) -> None:
    assert ("2026-03-07T09:00:00Z", "welcome", "first_order_offer", "suppressed", "frequency_cap") in sends(records, "c_bruno")


def test_bruno_reads_french(records: list[dict[str, object]]) -> None:
    hello = next(r for r in records if r["type"] == "send" and r["customer_id"] == "c_bruno" and r["step"] == "hello")
    assert str(hello["subject"]).startswith("Bienvenue")


def test_anns_birthday_arrives_at_10_new_york_time_after_the_dst_change(records: list[dict[str, object]]) -> None:
    assert ("2026-03-20T14:00:00Z", "birthday", "treat", "sent", None) in sends(records, "c_ann")


def test_the_winback_fires_60_days_after_the_last_purchase(records: list[dict[str, object]]) -> None:
    assert ("2026-03-06T15:20:00Z", "winback", "miss_you", "sent", None) in sends(records, "c_owen")
    assert ("2026-03-17T11:05:00Z", "winback", "discount", "sent", None) in sends(records, "c_lena")


def test_the_hard_bounce_and_the_unsubscribe_are_honoured(records: list[dict[str, object]]) -> None:
    assert all(s[3] == "suppressed" and s[4] == "bounced" for s in sends(records, "c_eli")[1:])
    assert all(s[4] == "unsubscribed" for s in sends(records, "c_dana")[1:])


def test_gus_converts_during_the_welcome_series(records: list[dict[str, object]]) -> None:
    assert {"at": "2026-03-09T08:30:00Z", "customer_id": "c_gus", "journey": "welcome", "type": "converted", "value": 45.0} in records

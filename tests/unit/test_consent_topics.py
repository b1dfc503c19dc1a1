"""Consent per topic as well as per channel, and consent records with their time and source."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.testing import Harness, email, journey_yaml, send_step, write_workspace
from rules.problems import WorkspaceError
from rules.workspace import load_workspace

PROMO = journey_yaml("promo", "{event: promo}", send_step("offer", "m"), send_step("news", "m", topic="newsletter"),
                     topic="promotions", reentry="after_exit")
M = {"m.email.html": email("Hi")}
ANN = {"email": "ann@example.com"}


def ev(kind: str, at: str, **props: object) -> dict[str, object]:
    return {"type": kind, "customer_id": "c1", "timestamp": at, "properties": props, "traits": ANN}


def statuses(h: Harness) -> list[tuple[str, str, str | None]]:
    return [(r["step"], r["status"], r["reason"]) for r in h.of("send")]


def test_leaving_a_topic_stops_its_messages_but_not_the_others() -> None:
    h = Harness(settings="topics: [newsletter, promotions]", journeys={"promo": PROMO}, templates=M)
    h.run([ev("unsubscribed", "2026-03-02T09:00:00Z", channel="email", topic="promotions"),
           ev("promo", "2026-03-02T10:00:00Z")])
    assert statuses(h) == [("offer", "suppressed", "unsubscribed"), ("news", "sent", None)]


def test_rejoining_a_topic_restores_its_messages() -> None:
    h = Harness(settings="topics: [newsletter, promotions]", journeys={"promo": PROMO}, templates=M)
    h.run([ev("unsubscribed", "2026-03-02T09:00:00Z", channel="email", topic="promotions"),
           ev("subscribed", "2026-03-02T09:30:00Z", channel="email", topic="promotions"),
           ev("promo", "2026-03-02T10:00:00Z")])
    assert statuses(h) == [("offer", "sent", None), ("news", "sent", None)]


def test_unsubscribing_from_the_channel_stops_every_topic() -> None:
    h = Harness(settings="topics: [newsletter, promotions]", journeys={"promo": PROMO}, templates=M)
    h.run([ev("unsubscribed", "2026-03-02T09:00:00Z", channel="email"), ev("promo", "2026-03-02T10:00:00Z")])
    assert statuses(h) == [("offer", "suppressed", "unsubscribed"), ("news", "suppressed", "unsubscribed")]


def test_a_subscribed_event_records_consent_with_its_time_and_source() -> None:
    journey = "id: stock\ntrigger: {event: back}\nsteps:\n  - send: sms\n    template: s\n"
    h = Harness(journeys={"stock": journey}, templates={"s.sms.txt": "Back in stock"})
    h.run([{"type": "subscribed", "customer_id": "c1", "timestamp": "2026-03-02T09:00:00Z",
            "properties": {"channel": "sms", "source": "checkout form"}, "traits": {"phone": "+15550000001"}},
           {"type": "back", "customer_id": "c1", "timestamp": "2026-03-02T10:00:00Z"}])
    assert [(r["status"], r["reason"]) for r in h.of("send")] == [("sent", None)]


def test_an_unknown_topic_is_a_validation_error(tmp_path: Path) -> None:
    write_workspace(tmp_path, settings="topics: [newsletter]", journeys={"promo": PROMO}, templates=M)
    with pytest.raises(WorkspaceError) as info:
        load_workspace(tmp_path)
    assert [str(p) for p in info.value.problems] == [
        "journeys/promo.yaml:2:8: unknown topic 'promotions'; declare it in settings.topics (now: newsletter)"]

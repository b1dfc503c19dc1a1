"""The runtime kernel: every runtime takes effects apart, encodes events and judges lateness the same way."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from engine.effects import Diagnostic, Dispatch, Effect, Message, Output, Schedule, Timer, Unschedule
from engine.events import Event
from engine.runtimes.kernel import applier, codecs, ordering
from engine.testing import write_workspace
from rules.workspace import load_workspace

T = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)


class Collect:
    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def record(self, record: dict[str, Any]) -> None:
        self.seen.append(("record", record))

    def dispatch(self, message: Message) -> None:
        self.seen.append(("dispatch", message.id))

    def schedule(self, timer: Timer) -> None:
        self.seen.append(("schedule", timer.id))

    def unschedule(self, timer_id: str) -> None:
        self.seen.append(("unschedule", timer_id))

    def diagnose(self, diagnostic: Diagnostic) -> None:
        self.seen.append(("diagnose", diagnostic.message))


def test_every_effect_reaches_the_sink_in_the_engines_order() -> None:
    message = Message("m1", "2026-03-02T12:00:00Z", "email", "hi", "a@example.com", "c1", "j", "s", None, False,
                      "Hi", "text")
    timer = Timer(T, "c1", "step", "j", "t1")
    effects: list[Effect] = [Schedule(timer), Output({"type": "entered"}), Dispatch(message),
                             Diagnostic(T, "c1", "j", "s", "oops"), Unschedule(timer.id)]
    sink = Collect()
    applier.apply(effects, sink)
    assert sink.seen == [("schedule", timer.id), ("record", {"type": "entered"}), ("dispatch", "m1"),
                         ("diagnose", "oops"), ("unschedule", timer.id)]


def test_an_effect_no_runtime_knows_is_refused_rather_than_dropped() -> None:
    with pytest.raises(AssertionError):
        applier.apply([object()], Collect())  # type: ignore[list-item]


def test_an_event_row_comes_back_as_the_event_it_was() -> None:
    event = Event("signed_up", T, id="e1", customer_id="c1", properties={"a": [1, 2]}, traits={"email": "x@y.z"},
                  received_at=T + timedelta(seconds=3))
    assert codecs.event_from_row(codecs.event_to_row(event)) == event


def test_an_event_is_late_when_received_more_than_late_events_after_its_timestamp(tmp_path: Any) -> None:
    workspace = load_workspace(write_workspace(tmp_path / "ws", journeys={})).workspace
    limit = workspace.settings.late_events
    event = Event("page_viewed", T)
    assert ordering.received(event, T + limit, workspace) == (Event("page_viewed", T, received_at=T + limit), False)
    assert ordering.received(event, T + limit + timedelta(seconds=1), workspace)[1] is True


def test_at_equal_journey_times_an_event_goes_before_a_timer() -> None:
    inputs = [(5.0, ordering.TIMER, 0), (5.0, ordering.EVENT, 9), (4.0, ordering.TIMER, 1)]
    assert sorted(inputs, key=lambda i: ordering.input_order(*i)) == [
        (4.0, ordering.TIMER, 1), (5.0, ordering.EVENT, 9), (5.0, ordering.TIMER, 0)]

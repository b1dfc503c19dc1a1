"""What a runtime's tables give back is typed as the engine wrote it: timer kinds and `waiting` as enums, never strings."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest

from engine import state_codec
from engine.effects import Message, Timer, TimerKind
from engine.runtimes.embedded import database
from engine.runtimes.embedded.sqlite_store import SqliteStore
from engine.runtimes.kafka.store import timer_from_json, timer_to_json
from engine.events import Event
from engine.runtimes.kernel.codecs import (event_from_row, event_to_row, message_from_payload, message_payload,
                                           timer_from_row)
from engine.state import CustomerState, Instance, Waiting
from engine.testing import email, write_workspace
from rules.events import parse_event
from tests.helpers import event, hello_journey, processed

AT = datetime(2026, 3, 2, 12, 0, 5, tzinfo=timezone.utc)  # just after tests.helpers.T0


def parked(waiting: Waiting | None) -> CustomerState:
    instance = Instance(id="i1", journey="j", entered_at=AT, trigger_event={}, event={}, waiting=waiting, due=AT)
    return CustomerState(key="c1", customer_id="c1", instances={"j": instance})


@pytest.mark.parametrize("waiting", [*Waiting, None])
def test_a_stored_state_gives_back_its_waiting_as_the_enum(waiting: Waiting | None) -> None:
    back = state_codec.loads(state_codec.dumps(parked(waiting)))
    assert back == parked(waiting)
    assert type(back.instances["j"].waiting) is type(waiting)


def test_a_stored_state_with_an_unknown_waiting_is_refused() -> None:
    raw = orjson.loads(state_codec.dumps(parked(Waiting.TIMER)))
    raw["instances"]["j"]["waiting"] = "nap"
    with pytest.raises(ValueError, match="'nap' is not a valid Waiting"):
        state_codec.loads(orjson.dumps(raw))


@pytest.mark.parametrize("kind", list(TimerKind))
def test_a_kafka_record_gives_back_its_timer_kind_as_the_enum(kind: TimerKind) -> None:
    timer = Timer(AT, "c1", kind, "j", "i1#1")
    back = timer_from_json(orjson.loads(orjson.dumps(timer_to_json(timer))))  # as the changelog carries it
    assert back == timer and type(back.kind) is TimerKind


def test_an_unknown_timer_kind_is_refused_by_both_runtimes() -> None:
    with pytest.raises(ValueError, match="'nap' is not a valid TimerKind"):
        timer_from_json({"due": 1.0, "key": "c1", "kind": "nap", "journey": "j", "token": "t"})
    with pytest.raises(ValueError, match="'nap' is not a valid TimerKind"):
        timer_from_row(1.0, "c1", "nap", "j", "t")


def test_the_embedded_tables_give_back_enums_after_a_real_run(tmp_path: Path) -> None:
    write_workspace(tmp_path, journeys={"hello": hello_journey(wait="1d")}, templates={"hi.email.html": email("Hi")})
    signed_up = parse_event(event("signed_up", id="e1", traits={"email": "c1@example.com"}))
    db = processed(tmp_path, tmp_path / "nudge.db", [signed_up], lambda: AT.timestamp())
    conn = database.connect(db)
    state = SqliteStore(conn).customer("c1")
    assert state is not None and type(state.instances["hello"].waiting) is Waiting
    row = conn.execute("SELECT id, due, key, kind, journey, token FROM timers").fetchone()
    timer = timer_from_row(*row[1:])
    assert type(timer.kind) is TimerKind and timer.id == row[0]


@pytest.mark.parametrize("received_at", [AT, None])
def test_an_event_read_back_is_the_event_stored_fields_in_their_order(received_at: datetime | None) -> None:
    stored = Event(type="page_viewed", timestamp=AT, id="e1", customer_id=None, anonymous_id="a1",
                   properties={"page": "home"}, traits={"email": "a@x.example"}, received_at=received_at)
    back = event_from_row(event_to_row(stored))
    assert back == stored
    assert list(vars(back)) == [f.name for f in fields(Event)]
    assert event_to_row(back) == event_to_row(stored)
    with pytest.raises(FrozenInstanceError):
        back.type = "x"  # type: ignore[misc]


def test_a_message_payload_is_its_fields_in_their_order_and_gives_the_message_back() -> None:
    message = Message(id="m1", at="2026-03-02T12:00:00Z", channel="email", template="hi", to="c1@example.com",
                      customer_id="c1", journey="hello", step="greet", variant=None, transactional=False,
                      subject="Hi", text="Hi", headers={"List-Unsubscribe": "<https://x.invalid/u>"})
    payload = message_payload(message)
    assert list(payload) == [f.name for f in fields(Message)]
    assert message_from_payload(orjson.loads(orjson.dumps({**payload, "origin": 1.5}))) == message
    payload["origin"] = 1.5  # the payload is the caller's: the message is not changed
    assert message_payload(message) == {f.name: getattr(message, f.name) for f in fields(Message)}

"""The cheap path of ingest gives what the slow one gives: the same fields, the same stored bytes."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st
from pydantic import ValidationError

from engine.events import Event
from engine.runtimes.embedded import database
from engine.runtimes.embedded.ingest import Ingest, stored
from engine.runtimes.kernel.codecs import event_from_row, event_to_row, from_epoch
from engine.runtimes.kernel.ordering import received
from engine.testing import email, write_workspace
from rules import limits
from rules.events import EventModel, common_shape, parse_event
from rules.problems import EventError
from rules.traits import check_reserved
from rules.workspace import load_workspace
from tests.helpers import hello_journey

RECEIVED = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)

ids = st.one_of(st.none(), st.text(max_size=5), st.sampled_from(["c1", "anon:x", "a/b", "x\u0000", "é", "", "\ud800"]),
                st.integers(0, 3), st.booleans())
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3))
field_values = scalars | st.floats(allow_nan=False)
# any event as the engine holds it, for what ingest stores (test_ingest_statements.py uses it too)
any_event = st.builds(Event, type=st.text(max_size=3), timestamp=st.datetimes(timezones=st.just(timezone.utc)),
                      id=st.text(max_size=3), customer_id=st.none() | st.text(max_size=3),
                      anonymous_id=st.none() | st.text(max_size=3),
                      properties=st.dictionaries(st.text(max_size=3), field_values),
                      traits=st.dictionaries(st.text(max_size=3), field_values),
                      received_at=st.none() | st.datetimes(timezones=st.just(timezone.utc)))
objects = st.one_of(st.dictionaries(st.one_of(st.text(max_size=3), st.integers(0, 2)), scalars, max_size=3),
                    scalars, st.lists(scalars, max_size=2))
times = st.one_of(st.none(), st.sampled_from(["2026-03-01T11:00:00Z", "2026-03-01T11:00:00", "2026-03-01T11:00:00+02:00",
                                              "1969-12-31T23:59:59Z", "soon", "2026-03-01"]), st.integers(0, 2))
kinds = st.one_of(st.text(max_size=4), st.sampled_from(["signed_up", "x" * 100, "x" * 101, "été", "\ud800"]),
                  st.none(), st.integers(0, 2))
keys = ("id", "type", "customer_id", "anonymous_id", "timestamp", "properties", "traits", "extra")
events = st.fixed_dictionaries({}, optional={"id": ids, "type": kinds, "customer_id": ids, "anonymous_id": ids,
                                             "timestamp": times, "properties": objects, "traits": objects,
                                             "extra": scalars})


@settings(max_examples=1500, deadline=None)
@given(events)
def test_the_plain_check_accepts_only_what_the_model_accepts_with_the_same_values(data: dict[str, Any]) -> None:
    shape = common_shape(data)
    try:
        model = EventModel.model_validate(data)
    except ValidationError:
        assert shape is None
        return
    if shape is not None:
        assert shape._asdict() == model.model_dump()


@pytest.mark.parametrize("data", [
    {"id": "e1", "type": "page_viewed", "customer_id": "c1", "properties": {"page": "home"},
     "traits": {"email": "c1@example.com"}},
    {"type": "signed_up", "anonymous_id": "a1", "timestamp": "2026-03-01T11:00:00+02:00"},
    {"id": "e2", "type": "x" * 100, "customer_id": "c1", "anonymous_id": "a1", "timestamp": None, "properties": {},
     "traits": {}},
])
def test_the_usual_events_take_the_plain_path(data: dict[str, Any]) -> None:
    shape = common_shape(data)
    assert shape is not None and shape._asdict() == EventModel.model_validate(data).model_dump()


@pytest.mark.parametrize("data", [
    ["not", "an", "object"], {"type": "t", "customer_id": "c1", "extra": 1}, {"type": "", "customer_id": "c1"},
    {"type": "été", "customer_id": "c1"}, {"type": "t"}, {"type": "t", "customer_id": "anon:c1"},
    {"type": "t", "customer_id": "c1", "properties": None}, {"type": "t", "customer_id": "c1", "traits": {1: "x"}},
    {"type": "t", "customer_id": "c1", "timestamp": "yesterday"},
])
def test_anything_unusual_is_left_to_the_model_and_its_reasons(data: Any) -> None:
    assert common_shape(data) is None


def test_a_parsed_event_is_the_same_through_either_path() -> None:
    data = {"id": "e1", "type": "page_viewed", "customer_id": "c1", "timestamp": "2026-03-01T13:00:00+01:00",
            "properties": {"page": "home"}, "traits": {"email": " c1@example.com "}}
    expected = Event(type="page_viewed", timestamp=datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc), id="e1",
                     customer_id="c1", properties={"page": "home"}, traits={"email": "c1@example.com"})
    assert parse_event(data, received_at=RECEIVED) == expected
    assert parse_event({**data, "type": "pagé_viewed"}, received_at=RECEIVED) == replace(expected, type="pagé_viewed")


def test_an_accepted_event_is_stored_as_the_event_codec_writes_it(tmp_path: Path) -> None:
    db = tmp_path / "n.db"
    database.create(db)
    sent = [Event(type="page_viewed", timestamp=datetime(2026, 3, 1, 11, n, 30, 123456, tzinfo=timezone.utc),
                  id=f"e{n}", customer_id=None if n % 2 else f"c{n}", anonymous_id=f"a{n}" if n % 2 else None,
                  properties={"page": "home", "n": n, "deep": {"list": [1.5, None, True]}},
                  traits={"email": f"c{n}@example.com"} if n < 2 else {}) for n in range(4)]
    ingest = Ingest(database.connect(db), time.time, lambda: None)

    async def submit() -> None:
        task = asyncio.create_task(ingest.run())
        await ingest.submit(sent)
        task.cancel()
    asyncio.run(submit())
    rows = sqlite3.connect(db).execute("SELECT id, received_at, body FROM events ORDER BY seq").fetchall()
    by_id = {e.id: e for e in sent}
    assert [r[0] for r in rows] == ["e0", "e1", "e2", "e3"]
    for event_id, received, body in rows:
        assert body == event_to_row(replace(by_id[event_id], received_at=from_epoch(received)))


@settings(max_examples=300, deadline=None)
@given(any_event, st.datetimes(timezones=st.just(timezone.utc)))
def test_a_stored_row_is_the_event_codec_s_bytes(event: Event, received: datetime) -> None:
    assert stored(event, received) == event_to_row(replace(event, received_at=received))


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=8) | st.sampled_from(["x" * 200, "x" * 201, "a/b", "\u00ad", "\ud800", " ", "\u3000"]))
def test_an_id_is_refused_exactly_when_one_of_its_characters_is(value: str) -> None:
    fine = 0 < len(value) <= limits.MAX_ID and all(c.isprintable() and c != "/" for c in value)
    assert (limits.id_problem(value) is None) == fine


def _one_by_one(values: dict[Any, Any], field: str) -> None:
    """check_object as it was: every entry through the full checks."""
    for key, value in values.items():
        limits._check_key(key, field)
        limits.check_value(value, f"{field}.{limits._shown(key)}")


def _outcome(check: Any, values: dict[Any, Any]) -> tuple[str, str] | None:
    try:
        check(values, "properties")
    except EventError as exc:
        return exc.field, exc.reason
    return None


entries = st.one_of(st.none(), st.booleans(), st.integers(-2**60, 2**60), st.sampled_from([2**53 - 1, -2**53 + 1, 2**53]),
                    st.floats(allow_nan=True), st.text(max_size=4), st.sampled_from(["\ud800", "é" * 8193, "x" * 16385]),
                    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.one_of(st.text(max_size=4), st.integers(0, 2), st.sampled_from(["\ud800", "k" * 16385])),
                       entries, max_size=4))
def test_properties_are_refused_for_the_same_first_reason_as_entry_by_entry(values: dict[Any, Any]) -> None:
    assert _outcome(limits.check_object, values) == _outcome(_one_by_one, values)


def test_an_event_read_back_from_its_row_is_taken_as_stamped_without_a_copy(tmp_path: Path) -> None:
    root = write_workspace(tmp_path / "ws", journeys={"hello": hello_journey()}, templates={"hi.email.html": email("Hi")})
    workspace = load_workspace(root).workspace
    at = from_epoch(RECEIVED.timestamp() + 0.123456)
    event = event_from_row(stored(Event(type="t", timestamp=RECEIVED, id="e1", customer_id="c1"), at))
    assert received(event, from_epoch(RECEIVED.timestamp() + 0.123456), workspace) == (event, False)
    assert received(event, from_epoch(RECEIVED.timestamp() + 0.123456), workspace)[0] is event
    later = from_epoch(RECEIVED.timestamp() + 86400 * 30)
    assert received(event, later, workspace) == (replace(event, received_at=later), True)


values = st.one_of(scalars, st.floats(), st.integers(), st.lists(scalars, max_size=2),
                   st.dictionaries(st.text(max_size=2), scalars, max_size=2))
likely_events = st.fixed_dictionaries(
    {"type": st.sampled_from(["signed_up", "page_viewed", "x" * 100, "pagé_viewed"]),
     "customer_id": st.sampled_from(["c1", "é", "x" * 200, "a b", None])},
    optional={"id": st.sampled_from(["e1", "é", None, "\u00ad"]), "anonymous_id": st.sampled_from(["a1", None, "anon:a"]),
              "timestamp": st.sampled_from([None, "2026-03-01T11:00:00Z", "2026-03-01T11:00:00.25+02:00",
                                            "2026-03-01 11:00:00-05:30"]),
              "properties": st.dictionaries(st.text(max_size=3), values, max_size=3),
              "traits": st.dictionaries(st.sampled_from(["email", "first_name", "timezone", "email_subscribed", "é"]),
                                        st.one_of(values, st.sampled_from([" c1@example.com", "Europe/Paris"])),
                                        max_size=3)})


@settings(max_examples=1500, deadline=None)
@given(likely_events)
def test_a_parsed_event_is_the_event_the_model_path_describes_field_for_field(data: dict[str, Any]) -> None:
    try:
        parsed = parse_event(data, received_at=RECEIVED)
    except EventError:
        return
    model = EventModel.model_validate(data)  # what parse_event accepts, the model accepts
    expected = Event(type=model.type, timestamp=(model.timestamp or RECEIVED).astimezone(timezone.utc), id=model.id,
                     customer_id=model.customer_id, anonymous_id=model.anonymous_id, properties=model.properties,
                     traits=check_reserved(model.traits))
    assert parsed == expected
    assert list(vars(parsed).items()) == list(vars(expected).items())  # the order the ingest writes them in

"""SPEC §8: an event outside the input limits is refused by the parser, naming the field and the limit."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from engine import state_codec
from engine.state import CustomerState
from engine.testing import write_workspace
from rules.events import parse_event
from rules.problems import EventError, WorkspaceError
from rules.schema import workspace_file_schema
from rules.workspace import load_workspace

RECEIVED = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def event(**fields: Any) -> dict[str, Any]:
    return {"type": "viewed", "customer_id": "c1", "timestamp": "2026-03-01T12:00:00Z", **fields}


def refused(data: dict[str, Any], **kwargs: Any) -> EventError:
    with pytest.raises(EventError) as caught:
        parse_event(data, **kwargs)
    return caught.value


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


# ---- nesting, numbers, strings --------------------------------------------------

def test_a_value_nested_32_levels_is_accepted_and_33_is_refused() -> None:
    parse_event(event(properties={"deep": nested(32)}))
    error = refused(event(properties={"deep": nested(33)}))
    assert error.field.startswith("properties.deep") and "32 levels" in error.reason


def test_objects_count_as_levels_in_traits_too() -> None:
    value: Any = "x"
    for _ in range(33):
        value = {"k": value}
    error = refused(event(traits={"deep": value}))
    assert error.field.startswith("traits.deep.k") and "32 levels" in error.reason


@pytest.mark.parametrize("number", [2**53 - 1, -(2**53 - 1)])
def test_integers_up_to_2_to_the_53_minus_1_are_accepted(number: int) -> None:
    assert parse_event(event(traits={"n": number})).traits["n"] == number


@pytest.mark.parametrize("number", [2**53, -(2**53), 18446744073709551615])
def test_larger_integers_are_refused_naming_the_trait(number: int) -> None:
    error = refused(event(traits={"n": number}))
    assert (error.field, "2^53") == ("traits.n", error.reason[error.reason.index("2^53"):][:4])


def test_a_huge_integer_from_json_is_refused() -> None:
    error = refused(orjson.loads(b'{"type": "x", "customer_id": "c", "timestamp": "2026-03-01T12:00:00Z",'
                                 b' "traits": {"loyalty": 18446744073709551615}}'))
    assert error.field == "traits.loyalty"


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_are_refused(number: float) -> None:
    assert refused(event(properties={"items": [1, number]})).field == "properties.items.1"


def test_strings_of_16_kib_are_accepted_and_one_byte_more_is_refused() -> None:
    parse_event(event(properties={"note": "a" * 16384}))
    parse_event(event(properties={"note": "é" * 8192}))  # 2 bytes each in UTF-8
    error = refused(event(properties={"note": "a" * 16385}))
    assert error.field == "properties.note" and "16385 bytes" in error.reason and "16 KiB" in error.reason
    assert refused(event(properties={"note": "é" * 8192 + "a"})).field == "properties.note"


def test_keys_are_held_to_the_string_limit() -> None:
    parse_event(event(properties={"k" * 16384: 1}))
    error = refused(event(properties={"nested": {"k" * 16385: 1}}))
    assert error.field == "properties.nested" and "key" in error.reason


def test_a_lone_surrogate_is_refused() -> None:
    assert refused(event(properties={"s": "\ud800"})).field == "properties.s"


# ---- ids ------------------------------------------------------------------------------

@pytest.mark.parametrize("field", ["id", "customer_id", "anonymous_id"])
def test_ids_of_200_characters_are_accepted_and_201_refused(field: str) -> None:
    parse_event(event(**{field: "x" * 200}))
    error = refused(event(**{field: "x" * 201}))
    assert error.field == field and "1-200 printable characters" in error.reason


@pytest.mark.parametrize("field", ["id", "customer_id", "anonymous_id"])
@pytest.mark.parametrize("bad", ["", "a/b", "victim/", "a\x00b", "a\nb", "tab\t", "del\x7f", "c1\x85", "zero\u200bwidth"])
def test_ids_with_a_slash_or_a_control_character_are_refused(field: str, bad: str) -> None:
    assert refused(event(**{field: bad})).field == field


def test_ids_may_hold_any_printable_unicode() -> None:
    assert parse_event(event(customer_id="Zoë Ünïcode 42 ✓")).customer_id == "Zoë Ünïcode 42 ✓"


def test_a_customer_id_cannot_take_the_shape_of_an_anonymous_key() -> None:
    error = refused(event(customer_id="anon:zzz"))
    assert error.field == "customer_id" and "anon:" in error.reason
    assert parse_event(event(customer_id=None, anonymous_id="anon:zzz")).anonymous_id == "anon:zzz"


# ---- timestamp ------------------------------------------------------------------------

def test_a_timestamp_up_to_the_future_skew_after_receipt_is_accepted() -> None:
    parse_event(event(timestamp="2026-03-01T12:05:00Z"), received_at=RECEIVED)
    error = refused(event(timestamp="2026-03-01T12:05:00.000001Z"), received_at=RECEIVED)
    assert error.field == "timestamp" and "future_skew (5m)" in error.reason


def test_the_future_skew_is_an_argument() -> None:
    parse_event(event(timestamp="2026-03-01T13:00:00Z"), received_at=RECEIVED, future_skew=timedelta(hours=1))
    refused(event(timestamp="2026-03-01T13:00:01Z"), received_at=RECEIVED, future_skew=timedelta(hours=1))


def test_an_event_dated_2099_is_refused_over_http() -> None:
    assert refused(event(timestamp="2099-01-01T00:00:00Z"), received_at=RECEIVED).field == "timestamp"


def test_without_a_time_of_receipt_there_is_no_future_limit() -> None:
    parse_event(event(timestamp="2099-01-01T00:00:00Z"))


@pytest.mark.parametrize("timestamp", ["1970-01-01T00:00:00Z", "9998-12-31T23:59:59Z", "1970-01-01T00:30:00-01:00"])
def test_years_1970_to_9998_are_accepted(timestamp: str) -> None:
    parse_event(event(timestamp=timestamp))


@pytest.mark.parametrize("timestamp", ["1969-12-31T23:59:59Z", "9999-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00",
                                       "9999-12-31T23:59:59-01:00", "1970-01-01T00:30:00+01:00"])
def test_years_outside_1970_to_9998_are_refused(timestamp: str) -> None:
    error = refused(event(timestamp=timestamp))
    assert error.field == "timestamp" and "1970-9998" in error.reason


# ---- reserved traits ------------------------------------------------------------------

@pytest.mark.parametrize("address", ["ann@example.com", "ann.lee+shop@mail.example.co.uk", "o'brien@x.io", "zoë@exämple.fr"])
def test_a_plain_email_address_is_accepted(address: str) -> None:
    assert parse_event(event(traits={"email": address})).traits["email"] == address


def test_an_email_address_is_stored_trimmed() -> None:
    assert parse_event(event(traits={"email": "  ann@example.com "})).traits["email"] == "ann@example.com"


@pytest.mark.parametrize("address", [
    "a@b.c\r\nBcc: x@y", "ann@example.com\n", "@", "ann@", "@example.com", "attacker@x, v1@y", "Ann <ann@example.com>",
    '"ann lee"@example.com', "ann@@example.com", "ann..lee@example.com", "ann@example..com", "ann@-example.com",
    "ann@[127.0.0.1]", "ann lee@example.com", "a" * 65 + "@example.com", "", "ann@example.com.",
])
def test_anything_but_one_bare_address_is_refused_as_email(address: str) -> None:
    assert refused(event(traits={"email": address})).field == "traits.email"


@pytest.mark.parametrize("phone", ["+15550100000", "+33612345678", "+6834002", "+123456789012345"])
def test_an_e164_phone_is_accepted(phone: str) -> None:
    parse_event(event(traits={"phone": phone}))


@pytest.mark.parametrize("phone", ["15550100000", "+0555", "+1 555 010 0000", "+1234567890123456", "+155501", "+1555x", "+15550100000\n", 15550100000])
def test_a_phone_that_is_not_e164_is_refused(phone: Any) -> None:
    assert refused(event(traits={"phone": phone})).field == "traits.phone"


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/Argentina/Buenos_Aires", "UTC"])
def test_a_known_iana_zone_is_accepted(zone: str) -> None:
    parse_event(event(traits={"timezone": zone}))


@pytest.mark.parametrize("zone", ["Mars/Olympus", "europe/paris", "../../etc/passwd", "localtime", "", "Europe/Paris\x00"])
def test_an_unknown_zone_is_refused(zone: str) -> None:
    error = refused(event(traits={"timezone": zone}))
    assert error.field == "traits.timezone" and "time zone" in error.reason


@pytest.mark.parametrize("tag", ["fr", "pt-BR", "zh-Hant-TW", "es-419", "sl-rozaj-biske", "en-US-x-twain", "de-CH-1996"])
def test_a_bcp47_locale_is_accepted(tag: str) -> None:
    parse_event(event(traits={"locale": tag}))


@pytest.mark.parametrize("tag", ["pt_BR", "français", "f", "fr-", "-fr", "fr--CA", "en-US-x", "12", "fr CA"])
def test_a_locale_that_is_not_bcp47_is_refused(tag: str) -> None:
    assert refused(event(traits={"locale": tag})).field == "traits.locale"


@pytest.mark.parametrize("key", ["email_subscribed", "sms_subscribed"])
def test_subscription_traits_are_booleans(key: str) -> None:
    parse_event(event(traits={key: False}))
    assert refused(event(traits={key: "no"})).field == f"traits.{key}"
    assert refused(event(traits={key: 0})).field == f"traits.{key}"


@pytest.mark.parametrize("key", ["email", "phone", "timezone", "locale", "email_subscribed", "sms_subscribed"])
def test_null_still_removes_a_reserved_trait(key: str) -> None:
    assert parse_event(event(traits={key: None})).traits == {key: None}


# ---- settings -------------------------------------------------------------------------

def test_future_skew_is_a_setting_with_a_default_of_five_minutes(tmp_path: Path) -> None:
    assert load_workspace(write_workspace(tmp_path / "a")).workspace.settings.future_skew == timedelta(minutes=5)
    ws = load_workspace(write_workspace(tmp_path / "b", settings="future_skew: 1h")).workspace
    assert ws.settings.future_skew == timedelta(hours=1)


# ---- whatever is accepted can be stored -----------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(properties=st.dictionaries(st.text(), json_values, max_size=3),
       traits=st.dictionaries(st.text(), json_values, max_size=3))
def test_any_accepted_event_can_be_encoded_as_state_and_json(properties: dict[str, Any], traits: dict[str, Any]) -> None:
    try:
        parsed = parse_event(event(properties=properties, traits=traits))
    except EventError:
        return
    state = CustomerState.for_key("c1")
    state.traits = dict(parsed.traits)
    state.activity["viewed"] = {"count": 1, "first_at": parsed.timestamp, "last_at": parsed.timestamp}
    assert state_codec.loads(state_codec.dumps(state)).traits == parsed.traits
    orjson.dumps(parsed.context())


def test_nudge_schema_knows_future_skew_and_validate_refuses_a_bad_one(tmp_path: Path) -> None:
    assert "future_skew" in orjson.dumps(workspace_file_schema()).decode()
    with pytest.raises(WorkspaceError, match="future_skew|'5 minutes' is not a duration"):
        load_workspace(write_workspace(tmp_path / "bad", settings="future_skew: 5 minutes"))

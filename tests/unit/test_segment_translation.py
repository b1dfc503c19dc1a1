"""Segment messages become Nudge events by the documented rules (docs/operations.md, "Integrations")."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from connectors.api.segment import event_type, to_event
from rules.problems import EventError

RECEIVED = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def translate(message: dict[str, object], kind: str | None = None, **kwargs: object) -> dict[str, object]:
    options: dict[str, object] = {"context": {}, "sent_at": None, "received": RECEIVED, "names": {}, **kwargs}
    return to_event(message, kind, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "expected"), [("Order Completed", "order_completed"), ("orderCompleted", "order_completed"),
                                                ("Signed Up!", "signed_up"), ("  page-view 2 ", "page_view_2")])
def test_event_names_become_snake_case_types(name: str, expected: str) -> None:
    assert event_type(name, {}) == expected


def test_settings_event_names_win_over_the_rule() -> None:
    assert event_type("Checkout Finished", {"Checkout Finished": "order_completed"}) == "order_completed"


def test_a_name_without_letters_is_refused() -> None:
    with pytest.raises(EventError, match="no letter or digit"):
        event_type("!!!", {})


def test_a_device_clock_an_hour_fast_is_corrected_by_sent_at() -> None:
    """timestamp + (receivedAt - sentAt): sent at 13:00 by the device's clock, received at 12:00."""
    event = translate({"type": "track", "event": "E", "userId": "u", "timestamp": "2026-03-02T12:59:00Z"},
                      sent_at="2026-03-02T13:00:00Z")
    assert event["timestamp"] == "2026-03-02T11:59:00+00:00"


def test_a_correction_past_the_calendar_is_refused_not_raised() -> None:
    with pytest.raises(EventError, match="outside the years"):
        translate({"type": "track", "event": "E", "userId": "u", "timestamp": "9998-12-31T00:00:00Z"},
                  sent_at="1970-01-01T00:00:00Z")


def test_a_message_without_timestamp_is_dated_on_receipt() -> None:
    assert translate({"userId": "u"}, "identify")["timestamp"] == RECEIVED.isoformat()


def test_context_becomes_properties_and_valid_reserved_traits() -> None:
    context = {"ip": "203.0.113.9", "userAgent": "Mozilla/5.0", "locale": "fr-FR", "timezone": "Not/AZone",
               "campaign": {"source": "news", "medium": "email", "other": "x"}, "traits": {"email": "a@example.com"}}
    event = translate({"type": "track", "event": "Viewed", "anonymousId": "v1", "messageId": "m1", "context": context})
    assert event == {"id": "m1", "type": "viewed", "anonymous_id": "v1", "timestamp": RECEIVED.isoformat(),
                     "properties": {"context": {"ip": "203.0.113.9", "user_agent": "Mozilla/5.0",
                                                "campaign": {"source": "news", "medium": "email"}}},
                     "traits": {"locale": "fr-FR", "email": "a@example.com"}}


def test_identify_traits_take_nudge_spelling() -> None:
    event = translate({"userId": 42, "traits": {"firstName": "Ann", "lastName": "Lee", "plan": "pro"}}, "identify")
    assert (event["customer_id"], event["type"]) == ("42", "identify")
    assert event["traits"] == {"first_name": "Ann", "last_name": "Lee", "plan": "pro"}


def test_alias_links_the_previous_id_to_the_user() -> None:
    event = translate({"userId": "u1", "previousId": "anon-7"}, "alias")
    assert (event["type"], event["customer_id"], event["anonymous_id"]) == ("alias", "u1", "anon-7")


def test_group_traits_describe_the_group_not_the_person() -> None:
    event = translate({"userId": "u1", "groupId": "acme", "traits": {"name": "Acme"}}, "group")
    assert event["properties"] == {"group_id": "acme", "group": {"name": "Acme"}}
    assert event["traits"] == {}


def test_a_batch_message_of_an_unknown_type_is_refused() -> None:
    with pytest.raises(EventError, match="not a Segment call"):
        translate({"type": "pageview", "userId": "u"})

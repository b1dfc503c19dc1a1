"""Triggers, re-entry, exits, goals, journey order, identity and provider events (SPEC §2, §4)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.testing import Harness, email
from tests.helpers import ANN, T0, event, lines


M = {"m.email.html": email("M {{ profile.first_name }}")}


def journey(trigger: str, *, reentry: str = "never", steps: str = "- send: email\n  template: m",
            extra: str = "", jid: str = "j") -> str:
    """A journey file; `steps` and `extra` are YAML blocks at column 0."""
    body = f"id: {jid}\ntrigger: {trigger}\nreentry: {reentry}\n{extra}\nsteps:\n"
    return body + "".join(f"  {row}\n" for row in steps.splitlines())


WAIT_THEN_SEND = "- wait: 1h\n- send: email\n  template: m"


# ---- event triggers ---------------------------------------------------------------

def test_an_event_trigger_enters_only_when_its_where_holds() -> None:
    h = Harness(journeys={"j": journey('{event: cart_updated, where: "event.properties.cart_total > 0"}', reentry="after_exit")},
                templates=M)
    records = h.run([
        event("cart_updated", traits=ANN, properties={"cart_total": 0}),
        event("cart_updated", "2026-03-02T12:05:00Z", properties={}),
        event("page_view", "2026-03-02T12:10:00Z", properties={"cart_total": 5}),
        event("cart_updated", "2026-03-02T12:15:00Z", properties={"cart_total": 12.5}),
    ])
    assert lines(records) == [
        "2026-03-02T12:15:00Z c1 j entered",
        "2026-03-02T12:15:00Z c1 j send 0 email sent",
        "2026-03-02T12:15:00Z c1 j exited completed @0",
    ]
    assert h.diagnostics == []  # a missing property is undefined, not an error


# ---- re-entry ---------------------------------------------------------------------

def test_reentry_never_enters_a_customer_at_most_once() -> None:
    h = Harness(journeys={"j": journey("{event: signup}")}, templates=M)
    h.run([event("signup", traits=ANN), event("signup", "2026-03-03T12:00:00Z"), event("signup", "2026-04-03T12:00:00Z")])
    assert lines(h.of("entered")) == ["2026-03-02T12:00:00Z c1 j entered"]


def test_reentry_after_exit_ignores_a_trigger_while_active_and_enters_after_the_end() -> None:
    h = Harness(journeys={"j": journey("{event: signup}", reentry="after_exit", steps=WAIT_THEN_SEND)}, templates=M)
    records = h.run([
        event("signup", traits=ANN),
        event("signup", "2026-03-02T12:30:00Z"),
        event("signup", "2026-03-02T13:30:00Z"),
    ])
    assert lines(records) == [
        "2026-03-02T12:00:00Z c1 j entered",
        "2026-03-02T13:00:00Z c1 j send 1 email sent",
        "2026-03-02T13:00:00Z c1 j exited completed @1",
        "2026-03-02T13:30:00Z c1 j entered",
        "2026-03-02T14:30:00Z c1 j send 1 email sent",
        "2026-03-02T14:30:00Z c1 j exited completed @1",
    ]


def test_reentry_restart_exits_the_active_instance_as_restarted_and_enters_anew() -> None:
    h = Harness(journeys={"j": journey("{event: signup}", reentry="restart", steps=WAIT_THEN_SEND)}, templates=M)
    records = h.run([event("signup", traits=ANN), event("signup", "2026-03-02T12:30:00Z")])
    assert lines(records) == [
        "2026-03-02T12:00:00Z c1 j entered",
        "2026-03-02T12:30:00Z c1 j exited restarted @0",
        "2026-03-02T12:30:00Z c1 j entered",
        "2026-03-02T13:30:00Z c1 j send 1 email sent",
        "2026-03-02T13:30:00Z c1 j exited completed @1",
    ]


def test_reentry_cooldown_refuses_a_trigger_just_inside_the_cooldown() -> None:
    h = Harness(journeys={"j": journey("{event: signup}", reentry="{cooldown: 7d}")}, templates=M)
    h.run([event("signup", traits=ANN), event("signup", "2026-03-09T11:59:59Z")])
    assert [r["at"] for r in h.of("entered")] == [T0]


def test_reentry_cooldown_admits_a_trigger_once_the_cooldown_has_passed() -> None:
    h = Harness(journeys={"j": journey("{event: signup}", reentry="{cooldown: 7d}")}, templates=M)
    h.run([event("signup", traits=ANN), event("signup", "2026-03-09T11:59:59Z"), event("signup", "2026-03-09T12:00:00Z")])
    assert [r["at"] for r in h.of("entered")] == [T0, "2026-03-09T12:00:00Z"]


def test_reentry_cooldown_still_needs_the_previous_instance_to_have_ended() -> None:
    h = Harness(journeys={"j": journey("{event: signup}", reentry="{cooldown: 1d}", steps="- wait: 3d\n- send: email\n  template: m")},
                templates=M)
    h.run([event("signup", traits=ANN), event("signup", "2026-03-04T12:00:00Z"), event("signup", "2026-03-05T12:00:01Z")])
    assert [r["at"] for r in h.of("entered")] == [T0, "2026-03-05T12:00:01Z"]


# ---- exit_on and goal --------------------------------------------------------------

def test_exit_on_with_where_ends_the_instance_only_for_a_matching_event() -> None:
    extra = 'exit_on:\n  - {event: purchase, where: "event.properties.cart_id == trigger_event.properties.cart_id"}'
    h = Harness(journeys={"j": journey("{event: cart_updated}", steps=WAIT_THEN_SEND, extra=extra)}, templates=M)
    records = h.run([
        event("cart_updated", traits=ANN, properties={"cart_id": "k1"}),
        event("purchase", "2026-03-02T12:20:00Z", properties={"cart_id": "k2"}),
        event("purchase", "2026-03-02T12:40:00Z", properties={"cart_id": "k1"}),
    ])
    assert lines(records) == [
        "2026-03-02T12:00:00Z c1 j entered",
        "2026-03-02T12:40:00Z c1 j exited exit_event @0",
    ]


GOAL = 'goal: {event: purchase, within: 7d, value: "event.properties.total"%s}'


def signup_then_purchases(extra: str, *purchases: tuple[str, float], steps: str = "- send: email\n  template: m") -> Harness:
    """Journey `j` with `extra` (a goal, exit_on): a sign-up at T0, then a purchase of each (time, total)."""
    h = Harness(journeys={"j": journey("{event: signup}", steps=steps, extra=extra)}, templates=M)
    h.run([event("signup", traits=ANN), *(event("purchase", at, properties={"total": total}) for at, total in purchases)])
    return h


@pytest.mark.parametrize(("extra", "steps", "purchase", "expected"), [
    pytest.param(GOAL % "", WAIT_THEN_SEND, ("2026-03-02T12:30:00Z", 59.5), [
        "2026-03-02T12:00:00Z c1 j entered",
        "2026-03-02T12:30:00Z c1 j converted 59.5",
        "2026-03-02T12:30:00Z c1 j exited goal @0",
    ], id="a_goal_records_the_conversion_with_its_value_and_exits_the_instance"),
    pytest.param(GOAL % ", exit: false", WAIT_THEN_SEND, ("2026-03-02T12:30:00Z", 20), [
        "2026-03-02T12:00:00Z c1 j entered",
        "2026-03-02T12:30:00Z c1 j converted 20",
        "2026-03-02T13:00:00Z c1 j send 1 email sent",
        "2026-03-02T13:00:00Z c1 j exited completed @1",
    ], id="a_goal_with_exit_false_records_the_conversion_and_keeps_the_instance_running"),
    pytest.param(GOAL % "", "- send: email\n  template: m", ("2026-03-09T11:59:59Z", 5), [
        "2026-03-02T12:00:00Z c1 j entered",
        "2026-03-02T12:00:00Z c1 j send 0 email sent",
        "2026-03-02T12:00:00Z c1 j exited completed @0",
        "2026-03-09T11:59:59Z c1 j converted 5",
    ], id="a_goal_is_recorded_after_the_instance_completed_while_inside_the_window"),
    pytest.param("exit_on: [{event: purchase}]\n" + GOAL % "", WAIT_THEN_SEND, ("2026-03-02T12:30:00Z", 40), [
        "2026-03-02T12:00:00Z c1 j entered",
        "2026-03-02T12:30:00Z c1 j converted 40",
        "2026-03-02T12:30:00Z c1 j exited exit_event @0",
    ], id="exit_on_and_goal_on_the_same_event_exit_as_exit_event_and_still_convert"),
])
def test_a_purchase_within_the_goal_window_converts(extra: str, steps: str, purchase: tuple[str, float],
                                                     expected: list[str]) -> None:
    assert lines(signup_then_purchases(extra, purchase, steps=steps).result.records) == expected


def test_no_conversion_is_recorded_just_outside_the_goal_window() -> None:
    h = signup_then_purchases(GOAL % "", ("2026-03-09T12:00:01Z", 5))
    assert h.of("converted") == []


def test_a_goal_converts_once_only() -> None:
    h = signup_then_purchases(GOAL % "", ("2026-03-03T12:00:00Z", 5), ("2026-03-04T12:00:00Z", 7))
    assert h.of("converted") == [{"at": "2026-03-03T12:00:00Z", "customer_id": "c1", "journey": "j",
                                  "type": "converted", "value": 5}]


# ---- journey order ----------------------------------------------------------------

def test_records_at_the_same_time_follow_journey_order_files_by_name_then_inline() -> None:
    inline = """
    journeys:
      - id: aaa_inline
        trigger: {event: signup}
        steps:
          - wait: 1h
          - send: email
            template: m
    """
    h = Harness(
        journeys={
            "20_alpha": journey("{event: signup}", steps=WAIT_THEN_SEND, jid="alpha"),
            "10_zeta": journey("{event: signup}", steps=WAIT_THEN_SEND, jid="zeta"),
        },
        templates=M, extra=inline,
    )
    h.run([event("signup", traits=ANN)])
    assert [(r["at"], r["journey"], r["type"]) for r in h.result.records if r["type"] != "exited"] == [
        (T0, "zeta", "entered"), (T0, "alpha", "entered"), (T0, "aaa_inline", "entered"),
        ("2026-03-02T13:00:00Z", "zeta", "send"), ("2026-03-02T13:00:00Z", "alpha", "send"),
        ("2026-03-02T13:00:00Z", "aaa_inline", "send"),
    ]


def test_a_turned_off_journey_enters_nobody_while_those_around_it_on_the_same_event_do() -> None:
    h = Harness(
        journeys={
            "10_first": journey("{event: signup}", jid="first"),
            "20_paused": journey("{event: signup}", jid="paused", extra="enabled: false"),
            "30_last": journey("{event: signup}", jid="last"),
            "40_other": journey("{event: purchase}", jid="other"),
        },
        templates=M,
    )
    h.run([event("signup", traits=ANN)])
    assert [r["journey"] for r in h.result.records if r["type"] == "entered"] == ["first", "last"]


# ---- date triggers ----------------------------------------------------------------

BIRTHDAY = '{date: birthday, at: "10:00", repeat: yearly}'


def test_a_date_trigger_fires_at_local_time_on_the_date_in_the_profiles_zone() -> None:
    h = Harness(journeys={"j": journey(BIRTHDAY, reentry="after_exit")}, templates=M)
    h.run([], profiles=[
        ("c_ny", {**ANN, "birthday": "1990-03-20", "timezone": "America/New_York"}),   # EDT, UTC-4
        ("c_paris", {**ANN, "birthday": "1985-03-21", "timezone": "Europe/Paris"}),    # CET, UTC+1
        ("c_utc", {**ANN, "birthday": "1979-03-22T23:30:00+05:00"}),                  # RFC 3339: its date as written
    ], until="2026-03-31T00:00:00Z")
    assert lines(h.of("entered")) == [
        "2026-03-20T14:00:00Z c_ny j entered",
        "2026-03-21T09:00:00Z c_paris j entered",
        "2026-03-22T10:00:00Z c_utc j entered",
    ]


def test_a_date_trigger_offset_moves_the_day() -> None:
    trigger = '{date: birthday, offset: -7d, at: "10:00", repeat: yearly}'
    h = Harness(journeys={"j": journey(trigger, reentry="after_exit")}, templates=M)
    h.run([], profiles=[("c1", {**ANN, "birthday": "1990-03-20"})], until="2026-03-31T00:00:00Z")
    assert [r["at"] for r in h.of("entered")] == ["2026-03-13T10:00:00Z"]
    assert [(r["at"], r["status"]) for r in h.of("send")] == [("2026-03-13T10:00:00Z", "sent")]


def test_a_yearly_date_trigger_fires_again_next_year_when_reentry_allows() -> None:
    h = Harness(journeys={"j": journey(BIRTHDAY, reentry="after_exit")}, templates=M)
    h.run([event("page_view", "2026-03-01T00:00:00Z")],
          profiles=[("c1", {**ANN, "birthday": "1990-03-20", "timezone": "America/New_York"})],
          until="2027-04-01T00:00:00Z")
    assert [r["at"] for r in h.of("entered")] == ["2026-03-20T14:00:00Z", "2027-03-20T14:00:00Z"]


def test_a_yearly_date_trigger_with_reentry_never_fires_only_once() -> None:
    h = Harness(journeys={"j": journey(BIRTHDAY)}, templates=M)
    h.run([event("page_view", "2026-03-01T00:00:00Z")], profiles=[("c1", {**ANN, "birthday": "1990-03-20"})],
          until="2027-04-01T00:00:00Z")
    assert [r["at"] for r in h.of("entered")] == ["2026-03-20T10:00:00Z"]


def test_a_date_trigger_is_replanned_when_the_trait_changes() -> None:
    h = Harness(journeys={"j": journey(BIRTHDAY, reentry="after_exit")}, templates=M)
    h.run([event("profile_updated", "2026-03-05T00:00:00Z", traits={"birthday": "1990-03-25"})],
          profiles=[("c1", {**ANN, "birthday": "1990-03-20"})], until="2026-04-30T00:00:00Z")
    assert [r["at"] for r in h.of("entered")] == ["2026-03-25T10:00:00Z"]


def test_a_date_trait_set_by_an_event_plans_the_trigger() -> None:
    h = Harness(journeys={"j": journey(BIRTHDAY, reentry="after_exit")}, templates=M)
    h.run([event("signup", "2026-03-05T00:00:00Z", traits={**ANN, "birthday": "2001-03-10", "timezone": "Asia/Tokyo"})],
          until="2026-04-30T00:00:00Z")
    assert [r["at"] for r in h.of("entered")] == ["2026-03-10T01:00:00Z"]


def test_a_date_trigger_without_repeat_fires_once_on_a_future_date() -> None:
    h = Harness(journeys={"j": journey('{date: trial_ends, offset: -2d, at: "08:30"}', reentry="after_exit")}, templates=M)
    h.run([event("page_view", "2026-03-01T00:00:00Z")], profiles=[("c1", {**ANN, "trial_ends": "2026-03-20"})],
          until="2027-04-01T00:00:00Z")
    assert [r["at"] for r in h.of("entered")] == ["2026-03-18T08:30:00Z"]


RENEWAL = """
id: renewal
trigger: {date: renews_on, at: "10:00"}
reentry: after_exit
steps:
  - send: email
    template: m
%s  - update: {set: {renews_on: "profile.next_renewal"}}
"""


def test_a_date_trait_moved_by_the_journey_after_a_wait_is_replanned() -> None:
    h = Harness(journeys={"renewal": RENEWAL % "  - wait: 1m\n"}, templates=M)
    h.run([], profiles=[("c1", {**ANN, "renews_on": "2026-03-10", "next_renewal": "2026-03-20"})],
          until="2026-03-31T00:00:00Z")
    assert [r["at"] for r in h.of("entered")] == ["2026-03-10T10:00:00Z", "2026-03-20T10:00:00Z"]


def test_a_date_trait_moved_by_the_journeys_first_steps_is_replanned() -> None:
    h = Harness(journeys={"renewal": RENEWAL % ""}, templates=M)
    h.run([], profiles=[("c1", {**ANN, "renews_on": "2026-03-10", "next_renewal": "2026-03-20"})],
          until="2026-03-31T00:00:00Z")
    assert [r["at"] for r in h.of("entered")] == ["2026-03-10T10:00:00Z", "2026-03-20T10:00:00Z"]


# ---- inactivity triggers ----------------------------------------------------------

WINBACK = "{inactivity: purchase, for: 30d}"


def test_an_inactivity_trigger_fires_its_duration_after_the_latest_event() -> None:
    h = Harness(journeys={"j": journey(WINBACK, reentry="after_exit")}, templates=M)
    records = h.run([event("purchase", traits=ANN)], until="2026-06-01T00:00:00Z")
    assert lines(records) == [
        "2026-04-01T12:00:00Z c1 j entered",
        "2026-04-01T12:00:00Z c1 j send 0 email sent",
        "2026-04-01T12:00:00Z c1 j exited completed @0",
    ]


def test_a_newer_event_rearms_the_inactivity_trigger() -> None:
    h = Harness(journeys={"j": journey(WINBACK, reentry="after_exit")}, templates=M)
    h.run([event("purchase", traits=ANN), event("purchase", "2026-03-12T12:00:00Z")], until="2026-06-01T00:00:00Z")
    assert [r["at"] for r in h.of("entered")] == ["2026-04-11T12:00:00Z"]


def test_an_inactivity_trigger_that_fired_is_rearmed_by_the_next_event() -> None:
    h = Harness(journeys={"j": journey(WINBACK, reentry="after_exit")}, templates=M)
    h.run([event("purchase", traits=ANN), event("purchase", "2026-04-15T00:00:00Z")], until="2026-06-01T00:00:00Z")
    assert [r["at"] for r in h.of("entered")] == ["2026-04-01T12:00:00Z", "2026-05-15T00:00:00Z"]


def test_inactivity_never_fires_for_a_customer_who_never_had_that_event() -> None:
    h = Harness(journeys={"j": journey(WINBACK, reentry="after_exit")}, templates=M)
    h.run([event("page_view", customer="c2", traits=ANN), event("purchase", customer="c1", traits=ANN)],
          until="2026-06-01T00:00:00Z")
    assert [(r["at"], r["customer_id"]) for r in h.of("entered")] == [("2026-04-01T12:00:00Z", "c1")]


# ---- identity -----------------------------------------------------------------------

def anon(kind: str, at: str, anonymous_id: str = "a1", **fields: Any) -> dict[str, Any]:
    return event(kind, at, customer=None, anonymous_id=anonymous_id, **fields)


def test_linking_merges_the_anonymous_visitors_traits_and_activity_into_the_customer() -> None:
    hello = journey("{event: signup}", jid="hello")
    h = Harness(journeys={"hello": hello}, templates={
        "m.email.html": email("Hi {{ profile.first_name }} {{ profile.plan }} {{ activity.page_view.count }}")})
    h.run([
        anon("page_view", T0, traits={"first_name": "Ann", "plan": "anon-plan"}),
        anon("page_view", "2026-03-02T12:01:00Z"),
        event("page_view", "2026-03-02T12:02:00Z", traits={"plan": "pro"}),
        event("signup", "2026-03-02T12:10:00Z", anonymous_id="a1", traits={"email": "ann@example.com"}),
    ])
    # the anonymous first_name arrives; the customer's own plan wins; page views add up
    assert [(r["customer_id"], r["subject"]) for r in h.of("send")] == [("c1", "Hi Ann pro 3")]


def test_later_events_with_only_the_anonymous_id_belong_to_the_customer() -> None:
    h = Harness(journeys={"cart": journey("{event: cart_updated}", jid="cart")}, templates=M)
    records = h.run([
        event("signup", T0, anonymous_id="a1", traits=ANN),
        anon("cart_updated", "2026-03-02T12:10:00Z"),
    ])
    assert [{k: v for k, v in r.items() if k != "message_id"} for r in records] == [
        {"at": "2026-03-02T12:10:00Z", "customer_id": "c1", "journey": "cart", "type": "entered"},
        {"at": "2026-03-02T12:10:00Z", "customer_id": "c1", "journey": "cart", "type": "send", "step": "0",
         "channel": "email", "template": "m", "to": "ann@example.com", "status": "sent", "reason": None,
         "subject": "M Ann", "variant": None, "transactional": False,
         # the unsubscribe link the template lacked, added as every marketing email's footer
         "text": "Hello\n\nUnsubscribe (https://nudge.invalid/u/YzEfZW1haWw.MSQpi8tRyumRgSPGiVd-NA)"},
        {"at": "2026-03-02T12:10:00Z", "customer_id": "c1", "journey": "cart", "type": "exited",
         "reason": "completed", "step": "0"},
    ]


def test_an_anonymous_instance_moves_to_the_customer_when_linked() -> None:
    h = Harness(journeys={"browse": journey("{event: page_view}", steps=WAIT_THEN_SEND, jid="browse")}, templates=M)
    records = h.run([
        anon("page_view", T0),
        event("signup", "2026-03-02T12:10:00Z", anonymous_id="a1", traits=ANN),
    ])
    assert records[0] == {"at": T0, "customer_id": None, "anonymous_id": "a1", "journey": "browse", "type": "entered"}
    assert lines(records) == [
        "2026-03-02T12:00:00Z anon:a1 browse entered",
        "2026-03-02T13:00:00Z c1 browse send 1 email sent",
        "2026-03-02T13:00:00Z c1 browse exited completed @1",
    ]
    assert h.of("send")[0]["to"] == "ann@example.com"


def test_an_anonymous_instance_exits_as_merged_when_the_customer_already_has_one() -> None:
    h = Harness(journeys={"browse": journey("{event: page_view}", steps=WAIT_THEN_SEND, jid="browse")}, templates=M)
    records = h.run([
        event("page_view", T0, traits=ANN),
        anon("page_view", "2026-03-02T12:05:00Z"),
        event("signup", "2026-03-02T12:10:00Z", anonymous_id="a1"),
    ])
    assert lines(records) == [
        "2026-03-02T12:00:00Z c1 browse entered",
        "2026-03-02T12:05:00Z anon:a1 browse entered",
        "2026-03-02T12:10:00Z c1 browse exited merged @0",
        "2026-03-02T13:00:00Z c1 browse send 1 email sent",
        "2026-03-02T13:00:00Z c1 browse exited completed @1",
    ]
    assert h.of("exited", reason="merged")[0]["customer_id"] == "c1"
    assert "anonymous_id" not in h.of("exited", reason="merged")[0]


BROWSE_GOAL = journey("{event: page_view}", reentry="after_exit", steps=WAIT_THEN_SEND, jid="browse",
                      extra='goal: {event: purchase, within: 7d, value: "event.properties.total"}')


def test_a_moved_anonymous_instance_keeps_its_goal() -> None:
    h = Harness(journeys={"browse": BROWSE_GOAL}, templates=M)
    records = h.run([
        anon("page_view", T0),
        event("signup", "2026-03-02T12:10:00Z", anonymous_id="a1", traits=ANN),
        event("purchase", "2026-03-02T12:20:00Z", properties={"total": 9}),
    ])
    assert lines(records) == [
        "2026-03-02T12:00:00Z anon:a1 browse entered",
        "2026-03-02T12:20:00Z c1 browse converted 9",
        "2026-03-02T12:20:00Z c1 browse exited goal @0",
    ]


def test_a_moved_anonymous_instance_keeps_its_goal_when_the_customer_ran_the_journey_before() -> None:
    h = Harness(journeys={"browse": BROWSE_GOAL}, templates=M)
    records = h.run([
        event("page_view", "2026-01-01T00:00:00Z", traits=ANN),
        anon("page_view", T0),
        event("signup", "2026-03-02T12:10:00Z", anonymous_id="a1"),
        event("purchase", "2026-03-02T12:20:00Z", properties={"total": 9}),
    ])
    assert lines(records)[3:] == [
        "2026-03-02T12:00:00Z anon:a1 browse entered",
        "2026-03-02T12:20:00Z c1 browse converted 9",
        "2026-03-02T12:20:00Z c1 browse exited goal @0",
    ]


# ---- duplicates and provider events ---------------------------------------------------

def test_an_event_whose_id_was_already_accepted_is_ignored() -> None:
    h = Harness(journeys={"j": journey("{event: purchase}", reentry="after_exit")},
                templates={"m.email.html": email("{{ activity.purchase.count }}")})
    h.run([
        event("purchase", id="evt_1", traits=ANN),
        event("purchase", "2026-03-02T13:00:00Z", id="evt_1"),
        event("purchase", "2026-03-02T14:00:00Z", id="evt_2"),
    ])
    assert [(r["at"], r["subject"]) for r in h.of("send")] == [(T0, "1"), ("2026-03-02T14:00:00Z", "2")]


PROMO = "- send: email\n  template: m\n- send: sms\n  template: s"
PROMO_TEMPLATES = {**M, "s.sms.txt": "Deal for {{ profile.first_name }}"}
TEXTABLE = {**ANN, "phone": "+15550100001", "sms_subscribed": True}


def test_an_unsubscribed_event_sets_that_channel_subscribed_to_false() -> None:
    h = Harness(journeys={"j": journey("{event: promo}", reentry="after_exit", steps=PROMO)}, templates=PROMO_TEMPLATES)
    h.run([
        event("promo", traits=TEXTABLE),
        event("unsubscribed", "2026-03-02T13:00:00Z", properties={"channel": "sms"}),
        event("promo", "2026-03-02T14:00:00Z"),
        event("unsubscribed", "2026-03-02T15:00:00Z", properties={"channel": "email"}),
        event("promo", "2026-03-02T16:00:00Z"),
    ])
    assert [(r["at"], r["channel"], r["status"], r["reason"]) for r in h.of("send")] == [
        (T0, "email", "sent", None), (T0, "sms", "sent", None),
        ("2026-03-02T14:00:00Z", "email", "sent", None), ("2026-03-02T14:00:00Z", "sms", "suppressed", "unsubscribed"),
        ("2026-03-02T16:00:00Z", "email", "suppressed", "unsubscribed"),
        ("2026-03-02T16:00:00Z", "sms", "suppressed", "unsubscribed"),
    ]


def bounce_harness() -> Harness:
    promo = journey("{event: promo}", reentry="after_exit", jid="promo")
    receipt = journey("{event: purchase}", reentry="after_exit", jid="receipt",
                      steps="- send: email\n  template: m\n  transactional: true")
    return Harness(journeys={"promo": promo, "receipt": receipt}, templates=M)


def test_a_hard_bounce_suppresses_the_address_for_good_even_for_another_customer() -> None:
    h = bounce_harness()
    h.run([
        event("email_bounced", customer="c1", traits=ANN, properties={"bounce": "hard"}),
        event("promo", "2026-03-02T13:00:00Z", customer="c1"),
        event("purchase", "2026-03-02T13:00:00Z", customer="c1"),
        event("promo", "2026-06-02T13:00:00Z", customer="c2", traits={"email": "Ann@Example.com"}),
    ])
    assert [(r["at"], r["customer_id"], r["journey"], r["status"], r["reason"], r["to"]) for r in h.of("send")] == [
        ("2026-03-02T13:00:00Z", "c1", "promo", "suppressed", "bounced", "ann@example.com"),
        ("2026-03-02T13:00:00Z", "c1", "receipt", "suppressed", "bounced", "ann@example.com"),
        ("2026-06-02T13:00:00Z", "c2", "promo", "suppressed", "bounced", "Ann@Example.com"),
    ]


def test_a_soft_bounce_does_not_suppress_the_address() -> None:
    h = bounce_harness()
    h.run([
        event("email_bounced", customer="c1", traits=ANN, properties={"bounce": "soft"}),
        event("promo", "2026-03-02T13:00:00Z", customer="c1"),
    ])
    assert [(r["status"], r["reason"]) for r in h.of("send")] == [("sent", None)]


def test_a_complaint_suppresses_the_address_with_reason_complained() -> None:
    h = bounce_harness()
    h.run([
        event("email_complained", customer="c1", traits=ANN),
        event("promo", "2026-03-02T13:00:00Z", customer="c1"),
        event("purchase", "2026-03-02T13:00:00Z", customer="c1"),
    ])
    assert [(r["journey"], r["status"], r["reason"]) for r in h.of("send")] == [
        ("promo", "suppressed", "complained"), ("receipt", "suppressed", "complained"),
    ]

"""Properties of sending over generated customers and events (hypothesis): SPEC §5 and §7 invariants.

Customers get random zones (a few real IANA zones, a bogus one, or none), addresses,
consents and names; events land at random minutes over four days, some changing traits
(a move to another zone, an unsubscribe) on the way. The oracles are written here, from
the contract, not from the engine's helpers.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.testing import Harness, email

WORKSPACE_ZONE = "America/Los_Angeles"
ZONES = ["UTC", "America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Sydney"]
QUIET_START, QUIET_END = time(21, 0), time(8, 0)
CAPS = {"email": (2, timedelta(days=1)), "sms": (1, timedelta(hours=12))}
SETTINGS = f"""
timezone: {WORKSPACE_ZONE}
quiet_hours: {{start: "21:00", end: "08:00"}}
frequency_caps:
  email: {{max: 2, per: 1d}}
  sms: {{max: 1, per: 12h}}
"""
JOURNEYS = {
    "a_browse": """
id: browse
reentry: restart
exit_on: [{event: buy}]
trigger: {event: browse}
steps:
  - id: nudge
    send: email
    template: offer
    when: "not profile.vip"
  - wait: 3h
  - id: follow_up
    send: email
    template: offer
  - wait_until: {time: "07:30"}
  - id: morning_text
    send: sms
    template: text
""",
    "b_ping": """
id: ping
reentry: after_exit
trigger: {event: ping}
steps:
  - id: text
    send: sms
    template: text
  - wait_for: {event: browse, timeout: 5h}
    then:
      - id: thanks
        send: email
        template: offer
    else:
      - id: notice
        send: email
        template: receipt
        transactional: true
""",
    "c_receipt": """
id: receipt
reentry: after_exit
trigger: {event: buy}
steps:
  - id: receipt
    send: email
    template: receipt
    transactional: true
  - id: receipt_text
    send: sms
    template: text
    transactional: true
""",
}
TEMPLATES = {
    "offer.email.html": email("Hi {{ profile.first_name | default('there') }}",
                              "<p>Hello {{ profile.first_name }}</p><a href=\"{{ unsubscribe_url }}\">Unsubscribe</a>"),
    "offer.fr.email.html": email("Salut {{ profile.first_name }}", "<p>Bonjour {{ profile.first_name }}</p>"),
    "receipt.email.html": email("Your order", "<p>Thanks {{ profile.first_name }}</p>"),
    "text.sms.txt": "  Hi {{ profile.first_name }}, {{ event.type }}  ",
}
START = datetime(2026, 3, 6, tzinfo=timezone.utc)   # spans the US change to summer time on 8 March
UNTIL = "2026-03-14T00:00:00Z"


def make_harness() -> Harness:
    return Harness(settings=SETTINGS, journeys=JOURNEYS, templates=TEMPLATES)


HARNESS = make_harness()
OTHER_HARNESS = make_harness()  # a second, separately loaded copy of the same workspace

# ---- generated inputs ----------------------------------------------------------------------

names = st.text(alphabet=st.sampled_from("Anné <&>'\"Zoë😀 "), max_size=8)


def _present(values: list[Any]) -> st.SearchStrategy[Any]:
    """Mostly one of `values`; now and then None, which leaves the trait out."""
    return st.sampled_from([*values, None])


@st.composite
def profiles(draw: st.DrawFn) -> dict[str, Any]:
    traits = {
        "email": draw(_present(["x@example.com", "Y@Example.com", "  z@example.com "])),
        "phone": draw(_present(["+15551230000", "+447700900123", "+61491570156"])),
        "timezone": draw(_present(ZONES)),
        "email_subscribed": draw(_present([True, False, True])),
        "sms_subscribed": draw(_present([True, True, False])),
        "first_name": draw(st.one_of(st.none(), names)),
        "vip": draw(st.booleans()),
        "locale": draw(_present(["fr-CA", "en", "pt-BR", "en-GB"])),
    }
    return {k: v for k, v in traits.items() if v is not None}


changes: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.just({}),
    st.fixed_dictionaries({"timezone": st.one_of(st.none(), st.sampled_from(ZONES))}),
    st.fixed_dictionaries({"sms_subscribed": st.booleans()}),
    st.fixed_dictionaries({"first_name": names}),
)
KINDS = ["browse", "browse", "browse", "ping", "ping", "buy", "unsubscribe", "bounce", "move"]
raw_events = st.lists(
    st.tuples(st.integers(0, 2), st.sampled_from(KINDS), st.integers(0, 4 * 24 * 60), changes),
    min_size=1, max_size=24, unique_by=lambda e: e[2],  # distinct timestamps
)


@st.composite
def scenarios(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Events in input order; each customer's first event carries its whole profile."""
    customers = draw(st.lists(profiles(), min_size=3, max_size=3))
    seen: set[int] = set()
    out: list[dict[str, Any]] = []
    for n, (who, kind, minute, change) in enumerate(sorted(draw(raw_events), key=lambda e: e[2])):
        traits = dict(change)
        if who not in seen:
            seen.add(who)
            traits = {**customers[who], **traits}
        event: dict[str, Any] = {"id": f"e{n}", "customer_id": f"c{who}",
                                 "timestamp": (START + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")}
        if kind == "unsubscribe":
            event.update(type="unsubscribed", properties={"channel": draw(st.sampled_from(["email", "sms"]))})
        elif kind == "bounce":
            event.update(type="email_bounced", properties={"bounce": draw(st.sampled_from(["hard", "soft"]))})
        else:
            event["type"] = kind
        if traits:
            event["traits"] = traits
        out.append(event)
    return out


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def run(events: list[dict[str, Any]], h: Harness = HARNESS) -> list[dict[str, Any]]:
    return h.run(events, until=UNTIL)


def as_jsonl(records: list[dict[str, Any]]) -> bytes:
    """As `nudge simulate` writes them."""
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def marketing_sent(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["type"] == "send" and r["status"] == "sent" and not r["transactional"]]


def zone_at(events: list[dict[str, Any]], customer: str, moment: datetime) -> ZoneInfo:
    """The customer's zone at `moment`: traits of every event up to it (null removes), else the workspace's."""
    name: Any = None
    for e in sorted(events, key=lambda e: at(e["timestamp"])):
        if e["customer_id"] == customer and at(e["timestamp"]) <= moment and "timezone" in e.get("traits", {}):
            name = e["traits"]["timezone"]
    if isinstance(name, str):
        try:
            return ZoneInfo(name)
        except Exception:  # a bogus zone: the workspace's, as for a missing one
            pass
    return ZoneInfo(WORKSPACE_ZONE)


def in_quiet_hours(local: time) -> bool:
    return local >= QUIET_START or local < QUIET_END


fast = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---- properties ---------------------------------------------------------------------------------

@fast
@given(scenarios())
def test_the_same_input_gives_byte_identical_output(events: list[dict[str, Any]]) -> None:
    first = as_jsonl(run(events))
    assert first == as_jsonl(run(events))
    assert first == as_jsonl(run(events, OTHER_HARNESS))


@fast
@given(scenarios())
def test_no_marketing_message_is_sent_inside_quiet_hours_in_the_customers_local_zone(events: list[dict[str, Any]]) -> None:
    for r in marketing_sent(run(events)):
        moment = at(r["at"])
        local = moment.astimezone(zone_at(events, r["customer_id"], moment))
        assert not in_quiet_hours(local.time()), (r, local.isoformat())


@fast
@given(scenarios())
def test_no_channel_ever_exceeds_its_cap_in_any_trailing_window(events: list[dict[str, Any]]) -> None:
    sent: dict[tuple[str, str], list[datetime]] = {}
    for r in marketing_sent(run(events)):
        sent.setdefault((r["customer_id"], r["channel"]), []).append(at(r["at"]))
    for (customer, channel), times in sent.items():
        most, per = CAPS[channel]
        for end in times:
            in_window = [t for t in times if end - per < t <= end]
            assert len(in_window) <= most, (customer, channel, [t.isoformat() for t in in_window])


@fast
@given(scenarios(), st.randoms(use_true_random=False))
def test_permuting_events_with_distinct_timestamps_changes_nothing(events: list[dict[str, Any]], rnd: random.Random) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert as_jsonl(run(shuffled)) == as_jsonl(run(events))


@fast
@given(scenarios())
def test_every_marketing_email_sent_carries_its_customers_unsubscribe_link(events: list[dict[str, Any]]) -> None:
    for r in marketing_sent(run(events)):
        if r["channel"] == "email" and r["template"] == "offer" and r["subject"].startswith("Hi"):
            assert "(https://nudge.invalid/u/" in r["text"], r


@fast
@given(scenarios())
def test_records_are_ordered_by_time_and_each_instance_enters_before_it_sends(events: list[dict[str, Any]]) -> None:
    records = run(events)
    assert [r["at"] for r in records] == sorted(r["at"] for r in records)
    active: set[tuple[str, str]] = set()
    for r in records:
        key = (r["customer_id"], r["journey"])
        if r["type"] == "entered":
            assert key not in active, r
            active.add(key)
        elif r["type"] == "send":
            assert key in active, r
        elif r["type"] == "exited":
            active.discard(key)

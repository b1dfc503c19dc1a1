"""Properties of the engine over generated inputs (hypothesis): determinism, order, quiet hours, caps."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.testing import Harness, email

ZONES = ["UTC", "America/New_York", "Europe/Paris", "Asia/Kolkata", "Australia/Sydney"]
JOURNEYS = {
    "promo": "id: promo\nreentry: after_exit\ntrigger: {event: promo}\nsteps:\n  - id: offer\n    send: email\n"
             "    template: m\n  - wait: 5h\n  - id: again\n    send: email\n    template: m\n",
    "texts": "id: texts\nreentry: after_exit\ntrigger: {event: ping}\nsteps:\n  - id: text\n    send: sms\n    template: s\n",
}
TEMPLATES = {"m.email.html": email("Hi {{ profile.first_name | default('there') }}"), "s.sms.txt": "Hi"}
SETTINGS = 'quiet_hours: {start: "21:00", end: "08:00"}\nfrequency_caps:\n  email: {max: 2, per: 1d}\n  sms: {max: 1, per: 1d}'
HARNESS = Harness(settings=SETTINGS, journeys=JOURNEYS, templates=TEMPLATES)
START = datetime(2026, 3, 5, tzinfo=timezone.utc)

event_lists = st.lists(
    st.tuples(st.integers(0, 5), st.sampled_from(["promo", "ping"]), st.integers(0, 4 * 24 * 60)),
    min_size=1, max_size=25, unique_by=lambda t: t[2],  # distinct timestamps
)


def events(spec: list[tuple[int, str, int]]) -> list[dict[str, Any]]:
    out = []
    for n, (customer, kind, minute) in enumerate(spec):
        at = (START + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append({"id": f"e{n}", "type": kind, "customer_id": f"c{customer}", "timestamp": at,
                    "traits": {"email": f"c{customer}@example.com", "phone": f"+1555000000{customer}",
                               "sms_subscribed": True, "timezone": ZONES[customer % len(ZONES)]}})
    return out


def run(evs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return HARNESS.run(evs)


fast = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fast
@given(event_lists)
def test_the_same_input_gives_the_same_output(spec: list[tuple[int, str, int]]) -> None:
    assert run(events(spec)) == run(events(spec))


@fast
@given(event_lists, st.randoms(use_true_random=False))
def test_the_order_of_events_with_distinct_timestamps_in_the_input_changes_nothing(
        spec: list[tuple[int, str, int]], rnd: random.Random) -> None:
    shuffled = events(spec)
    rnd.shuffle(shuffled)
    assert run(shuffled) == run(events(spec))


@fast
@given(event_lists)
def test_no_marketing_message_is_sent_inside_quiet_hours_in_the_customers_zone(spec: list[tuple[int, str, int]]) -> None:
    for r in run(events(spec)):
        if r["type"] == "send" and r["status"] == "sent" and not r["transactional"]:
            zone = ZoneInfo(ZONES[int(r["customer_id"][1:]) % len(ZONES)])
            local = datetime.fromisoformat(r["at"].replace("Z", "+00:00")).astimezone(zone)
            assert 8 <= local.hour < 21, r


@fast
@given(event_lists)
def test_no_channel_ever_exceeds_its_cap_in_any_trailing_window(spec: list[tuple[int, str, int]]) -> None:
    caps = {"email": (2, timedelta(days=1)), "sms": (1, timedelta(days=1))}
    sent: dict[tuple[str, str], list[datetime]] = {}
    for r in run(events(spec)):
        if r["type"] == "send" and r["status"] == "sent":
            sent.setdefault((r["customer_id"], r["channel"]), []).append(datetime.fromisoformat(r["at"].replace("Z", "+00:00")))
    for (_, channel), times in sent.items():
        most, per = caps[channel]
        for t in times:
            assert sum(1 for u in times if t - per < u <= t) <= most

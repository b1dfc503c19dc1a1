"""`nudge run` and `nudge simulate` agree: the same events give the same messages.

One event file over a small workspace (waits, wait_for with then/else, if, split, update,
restart and cooldown re-entry, exit_on, goal, an identity merge, consent, a frequency cap;
no quiet hours) goes through `simulate` with its virtual clock and through a real `nudge run`
subprocess over HTTP. The live run is a replay in real time: every event carries a recorded
timestamp of a moment a few seconds from the start and is posted as soon as the wall clock
has passed it (so it is recent, never late), and the waits of a few seconds pass for real.

Why a paced replay and not one bulk post: a live runtime processes an event when it arrives,
and a timer when its due time comes. Had all events been posted at once with past stamps,
the runtime would rightly process a customer's later events before timers that `simulate`
fires between them. Each scripted customer therefore keeps at least 0.6 s between any of
its events and any of its timers' due times (`SCRIPTS` lists both), so the order of events
and timers cannot depend on scheduling jitter.

The live run counts on each event's `received_at` (SPEC §14), a few milliseconds after its
timestamp: its messages match `simulate` over the recorded events by content and id, and
match exactly, times and every outcome record included, `simulate` over the event log the
run kept (which carries `received_at`).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from engine.effects import Timer
from engine.runtimes.jsonl import event_line
from engine.runtimes.simulate import VirtualClock, simulate
from engine.testing import email, write_workspace
from rules.events import parse_event
from rules.workspace import load_workspace
from tests.e2e.server import NudgeServer
from tests.helpers import without_unsubscribe_link

SETTINGS = """\
timezone: UTC
frequency_caps:
  sms: {max: 1, per: 1d}
sender:
  email: "Shop <hello@shop.example>"
  sms: "+15550100000"
  postal_address: "1 Main St, Springfield"
"""
EXTRA = """\
segments:
  vip: "profile.lifetime_value >= 500"
"""
ONBOARDING = """\
id: onboarding
trigger: {event: signed_up}
audience: "profile.email is defined"
goal: {event: purchase, within: 1d, value: "event.properties.total", exit: false}
steps:
  - id: welcome
    send: email
    template: welcome
  - wait: 2s
  - if: "activity.purchase.count > 0"
    then:
      - id: thanks
        send: email
        template: thanks
    else:
      - id: first_order
        send: email
        template: first_order
  - update:
      set: {onboarded: "true"}
      increment: {touches: "1"}
"""
CART = """\
id: cart
trigger: {event: cart_updated, where: "event.properties.cart_total > 0"}
reentry: restart
exit_on:
  - {event: purchase}
steps:
  - wait_for:
      event: cart_viewed
      where: "event.properties.cart_id == trigger_event.properties.cart_id"
      timeout: 3s
    then:
      - id: seen
        send: email
        template: cart_seen
    else:
      - id: text
        send: sms
        template: cart_text
  - split:
      name: offer
      variants:
        - name: A
          weight: 50
          steps:
            - id: offer_a
              send: email
              template: offer
        - name: B
          weight: 30
          steps:
            - id: offer_b
              send: email
              template: offer
        - name: holdout
          weight: 20
"""
PRICING = """\
id: pricing
trigger: {event: page_view, where: "event.properties.page == 'pricing'"}
reentry: {cooldown: 1h}
steps:
  - if: "in_segment('vip')"
    then:
      - id: vip
        send: email
        template: vip
  - wait: 1s
  - id: followup
    send: email
    template: followup
  - update:
      increment: {pricing_views: "1"}
"""
TEMPLATES = {
    "welcome.email.html": email("Welcome, {{ profile.first_name | default('friend') }}",
                                "<h1>Welcome</h1><p>Hello {{ profile.first_name | default('friend') }}, glad you joined.</p>"),
    "thanks.email.html": email("Thanks for {{ activity.purchase.count }} order(s)",
                               "<p>Your order {{ event.properties.order_id | default('?') }} is on its way.</p>"),
    "first_order.email.html": email("Ready for your first order, {{ profile.first_name | default('friend') }}?",
                                    "<p>Here is 10% off.</p>"),
    "cart_seen.email.html": email("Still thinking about cart {{ trigger_event.properties.cart_id }}?",
                                  "<p>You looked at it again ({{ event.properties.cart_id }}).</p>"),
    "cart_text.sms.txt": "Hi {{ profile.first_name | default('friend') }}, your cart of ${{ trigger_event.properties.cart_total }} "
                         "is waiting. Reply STOP to opt out.\n",
    "offer.email.html": email("Offer {{ journey.variant.offer }} for {{ profile.first_name | default('friend') }}",
                              "<p>Variant {{ journey.variant.offer }}, cart {{ trigger_event.properties.cart_id }}</p>"),
    "vip.email.html": email("VIP pricing for {{ profile.first_name | default('friend') }}", "<p>Call us.</p>"),
    "followup.email.html": email(
        "Questions about pricing? ({{ profile.touches | default(0) }} touches, "
        "onboarded={{ profile.onboarded | default(false) }})",
        "<p>Seen pricing {{ activity.page_view.count }} time(s).</p>"),
}

# Each script: (seconds after the customer's start, event type, properties, traits, who), where
# who is "c" (customer_id), "a" (anonymous_id only) or "ca" (both: links them). The comment
# under each lists the due times its timers get (onboarding +2 s, cart timeout +3 s, pricing
# +1 s), each at least 0.6 s from every event of the script.
Step = tuple[float, str, dict[str, Any], dict[str, Any], str]
SCRIPTS: dict[str, list[Step]] = {
    # buyer, vip: thanks (the if sees the purchase); vip + follow-up; pricing again within cooldown
    "buyer": [(0.0, "signed_up", {}, {"email": True, "lifetime_value": 700}, "c"),
              (0.8, "purchase", {"order_id": "o1", "total": 80}, {}, "c"),
              (3.0, "page_view", {"page": "pricing"}, {}, "c"),
              (5.0, "page_view", {"page": "pricing"}, {}, "c")],
    # dues 2.0 (onboarding), 4.0 (pricing)
    "abandoner": [(0.0, "signed_up", {}, {"email": True, "phone": True, "sms_subscribed": True}, "c"),
                  (0.6, "cart_updated", {"cart_id": "k1", "cart_total": 40}, {}, "c"),
                  (1.2, "cart_viewed", {"cart_id": "other"}, {}, "c"),
                  (4.6, "page_view", {"page": "pricing"}, {}, "c")],
    # dues 2.0, 3.6 (timeout: text, then the split), 5.6
    "viewer": [(0.0, "signed_up", {}, {"email": True}, "c"),
               (0.7, "cart_updated", {"cart_id": "k1", "cart_total": 25}, {}, "c"),
               (2.8, "cart_viewed", {"cart_id": "k1"}, {}, "c"),
               (4.5, "page_view", {"page": "home"}, {}, "c")],
    # dues 2.0, 3.7 (stale: the cart was seen at 2.8)
    "restarter": [(0.0, "cart_updated", {"cart_id": "k1", "cart_total": 10}, {"email": True}, "c"),
                  (1.0, "cart_updated", {"cart_id": "k2", "cart_total": 30}, {}, "c"),
                  (2.0, "purchase", {"order_id": "o2", "total": 30}, {}, "c"),
                  (5.0, "signed_up", {}, {}, "c")],
    # dues 3.0 (stale), 4.0 (stale: exit_on purchase at 2.0), 7.0 (thanks)
    "unreachable": [(0.0, "signed_up", {}, {"phone": True}, "c"),
                    (0.5, "cart_updated", {"cart_id": "k1", "cart_total": 0}, {}, "c"),
                    (1.0, "cart_updated", {"cart_id": "k2", "cart_total": 15}, {}, "c"),
                    (2.0, "page_view", {"page": "pricing"}, {}, "c")],
    # dues 3.0 (follow-up: no address), 4.0 (text: no consent; offer: no address)
    "unsubscribed": [(0.0, "signed_up", {}, {"email": True, "email_subscribed": False, "lifetime_value": 600}, "c"),
                     (1.3, "page_view", {"page": "pricing"}, {}, "c")],
    # dues 2.0, 2.3: everything suppressed (unsubscribed)
    "anonymous": [(0.0, "page_view", {"page": "pricing"}, {}, "a"),
                  (2.0, "signed_up", {}, {"email": True}, "ca"),
                  (3.0, "page_view", {"page": "pricing"}, {}, "c")],
    # dues 1.0 (follow-up before the merge: no address), 4.0 (first_order after the merge)
    "twice": [(0.0, "cart_updated", {"cart_id": "k1", "cart_total": 50}, {"email": True, "phone": True,
                                                                           "sms_subscribed": True}, "c"),
              (1.0, "cart_viewed", {"cart_id": "k9"}, {}, "c"),
              (3.8, "cart_updated", {"cart_id": "k2", "cart_total": 60}, {}, "c"),
              (5.5, "page_view", {"page": "home"}, {}, "c")],
    # dues 3.0 (text; the split), 6.8 (restarted after completing: text capped at 1 a day; the split again)
}
REPLICAS = 8
STAGGER = 0.35   # seconds between the starts of a script's replicas
LEAD = 1.0       # seconds from building the file to its first event
MARGIN = 0.6     # seconds at least between a customer's events and its timers' due times


def events_file(start: datetime) -> list[dict[str, Any]]:
    """The recorded events, in timestamp order (a stable sort of the scripts)."""
    events: list[dict[str, Any]] = []
    n = 0
    for script, steps in SCRIPTS.items():
        for r in range(REPLICAS):
            cid, anon = f"{script}_{r}", f"anon_{script}_{r}"
            for offset, kind, props, traits, who in steps:
                n += 1
                at = start + timedelta(seconds=r * STAGGER + offset)
                filled = {k: (f"{cid}@example.com" if k == "email" and v is True else
                              f"+1555{n:07d}" if k == "phone" and v is True else v) for k, v in traits.items()}
                if kind == "signed_up":
                    filled.setdefault("first_name", f"{script.title()}{r}")
                event: dict[str, Any] = {"id": f"evt_{cid}_{offset}", "type": kind, "timestamp": at.isoformat(),
                                         "properties": props, "traits": filled}
                if "c" in who:
                    event["customer_id"] = cid
                if "a" in who:
                    event["anonymous_id"] = anon
                events.append(event)
    events.sort(key=lambda e: e["timestamp"])
    return events


FIELDS = ("customer_id", "journey", "step", "template", "to", "subject", "text", "variant")


def message_key(m: dict[str, Any], id_field: str) -> tuple[Any, ...]:
    return (*(without_unsubscribe_link(m.get("text")) if f == "text" else m.get(f) for f in FIELDS), m[id_field])


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return write_workspace(tmp_path / "ws", settings=SETTINGS, extra=EXTRA,
                           journeys={"01_onboarding": ONBOARDING, "02_cart": CART, "03_pricing": PRICING},
                           templates=TEMPLATES)


@pytest.fixture
def server(workspace: Path, tmp_path: Path) -> Iterator[NudgeServer]:
    srv = NudgeServer(workspace, tmp_path / "nudge.db")
    yield srv.start()
    srv.stop()


def test_run_and_simulate_send_the_same_messages_for_the_same_events(server: NudgeServer, workspace: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    events = events_file(datetime.now(timezone.utc) + timedelta(seconds=LEAD))
    assert len({e["id"] for e in events}) == len(events)
    timers: list[Timer] = []
    schedule = VirtualClock.schedule

    def recording(clock: VirtualClock, timer: Timer) -> None:
        timers.append(timer)
        schedule(clock, timer)

    monkeypatch.setattr(VirtualClock, "schedule", recording)
    expected = simulate(load_workspace(workspace).workspace, [parse_event(e) for e in events]).records
    monkeypatch.undo()
    # the file keeps every customer's events clear of its timers' due times (see the docstring)
    stamps: dict[str, list[datetime]] = {}
    for e in events:
        for key in (e.get("customer_id"), e.get("anonymous_id") and f"anon:{e['anonymous_id']}"):
            if key:
                stamps.setdefault(key, []).append(datetime.fromisoformat(e["timestamp"]))
    assert timers and all(abs((t.due - at).total_seconds()) >= MARGIN for t in timers for at in stamps[t.key])
    want = [r for r in expected if r["type"] == "send" and r["status"] == "sent"]
    # the file exercises what it claims to
    assert {r["step"] for r in want} >= {"welcome", "thanks", "first_order", "seen", "text", "offer_a", "offer_b",
                                         "vip", "followup"}
    reasons = {r.get("reason") for r in expected if r["type"] in ("send", "exited")}
    assert reasons >= {"no_address", "no_consent", "unsubscribed", "frequency_cap", "restarted", "exit_event",
                       "completed"}
    assert any(r["type"] == "converted" for r in expected)

    # the replay: each event posted once the wall clock has passed its timestamp
    pending = [(datetime.fromisoformat(e["timestamp"]).timestamp(), e) for e in events]
    while pending:
        due = pending[0][0]
        server.wait_for(lambda: time.time() >= due, timeout=30, what="the next event's moment")
        now = time.time()
        ready = [e for at, e in pending if at <= now]
        pending = pending[len(ready):]
        response = server.post(ready)
        assert response.status_code == 202 and response.json()["accepted"] == len(ready), response.text

    def settled() -> bool:
        health = server.health()
        return (health["events_pending"] == 0 and health["timers_pending"] == 0
                and health["messages"] == {"sent": len(want)} and len(server.messages()) == len(want))

    server.wait_for(settled, timeout=30, what=f"{len(want)} messages sent and nothing left to do")
    got = server.messages()

    assert Counter(message_key(m, "id") for m in got) == Counter(message_key(m, "message_id") for m in want)
    # journeys count on received_at (SPEC §14), a few milliseconds after each timestamp here:
    # the exported event log, which carries it, replays the live run exactly
    exported = [json.loads(body) for (body,) in server.query("SELECT body FROM events ORDER BY seq")]
    replayed = simulate(load_workspace(workspace).workspace, [event_line(e) for e in exported]).records
    want_at = [r for r in replayed if r["type"] == "send" and r["status"] == "sent"]
    assert sorted((m["at"], m["id"]) for m in got) == sorted((m["at"], m["message_id"]) for m in want_at)

    # not only the messages: every outcome record (entries, exits, conversions, suppressions)
    conn = sqlite3.connect(server.db)
    try:
        live = [json.loads(body) for (body,) in conn.execute("SELECT body FROM records")]
        late = conn.execute("SELECT COUNT(*) FROM events WHERE status != 'processed'").fetchone()[0]
    finally:
        conn.close()
    assert late == 0
    def canon(records: list[dict[str, Any]]) -> Counter[str]:
        shown = [{**r, "text": without_unsubscribe_link(r["text"])} if "text" in r else r for r in records]
        return Counter(json.dumps(r, sort_keys=True) for r in shown)

    assert canon(live) == canon(replayed)

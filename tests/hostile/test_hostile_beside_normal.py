"""Hostile events posted beside a normal workload never stop, delay or misdirect anyone else's.

A real `nudge run` takes a steady stream of normal customers (sign-up, then for half of them a
purchase about a second later, against a journey that waits one second and branches on the
purchase) while hypothesis posts generated hostile events from other threads: deep and wide
values, huge numbers, odd unicode, control characters, every reserved trait malformed, absurd
timestamps. Afterwards:
- every hostile post was refused with a 4xx naming the field, or accepted and then handled or
  set aside visibly (`failed_inputs`); none got a 5xx;
- the engine never stalled: nothing is left pending and /healthz answers 200;
- the normal customers' messages are exactly what `nudge simulate` gives for the exported event
  log (each line with its `received_at`), so no hostile input changed anyone else's outcome.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from engine.runtimes.jsonl import read_events
from engine.runtimes.simulate import simulate
from engine.testing import email, write_workspace
from rules.workspace import load_workspace
from tests.e2e.server import NudgeServer
from tests.helpers import without_unsubscribe_link

WELCOME = """\
id: welcome
trigger: {event: signed_up}
audience: "profile.email is defined"
steps:
  - id: hello
    send: email
    template: hello
  - wait: 1s
  - if: "activity.purchase.count > 0"
    then:
      - {id: thanks, send: email, template: thanks}
    else:
      - {id: nudge, send: email, template: nudge}
"""
TEMPLATES = {
    "hello.email.html": email("Welcome, {{ profile.first_name | default('friend') }}", "<p>Hello</p>"),
    "thanks.email.html": email("Thanks for order {{ event.properties.order_id | default('?') }}", "<p>Thanks</p>"),
    "nudge.email.html": email("Still there, {{ profile.first_name | default('friend') }}?", "<p>Come back</p>"),
}
NORMAL_CUSTOMERS = 40
FIELDS = ("customer_id", "journey", "step", "template", "to", "subject", "text")


def content(message: dict[str, Any]) -> tuple[Any, ...]:
    """What a customer gets; the unsubscribe link in the text is signed per runtime."""
    return tuple(without_unsubscribe_link(message.get(f)) if f == "text" else message.get(f) for f in FIELDS)

# --- hostile values -------------------------------------------------------------------------

def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


odd_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=40)
control_text = st.text(alphabet=st.sampled_from(["\x00", "\x1f", "\x7f", "\r", "\n", "a", "/", "\u202e"]),
                       min_size=1, max_size=12).filter(lambda s: any(c in s for c in "\x00\x1f\x7f\r\n/\u202e"))
huge_int = st.one_of(st.integers(min_value=2 ** 53), st.integers(max_value=-(2 ** 53)))
bad_reserved = st.one_of(
    st.tuples(st.just("email"), st.sampled_from(["@", "a@b.c\r\nBcc: x@y", "attacker@x, v1@y", "no-at-sign",
                                                 "Ann <ann@example.com>", "", 42, ["a@b.c"]])),
    st.tuples(st.just("phone"), st.sampled_from(["555-0100", "+0123", "+1 555 0100", "x" * 30, 15550100000, ""])),
    st.tuples(st.just("timezone"), st.sampled_from(["Mars/Olympus", "", "UTC+25", "../../etc/passwd", 7])),
    st.tuples(st.just("locale"), st.sampled_from(["", "english please", "x" * 90, "fr_FR\n", 3])),
    st.tuples(st.sampled_from(["email_subscribed", "sms_subscribed"]), st.sampled_from(["yes", 1, "true", [True]])),
)


@st.composite
def hostile_event(draw: st.DrawFn) -> dict[str, Any]:
    """One event that breaks at least one of SPEC §8's limits, in one of many ways."""
    n = draw(st.integers(min_value=0, max_value=10 ** 9))
    event: dict[str, Any] = {"type": "signed_up", "customer_id": f"hostile_{n}", "id": f"h_{n}_{time.monotonic_ns()}",
                             "traits": {"email": f"hostile_{n}@example.com"}, "properties": {}}
    kind = draw(st.sampled_from(["deep", "huge", "long", "id", "reserved", "timestamp", "unicode_key", "float"]))
    if kind == "deep":
        where = draw(st.sampled_from(["traits", "properties"]))
        event[where]["v"] = nested(draw(st.integers(min_value=33, max_value=300)))
    elif kind == "huge":
        event[draw(st.sampled_from(["traits", "properties"]))]["n"] = draw(huge_int)
    elif kind == "long":
        event["properties"]["s"] = "x" * draw(st.integers(min_value=16 * 1024 + 1, max_value=100_000))
    elif kind == "id":
        event[draw(st.sampled_from(["id", "customer_id"]))] = draw(st.one_of(control_text, st.just("x" * 201)))
    elif kind == "reserved":
        trait, value = draw(bad_reserved)
        event["traits"][trait] = value
    elif kind == "timestamp":
        event["timestamp"] = draw(st.sampled_from(["2099-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                                                   "0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z"]))
    elif kind == "unicode_key":
        event["properties"][draw(odd_text) + "\x00"] = draw(odd_text)
        event["properties"]["big"] = draw(huge_int)
    else:
        event["properties"]["f"] = draw(st.sampled_from(["NaN", "Infinity", "-Infinity"]))
    return event


def raw_body(event: dict[str, Any]) -> bytes:
    """JSON as a careless client writes it: NaN/Infinity literals where a float was asked for."""
    text = json.dumps(event, allow_nan=True)
    for literal in ("NaN", "Infinity", "-Infinity"):
        text = text.replace(f'"{literal}"', literal)
    return text.encode()


# --- the normal workload ----------------------------------------------------------------------

class NormalLoad(threading.Thread):
    """Customers signing up, and half of them buying about a second later, for the whole test."""

    def __init__(self, server: NudgeServer) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.ids: list[str] = []
        self.errors: list[str] = []

    def run(self) -> None:
        with self.server.client() as client:
            buyers: list[tuple[float, str]] = []
            for n in range(NORMAL_CUSTOMERS):
                cid = f"normal_{n}"
                self.post(client, {"id": f"su_{cid}", "type": "signed_up", "customer_id": cid,
                                   "traits": {"email": f"{cid}@example.com", "first_name": f"N{n}"}})
                if n % 2 == 0:
                    buyers.append((time.monotonic() + 0.4 + (n % 5) * 0.3, cid))
                while buyers and buyers[0][0] <= time.monotonic():
                    _, buyer = buyers.pop(0)
                    self.post(client, {"id": f"pu_{buyer}", "type": "purchase", "customer_id": buyer,
                                       "properties": {"order_id": f"o_{buyer}", "total": 20}})
                time.sleep(0.12)
            for due, buyer in buyers:
                time.sleep(max(0.0, due - time.monotonic()))
                self.post(client, {"id": f"pu_{buyer}", "type": "purchase", "customer_id": buyer,
                                   "properties": {"order_id": f"o_{buyer}", "total": 20}})

    def post(self, client: httpx.Client, event: dict[str, Any]) -> None:
        response = client.post("/v1/events", json=event)
        if response.status_code != 202 or response.json().get("accepted") != 1:
            self.errors.append(f"{event['id']}: {response.status_code} {response.text[:200]}")
        self.ids.append(event["id"])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NudgeServer]:
    root = write_workspace(tmp_path / "ws", settings="timezone: UTC\nsender:\n  email: \"Shop <s@shop.example>\"\n"
                                                     "  postal_address: \"1 Main St\"\n",
                           journeys={"welcome": WELCOME}, templates=TEMPLATES)
    srv = NudgeServer(root, tmp_path / "nudge.db")
    yield srv.start()
    srv.stop()


def test_hostile_posts_beside_a_normal_workload_change_nothing_for_anyone_else(server: NudgeServer,
                                                                               tmp_path: Path) -> None:
    load = NormalLoad(server)
    load.start()
    accepted_hostile: list[str] = []
    outcomes: Counter[int] = Counter()

    @settings(max_examples=120, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(hostile_event())
    def post_hostile(event: dict[str, Any]) -> None:
        with server.client() as client:
            response = client.post("/v1/events", content=raw_body(event), headers={"Content-Type": "application/json"})
        outcomes[response.status_code] += 1
        assert response.status_code < 500, response.text
        if response.status_code == 202:
            body = response.json()
            assert body["rejected"] == [] and body["accepted"] + body["duplicates"] == 1
            accepted_hostile.extend(body["ids"])
        else:
            assert 400 <= response.status_code < 500
            body = response.json()
            assert body.get("error")
            if response.status_code == 422:  # the field is named, so the integrator can fix it
                assert all(r.get("field") and r.get("reason") for r in body.get("rejected", [])), body

    post_hostile()
    load.join(timeout=120)
    assert not load.is_alive()
    assert load.errors == []
    assert sum(outcomes.values()) > 0 and set(outcomes) - {202} != set(), outcomes

    def settled() -> bool:
        health = server.health()
        return health["events_pending"] == 0 and health["timers_pending"] == 0 and \
            not health["messages"].get("pending") and not health["messages"].get("sending")

    server.wait_for(settled, timeout=60, what="the backlog to drain")
    assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200

    # every hostile event that got in was handled or set aside visibly: none is stuck
    if accepted_hostile:
        marks = ",".join("?" * len(accepted_hostile))
        import sqlite3
        with sqlite3.connect(f"file:{server.db}?mode=ro", uri=True) as conn:
            statuses = dict(conn.execute(f"SELECT id, status FROM events WHERE id IN ({marks})", accepted_hostile))
        assert set(statuses.values()) <= {"processed", "late", "failed"}, statuses

    # the normal customers: exactly simulate's messages on the exported log (with received_at)
    normal = [(orjson.loads(body), received) for body, received in server.query(
        "SELECT body, received_at FROM events WHERE customer LIKE 'normal_%' ORDER BY seq")]
    assert len(normal) == len(load.ids)
    log_file = tmp_path / "exported.jsonl"
    with log_file.open("wb") as out:
        for body, received in normal:
            line = {k: body[k] for k in ("id", "type", "customer_id", "timestamp", "properties", "traits")
                    if body.get(k) is not None}
            line["received_at"] = body.get("received_at") or _rfc3339(received)
            out.write(orjson.dumps(line) + b"\n")
    expected = simulate(load_workspace(server.workspace).workspace, read_events(log_file)).records
    want = Counter(content(r) for r in expected if r["type"] == "send" and r["status"] == "sent")
    got = Counter(content(m) for m in server.messages() if str(m.get("customer_id", "")).startswith("normal_"))
    assert sum(want.values()) == NORMAL_CUSTOMERS * 2
    assert got == want


def _rfc3339(epoch: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, timezone.utc).isoformat().replace("+00:00", "Z")

"""The HTTP API of the embedded runtime against a real `nudge run` process (issue "Embedded runtime").

Every test talks to the server over HTTP and reads its observable state: the file connector's
outbox, the SQLite database, `/metrics`. Nothing sleeps blindly: `wait_for` polls that state.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from connectors.api.auth import sign
from engine.testing import email
from tests.e2e.server import NudgeServer, workspace_server
from tests.helpers import HI, hello_journey

MIB = 1024 * 1024
SECRET = "whsec-test-secret"

# puts the address into the subject, text and HTML: erasure must find it everywhere
HI_WITH_ADDRESS = email("Hi {{ profile.email }}", "<p>Your address: {{ profile.email }}</p>")


# -- fixtures and helpers ------------------------------------------------------------


def start(tmp_path: Path, name: str, journey: str, template: str = HI, settings: str = "",
          env: dict[str, str] | None = None) -> NudgeServer:
    return workspace_server(tmp_path, name, db=tmp_path / name / "nudge.db", env=env, settings=settings,
                            journeys={"hello": journey}, templates={"hi.email.html": template}).start()


@pytest.fixture
def waiting(tmp_path: Path) -> Iterator[NudgeServer]:
    """`hello` with a 1 h wait: a customer stays in flight for the whole test."""
    srv = start(tmp_path, "waiting", hello_journey("1h"), HI_WITH_ADDRESS)
    yield srv
    srv.stop()


@pytest.fixture
def signed(tmp_path: Path) -> Iterator[NudgeServer]:
    """Posts to /v1/events must carry a Nudge-Signature made with NUDGE_WEBHOOK_SECRET."""
    srv = start(tmp_path, "signed", hello_journey("1h"), env={"NUDGE_WEBHOOK_SECRET": SECRET})
    yield srv
    srv.stop()


def db(server: NudgeServer) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(server.db, timeout=30))


def stored_event_ids(server: NudgeServer) -> list[str]:
    with db(server) as conn:
        return [i for (i,) in conn.execute("SELECT id FROM events ORDER BY seq")]


def signed_up(customer: str, **extra: Any) -> dict[str, Any]:
    return {"type": "signed_up", "customer_id": customer,
            "traits": {"email": f"{customer}@example.com", "first_name": customer.title()}, **extra}


def sent(server: NudgeServer, customer: str, step: str | None = None) -> list[dict[str, Any]]:
    return [m for m in server.messages() if m["customer_id"] == customer and (step is None or m["step"] == step)]


def families(server: NudgeServer) -> dict[str, Any]:
    response = httpx.get(server.url + "/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {f.name: f for f in text_string_to_metric_families(response.text)}


def metric(server: NudgeServer, family: str, sample: str | None = None, **labels: str) -> float | None:
    """One sample's value (family names as Prometheus parses them: `nudge_events` for the counter)."""
    fam = families(server).get(family)
    if fam is None:
        return None
    for s in fam.samples:
        if (sample is None or s.name == sample) and all(s.labels.get(k) == v for k, v in labels.items()):
            return float(s.value)
    return None


def rfc3339(at: str) -> datetime:
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


# -- authentication ------------------------------------------------------------------


def test_a_post_without_an_api_key_is_refused_with_401_and_nothing_is_stored(server: NudgeServer) -> None:
    response = httpx.post(server.url + "/v1/events", json=signed_up("c1"))
    assert response.status_code == 401
    assert "error" in response.json()
    basic = httpx.post(server.url + "/v1/events", json=signed_up("c1"), headers={"Authorization": "Basic dGVzdC1rZXk="})
    assert basic.status_code == 401
    assert stored_event_ids(server) == []
    assert metric(server, "nudge_events", outcome="accepted") == 0


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
def test_a_wrong_api_key_is_refused_with_403_and_nothing_is_stored(server: NudgeServer, header: str) -> None:
    value = "Bearer not-the-key" if header == "Authorization" else "not-the-key"
    response = httpx.post(server.url + "/v1/events", json=signed_up("c1"), headers={header: value})
    assert response.status_code == 403
    assert stored_event_ids(server) == []


def test_the_key_may_come_as_x_api_key(server: NudgeServer) -> None:
    response = httpx.post(server.url + "/v1/events", json=signed_up("c1"), headers={"X-API-Key": server.api_key})
    assert response.status_code == 202
    server.wait_for(lambda: sent(server, "c1", "greet"), what="the greeting")


@pytest.mark.parametrize("method,path", [("GET", "/v1/customers/c1"), ("DELETE", "/v1/customers/c1"),
                                         ("POST", "/v1/reload")])
def test_customer_and_reload_endpoints_need_the_key_too(server: NudgeServer, method: str, path: str) -> None:
    assert server.post(signed_up("c1")).status_code == 202
    server.wait_for(lambda: sent(server, "c1", "greet"), what="the greeting")
    assert httpx.request(method, server.url + path).status_code == 401
    assert httpx.request(method, server.url + path, headers={"Authorization": "Bearer nope"}).status_code == 403
    with server.client() as c:
        assert c.get("/v1/customers/c1").status_code == 200  # neither refusal erased anything


# -- posting events -------------------------------------------------------------------


def test_202_comes_after_the_event_is_committed(server: NudgeServer) -> None:
    response = server.post(signed_up("c1", id="evt_1"))
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": [], "ids": ["evt_1"]}
    # read on a separate connection right after the answer: the row is already durable
    assert stored_event_ids(server) == ["evt_1"]
    server.wait_for(lambda: sent(server, "c1", "greet"), what="the greeting")


def test_an_acknowledged_event_survives_a_crash_right_after_the_202(server: NudgeServer) -> None:
    assert server.post(signed_up("c1", id="evt_1")).status_code == 202
    server.kill()  # SIGKILL, no clean shutdown
    server.start()
    server.wait_for(lambda: sent(server, "c1", "greet"), what="the greeting after the crash")
    server.wait_for(lambda: sent(server, "c1", "later"), what="the second email")
    assert len(sent(server, "c1", "greet")) == 1


def test_a_json_array_is_a_batch_and_ids_come_back_in_order(server: NudgeServer) -> None:
    batch = [signed_up("c1", id="a"), signed_up("c2", id="b"), signed_up("c3", id="c")]
    response = server.post(batch)
    assert response.status_code == 202
    assert response.json() == {"accepted": 3, "duplicates": 0, "rejected": [], "ids": ["a", "b", "c"]}
    server.wait_for(lambda: {m["customer_id"] for m in server.messages() if m["step"] == "greet"} == {"c1", "c2", "c3"},
                    what="three greetings")


def test_exactly_1000_events_are_accepted(server: NudgeServer) -> None:
    batch = [{"id": f"e{i}", "type": "page_view", "customer_id": f"c{i % 7}"} for i in range(1000)]
    response = server.post(batch)
    assert response.status_code == 202
    assert response.json()["accepted"] == 1000
    assert len(stored_event_ids(server)) == 1000


def test_1001_events_are_refused_with_413_and_none_is_stored(server: NudgeServer) -> None:
    batch = [{"id": f"e{i}", "type": "page_view", "customer_id": "c1"} for i in range(1001)]
    response = server.post(batch)
    assert response.status_code == 413
    assert stored_event_ids(server) == []


def padded(size: int) -> bytes:
    """One valid event whose JSON is exactly `size` bytes (padded with strings of at most 16 KiB, SPEC §8)."""
    chunks = {f"p{n}": "x" * 16000 for n in range(size // 16100)}
    base = json.dumps({"id": "big", "type": "page_view", "customer_id": "c1", "properties": {**chunks, "pad": ""}},
                      separators=(",", ":")).encode()
    body = base.replace(b'"pad":""', b'"pad":"' + b"x" * (size - len(base)) + b'"')
    assert len(body) == size
    return body


def test_a_body_of_exactly_1_mib_is_accepted(server: NudgeServer) -> None:
    with server.client() as c:
        response = c.post("/v1/events", content=padded(MIB), headers={"Content-Type": "application/json"})
    assert response.status_code == 202, response.text
    assert stored_event_ids(server) == ["big"]


def test_a_body_over_1_mib_is_refused_with_413(server: NudgeServer) -> None:
    with server.client() as c:
        response = c.post("/v1/events", content=padded(MIB + 1), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert stored_event_ids(server) == []


def test_a_chunked_body_over_1_mib_is_refused_with_413(server: NudgeServer) -> None:
    """No Content-Length to trust: the limit holds while the body streams in."""
    body = padded(MIB + 1)

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 64 * 1024):
            yield body[i:i + 64 * 1024]

    with server.client() as c:
        response = c.post("/v1/events", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert stored_event_ids(server) == []


@pytest.mark.parametrize("body", [b"{not json", b"", b'[{"type": "x", "customer_id": "c1"}'])
def test_invalid_json_is_refused_with_400(server: NudgeServer, body: bytes) -> None:
    with server.client() as c:
        response = c.post("/v1/events", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]


INVALID = [
    pytest.param({"customer_id": "c1"}, "type", "required", id="missing-type"),
    pytest.param({"type": "", "customer_id": "c1"}, "type", "at least 1", id="empty-type"),
    pytest.param({"type": "signed_up"}, None, "customer_id or anonymous_id", id="missing-both-ids"),
    pytest.param({"type": "signed_up", "customer_id": "c1", "timestamp": "yesterday"}, "timestamp", "RFC 3339",
                 id="bad-timestamp"),
    pytest.param({"type": "signed_up", "customer_id": "c1", "timestamp": "2026-03-01T12:00:00"}, "timestamp",
                 "offset", id="timestamp-without-offset"),
    pytest.param({"type": "signed_up", "customer_id": "c1", "timestamp": 1767225600}, "timestamp", "RFC 3339",
                 id="numeric-timestamp"),
    pytest.param({"type": "signed_up", "customer_id": "c1", "traits": {"email_subscribed": "yes"}},
                 "traits.email_subscribed", "must be true or false", id="non-boolean-email_subscribed"),
    pytest.param({"type": "signed_up", "customer_id": "c1", "userId": "c1"}, "userId", "unknown key",
                 id="unknown-top-level-key"),
    pytest.param({"type": "signed_up", "customer_id": "c1", "properties": ["a"]}, "properties", "dictionary",
                 id="properties-not-an-object"),
]


@pytest.mark.parametrize("event,field,reason", INVALID)
def test_a_request_with_no_valid_event_is_refused_with_422_naming_field_and_reason(
        server: NudgeServer, event: dict[str, Any], field: str | None, reason: str) -> None:
    response = server.post(event)
    assert response.status_code == 422
    [rejected] = response.json()["rejected"]
    assert rejected["index"] == 0
    if field is not None:
        assert rejected["field"] == field
    assert reason.lower() in rejected["reason"].lower()
    assert stored_event_ids(server) == []


def test_missing_both_ids_names_the_event_as_the_field(server: NudgeServer) -> None:
    """No single key is at fault, so the whole event is named (as `nudge validate` does)."""
    [rejected] = server.post({"type": "signed_up"}).json()["rejected"]
    assert rejected == {"index": 0, "field": "event", "reason": "an event needs customer_id or anonymous_id"}


@pytest.mark.parametrize("trait", ["email_subscribed", "sms_subscribed"])
def test_a_non_boolean_subscription_trait_names_the_exact_field(server: NudgeServer, trait: str) -> None:
    response = server.post({"type": "signed_up", "customer_id": "c1", "traits": {trait: "yes"}})
    assert response.status_code == 422
    [rejected] = response.json()["rejected"]
    assert rejected["field"] == f"traits.{trait}"


def test_a_mixed_batch_accepts_the_valid_events_and_lists_the_rejected(server: NudgeServer) -> None:
    batch = [
        signed_up("c1", id="ok1"),
        {"id": "bad1", "customer_id": "c2"},
        signed_up("c3", id="ok2"),
        {"id": "bad2", "type": "signed_up", "customer_id": "c4", "timestamp": "not-a-time"},
        "not an event",
        {"id": "bad3", "type": "signed_up", "customer_id": "c5", "extra": True},
    ]
    response = server.post(batch)
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 2 and body["duplicates"] == 0 and body["ids"] == ["ok1", "ok2"]
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [(1, "type"), (3, "timestamp"), (4, "event"),
                                                                    (5, "extra")]
    assert all(r["reason"] for r in body["rejected"])
    assert stored_event_ids(server) == ["ok1", "ok2"]
    server.wait_for(lambda: sent(server, "c1", "greet") and sent(server, "c3", "greet"), what="two greetings")
    assert metric(server, "nudge_events", outcome="rejected") == 4
    assert metric(server, "nudge_events", outcome="accepted") == 2


def test_repeated_ids_are_counted_as_duplicates_and_the_journey_runs_once(server: NudgeServer) -> None:
    event = signed_up("c1", id="evt_once")
    assert server.post(event).json() == {"accepted": 1, "duplicates": 0, "rejected": [], "ids": ["evt_once"]}
    again = server.post(event).json()
    assert again["accepted"] == 0 and again["duplicates"] == 1 and again["ids"] == ["evt_once"]
    # a repeat inside one batch, next to a new event
    batch = server.post([event, event, signed_up("c2", id="evt_two")]).json()
    assert batch["accepted"] == 1 and batch["duplicates"] == 2
    # the same id on another customer is still the same event
    assert server.post(signed_up("c9", id="evt_once")).json()["duplicates"] == 1
    # events are processed in order: once c2 (accepted last) is through, every repeat would have been too
    server.wait_for(lambda: sent(server, "c2", "later"), what="c2's journey")
    server.wait_for(lambda: sent(server, "c1", "later"), what="c1's journey")
    assert len(sent(server, "c1", "greet")) == 1
    assert len(sent(server, "c1", "later")) == 1
    assert sent(server, "c9") == []
    assert metric(server, "nudge_events", outcome="duplicates") == 4


def test_the_same_id_posted_concurrently_is_accepted_once(server: NudgeServer) -> None:
    event = signed_up("c1", id="evt_race")
    with ThreadPoolExecutor(16) as pool:
        answers = [r.json() for r in pool.map(lambda _: server.post(event), range(16))]
    assert sum(a["accepted"] for a in answers) == 1
    assert sum(a["duplicates"] for a in answers) == 15
    assert server.post(signed_up("c2")).status_code == 202
    server.wait_for(lambda: sent(server, "c2", "greet"), what="the control greeting")
    assert len(sent(server, "c1", "greet")) == 1


def test_concurrent_posts_are_all_committed(server: NudgeServer) -> None:
    def post(n: int) -> dict[str, Any]:
        body: dict[str, Any] = server.post(
            [{"id": f"e{n}-{i}", "type": "page_view", "customer_id": f"c{n}"} for i in range(50)]).json()
        return body

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(post, range(20)))
    assert [a["accepted"] for a in answers] == [50] * 20
    assert len(set(stored_event_ids(server))) == 1000
    server.wait_for(lambda: metric(server, "nudge_events", outcome="processed") == 1000, what="all processed")


def test_a_missing_timestamp_defaults_to_the_time_of_receipt(server: NudgeServer) -> None:
    before = datetime.now().astimezone()
    response = server.post(signed_up("c1", id="evt_now"))
    after = datetime.now().astimezone()
    assert response.status_code == 202
    with db(server) as conn:
        (stamp,) = conn.execute("SELECT timestamp FROM events WHERE id = 'evt_now'").fetchone()
    assert before <= rfc3339(stamp) <= after
    server.wait_for(lambda: sent(server, "c1", "greet"), what="the greeting")
    with server.client() as c:
        activity = c.get("/v1/customers/c1").json()["activity"]["signed_up"]
    assert before <= rfc3339(activity["last_at"]) <= after


def test_a_given_timestamp_is_kept(server: NudgeServer) -> None:
    at = (datetime.now().astimezone() - timedelta(hours=1)).replace(microsecond=0)
    assert server.post(signed_up("c1", id="evt_then", timestamp=at.isoformat())).status_code == 202
    with db(server) as conn:
        (stamp,) = conn.execute("SELECT timestamp FROM events WHERE id = 'evt_then'").fetchone()
    assert rfc3339(stamp) == at


def test_a_missing_id_is_assigned(server: NudgeServer) -> None:
    # two events with identical content and no id are two events, not a duplicate
    same = {"type": "page_view", "customer_id": "c1", "timestamp": "2026-03-01T12:00:00Z"}
    response = server.post([same, same, {**same, "id": ""}])
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 3 and body["duplicates"] == 0
    assert all(isinstance(i, str) and i for i in body["ids"]) and len(set(body["ids"])) == 3
    assert stored_event_ids(server) == body["ids"]


# -- signed posts (NUDGE_WEBHOOK_SECRET) ----------------------------------------------


def post_signed(server: NudgeServer, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Nudge-Signature"] = signature
    with server.client() as c:
        return c.post("/v1/events", content=body, headers=headers)


def test_with_a_webhook_secret_unsigned_tampered_stale_and_replayed_posts_are_refused(signed: NudgeServer) -> None:
    body = json.dumps(signed_up("c1", id="evt_signed")).encode()
    now = int(time.time())

    unsigned = post_signed(signed, body, None)
    assert unsigned.status_code == 401 and "Nudge-Signature" in unsigned.json()["error"]
    assert post_signed(signed, body, "v1=deadbeef").status_code == 401  # no timestamp
    assert post_signed(signed, body, sign("another-secret", body, now)).status_code == 401

    tampered = body.replace(b"c1@example.com", b"evil@example.com")
    assert post_signed(signed, tampered, sign(SECRET, body, now)).status_code == 401

    stale = now - 301
    response = post_signed(signed, body, sign(SECRET, body, stale))
    assert response.status_code == 401 and "window" in response.json()["error"]

    assert stored_event_ids(signed) == []
    assert metric(signed, "nudge_events", outcome="accepted") == 0

    signature = sign(SECRET, body, now)
    good = post_signed(signed, body, signature)
    assert good.status_code == 202 and good.json()["accepted"] == 1

    replay = post_signed(signed, body, signature)
    assert replay.status_code == 401 and "replay" in replay.json()["error"]
    assert stored_event_ids(signed) == ["evt_signed"]
    signed.wait_for(lambda: sent(signed, "c1", "greet"), what="the greeting of the signed event")
    assert metric(signed, "nudge_events", outcome="accepted") == 1
    assert metric(signed, "nudge_events", outcome="duplicates") == 0


def test_a_replayed_signature_is_refused_after_a_restart_too(signed: NudgeServer) -> None:
    body = json.dumps({"type": "page_view", "customer_id": "c1"}).encode()  # no id: a new one is assigned each time
    signature = sign(SECRET, body, int(time.time()))
    assert post_signed(signed, body, signature).status_code == 202
    signed.restart()
    assert post_signed(signed, body, signature).status_code == 401
    assert len(stored_event_ids(signed)) == 1


def test_with_a_webhook_secret_a_signed_post_still_needs_the_api_key(signed: NudgeServer) -> None:
    body = json.dumps(signed_up("c1")).encode()
    response = httpx.post(signed.url + "/v1/events", content=body,
                          headers={"Nudge-Signature": sign(SECRET, body, int(time.time())),
                                   "Content-Type": "application/json"})
    assert response.status_code == 401
    assert stored_event_ids(signed) == []


def test_a_signed_batch_is_accepted(signed: NudgeServer) -> None:
    body = json.dumps([signed_up("c1"), signed_up("c2")]).encode()
    response = post_signed(signed, body, sign(SECRET, body, int(time.time()) - 60))
    assert response.status_code == 202 and response.json()["accepted"] == 2


# -- customers ------------------------------------------------------------------------


def test_a_customer_shows_traits_activity_journeys_in_flight_and_messages(waiting: NudgeServer) -> None:
    before = datetime.now().astimezone()
    assert waiting.post(signed_up("c1")).status_code == 202
    assert waiting.post({"type": "page_view", "customer_id": "c1", "traits": {"plan": "pro"}}).status_code == 202
    with waiting.client() as c:
        waiting.wait_for(lambda: c.get("/v1/customers/c1").status_code == 200
                         and [m["status"] for m in c.get("/v1/customers/c1").json()["messages"]] == ["sent"]
                         and "page_view" in c.get("/v1/customers/c1").json()["activity"],
                         what="the customer with the greeting sent")
        view = c.get("/v1/customers/c1").json()
    assert view["customer_id"] == "c1"
    assert view["traits"] == {"email": "c1@example.com", "first_name": "C1", "plan": "pro"}
    assert view["activity"]["signed_up"]["count"] == 1
    assert view["activity"]["page_view"]["count"] == 1
    [journey] = view["journeys"]
    assert journey["journey"] == "hello"
    assert journey["step"]  # the wait it stands on
    assert journey["waiting"] == "timer"
    wake = rfc3339(journey["next_wake_up"])
    assert before + timedelta(minutes=59) < wake < datetime.now().astimezone() + timedelta(hours=1, seconds=1)
    [message] = view["messages"]
    assert message["journey"] == "hello" and message["step"] == "greet" and message["channel"] == "email"
    assert message["to"] == "c1@example.com" and message["status"] == "sent"
    assert message["id"] == sent(waiting, "c1", "greet")[0]["id"]


def test_an_unknown_customer_is_404(server: NudgeServer) -> None:
    with server.client() as c:
        assert c.get("/v1/customers/nobody").status_code == 404
        assert c.delete("/v1/customers/nobody").status_code == 404


def holding(conn: sqlite3.Connection, needle: str) -> dict[str, int]:
    """Rows whose body, payload or record mentions `needle`, by table."""
    like = f"%{needle}%"
    return {
        "events": conn.execute("SELECT COUNT(*) FROM events WHERE CAST(body AS TEXT) LIKE ?", (like,)).fetchone()[0],
        "outbox": conn.execute("SELECT COUNT(*) FROM outbox WHERE CAST(payload AS TEXT) LIKE ?", (like,)).fetchone()[0],
        "records": conn.execute("SELECT COUNT(*) FROM records WHERE CAST(body AS TEXT) LIKE ?", (like,)).fetchone()[0],
        "customers": conn.execute("SELECT COUNT(*) FROM customers WHERE CAST(state AS TEXT) LIKE ? OR email = ?",
                                  (like, needle)).fetchone()[0],
    }


def test_erasing_a_customer_removes_every_trace_of_their_address(waiting: NudgeServer) -> None:
    ann, bob = "ann@example.com", "bob@example.com"
    batch = [
        {"type": "page_view", "anonymous_id": "anon-ann", "traits": {"email": ann}},
        {"type": "signed_up", "customer_id": "ann", "anonymous_id": "anon-ann", "traits": {"email": ann}},
        {"type": "signed_up", "customer_id": "bob", "traits": {"email": bob}},
    ]
    assert waiting.post(batch).json()["accepted"] == 3
    waiting.wait_for(lambda: sent(waiting, "ann", "greet") and sent(waiting, "bob", "greet"), what="both greetings")
    with db(waiting) as conn:
        assert all(holding(conn, ann).values())  # the check below can see the address where it is

    with waiting.client() as c:
        response = c.delete("/v1/customers/ann")
        assert response.status_code == 200
        assert c.get("/v1/customers/ann").status_code == 404
        assert c.delete("/v1/customers/ann").status_code == 404
        assert c.get("/v1/customers/bob").status_code == 200

    with db(waiting) as conn:
        assert holding(conn, ann) == {"events": 0, "outbox": 0, "records": 0, "customers": 0}
        assert conn.execute("SELECT COUNT(*) FROM timers WHERE key IN ('ann', 'anon:anon-ann')").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM aliases WHERE customer_id = 'ann'").fetchone()[0] == 0
        # bob is untouched
        assert all(holding(conn, bob).values())
        assert conn.execute("SELECT COUNT(*) FROM timers WHERE key = 'bob'").fetchone()[0] == 1
    # a later event with the old anonymous id starts a fresh, anonymous profile: no merge into the erased one
    assert waiting.post({"type": "page_view", "anonymous_id": "anon-ann"}).status_code == 202
    assert waiting.post(signed_up("carl")).status_code == 202
    waiting.wait_for(lambda: sent(waiting, "carl", "greet"), what="a later greeting")
    with waiting.client() as c:
        assert c.get("/v1/customers/ann").status_code == 404


NEWSLETTER = """\
id: news
trigger: {event: newsletter_signup}
steps:
  - id: welcome
    send: email
    template: hi
"""


def test_erasing_a_customer_removes_the_address_from_messages_sent_while_anonymous(tmp_path: Path) -> None:
    srv = start(tmp_path, "anonymous", NEWSLETTER)
    try:
        ann = "ann@example.com"
        assert srv.post({"type": "newsletter_signup", "anonymous_id": "a1", "traits": {"email": ann}}).status_code == 202
        srv.wait_for(lambda: any(m["to"] == ann for m in srv.messages()), what="the welcome to the anonymous visitor")
        assert srv.post({"type": "signed_up", "customer_id": "ann", "anonymous_id": "a1"}).status_code == 202
        with srv.client() as c:
            srv.wait_for(lambda: c.get("/v1/customers/ann").status_code == 200, what="the identified customer")
            assert c.get("/v1/customers/ann").json()["traits"]["email"] == ann  # the visitor merged into ann
            assert c.delete("/v1/customers/ann").status_code == 200
            assert c.get("/v1/customers/ann").status_code == 404
        with db(srv) as conn:
            assert holding(conn, ann) == {"events": 0, "outbox": 0, "records": 0, "customers": 0}
    finally:
        srv.stop()


def test_erasing_a_customer_cancels_their_pending_messages(tmp_path: Path) -> None:
    """The second email waits on a timer; after the erasure it goes to the control customer only."""
    srv = start(tmp_path, "short", hello_journey("3s"))
    try:
        assert srv.post([signed_up("gone"), signed_up("kept")]).json()["accepted"] == 2
        srv.wait_for(lambda: sent(srv, "gone", "greet") and sent(srv, "kept", "greet"), what="both greetings")
        with srv.client() as c:
            [journey] = c.get("/v1/customers/gone").json()["journeys"]
            assert rfc3339(journey["next_wake_up"]) > datetime.now().astimezone() + timedelta(seconds=1)
            assert c.delete("/v1/customers/gone").status_code == 200
        # both timers were due at the same instant: once kept's fires, gone's would have too
        srv.wait_for(lambda: sent(srv, "kept", "later"), what="the control customer's second email")
        with db(srv) as conn:
            assert conn.execute("SELECT COUNT(*) FROM timers").fetchone()[0] == 0
        assert sent(srv, "gone", "later") == []
        assert len(sent(srv, "gone")) == 1
    finally:
        srv.stop()


class FakeSendGrid:
    """A SendGrid stand-in: 503 with Retry-After while `down`, else 202; remembers every recipient."""

    def __init__(self) -> None:
        self.down = True
        self.requests: list[tuple[list[str], int]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                to = [t["email"] for p in body.get("personalizations", []) for t in p.get("to", [])]
                status = 503 if fake.down else 202
                fake.requests.append((to, status))
                self.send_response(status)
                if status == 503:
                    self.send_header("Retry-After", "2")
                else:
                    self.send_header("X-Message-Id", f"sg-{len(fake.requests)}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def tried(self, address: str) -> list[int]:
        return [status for to, status in list(self.requests) if address in to]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_erasing_a_customer_drops_an_outbox_message_waiting_for_a_retry(tmp_path: Path) -> None:
    fake = FakeSendGrid()
    settings = "channels:\n  email: {provider: sendgrid}\nsender:\n  email: hi@example.com\n  postal_address: 1 Main St"
    srv = start(tmp_path, "sendgrid", hello_journey("1h"), settings=settings,
                env={"SENDGRID_API_KEY": "SG.test", "NUDGE_SENDGRID_BASE_URL": fake.url})
    try:
        assert srv.post(signed_up("gone")).status_code == 202

        def waiting_for_retry() -> tuple[str, float] | None:
            with db(srv) as conn:
                row: tuple[str, float] | None = conn.execute(
                    "SELECT id, next_attempt FROM outbox WHERE customer = 'gone' AND status = 'pending' "
                    "AND attempts >= 1").fetchone()
            return row

        srv.wait_for(lambda: waiting_for_retry() is not None, what="the greeting to wait for a retry")
        row = waiting_for_retry()
        assert row is not None
        message_id, retry_at = row
        assert fake.tried("gone@example.com") == [503]
        with srv.client() as c:
            assert c.delete("/v1/customers/gone").status_code == 200
        fake.down = False
        # let the retry time pass, then send a control message: a message still pending would go in that pass
        srv.wait_for(lambda: time.time() > retry_at + 0.2, what="the retry time")
        assert srv.post(signed_up("kept")).status_code == 202
        srv.wait_for(lambda: fake.tried("kept@example.com") == [202], what="the control greeting")
        srv.wait_for(lambda: metric(srv, "nudge_messages", status="sent") == 1, what="the control greeting sent")
        assert fake.tried("gone@example.com") == [503]
        with db(srv) as conn:
            status, payload = conn.execute("SELECT status, CAST(payload AS TEXT) FROM outbox WHERE id = ?",
                                           (message_id,)).fetchone()
        assert status != "sent" and "gone@example.com" not in payload
    finally:
        srv.stop()
        fake.close()


# -- health, metrics ------------------------------------------------------------------


def test_healthz_answers_without_a_key(server: NudgeServer) -> None:
    response = httpx.get(server.url + "/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_metrics_count_events_messages_timers_lag_and_latency(waiting: NudgeServer) -> None:
    assert waiting.post(signed_up("c1")).status_code == 202
    assert waiting.post({"customer_id": "c2"}).status_code == 422
    waiting.wait_for(lambda: metric(waiting, "nudge_messages", status="sent") == 1, what="the greeting sent")
    waiting.wait_for(lambda: metric(waiting, "nudge_event_to_send_seconds", "nudge_event_to_send_seconds_count",
                                    journey="hello") == 1, what="the latency observed")
    fams = families(waiting)
    assert fams["nudge_events"].type == "counter"
    assert metric(waiting, "nudge_events", outcome="accepted") == 1
    assert metric(waiting, "nudge_events", outcome="rejected") == 1
    assert metric(waiting, "nudge_timers_pending") == 1  # c1 waits an hour
    lag = metric(waiting, "nudge_lag_seconds")
    assert lag is not None and lag >= 0
    assert fams["nudge_event_to_send_seconds"].type == "histogram"
    latency = metric(waiting, "nudge_event_to_send_seconds", "nudge_event_to_send_seconds_sum", journey="hello")
    assert latency is not None and 0 <= latency < 30
    p50 = metric(waiting, "nudge_event_to_send_quantile_seconds", journey="hello", quantile="0.5")
    p99 = metric(waiting, "nudge_event_to_send_quantile_seconds", journey="hello", quantile="0.99")
    assert p50 is not None and p99 is not None and 0 <= p50 <= p99 < 30


# -- reload ---------------------------------------------------------------------------


BAD_EDITS = [
    pytest.param("journeys/hello.yaml", lambda t: t.replace("template: hi", "tempalte: hi", 1), "tempalte",
                 id="unknown-key"),
    pytest.param("journeys/hello.yaml", lambda t: t + "  - [\n", "invalid YAML", id="yaml-syntax"),
    pytest.param("journeys/hello.yaml", lambda t: t.replace("template: hi", "template: nope", 1), "nope",
                 id="missing-template"),
    pytest.param("templates/hi.email.html", lambda t: t.replace("Hi", "Hi {{", 1), "subject", id="template-syntax"),
]


@pytest.mark.parametrize("path,edit,problem", BAD_EDITS)
def test_an_invalid_reload_is_refused_with_the_problems_and_the_old_journeys_keep_running(
        server: NudgeServer, path: str, edit: Any, problem: str) -> None:
    target = server.workspace / path
    target.write_text(edit(target.read_text()))
    with server.client() as c:
        response = c.post("/v1/reload")
    assert response.status_code == 422
    problems = response.json()["problems"]
    assert problems and any(path in p and problem in p for p in problems), problems
    assert server.post(signed_up("c1")).status_code == 202
    server.wait_for(lambda: sent(server, "c1", "greet"), what="the greeting from the old version")
    server.wait_for(lambda: sent(server, "c1", "later"), what="the rest of the old version")


def test_an_apply_that_removes_the_step_a_customer_waits_on_needs_a_confirmation_then_exits_them(waiting: NudgeServer) -> None:
    assert waiting.post(signed_up("c1")).status_code == 202
    waiting.wait_for(lambda: sent(waiting, "c1", "greet"), what="the greeting")
    with waiting.client() as c:
        waiting.wait_for(lambda: c.get("/v1/customers/c1").json()["journeys"], what="c1 in flight")
        [before] = c.get("/v1/customers/c1").json()["journeys"]
        (waiting.workspace / "journeys" / "hello.yaml").write_text(hello_journey(wait=None))  # the wait c1 stands in is gone
        refused = c.post("/v1/reload")  # as `nudge apply` without --yes: exits need a confirmation
        assert refused.status_code == 409 and refused.json()["plan"]["exit"] == 1
        assert c.get("/v1/customers/c1").json()["journeys"] == [before]
        response = c.post("/v1/workspace/apply", json={"confirm": True})
        assert response.status_code == 200 and response.json()["outcome"] == "applied"
        with db(waiting) as conn:
            exits = [json.loads(b) for (b,) in conn.execute(
                "SELECT body FROM records WHERE type = 'exited' AND customer = 'c1'")]
        assert [(e["journey"], e["reason"], e["step"]) for e in exits] == [("hello", "step_removed", before["step"])]
        assert c.get("/v1/customers/c1").json()["journeys"] == []
    # the new version runs for a new customer, and c1 never gets the second email
    assert waiting.post(signed_up("c2")).status_code == 202
    waiting.wait_for(lambda: sent(waiting, "c2", "later"), what="the edited journey for c2")
    assert sent(waiting, "c1", "later") == []


# -- OpenAPI --------------------------------------------------------------------------


def test_the_openapi_document_and_docs_are_served(server: NudgeServer) -> None:
    spec = httpx.get(server.url + "/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    assert {"/v1/events", "/v1/customers/{customer_id}", "/v1/reload", "/healthz", "/metrics"} <= set(paths)
    assert "post" in paths["/v1/events"]
    assert {"get", "delete"} <= set(paths["/v1/customers/{customer_id}"])
    docs = httpx.get(server.url + "/docs")
    assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
    assert "openapi.json" in docs.text

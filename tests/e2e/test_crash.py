"""Crash safety of `nudge run`: SIGKILL at random moments loses nothing and sends nothing twice.

The big test posts 20,000 events for 5,000 customers to a real `nudge run` subprocess while
a second thread kills it (SIGKILL) at seeded random points of progress and restarts it; the
poster retries a request that failed (event ids make that safe). When the backlog is empty,
the outbox file must hold exactly the messages `simulate` predicts for the same events, each
once. A customer's events travel in one request, so how the runtime interleaves them with
its timers cannot depend on when the kills happened (see `customer_events`).

The small test stages the one window the dispatcher cannot close by itself: a message
marked `sending` whose hand-off did, or did not, reach the connector.
"""

from __future__ import annotations

import ast
import json
import os
import random
import re
import sqlite3
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from engine.runtimes.simulate import simulate
from engine.testing import email, journey_yaml, send_step
from rules.events import parse_event
from rules.workspace import load_workspace
from tests.e2e.server import NudgeServer, workspace_server

WELCOME = """\
id: welcome
trigger: {event: signed_up}
audience: "profile.email is defined"
steps:
  - id: hello
    send: email
    template: hello
  - wait: 2s
  - id: again
    send: email
    template: again
"""
CART = """\
id: cart
trigger: {event: cart_updated, where: "event.properties.cart_total > 0"}
steps:
  - wait_for: {event: purchase, timeout: 3s}
    then:
      - id: thanks
        send: email
        template: thanks
    else:
      - id: reminder
        send: email
        template: reminder
"""
TEMPLATES = {
    "hello.email.html": email("Welcome {{ profile.first_name }}", "<p>Hello {{ profile.first_name }}</p>"),
    "again.email.html": email("Still there, {{ profile.first_name }}?", "<p>Two seconds later</p>"),
    "thanks.email.html": email("Thanks for order {{ event.properties.order_id }}", "<p>Thank you</p>"),
    "reminder.email.html": email("Your cart of {{ trigger_event.properties.cart_total }} is waiting",
                                 "<p>Come back</p>"),
}

CUSTOMERS = 5_000
EVENTS_PER_CUSTOMER = 4
BATCH = 500  # events per request
CUSTOMERS_PER_BATCH = BATCH // EVENTS_PER_CUSTOMER
SEED = int(os.environ.get("NUDGE_CRASH_SEED", "20261122"))  # another seed: another crash schedule
KILLS_WHILE_POSTING = 3
KILLS_WHILE_SENDING = 3


def has_email(i: int) -> bool:
    return i % 10 != 9


def cart_total(i: int) -> int:
    return 0 if i % 17 == 0 else 10 + i % 50


def expected_sent(i: int) -> int:
    """Messages customer i gets: welcome twice, and a thank-you or reminder for a real cart."""
    return (2 + (cart_total(i) > 0)) if has_email(i) else 0


def customer_events(i: int, at: datetime) -> list[dict[str, Any]]:
    """Sign-up, cart, purchase (every third customer) or a page view, page view: 1 ms apart.

    All four go in one request, so one ingest transaction: the runtime then processes them
    in the same or adjacent engine batches, before the cart's 3 s timeout can fire, however
    late a restart makes that processing.
    """
    cid = f"c{i:05d}"
    traits: dict[str, Any] = {"first_name": f"N{i}"}
    if has_email(i):
        traits["email"] = f"{cid}@example.com"
    third: dict[str, Any] = ({"type": "purchase", "properties": {"order_id": f"o{i}", "total": 20 + i % 30}}
                             if i % 3 == 0 else {"type": "page_view", "properties": {"page": "home"}})
    kinds: list[dict[str, Any]] = [
        {"type": "signed_up", "traits": traits},
        {"type": "cart_updated", "properties": {"cart_id": f"k{i}", "cart_total": cart_total(i)}},
        third,
        {"type": "page_view", "properties": {"page": "pricing"}},
    ]
    return [{"id": f"e{i:05d}-{n}", "customer_id": cid, "timestamp": (at + timedelta(milliseconds=n)).isoformat(),
             "properties": {}, **kind} for n, kind in enumerate(kinds)]


class Threads:
    """Background threads whose failures fail the test."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []

    def start(self, target: Callable[[], None], name: str) -> None:
        def run() -> None:
            try:
                target()
            except BaseException as exc:  # re-raised in the test's thread by join()
                self.errors.append(exc)

        thread = threading.Thread(target=run, name=name, daemon=True)
        self.threads.append(thread)
        thread.start()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self.errors:
            raise self.errors[0]
        alive = [t.name for t in self.threads if t.is_alive()]
        assert not alive, f"threads still running: {alive}"


def post_batches(server: NudgeServer, batches: int, per_batch: int, posted: list[dict[str, Any]],
                 progress: dict[str, int]) -> None:
    """`batches` requests of `per_batch` customers' events, each posted until accepted (a retry sends the same
    bytes) while the server is killed around them; `progress` counts the batches and retries."""
    for b in range(batches):
        now = datetime.now(timezone.utc)  # not late: stamped when first sent
        batch = [e for i in range(b * per_batch, (b + 1) * per_batch) for e in customer_events(i, now)]
        posted.extend(batch)
        attempts = 0

        def delivered(batch: list[dict[str, Any]] = batch) -> bool:
            nonlocal attempts
            attempts += 1
            return try_post(server, batch)

        server.wait_for(delivered, timeout=90, what=f"batch {b} accepted")
        progress["retries"] += attempts - 1
        progress["batches"] = b + 1


def try_post(server: NudgeServer, batch: list[dict[str, Any]]) -> bool:
    """One attempt; False when the server is down or dying (then the same batch is retried)."""
    try:
        response = server.post(batch)
    except httpx.HTTPError:
        return False
    if response.status_code >= 500:
        return False
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["rejected"] == [] and body["accepted"] + body["duplicates"] == len(batch), body
    return True


def health_or_none(server: NudgeServer) -> dict[str, Any] | None:
    try:
        return server.health()
    except (httpx.HTTPError, ValueError):
        return None


def sent_so_far(server: NudgeServer) -> int:
    health = health_or_none(server)
    return int(health["messages"].get("sent", 0)) if health else -1


def drained(server: NudgeServer, events: int) -> bool:
    health = health_or_none(server)
    if health is None or health["events_pending"] or health["timers_pending"]:
        return False
    busy = {k: v for k, v in health["messages"].items() if k != "sent" and v}
    if busy:
        return False
    conn = sqlite3.connect(server.db)
    try:
        return bool(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == events)
    finally:
        conn.close()


def recoveries(log: str) -> list[dict[str, int]]:
    """The dispatcher's start-up reports of interrupted hand-offs it resolved."""
    return [ast.literal_eval(m) for m in re.findall(r"recovered interrupted hand-offs: (\{[^}]*\})", log)]


def sends(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["type"] == "send" and r["status"] == "sent"]


@pytest.fixture
def crash_server(tmp_path: Path) -> Iterator[NudgeServer]:
    srv = workspace_server(tmp_path, journeys={"01_welcome": WELCOME, "02_cart": CART}, templates=TEMPLATES)
    yield srv.start()
    srv.stop()


def test_sigkill_at_random_moments_loses_and_duplicates_no_message(crash_server: NudgeServer) -> None:
    server = crash_server
    started = time.monotonic()
    rng = random.Random(SEED)
    batches = CUSTOMERS // CUSTOMERS_PER_BATCH
    expected_total = sum(expected_sent(i) for i in range(CUSTOMERS))
    # kill points: after a random number of batches were posted, then when a random share of
    # the messages has gone out (the dispatcher is then mid-flight: `sending` rows are likely)
    post_points = sorted(rng.sample(range(2, batches - 1), KILLS_WHILE_POSTING))
    send_points = sorted(int(expected_total * rng.uniform(0.1, 0.9)) for _ in range(KILLS_WHILE_SENDING))
    posted: list[dict[str, Any]] = []   # the events as first sent (a retry sends the same bytes)
    progress = {"batches": 0, "retries": 0}
    kills: list[str] = []

    def poster() -> None:
        post_batches(server, batches, CUSTOMERS_PER_BATCH, posted, progress)

    def killer() -> None:
        for point in post_points:
            server.wait_for(lambda: progress["batches"] >= point, timeout=120, what=f"{point} batches posted")
            server.kill()
            kills.append(f"after batch {progress['batches']}")
            server.start()
        for point in send_points:
            server.wait_for(lambda: sent_so_far(server) >= point, timeout=120, what=f"{point} messages sent")
            server.kill()
            kills.append(f"at {point}+ messages sent")
            server.start()

    threads = Threads()
    threads.start(poster, "poster")
    threads.start(killer, "killer")
    threads.join(timeout=150)
    assert len(kills) >= 5 and progress["batches"] == batches
    server.wait_for(lambda: drained(server, len(posted)), timeout=120, what="backlog, timers and outbox drained")
    elapsed = time.monotonic() - started

    assert len(posted) == CUSTOMERS * EVENTS_PER_CUSTOMER == 20_000
    assert len({e["id"] for e in posted}) == len(posted)
    conn = sqlite3.connect(server.db)
    try:
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM events GROUP BY status").fetchall())
        outbox = dict(conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall())
        in_doubt = outbox.get("in_doubt", 0)
    finally:
        conn.close()
    assert statuses == {"processed": len(posted)}, statuses  # none lost, none late

    lines = server.messages()
    ids = Counter(m["id"] for m in lines)
    assert [i for i, n in ids.items() if n > 1] == [], "a message was sent twice"
    per_step = Counter((m["customer_id"], m["journey"], m["step"]) for m in lines)
    assert [k for k, n in per_step.items() if n > 1] == [], "a journey step sent twice"

    workspace = load_workspace(server.workspace).workspace
    expected = sends(simulate(workspace, [parse_event(e) for e in posted]).records)
    assert len(expected) == expected_total

    def key(m: dict[str, Any]) -> tuple[str, str, str, str]:
        return m["customer_id"], m["journey"], m["step"], m["to"]

    want, got = {key(m) for m in expected}, {key(m) for m in lines}
    missing, extra = sorted(want - got), sorted(got - want)
    assert not missing, f"{len(missing)} expected messages never sent, e.g. {missing[:5]}"
    assert not extra, f"{len(extra)} messages simulate does not predict, e.g. {extra[:5]}"
    assert {m["message_id"] for m in expected} == set(ids), "message ids differ from simulate's"
    assert outbox == {"sent": len(lines)}, outbox
    assert in_doubt < len(kills)

    log = (server.db.parent / "server.log").read_text()
    recovered = recoveries(log)
    print(f"\ncrash test: {len(posted)} events, {len(lines)} messages, {len(kills)} kills ({'; '.join(kills)}), "
          f"{progress['retries']} retried requests, in doubt after restarts {recovered}, "
          f"left in doubt {in_doubt}, {elapsed:.1f}s")


# -- the window between `sending` and `sent` ------------------------------------------------

ONCE = journey_yaml("once", "{event: signed_up}", send_step("greet", "greet"))


def test_a_message_left_sending_by_a_crash_is_resolved_by_asking_the_file_connector(tmp_path: Path) -> None:
    server = workspace_server(tmp_path, journeys={"once": ONCE},
                              templates={"greet.email.html": email("Hi {{ profile.first_name }}")}).start()
    try:
        now = datetime.now(timezone.utc).isoformat()
        response = server.post([{"id": f"e{c}", "type": "signed_up", "customer_id": c, "timestamp": now,
                                 "traits": {"email": f"{c}@example.com", "first_name": c}}
                                for c in ("landed", "lost")])
        assert response.status_code == 202
        server.wait_for(lambda: (health_or_none(server) or {}).get("messages") == {"sent": 2}, what="two sends")
        server.kill()

        # the crash: both rows committed `sending`; one hand-off reached the file, one did not
        lines = server.outbox.read_bytes().splitlines(keepends=True)
        by_customer = {json.loads(line)["customer_id"]: line for line in lines}
        assert sorted(by_customer) == ["landed", "lost"]
        server.outbox.write_bytes(by_customer["landed"])
        conn = sqlite3.connect(server.db)
        with conn:
            assert conn.execute("UPDATE outbox SET status = 'sending', sent_at = NULL").rowcount == 2
        conn.close()

        server.start()
        server.wait_for(lambda: (health_or_none(server) or {}).get("messages") == {"sent": 2},
                        what="both rows resolved to sent")
        messages = server.messages()
        assert sorted(m["customer_id"] for m in messages) == ["landed", "lost"]  # one line each
        landed = next(m for m in messages if m["customer_id"] == "landed")
        assert json.loads(by_customer["landed"]) == landed  # the original line, not a second one
        conn = sqlite3.connect(server.db)
        rows = dict(conn.execute("SELECT customer, attempts FROM outbox WHERE status = 'sent'").fetchall())
        conn.close()
        assert rows == {"landed": 1, "lost": 2}  # only the lost one was handed over again
        assert recoveries((tmp_path / "server.log").read_text()) == [{"sent": 1, "resent": 1, "in_doubt": 0}]
    finally:
        server.stop()

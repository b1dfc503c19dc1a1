"""Webhook sends reach a real HTTP receiver (the CRM fake on 127.0.0.1) signed and keyed, through the
dispatcher's outbox: 500s are retried until taken once, a hang past the time-out is in doubt, never resent."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Awaitable, Callable, Iterator, TypeVar

import pytest

from connectors.channels.webhook import WebhookSender
from connectors.fakes.crm import CrmFake, create_app
from connectors.fakes.server import FakeServer
from engine.runtimes.embedded import database
from engine.runtimes.embedded.dispatcher import Dispatcher
from engine.testing import write_workspace
from rules.events import parse_event
from tests import helpers
from tests.helpers import processed

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc).timestamp()
SECRET = "whsec_test"
T = TypeVar("T")
Run = Callable[[Awaitable[T]], T]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def vip_journey(url: str) -> str:
    return f"""\
id: vip
trigger: {{event: purchase}}
steps:
  - id: call
    send: webhook
    url: {url}/tasks
    body: {{task: "'call this VIP'", customer: "profile.email", total: "event.properties.total"}}
"""


def outbox_of(tmp_path: Path, url: str, customers: int, clock: Clock) -> Path:
    """A database whose outbox holds one webhook post per customer c0, c1, ..., from the real processor."""
    root = write_workspace(tmp_path / "ws", journeys={"vip": vip_journey(url)})
    stamp = datetime.fromtimestamp(clock.now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    events = [parse_event({"id": f"e{i}", "type": "purchase", "customer_id": f"c{i}", "timestamp": stamp,
                           "properties": {"total": 900 + i}, "traits": {"email": f"c{i}@x.example"}})
              for i in range(customers)]
    return processed(root, tmp_path / "nudge.db", events, clock)


def rows(db: Path) -> dict[str, tuple[str, str]]:
    """customer -> (message id, status)."""
    with database.connect(db) as conn:
        return {c: (i, s) for i, c, s in conn.execute("SELECT id, customer, status FROM outbox")}


@pytest.fixture
def crm() -> Iterator[tuple[CrmFake, str]]:
    fake = CrmFake(secret=SECRET)
    with FakeServer(create_app(fake)) as url:
        yield fake, url
        fake.faults.release()


@pytest.fixture
def run() -> Iterator[Callable[[Awaitable[T]], T]]:
    """One event loop for the whole test, as in `nudge run`: the connector's HTTP connections live on it."""
    loop = asyncio.new_event_loop()
    yield loop.run_until_complete
    loop.close()


def dispatcher(db: Path, clock: Clock, timeout: float = 5.0, secret: str = SECRET) -> Dispatcher:
    return Dispatcher(database.connect(db), {"webhook": WebhookSender(secret, timeout)}, clock, rng=random.Random(3))


def test_each_post_is_signed_and_keyed_by_its_message_id(tmp_path: Path, crm: tuple[CrmFake, str], run: Run) -> None:
    fake, url = crm
    clock = Clock(T0)
    db = outbox_of(tmp_path, url, 2, clock)
    run(dispatcher(db, clock).run_once())
    assert {c: s for c, (_, s) in rows(db).items()} == {"c0": "sent", "c1": "sent"}
    assert fake.refused == []
    assert {t["key"]: t["task"] for t in fake.tasks.values()} == {
        rows(db)["c0"][0]: {"task": "call this VIP", "customer": "c0@x.example", "total": 900},
        rows(db)["c1"][0]: {"task": "call this VIP", "customer": "c1@x.example", "total": 901}}


def test_500s_are_retried_with_backoff_until_each_task_is_taken_once(tmp_path: Path, crm: tuple[CrmFake, str], run: Run) -> None:
    fake, url = crm
    clock = Clock(T0)
    db = outbox_of(tmp_path, url, 2, clock)
    fake.faults.error(times=5, status=500)
    d = dispatcher(db, clock)
    for _ in range(10):
        run(d.run_once())
        ready = run(d.next_ready())
        if ready is None:
            break
        assert ready > clock.now, "a failed post waits before its retry"
        clock.now = ready
    assert {s for _, s in rows(db).values()} == {"sent"}
    assert fake.posts == 7 and len(fake.tasks) == 2


def test_a_hang_past_the_time_out_is_in_doubt_and_never_posted_again(tmp_path: Path, crm: tuple[CrmFake, str], run: Run) -> None:
    fake, url = crm
    clock = Clock(T0)
    db = outbox_of(tmp_path, url, 1, clock)
    fake.faults.hang(seconds=1.0)
    d = dispatcher(db, clock, timeout=0.2)
    run(d.run_once())
    assert rows(db)["c0"][1] == "in_doubt"
    deadline = time.monotonic() + 10
    while len(fake.tasks) < 1 and time.monotonic() < deadline:  # the receiver took it after all
        time.sleep(0.02)
    clock.now += 7 * 86400
    run(d.run_once())
    assert rows(db)["c0"][1] == "in_doubt" and fake.posts == 1


def test_a_repeat_of_a_post_is_recognised_by_its_idempotency_key(crm: tuple[CrmFake, str]) -> None:
    """What makes an operator's resend of an in-doubt message safe."""
    fake, url = crm
    sender = WebhookSender(SECRET)
    message = helpers.message("m1", channel="webhook", template=None, to=url + "/tasks", method="POST",
                              body={"task": "call"})

    async def twice() -> None:
        await sender.send(message)
        await sender.send(message)
        await sender.close()

    asyncio.run(twice())
    assert fake.posts == 2 and list(fake.tasks) == ["m1"]


def test_a_receiver_refusing_the_signature_leaves_the_message_dead_with_its_reason(
        tmp_path: Path, crm: tuple[CrmFake, str], run: Run) -> None:
    fake, url = crm
    clock = Clock(T0)
    db = outbox_of(tmp_path, url, 1, clock)
    run(dispatcher(db, clock, secret="not the receiver's").run_once())
    with database.connect(db) as conn:
        [(status, error)] = conn.execute("SELECT status, error FROM outbox").fetchall()
    assert status == "dead" and "401" in error and "signature does not match" in error
    assert fake.tasks == {}

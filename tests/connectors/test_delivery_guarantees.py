"""What the dispatcher guarantees per fault, on a real SQLite outbox, the SendGrid fake and the official client.

The clock is a manual one; only the fake's stalls take real (short) time.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from connectors.channels.base import Delivery, PermanentError, TransientError, UnknownOutcome
from connectors.channels.sendgrid import SendGridSender
from connectors.channels.twilio import TwilioSender
from connectors.fakes.sendgrid import SendGridFake
from connectors.fakes.sendgrid import create_app as sendgrid_app
from connectors.fakes.server import FakeServer
from connectors.fakes.twilio import TwilioFake
from connectors.fakes.twilio import create_app as twilio_app
from engine.effects import Message
from engine.runtimes.embedded import database
from engine.runtimes.embedded.dispatcher import Dispatcher, DispatchSettings
from engine.runtimes.retry import RetryPolicy
from engine.testing import journey_yaml, send_step, write_workspace
from rules.events import parse_event
from tests.helpers import HI, message, processed

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc).timestamp()
KEY = "SG.test"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def outbox_of(tmp_path: Path, addresses: list[str], clock: Clock) -> Path:
    """A database whose outbox holds one email per address (customers c0, c1, ...), from the real processor."""
    root = write_workspace(tmp_path / "ws", journeys={"hello": journey_yaml("hello", "{event: signed_up}",
                                                                             send_step("greet", "hi"))},
                           templates={"hi.email.html": HI})
    stamp = datetime.fromtimestamp(clock.now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    events = [parse_event({"id": f"e{i}", "type": "signed_up", "customer_id": f"c{i}", "timestamp": stamp,
                           "traits": {"email": address}}) for i, address in enumerate(addresses)]
    return processed(root, tmp_path / "nudge.db", events, clock)


def rows(db: Path) -> dict[str, tuple[str, int, str | None]]:
    """customer -> (status, attempts, error)."""
    with database.connect(db) as conn:
        return {c: (s, a, e) for c, s, a, e in conn.execute("SELECT customer, status, attempts, error FROM outbox")}


def sendgrid(url: str, timeout: float = 5.0) -> SendGridSender:
    sender = SendGridSender(KEY, "Shop <hi@shop.example>", base_url=url)
    sender.client.client.timeout = timeout
    return sender


def sent_ids(fake: SendGridFake) -> list[str]:
    return [m.payload["custom_args"]["message_id"] for m in fake.messages]


def wait_until(predicate: Any, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def fake() -> Iterator[tuple[SendGridFake, str]]:
    provider = SendGridFake(api_key=KEY)
    with FakeServer(sendgrid_app(provider)) as url:
        yield provider, url
        provider.faults.release()


def test_a_time_out_after_the_request_went_out_is_in_doubt_and_never_sent_twice(
        tmp_path: Path, fake: tuple[SendGridFake, str]) -> None:
    provider, url = fake
    clock = Clock(T0)
    db = outbox_of(tmp_path, ["a@x.example", "b@x.example"], clock)
    provider.faults.hang(seconds=1.0, times=2)
    d = Dispatcher(database.connect(db), {"email": sendgrid(url, timeout=0.2)}, clock)
    asyncio.run(d.run_once())
    assert {c: r[:2] for c, r in rows(db).items()} == {"c0": ("in_doubt", 1), "c1": ("in_doubt", 1)}
    wait_until(lambda: len(provider.messages) == 2, "the stalled requests to be accepted after all")
    clock.now += 7 * 86400
    asyncio.run(d.run_once())
    assert len(sent_ids(provider)) == 2 and len(set(sent_ids(provider))) == 2  # each once: nothing retried blindly


def test_a_refused_connection_is_retried_because_the_provider_never_got_the_request(tmp_path: Path) -> None:
    clock = Clock(T0)
    db = outbox_of(tmp_path, ["a@x.example"], clock)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    d = Dispatcher(database.connect(db), {"email": sendgrid(f"http://127.0.0.1:{closed_port}")}, clock)
    asyncio.run(d.run_once())
    status, attempts, error = rows(db)["c0"]
    assert (status, attempts) == ("pending", 1) and "unreachable" in (error or "")


def test_a_connection_reset_after_the_request_went_out_is_an_unknown_outcome(tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def read_then_hang_up() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            conn.recv(65536)  # the body: the request is out

    thread = threading.Thread(target=read_then_hang_up, daemon=True)
    thread.start()
    with pytest.raises(UnknownOutcome):
        asyncio.run(sendgrid(f"http://127.0.0.1:{port}").send(message("m1")))
    thread.join(5)
    listener.close()


class Floor(random.Random):
    """The shortest jittered delay every time: the least total span retries can have."""

    def uniform(self, a: float, b: float) -> float:
        return a


def test_retries_span_at_least_a_day_by_default_even_with_the_shortest_jitter() -> None:
    policy = RetryPolicy()
    span = sum(policy.delay(n, None, Floor()) for n in range(1, policy.max_attempts))
    assert span >= 86400 and max(policy.delay(n, None, Floor()) for n in range(1, 40)) <= 3600


def test_a_five_minute_outage_kills_no_message_and_each_goes_out_once_after(
        tmp_path: Path, fake: tuple[SendGridFake, str]) -> None:
    provider, url = fake
    clock = Clock(T0)
    db = outbox_of(tmp_path, ["a@x.example", "b@x.example", "c@x.example"], clock)
    d = Dispatcher(database.connect(db), {"email": sendgrid(url)}, clock, rng=random.Random(7))
    provider.faults.error(times=10_000, status=503)
    while clock.now < T0 + 300:
        asyncio.run(d.run_once())
        clock.now = max(clock.now + 1, asyncio.run(d.next_ready()) or 0)
    assert {r[0] for r in rows(db).values()} == {"pending"}
    provider.faults.clear()
    clock.now += 3600
    asyncio.run(d.run_once())
    assert {r[0] for r in rows(db).values()} == {"sent"} and len(set(sent_ids(provider))) == len(provider.messages) == 3


def test_a_rate_limited_send_uses_up_no_attempt(tmp_path: Path, fake: tuple[SendGridFake, str]) -> None:
    provider, url = fake
    clock = Clock(T0)
    db = outbox_of(tmp_path, ["a@x.example"], clock)
    d = Dispatcher(database.connect(db), {"email": sendgrid(url)}, clock,
                   settings=DispatchSettings(retry=RetryPolicy(give_up_after=1, base_delay=1, max_delay=1)))
    provider.faults.rate_limit(times=6, seconds=2)  # more 429s than the policy has attempts
    for _ in range(7):
        asyncio.run(d.run_once())
        clock.now += 3
    assert rows(db)["c0"][:2] == ("sent", 1) and len(provider.messages) == 1


class Exploding:
    """A connector with a bug for one recipient: its exception must not leave the batch behind."""

    name = "exploding"

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, message: Message) -> Delivery:
        if message.to.startswith("boom"):
            raise KeyError("subject")
        self.sent.append(message.to)
        return Delivery()

    async def confirm(self, message_id: str) -> bool | None:
        return None

    async def close(self) -> None:
        return None


def test_one_messages_failure_stays_with_that_message(tmp_path: Path) -> None:
    clock = Clock(T0)
    db = outbox_of(tmp_path, ["a@x.example", "boom@x.example", "b@x.example"], clock)
    sender = Exploding()
    asyncio.run(Dispatcher(database.connect(db), {"email": sender}, clock).run_once())
    status = rows(db)
    assert sorted(sender.sent) == ["a@x.example", "b@x.example"]
    assert status["c0"][0] == status["c2"][0] == "sent"
    assert status["c1"][0] == "dead" and "KeyError" in (status["c1"][2] or "")


def test_a_message_whose_payload_cannot_be_read_is_dead_and_the_rest_go_out(tmp_path: Path) -> None:
    clock = Clock(T0)
    db = outbox_of(tmp_path, ["a@x.example", "b@x.example"], clock)
    with database.connect(db) as conn:
        conn.execute("UPDATE outbox SET payload = x'7b' WHERE customer = 'c0'")
    sender = Exploding()
    asyncio.run(Dispatcher(database.connect(db), {"email": sender}, clock).run_once())
    assert sender.sent == ["b@x.example"] and rows(db)["c0"][0] == "dead" and rows(db)["c1"][0] == "sent"


@pytest.mark.parametrize("address", ["a@b.example\r\nBcc: x@y.example", "@", "attacker@x.example, v1@y.example"])
def test_a_malformed_address_is_dead_with_its_reason_and_the_rest_go_out(
        tmp_path: Path, fake: tuple[SendGridFake, str], address: str) -> None:
    provider, url = fake
    clock = Clock(T0)
    db = outbox_of(tmp_path, ["a@x.example", "c@x.example", "b@x.example"], clock)
    with database.connect(db) as conn:  # the API refuses such traits now; rows written before that still exist
        conn.execute("UPDATE outbox SET payload = json_set(CAST(payload AS TEXT), '$.to', ?) WHERE customer = 'c1'",
                     (address,))
    asyncio.run(Dispatcher(database.connect(db), {"email": sendgrid(url)}, clock).run_once())
    status = rows(db)
    assert status["c1"][0] == "dead" and "not one email address" in (status["c1"][2] or "")
    assert status["c0"][0] == status["c2"][0] == "sent"
    assert sorted(r for m in provider.messages for r in m.recipients()) == ["a@x.example", "b@x.example"]


def test_a_shutdown_waits_for_hand_offs_in_flight_and_starts_no_new_one(
        tmp_path: Path, fake: tuple[SendGridFake, str]) -> None:
    provider, url = fake
    clock = Clock(T0)
    db = outbox_of(tmp_path, [f"{n}@x.example" for n in "abcd"], clock)
    d = Dispatcher(database.connect(db), {"email": sendgrid(url)}, clock, settings=DispatchSettings(in_flight=2))
    provider.faults.hang(seconds=0.5, times=4)

    async def go() -> int:
        batch = asyncio.create_task(d.run_once())
        while provider.faults.stalled < 2:
            await asyncio.sleep(0.01)
        left = await d.drain()
        await batch
        return left

    assert asyncio.run(go()) == 0
    status = sorted(r[:2] for r in rows(db).values())
    assert status == [("pending", 0), ("pending", 0), ("sent", 1), ("sent", 1)] and len(provider.messages) == 2


def test_a_shutdown_waits_no_longer_than_its_grace_and_what_is_left_is_in_doubt_at_the_next_start(
        tmp_path: Path, fake: tuple[SendGridFake, str]) -> None:
    provider, url = fake
    clock = Clock(T0)
    db = outbox_of(tmp_path, ["a@x.example"], clock)
    d = Dispatcher(database.connect(db), {"email": sendgrid(url, timeout=30)}, clock,
                   settings=DispatchSettings(grace=0.2))
    provider.faults.hang(seconds=30)

    async def go() -> int:
        batch = asyncio.create_task(d.run_once())
        while provider.faults.stalled < 1:
            await asyncio.sleep(0.01)
        left = await d.drain()
        batch.cancel()
        return left

    assert asyncio.run(go()) == 1
    provider.faults.release()
    again = Dispatcher(database.connect(db), {"email": sendgrid(url)}, clock)
    assert asyncio.run(again.recover()) == {"sent": 0, "resent": 0, "in_doubt": 1}
    assert rows(db)["c0"][:2] == ("in_doubt", 1)


def nudge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2], env={**os.environ, "COLUMNS": "80"})


def test_dead_messages_are_listed_whole_and_requeued_by_id_by_reason_or_all(
        tmp_path: Path, fake: tuple[SendGridFake, str]) -> None:
    provider, url = fake
    clock = Clock(T0)
    db = outbox_of(tmp_path, ["a@x.example", "b@x.example", "c@x.example"], clock)
    with database.connect(db) as conn:
        conn.execute("UPDATE outbox SET id = id || '-with-a-long-suffix-that-no-80-column-table-can-hold-whole'")
        conn.execute("UPDATE outbox SET status = 'dead', attempts = 57, error = 'SendGrid 503' WHERE customer != 'c2'")
        conn.execute("UPDATE outbox SET status = 'dead', attempts = 1, error = 'SendGrid 400: bad' WHERE customer = 'c2'")
        ids = dict(conn.execute("SELECT customer, id FROM outbox").fetchall())
    listed = nudge("outbox", "--db", str(db), "--dead").stdout
    assert all(mid in listed for mid in ids.values())
    assert nudge("outbox", "--db", str(db), "--requeue").returncode != 0  # ids, --reason or --all: never by accident
    assert nudge("outbox", "--db", str(db), "--requeue", ids["c0"]).returncode == 0
    assert rows(db)["c0"][:2] == ("pending", 0) and rows(db)["c1"][0] == "dead"
    assert "1 dead message(s)" in nudge("outbox", "--db", str(db), "--requeue", "--reason", "503").stderr
    assert rows(db)["c1"][:2] == ("pending", 0) and rows(db)["c2"][0] == "dead"
    nudge("outbox", "--db", str(db), "--requeue", "--all")
    asyncio.run(Dispatcher(database.connect(db), {"email": sendgrid(url)}, clock).run_once())
    assert {r[:2] for r in rows(db).values()} == {("sent", 1)} and len(provider.messages) == 3


def test_in_doubt_messages_show_their_attempt_and_resolve_in_bulk(
        tmp_path: Path, fake: tuple[SendGridFake, str]) -> None:
    provider, url = fake
    clock = Clock(T0)
    db = outbox_of(tmp_path, ["a@x.example", "b@x.example", "c@x.example"], clock)
    provider.faults.hang(seconds=1.0, times=3)
    asyncio.run(Dispatcher(database.connect(db), {"email": sendgrid(url, timeout=0.2)}, clock).run_once())
    listed = nudge("outbox", "--db", str(db), "--in-doubt").stdout.splitlines()
    assert listed[0].split()[:2] == ["id", "status"] and len(listed) == 4
    assert all(line.split()[1] == "in_doubt" and " 1 " in line for line in listed[1:])
    first, second = listed[1].split()[0], listed[2].split()[0]
    assert nudge("outbox", "--db", str(db), "--resolve", first, second, "--as", "sent").returncode == 0
    assert nudge("outbox", "--db", str(db), "--resolve-all", "--as", "maybe").returncode != 0
    assert "1 resolved" in nudge("outbox", "--db", str(db), "--resolve-all", "--as", "resend").stderr
    assert sorted(r[0] for r in rows(db).values()) == ["pending", "sent", "sent"]


def test_twilio_time_out_is_unknown_a_refused_connection_transient_and_a_429_costs_no_attempt() -> None:
    provider = TwilioFake()
    text = message("m1", channel="sms", to="+447700900123", subject=None, text="Hi")
    with FakeServer(twilio_app(provider)) as url:
        sender = TwilioSender(provider.account_sid, provider.auth_token, "+15005550006", base_url=url, timeout=0.3)
        provider.faults.hang(seconds=1.0)
        with pytest.raises(UnknownOutcome):
            asyncio.run(sender.send(text))
        provider.faults.rate_limit(seconds=2)
        with pytest.raises(TransientError) as limited:
            asyncio.run(sender.send(text))
        assert limited.value.rate_limited
        for bad in ("+447700900123, +447700900124", "+447700900123\n", "07700900123"):
            with pytest.raises(PermanentError, match="E.164"):
                asyncio.run(sender.send(replace(text, to=bad)))
        wait_until(lambda: len(provider.messages) == 1, "the stalled text to be accepted after all")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(TransientError, match="unreachable"):
        asyncio.run(TwilioSender(provider.account_sid, provider.auth_token, "+15005550006", base_url=closed).send(text))


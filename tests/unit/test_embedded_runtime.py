"""The embedded runtime's parts on a real SQLite file, with a manual wall clock (no sleeps)."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors.channels.base import Delivery, PermanentError, TransientError
from engine.effects import Message
from connectors.channels.file import FileSender
from engine.links import SignedLinks
from engine.migration import Edit, Fate
from engine.runtimes.embedded import database, queries
from engine.runtimes.embedded.dispatcher import Dispatcher, DispatchSettings, RateLimiter, RetryPolicy
from engine.runtimes.embedded.ingest import Ingest
from engine.runtimes.embedded.processor import Processor
from engine.testing import email, write_workspace
from rules.events import parse_event
from rules.workspace import load_workspace
from tests.helpers import hello_journey

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc).timestamp()
JOURNEY = hello_journey("1h", wait_id="pause")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    root = write_workspace(tmp_path / "ws", journeys={"hello": JOURNEY}, templates={"hi.email.html": email("Hi")})
    db = tmp_path / "nudge.db"
    database.create(db)
    clock = Clock(T0)
    workspace = load_workspace(root).workspace
    processor = Processor(database.connect(db), workspace, SignedLinks(b"k", "http://x"), clock)
    return {"root": root, "db": db, "clock": clock, "processor": processor, "conn": database.connect(db)}


def ingest(world: dict[str, Any], *events: dict[str, Any]) -> None:
    parsed = [parse_event({"id": f"e{i}-{e['type']}-{e['customer_id']}", **e}) for i, e in enumerate(events)]

    async def go() -> None:
        ing = Ingest(database.connect(world["db"]), world["clock"], lambda: None)
        task = asyncio.create_task(ing.run())
        await ing.submit(parsed)
        task.cancel()

    asyncio.run(go())


def records(world: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = world["conn"].execute("SELECT at, type, body FROM records ORDER BY seq").fetchall()
    return [(at, kind, orjson.loads(body).get("reason" if kind == "exited" else "step") or "") for at, kind, body in rows]


def signup(customer: str, at: float, **traits: Any) -> dict[str, Any]:
    ts = datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"type": "signed_up", "customer_id": customer, "timestamp": ts, "traits": {"email": f"{customer}@x.example", **traits}}


def test_a_batch_commits_decisions_outbox_and_timers_together(world: dict[str, Any]) -> None:
    ingest(world, signup("c1", T0))
    result = world["processor"].run_batch()
    assert (result.events, result.messages) == (1, 1)
    conn = world["conn"]
    assert conn.execute("SELECT status FROM events").fetchall() == [("processed",)]
    assert conn.execute("SELECT step, status FROM outbox").fetchall() == [("greet", "pending")]
    assert conn.execute("SELECT due FROM timers").fetchall() == [(T0 + 3600,)]


def test_timers_that_fell_due_during_downtime_fire_in_due_order_at_their_due_times(world: dict[str, Any]) -> None:
    ingest(world, signup("c1", T0))
    world["clock"].now = T0 + 60  # waits count from acceptance (SPEC §14)
    ingest(world, signup("c2", T0))
    world["processor"].run_batch()
    world["clock"].now = T0 + 5 * 3600  # the process was down for hours
    result = world["processor"].run_batch()
    assert result.timers == 2
    sends = [(at, step) for at, kind, step in records(world) if kind == "send"]
    assert sends[-2:] == [("2026-03-02T13:00:00Z", "later"), ("2026-03-02T13:01:00Z", "later")]


def test_nothing_fires_before_its_due_time(world: dict[str, Any]) -> None:
    ingest(world, signup("c1", T0))
    world["processor"].run_batch()
    world["clock"].now = T0 + 3599
    assert world["processor"].run_batch().work == 0
    assert world["processor"].next_due() == T0 + 3600


def test_a_late_event_updates_the_profile_but_starts_no_journey(world: dict[str, Any]) -> None:
    world["clock"].now = T0 + 73 * 3600
    ingest(world, signup("c1", T0, first_name="Ann"))
    result = world["processor"].run_batch()
    assert result.late == 1
    assert records(world) == []
    view = queries.customer_view(world["conn"], "c1")
    assert view is not None and view["traits"]["first_name"] == "Ann"


def nudge(world: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    """The operator's command line on the world's database (a real subprocess, a wide terminal)."""
    return subprocess.run([sys.executable, "-m", "engine", *args, "--db", str(world["db"])], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})


def test_an_event_or_timer_the_engine_fails_on_is_set_aside_and_the_rest_go_on(world: dict[str, Any]) -> None:
    from engine.machine import Engine

    fixed = False

    class BuggyEngine(Engine):
        """The real engine with a bug for customer `bad`'s events and c1's timers, until it is fixed."""

        def handle_event(self, event: Any, *, late: bool = False) -> Any:
            if event.customer_id == "bad" and not fixed:
                raise ValueError("a bug")
            return super().handle_event(event, late=late)

        def fire(self, timer: Any, now: Any) -> Any:
            if timer.key == "c1" and not fixed:
                raise RuntimeError("another bug")
            return super().fire(timer, now)

    world["processor"].engine = BuggyEngine
    ingest(world, signup("c1", T0), signup("bad", T0 + 1), signup("c2", T0 + 2))
    processor, conn = world["processor"], world["conn"]
    assert (processor.run_batch().failed, conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]) == (1, 0)
    assert processor.run_batch().events == 2  # the batch again, without it
    assert conn.execute("SELECT customer, status FROM events ORDER BY seq").fetchall() == [
        ("c1", "processed"), ("bad", "failed"), ("c2", "processed")]
    kind, body, error = conn.execute("SELECT kind, body, error FROM failed_inputs").fetchone()
    assert (kind, orjson.loads(body)["customer_id"], error) == ("event", "bad", "ValueError: a bug")

    world["clock"].now = T0 + 3600 + 60
    assert processor.run_batch().failed == 1
    assert processor.run_batch().timers == 1  # c2's
    body, error = conn.execute("SELECT body, error FROM failed_inputs WHERE kind = 'timer'").fetchone()
    assert (orjson.loads(body)["key"], error) == ("c1", "RuntimeError: another bug")
    assert conn.execute("SELECT COUNT(*) FROM timers").fetchone()[0] == 0  # not fired again and again
    assert [step for _, kind, step in records(world) if kind == "send"] == ["greet", "greet", "later"]

    listing = nudge(world, "failed").stdout
    assert "ValueError: a bug" in listing and "RuntimeError: another bug" in listing and "bad" in listing
    fixed = True
    assert "2 input(s) back in the queue" in nudge(world, "failed", "--retry").stderr
    while processor.run_batch().work:
        world["clock"].now += 3600
    sends = sorted((orjson.loads(body)["customer_id"], orjson.loads(body)["step"])
                   for (body,) in conn.execute("SELECT body FROM records WHERE type = 'send'"))
    assert sends == [("bad", "greet"), ("bad", "later"), ("c1", "greet"), ("c1", "later"), ("c2", "greet"),
                     ("c2", "later")]
    assert conn.execute("SELECT COUNT(*) FROM failed_inputs").fetchone()[0] == 0


def test_a_repeated_event_id_is_accepted_once(world: dict[str, Any]) -> None:
    ingest(world, signup("c1", T0))
    ingest(world, signup("c1", T0))
    assert world["conn"].execute("SELECT COUNT(*) FROM events").fetchone()[0] == 1


class FlakySender:
    name = "flaky"

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.sent: list[str] = []

    async def send(self, message: Message) -> Delivery:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message.id)
        return Delivery(provider_id="p-" + message.id)

    async def confirm(self, message_id: str) -> bool | None:
        return None

    async def close(self) -> None:
        pass


def dispatcher(world: dict[str, Any], sender: Any, **kwargs: Any) -> Dispatcher:
    return Dispatcher(database.connect(world["db"]), {"email": sender}, world["clock"], rng=random.Random(1), **kwargs)


def outbox(world: dict[str, Any]) -> list[tuple[Any, ...]]:
    return world["conn"].execute("SELECT status, attempts, error FROM outbox ORDER BY seq").fetchall()


def test_a_throttled_send_waits_for_retry_after_then_goes_out_once(world: dict[str, Any]) -> None:
    ingest(world, signup("c1", T0))
    world["processor"].run_batch()
    sender = FlakySender([TransientError("429 Too Many Requests", retry_after=30)])
    d = dispatcher(world, sender)
    assert asyncio.run(d.run_once()) == 1
    assert outbox(world) == [("pending", 1, "429 Too Many Requests")]
    assert asyncio.run(d.next_ready()) == pytest.approx(T0 + 30, abs=1)
    world["clock"].now = T0 + 29
    assert asyncio.run(d.run_once()) == 0
    world["clock"].now = T0 + 31
    assert asyncio.run(d.run_once()) == 1
    assert outbox(world) == [("sent", 2, None)] and len(sender.sent) == 1


def test_a_permanent_error_is_recorded_and_not_retried(world: dict[str, Any]) -> None:
    ingest(world, signup("c1", T0))
    world["processor"].run_batch()
    d = dispatcher(world, FlakySender([PermanentError("400 invalid email")]))
    asyncio.run(d.run_once())
    assert outbox(world) == [("dead", 1, "400 invalid email")]
    assert asyncio.run(d.next_ready()) is None


def test_the_last_transient_failure_ends_in_dead_letter(world: dict[str, Any]) -> None:
    ingest(world, signup("c1", T0))
    world["processor"].run_batch()
    retry = RetryPolicy(base_delay=1, max_delay=1, give_up_after=1)  # three attempts
    d = dispatcher(world, FlakySender([TransientError("503")] * 3), settings=DispatchSettings(retry=retry))
    for _ in range(3):
        world["clock"].now += 1000
        asyncio.run(d.run_once())
    assert outbox(world)[0][:2] == ("dead", 3)


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    policy, rng = RetryPolicy(base_delay=1, max_delay=60), random.Random(3)
    delays = [policy.delay(n, None, rng) for n in range(1, 10)]
    for n, d in enumerate(delays, 1):
        assert min(60, 2 ** (n - 1)) * 0.5 <= d <= min(60, 2 ** (n - 1))
    assert policy.delay(1, 120, rng) == 120


def test_the_rate_limiter_spaces_sends() -> None:
    clock = Clock(0)
    limiter = RateLimiter(2, clock)
    assert [limiter.wait_time() for _ in range(2)] == [0, 0]
    assert limiter.wait_time() == pytest.approx(0.5)
    clock.now = 0.5
    assert limiter.wait_time() == 0


def test_an_interrupted_hand_off_is_resolved_by_asking_the_file_connector(world: dict[str, Any], tmp_path: Path) -> None:
    ingest(world, signup("c1", T0), signup("c2", T0))
    world["processor"].run_batch()
    conn = world["conn"]
    conn.execute("UPDATE outbox SET status = 'sending'")  # the process died mid hand-off
    landed_id, lost_id = [r[0] for r in conn.execute("SELECT id FROM outbox ORDER BY seq")]
    path = tmp_path / "messages.jsonl"
    path.write_bytes(orjson.dumps({"id": landed_id, "at": "x"}) + b"\n")
    sender = FileSender(path)
    d = Dispatcher(database.connect(world["db"]), {"email": sender}, world["clock"])
    assert asyncio.run(d.recover()) == {"sent": 1, "resent": 1, "in_doubt": 0}
    asyncio.run(d.run_once())
    ids = [orjson.loads(line)["id"] for line in path.read_text().splitlines()]
    assert sorted(ids) == sorted([landed_id, lost_id])


def test_a_connector_that_cannot_tell_leaves_the_message_in_doubt_for_an_operator(world: dict[str, Any]) -> None:
    ingest(world, signup("c1", T0))
    world["processor"].run_batch()
    world["conn"].execute("UPDATE outbox SET status = 'sending'")
    sender = FlakySender([])
    d = dispatcher(world, sender)
    assert asyncio.run(d.recover()) == {"sent": 0, "resent": 0, "in_doubt": 1}
    asyncio.run(d.run_once())
    assert sender.sent == []
    [row] = queries.outbox_rows(world["conn"], "in_doubt", 10)
    assert row["id"] in nudge(world, "outbox", "--in-doubt").stdout
    assert nudge(world, "outbox", "--resolve", row["id"], "--as", "maybe").returncode != 0
    assert "queued to send again" in nudge(world, "outbox", "--resolve", row["id"], "--as", "resend").stderr
    assert nudge(world, "outbox", "--resolve", row["id"], "--as", "sent").returncode == 1  # no longer in doubt
    asyncio.run(d.run_once())
    assert sender.sent == [row["id"]]


def test_an_edit_keeps_customers_at_their_step_wherever_it_now_stands(world: dict[str, Any]) -> None:
    ingest(world, signup("c1", T0))
    world["processor"].run_batch()  # c1 waits in `pause`
    edited = JOURNEY.replace("  - id: greet\n    send: email\n    template: hi\n", "")
    write_workspace(world["root"], journeys={"hello": edited})
    new = load_workspace(world["root"]).workspace
    [row] = Edit(None, new).plan(queries.in_flight(world["conn"]), datetime.now(timezone.utc)).rows
    assert (row.journey, row.step, row.fate, row.customers) == ("hello", "pause", Fate.STAY, ("c1",))
    assert world["processor"].migrate(new)[0].exits == 0
    world["clock"].now = T0 + 3600
    world["processor"].run_batch()
    assert records(world)[-2:] == [("2026-03-02T13:00:00Z", "send", "later"), ("2026-03-02T13:00:00Z", "exited", "completed")]


def test_an_edit_that_removes_the_waiting_step_exits_with_step_removed(world: dict[str, Any]) -> None:
    ingest(world, signup("c1", T0))
    world["processor"].run_batch()
    edited = JOURNEY.replace("  - id: pause\n    wait: 1h\n", "")
    write_workspace(world["root"], journeys={"hello": edited})
    new = load_workspace(world["root"]).workspace
    assert [r.fate for r in Edit(None, new).plan(queries.in_flight(world["conn"]), datetime.now(timezone.utc)).rows] == [Fate.EXIT]
    assert world["processor"].migrate(new)[0].exits == 1
    assert records(world)[-1] == ("2026-03-02T12:00:00Z", "exited", "step_removed")
    world["clock"].now = T0 + 7200
    world["processor"].run_batch()
    assert records(world)[-1][2] == "step_removed"  # the stale timer does nothing


def test_erasure_removes_personal_data_and_cancels_unsent_messages(world: dict[str, Any]) -> None:
    ingest(world, signup("c1", T0, first_name="Ann"))
    world["processor"].run_batch()
    conn = world["conn"]
    assert queries.erase(conn, "c1")
    assert queries.customer_view(conn, "c1") is None
    dump = b"".join(r[0] if isinstance(r[0], bytes) else str(r[0]).encode() for r in conn.execute(
        "SELECT body FROM events UNION ALL SELECT payload FROM outbox UNION ALL SELECT body FROM records"))
    assert b"c1@x.example" not in dump and b"Ann" not in dump
    assert conn.execute("SELECT status FROM outbox").fetchall() == [("erased",)]
    assert conn.execute("SELECT COUNT(*) FROM timers").fetchone()[0] == 0


def test_a_batch_reads_its_customers_states_in_one_query_not_one_per_event(world: dict[str, Any]) -> None:
    ingest(world, *(signup(f"c{n}", T0) for n in range(20)))
    world["processor"].run_batch()  # the customers now exist
    world["clock"].now = T0 + 60
    ingest(world, *({**signup(f"c{n}", T0 + 60), "type": "page_viewed"} for n in range(20)), signup("new", T0 + 60))
    statements: list[str] = []
    world["processor"].conn.set_trace_callback(statements.append)
    result = world["processor"].run_batch()
    world["processor"].conn.set_trace_callback(None)
    assert result.events == 21
    assert len([s for s in statements if "FROM customers" in s]) == 1
    states = {key: orjson.loads(state) for key, state in world["conn"].execute("SELECT key, state FROM customers")}
    assert len(states) == 21 and states["c3"]["activity"]["page_viewed"]["count"] == 1  # read, then written back
    assert states["c3"]["activity"]["signed_up"]["count"] == 1

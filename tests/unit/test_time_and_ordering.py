"""Time in a live runtime (SPEC §14): journey time is `received_at`, timers never overtake accepted
events however far behind the engine is, and no input stops the others (SPEC §8)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.events import Event
from engine.links import SignedLinks
from engine.runtimes.embedded import database
from engine.runtimes.embedded.ingest import Ingest
from engine.runtimes.embedded.processor import BatchResult, Processor
from engine.runtimes.kernel.codecs import event_to_row
from engine.runtimes.jsonl import InputError, read_events
from engine.runtimes.simulate import simulate
from engine.testing import email, journey_yaml, send_step, wait_step, write_workspace
from rules.events import parse_event
from rules.workspace import load_workspace

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)  # a Monday, noon UTC

CART = """\
id: cart
trigger: {event: cart_updated}
exit_on: [{event: purchase}]
steps:
  - wait: 2s
  - id: reminder
    send: email
    template: hi
"""
HELLO = journey_yaml("hello", "{event: signed_up}", wait_step("10s"), send_step("greet", "hi"))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now.timestamp()

    def __call__(self) -> float:
        return self.now

    def at(self, moment: datetime) -> None:
        self.now = moment.timestamp()


class Live:
    """The embedded runtime's ingest and engine loop on a real SQLite file, with a manual clock."""

    def __init__(self, tmp: Path, journeys: dict[str, str], settings: str = "", batch_size: int = 500) -> None:
        root = write_workspace(tmp / "ws", settings, journeys, {"hi.email.html": email("Hi")})
        self.db = tmp / "nudge.db"
        database.create(self.db)
        self.clock = Clock(T0)
        self.processor = Processor(database.connect(self.db), load_workspace(root).workspace,
                                   SignedLinks(b"k", "http://x"), self.clock, batch_size=batch_size)
        self.conn = database.connect(self.db)

    def accept(self, *events: dict[str, Any]) -> None:
        """One HTTP post's events, committed at the clock's time."""
        parsed = [parse_event(e) for e in events]

        async def go() -> None:
            ingest = Ingest(database.connect(self.db), self.clock, lambda: None)
            task = asyncio.create_task(ingest.run())
            await ingest.submit(parsed)
            task.cancel()

        asyncio.run(go())

    def run_until_idle(self) -> BatchResult:
        total = BatchResult()
        while (result := self.processor.run_batch()).work:
            total.events += result.events
            total.timers += result.timers
            total.failed += result.failed
            total.late += result.late
        return total

    def records(self, kind: str) -> list[dict[str, Any]]:
        return [orjson.loads(body) for (body,) in self.conn.execute(
            "SELECT body FROM records WHERE type = ? ORDER BY seq", (kind,))]


def ev(kind: str, customer: str, at: datetime, n: int = 0, **fields: Any) -> dict[str, Any]:
    return {"id": f"{kind}-{customer}-{n}", "type": kind, "customer_id": customer, "timestamp": iso(at),
            "traits": {"email": f"{customer}@x.example"}, **fields}


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


# ---- ordering under backlog --------------------------------------------------------------------


def test_a_timer_never_fires_before_an_event_accepted_before_its_due_time_however_long_the_backlog(
        tmp_path: Path) -> None:
    live = Live(tmp_path, {"cart": CART}, batch_size=2)
    buyers = [f"c{n}" for n in range(5)]
    live.accept(*(ev("cart_updated", c, T0) for c in buyers))
    live.clock.at(T0 + timedelta(seconds=1.5))
    live.accept(*(ev("purchase", c, T0 + timedelta(seconds=1.5)) for c in buyers))
    live.clock.at(T0 + timedelta(seconds=10))  # the engine is far behind: everything is already due
    live.run_until_idle()
    assert live.records("send") == []
    assert sorted(r["customer_id"] for r in live.records("exited") if r["reason"] == "exit_event") == buyers


def test_a_timer_due_before_a_queued_event_fires_before_it(tmp_path: Path) -> None:
    live = Live(tmp_path, {"cart": CART}, batch_size=1)
    live.accept(ev("cart_updated", "c1", T0))
    live.clock.at(T0 + timedelta(seconds=3))
    live.accept(ev("purchase", "c1", T0 + timedelta(seconds=3)))
    live.clock.at(T0 + timedelta(seconds=10))
    live.run_until_idle()
    assert [r["at"] for r in live.records("send")] == ["2026-03-02T12:00:02Z"]


# ---- journey time --------------------------------------------------------------------------------


def test_waits_count_from_acceptance_not_from_a_timestamp_set_ahead(tmp_path: Path) -> None:
    live = Live(tmp_path, {"hello": HELLO})
    live.accept(ev("signed_up", "c1", T0 + timedelta(hours=3)))
    live.run_until_idle()
    assert live.conn.execute("SELECT due FROM timers").fetchall() == [((T0 + timedelta(seconds=10)).timestamp(),)]
    live.clock.at(T0 + timedelta(seconds=10))
    live.run_until_idle()
    assert [r["at"] for r in live.records("send")] == ["2026-03-02T12:00:10Z"]


def test_every_accepted_event_carries_its_received_at(tmp_path: Path) -> None:
    live = Live(tmp_path, {"hello": HELLO})
    live.accept(ev("signed_up", "c1", T0 - timedelta(hours=2)))
    [(body,)] = live.conn.execute("SELECT body FROM events").fetchall()
    assert orjson.loads(body)["received_at"] == "2026-03-02T12:00:00+00:00"


def test_received_at_never_goes_back_when_the_clock_does(tmp_path: Path) -> None:
    live = Live(tmp_path, {"hello": HELLO})
    live.clock.at(T0 + timedelta(seconds=10))
    live.accept(ev("signed_up", "c1", T0))
    live.clock.at(T0)  # set back (NTP), and a new Ingest, as after a restart
    live.accept(ev("signed_up", "c2", T0))
    assert live.conn.execute("SELECT received_at FROM events ORDER BY seq").fetchall() == [
        ((T0 + timedelta(seconds=10)).timestamp(),)] * 2


def test_lateness_is_decided_at_acceptance_not_when_a_backlog_is_processed(tmp_path: Path) -> None:
    live = Live(tmp_path, {"hello": HELLO}, settings="late_events: 20s")
    live.accept(ev("signed_up", "fresh", T0 - timedelta(seconds=12)), ev("signed_up", "stale", T0 - timedelta(seconds=21)))
    live.clock.at(T0 + timedelta(hours=1))  # processed an hour later (a restart, a backlog)
    result = live.run_until_idle()
    assert result.late == 1
    assert [r["customer_id"] for r in live.records("entered")] == ["fresh"]


def test_events_accepted_together_are_taken_in_timestamp_order(tmp_path: Path) -> None:
    live = Live(tmp_path, {"cart": CART})
    live.accept(ev("purchase", "c1", T0 - timedelta(seconds=1)), ev("cart_updated", "c1", T0 - timedelta(seconds=5)))
    live.clock.at(T0 + timedelta(seconds=10))
    live.run_until_idle()
    assert [r["reason"] for r in live.records("exited")] == ["exit_event"]


# ---- journey time in the machine (simulate) ---------------------------------------------------------


def workspace(tmp: Path, journeys: dict[str, str], settings: str = "") -> Any:
    root = write_workspace(tmp / "ws", settings, journeys, {"hi.email.html": email("Hi")})
    return load_workspace(root).workspace


def received(event: dict[str, Any], at: datetime) -> Event:
    return replace(parse_event(event), received_at=at)


GREET = journey_yaml("greet", "{event: signed_up}", send_step("greet", "hi"), reentry="after_exit")


def test_quiet_hours_are_judged_at_acceptance_not_at_an_old_timestamp(tmp_path: Path) -> None:
    ws = workspace(tmp_path, {"greet": GREET}, 'quiet_hours: {start: "21:00", end: "08:00"}')
    at = T0.replace(hour=21, minute=30)
    result = simulate(ws, [received(ev("signed_up", "c1", at - timedelta(hours=2)), at)])
    [send] = [r for r in result.records if r["type"] == "send"]
    assert (send["at"], send["status"]) == ("2026-03-03T08:00:00Z", "sent")


def test_a_timestamp_far_ahead_does_not_hold_the_frequency_cap(tmp_path: Path) -> None:
    ws = workspace(tmp_path, {"greet": GREET}, "frequency_caps:\n  email: {max: 1, per: 1d}")
    events = [received(ev("signed_up", "c1", T0 + timedelta(days=365)), T0),
              received(ev("signed_up", "c1", T0 + timedelta(days=2), n=1), T0 + timedelta(days=2))]
    result = simulate(ws, events)
    assert [(r["at"], r["status"]) for r in result.records if r["type"] == "send"] == [
        ("2026-03-02T12:00:00Z", "sent"), ("2026-03-04T12:00:00Z", "sent")]


def test_simulate_replays_in_received_at_order_when_lines_carry_it(tmp_path: Path) -> None:
    ws = workspace(tmp_path, {"cart": CART})
    events = [received(ev("cart_updated", "c1", T0), T0),
              received(ev("purchase", "c1", T0 - timedelta(minutes=5)), T0 + timedelta(seconds=1))]
    result = simulate(ws, events)
    assert [(r["at"], r["type"], r.get("reason")) for r in result.records] == [
        ("2026-03-02T12:00:00Z", "entered", None), ("2026-03-02T12:00:01Z", "exited", "exit_event")]


# ---- no input stops the others -------------------------------------------------------------------------


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def test_an_input_whose_state_cannot_be_saved_is_set_aside_and_the_others_go_on(tmp_path: Path) -> None:
    live = Live(tmp_path, {"hello": HELLO})
    live.accept(ev("signed_up", "c1", T0))
    bad = Event("signed_up", T0, id="bad", customer_id="bad", properties=nested(251), traits={"email": "b@x.example"})
    live.conn.execute("INSERT INTO events (id, customer, received_at, timestamp, body) VALUES (?, ?, ?, ?, ?)",
                      (bad.id, bad.customer_id, live.clock(), bad.timestamp.isoformat(), event_to_row(bad)))
    live.accept(ev("signed_up", "c2", T0))
    result = live.run_until_idle()
    assert (result.events, result.failed) == (2, 1)
    assert live.conn.execute("SELECT customer, status FROM events ORDER BY seq").fetchall() == [
        ("c1", "processed"), ("bad", "failed"), ("c2", "processed")]
    [(kind, ref, error)] = live.conn.execute("SELECT kind, ref, error FROM failed_inputs").fetchall()
    assert (kind, ref) == ("event", "2") and "Recursion limit" in error
    assert live.conn.execute("SELECT key FROM customers ORDER BY key").fetchall() == [("c1",), ("c2",)]


def test_an_event_body_that_cannot_be_read_is_set_aside(tmp_path: Path) -> None:
    live = Live(tmp_path, {"hello": HELLO})
    live.conn.execute("INSERT INTO events (id, customer, received_at, timestamp, body) VALUES ('x', 'x', ?, ?, ?)",
                      (live.clock(), T0.isoformat(), b'{"type": "signed_up"'))
    live.accept(ev("signed_up", "c1", T0))
    assert (live.run_until_idle().events, live.conn.execute("SELECT COUNT(*) FROM failed_inputs").fetchone()[0]) == (1, 1)


def test_one_request_that_cannot_be_stored_fails_alone_in_a_group_commit(tmp_path: Path) -> None:
    db = tmp_path / "nudge.db"
    database.create(db)
    clock = Clock(T0)
    poison = Event("signed_up", T0, id="poison", customer_id="p", traits={"big": 2 ** 64})
    valid = [[parse_event(ev("signed_up", f"c{n}", T0))] for n in range(30)]

    async def go() -> list[Any]:
        ingest = Ingest(database.connect(db), clock, lambda: None)
        task = asyncio.create_task(ingest.run())
        posts = [ingest.submit(events) for events in valid[:15]] + [ingest.submit([poison])]
        posts += [ingest.submit(events) for events in valid[15:]]
        outcomes = await asyncio.gather(*posts, return_exceptions=True)
        task.cancel()
        return outcomes

    outcomes = asyncio.run(go())
    assert isinstance(outcomes[15], Exception)
    assert [o.accepted for n, o in enumerate(outcomes) if n != 15] == [1] * 30
    assert database.connect(db).execute("SELECT COUNT(*) FROM events").fetchone()[0] == 30


@pytest.mark.parametrize("late_by", [19, 21])
def test_lateness_is_received_at_minus_timestamp(late_by: int) -> None:
    event = Event("x", T0, received_at=T0 + timedelta(seconds=late_by))
    assert event.late(timedelta(seconds=20)) is (late_by > 20)


def test_simulate_over_the_exported_event_log_replays_the_live_run_exactly(tmp_path: Path) -> None:
    live = Live(tmp_path, {"cart": CART, "hello": HELLO}, settings='quiet_hours: {start: "21:00", end: "08:00"}')
    customer_times = [T0 - timedelta(hours=2), T0 + timedelta(minutes=4), T0 + timedelta(seconds=1), T0]
    for n, stamped in enumerate(customer_times):
        live.clock.at(T0 + timedelta(seconds=n))
        live.accept(ev("cart_updated", f"c{n}", stamped), ev("signed_up", f"c{n}", stamped))
    live.clock.at(T0 + timedelta(seconds=3.5))
    live.accept(ev("purchase", "c2", T0 - timedelta(days=1)), ev("signed_up", "c9", T0 - timedelta(days=4)))  # late
    live.clock.at(T0 + timedelta(minutes=1))
    live.run_until_idle()
    log = tmp_path / "events.jsonl"
    log.write_bytes(b"\n".join(body for (body,) in live.conn.execute("SELECT body FROM events ORDER BY seq")))
    replay = simulate(live.processor.workspace, read_events(log), until=T0 + timedelta(minutes=1))

    def outcomes(records: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
        return sorted((r["at"], r["customer_id"], r["type"], r.get("reason") or "") for r in records)

    assert outcomes(replay.records) == outcomes([orjson.loads(b) for (b,) in live.conn.execute("SELECT body FROM records")])
    assert ("2026-03-02T12:00:03.500000Z", "c2", "exited", "exit_event") in outcomes(replay.records)


def test_a_line_with_a_received_at_that_is_not_rfc_3339_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    log.write_bytes(orjson.dumps({**ev("signed_up", "c1", T0), "received_at": "yesterday"}))
    with pytest.raises(InputError, match="received_at"):
        read_events(log)


def test_a_batch_that_fails_when_written_is_taken_input_by_input_and_only_the_culprit_is_set_aside(
        tmp_path: Path) -> None:
    live = Live(tmp_path, {"hello": HELLO})
    live.conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON records WHEN NEW.customer = 'bad' "
                      "BEGIN SELECT RAISE(ABORT, 'refused'); END")  # a write that fails for one customer only
    live.accept(ev("signed_up", "c1", T0), ev("signed_up", "bad", T0), ev("signed_up", "c2", T0))
    result = live.run_until_idle()
    assert (result.events, result.failed) == (2, 1)
    assert live.conn.execute("SELECT customer, status FROM events ORDER BY customer").fetchall() == [
        ("bad", "failed"), ("c1", "processed"), ("c2", "processed")]
    assert live.conn.execute("SELECT error FROM failed_inputs").fetchall() == [("IntegrityError: refused",)]


def test_a_trait_that_outgrows_64_bits_sets_aside_its_event_only(tmp_path: Path) -> None:
    bump = "id: bump\ntrigger: {event: signed_up}\nreentry: after_exit\nsteps:\n  - update: {increment: {points: '1'}}\n"
    live = Live(tmp_path, {"bump": bump})
    live.accept(ev("signed_up", "c1", T0))
    big = Event("signed_up", T0, id="big", customer_id="big", traits={"points": 18446744073709551615})
    live.conn.execute("INSERT INTO events (id, customer, received_at, timestamp, body) VALUES (?, ?, ?, ?, ?)",
                      (big.id, big.customer_id, live.clock(), big.timestamp.isoformat(), event_to_row(big)))
    live.accept(ev("signed_up", "c2", T0))
    result = live.run_until_idle()
    assert (result.events, result.failed) == (2, 1)
    assert live.conn.execute("SELECT customer FROM events WHERE status = 'failed'").fetchall() == [("big",)]
    [(error,)] = live.conn.execute("SELECT error FROM failed_inputs").fetchall()
    assert "64-bit" in error

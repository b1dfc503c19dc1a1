"""What one input on the events topic does, without a broker: the router on plain mappings, the
envelopes it sends to other partitions fed back as later inputs (tests/kafka runs it on Kafka)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson

from engine.events import Event
from engine.links import SignedLinks
from engine.machine import Engine
from engine.runtimes.kafka import envelopes
from engine.runtimes.kafka.producer import Acks
from engine.runtimes.kafka.router import EngineFactory, Router, Topics
from engine.runtimes.kafka.store import Record, Tables, partition_for
from engine.testing import email, write_workspace
from rules.events import parse_event
from tests.kafka_wire import live_workspace, take

BROWSE = "id: browse\ntrigger: {event: page_viewed}\nsteps:\n  - wait: 2s\n  - id: follow_up\n    send: email\n" \
         "    template: hi\n"
HELLO = "id: hello\ntrigger: {event: signed_up}\nsteps:\n  - id: greet\n    send: email\n    template: hi\n"
AT = "2026-03-02T12:00:00Z"


class Wire:
    """A stand-in broker: the events topic is a queue of inputs (one partition per key, as Kafka
    would place them), the other topics are lists; table writes are applied after each input."""

    def __init__(self, tmp_path: Path, engine: EngineFactory = Engine) -> None:
        ws = write_workspace(tmp_path / "ws", journeys={"browse": BROWSE, "hello": HELLO},
                             templates={"hi.email.html": email("Hi {{ profile.first_name | default('there') }}")})
        self.tables = Tables(customers={}, seen={}, aliases={}, suppressions={}, progress={})  # type: ignore[arg-type]
        self.router = Router(self.tables, live_workspace(ws, self.tables.progress), SignedLinks(b"secret", "http://127.0.0.1"),
                             Topics("events", "records", "outbox", "dead"), 4, engine=engine)
        self.topics: dict[str, list[tuple[bytes | None, bytes | None, Any]]] = {
            "events": [], "records": [], "outbox": [], "dead": []}
        self.read = 0  # events consumed so far
        self.offsets: dict[int, int] = {}

    def post(self, received_at: datetime | None = None, **event: Any) -> None:
        """An event as the API produces it, received at `received_at` (default: its timestamp)."""
        parsed = replace(parse_event({"timestamp": AT, **event}), received_at=None)
        received = envelopes.event_envelope(parsed, (received_at or parsed.timestamp).timestamp())
        self.topics["events"].append((envelopes.key_of(parsed).encode(), received, None))

    def run(self) -> None:
        """Every input waiting, including those the inputs send to the events topic."""
        while self.read < len(self.topics["events"]):
            key, value, _ = self.topics["events"][self.read]
            self.read += 1
            assert key is not None
            partition = partition_for(key.decode(), 4)
            offset = self.offsets[partition] = self.offsets.get(partition, -1) + 1
            asyncio.run(self._handle(SimpleNamespace(key=key, value=value, topic="events", partition=partition,
                                                     offset=offset)))

    async def _handle(self, message: Any) -> None:
        async def send(topic: str, key: bytes | None, value: bytes | None, headers: Any, acks: Acks) -> None:
            self.topics[topic].append((key, value, headers))  # taken at once: nothing for `acks` to wait for

        await take(self.router, self.tables, message, send)

    def record(self, key: str) -> Record:
        return Record.decode(self.tables.customers[key.encode()])

    def fire_all(self, key: str) -> None:
        for timer_id in list(self.record(key).timers):
            self.topics["events"].append((key.encode(), envelopes.fire_envelope(timer_id), None))
        self.run()

    def sent(self) -> list[tuple[str, str]]:
        return [(m["customer_id"], m["step"]) for m in (orjson.loads(v) for _, v, _ in self.topics["outbox"] if v)]


def test_an_anonymous_profile_is_handed_over_with_its_timer_which_fires_for_the_customer(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    wire.post(type="page_viewed", anonymous_id="a1", id="p1")
    wire.post(type="signed_up", customer_id="c1", id="s1", traits={"email": "c1@example.com", "first_name": "Ann"})
    wire.post(type="logged_in", customer_id="c1", anonymous_id="a1", id="l1")
    wire.run()  # ... and the hand-over and absorb the link sends
    husk = wire.record("anon:a1")
    assert husk.state is None and husk.moved_to == "c1" and husk.timers == {}
    assert list(wire.record("c1").timers) == ["anon:a1|step|browse|anon:a1:browse:1#1"]
    wire.tables.aliases.clear()  # this worker's copy of the global table has not caught up
    wire.fire_all("c1")
    assert wire.sent() == [("c1", "greet"), ("c1", "follow_up")]


def test_a_link_whose_alias_was_written_before_a_crash_but_not_its_hand_over_is_handed_over_when_taken_again(
        tmp_path: Path) -> None:
    """A batch writes its aliases and its outputs side by side: a crash between can leave the alias without the
    hand-over. Taken again, the identify finds the link made and asks for the hand-over again, so the anonymous
    profile's timer still fires for the customer instead of waiting for ever for a hand-over nobody sends."""
    wire = Wire(tmp_path)
    wire.post(type="page_viewed", anonymous_id="a1", id="p1")
    wire.post(type="signed_up", customer_id="c1", id="s1", traits={"email": "c1@example.com", "first_name": "Ann"})
    wire.run()
    wire.tables.aliases[b"a1"] = b"c1"  # written out before the crash; the hand-over was not
    wire.post(type="logged_in", customer_id="c1", anonymous_id="a1", id="l1")
    wire.run()
    assert wire.record("anon:a1").moved_to == "c1"
    wire.fire_all("c1")
    assert wire.sent() == [("c1", "greet"), ("c1", "follow_up")]
    assert wire.record("c1").handed == ["a1"]
    wire.post(type="logged_in", customer_id="c1", anonymous_id="a1", id="l2")  # the record says it was asked for
    wire.run()
    wire.fire_all("c1")
    assert wire.sent() == [("c1", "greet"), ("c1", "follow_up")]
    assert len(hand_overs(wire)) == 1


def test_an_sdk_that_sends_the_anonymous_id_with_every_event_costs_one_hand_over_not_one_per_event(
        tmp_path: Path) -> None:
    """Segment's analytics.js puts the anonymousId on every event, identified or not: the link is asked for once."""
    wire = Wire(tmp_path)
    wire.post(type="page_viewed", anonymous_id="a1", id="p1")
    wire.post(type="logged_in", customer_id="c1", anonymous_id="a1", id="l1", traits={"email": "c1@example.com"})
    wire.run()
    for i in range(5):
        wire.post(type="page_viewed", customer_id="c1", anonymous_id="a1", id=f"v{i}")
    wire.run()
    assert [h["anonymous_id"] for h in hand_overs(wire)] == ["a1"]
    assert wire.record("anon:a1").moved_to == "c1"


def hand_overs(wire: Wire) -> list[dict[str, Any]]:
    envelopes_out = [orjson.loads(v) for _, v, _ in wire.topics["events"] if v]
    return [e for e in envelopes_out if isinstance(e, dict) and e.get("kind") == envelopes.HAND_OVER]


def test_events_for_a_handed_over_profile_are_forwarded_once_and_are_the_customers(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    wire.post(type="page_viewed", anonymous_id="a1", id="p1")
    wire.post(type="logged_in", customer_id="c1", anonymous_id="a1", id="l1",
              traits={"email": "c1@example.com"})
    wire.run()
    wire.tables.aliases.clear()
    wire.post(type="page_viewed", anonymous_id="a1", id="p1")  # seen before the hand-over: dropped there
    wire.post(type="signed_up", anonymous_id="a1")  # no id
    wire.run()
    forwards = [orjson.loads(v) for k, v, _ in wire.topics["events"] if v and b"forward_id" in v]
    assert [f["event"]["type"] for f in forwards] == ["signed_up"]
    assert forwards[0]["forward_id"].startswith(f"forward:{partition_for('anon:a1', 4)}:")
    assert wire.sent() == [("c1", "greet")]  # the customer's sign-up, not a new anonymous visitor's
    assert "anon:a1" not in [k.decode() for k in wire.tables.customers if wire.record(k.decode()).state]
    wire.topics["events"].append((b"c1", wire.topics["events"][-1][1], None))  # the forward again
    wire.run()
    assert wire.sent() == [("c1", "greet")]


def test_erasure_drops_the_record_the_links_and_the_husks_they_left(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    wire.post(type="page_viewed", anonymous_id="a1")
    wire.post(type="logged_in", customer_id="c1", anonymous_id="a1", traits={"email": "c1@example.com"})
    wire.run()
    wire.topics["events"].append((b"c1", envelopes.erase_envelope("c1"), None))
    wire.run()
    assert wire.tables.customers.keys() == set() and wire.tables.aliases == {}
    records = [r for _, v, _ in wire.topics["records"] if v for r in orjson.loads(v)]
    assert [r for r in records if r.get("customer_id") == "c1"][-1] == {"type": "erased", "customer_id": "c1"}
    wire.post(type="page_viewed", anonymous_id="a1")  # a new anonymous visitor, as far as anyone knows
    wire.run()
    assert wire.record("anon:a1").state is not None and wire.record("anon:a1").moved_to is None


class FailsToFire(Engine):
    def fire(self, timer: Any, now: Any) -> Any:
        raise ValueError("a bug")


def test_an_input_that_fails_is_dead_lettered_and_a_failing_timer_goes_with_it(tmp_path: Path) -> None:
    wire = Wire(tmp_path, engine=FailsToFire)
    wire.topics["events"].append((b"c1", b"{not json", None))
    wire.post(type="page_viewed", customer_id="c1")
    wire.run()
    assert wire.topics["dead"][0][:2] == (b"c1", b"{not json")
    assert dict(wire.topics["dead"][0][2])["source"] == b"events:%d:0" % partition_for("c1", 4)
    wire.fire_all("c1")
    assert dict(wire.topics["dead"][-1][2])["error"] == b"ValueError: a bug"
    assert wire.record("c1").timers == {}  # not asked for again and again
    assert len(wire.topics["records"]) == 1  # only the entry's records
    assert datetime.fromisoformat(orjson.loads(wire.topics["records"][0][1])[0]["at"]) == datetime(
        2026, 3, 2, 12, tzinfo=timezone.utc)


def test_an_input_whose_record_cannot_be_encoded_is_dead_lettered_and_the_rest_go_on(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    deep: dict[str, Any] = {}
    for _ in range(251):
        deep = {"a": deep}
    # deeper than an event may be (SPEC §8 refuses it at the API), as a bug or an old log could still hold it
    bad = Event("page_viewed", datetime(2026, 3, 2, 12, tzinfo=timezone.utc), id="b1", customer_id="bad", properties=deep)
    wire.topics["events"].append((b"bad", envelopes.event_envelope(bad, bad.timestamp.timestamp()), None))  # state keeps it
    wire.post(type="signed_up", customer_id="c1", id="s1", traits={"email": "c1@example.com"})
    wire.run()
    [(key, _, headers)] = wire.topics["dead"]
    assert key == b"bad" and b"Recursion limit" in dict(headers)["error"]
    assert b"bad" not in wire.tables.customers and wire.sent() == [("c1", "greet")]


def test_waits_count_from_received_at_and_lateness_is_fixed_by_it(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    noon = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
    wire.post(received_at=noon, type="page_viewed", customer_id="c1", timestamp="2026-03-02T15:00:00Z")
    wire.post(received_at=noon + timedelta(hours=73), type="page_viewed", customer_id="c2")  # 73 h old when received
    wire.run()
    [timer] = wire.record("c1").timers.values()
    assert timer["due"] == (noon + timedelta(seconds=2)).timestamp()
    assert wire.record("c2").timers == {} and wire.record("c2").state is not None  # late: profile only


def test_a_fire_request_comes_after_the_events_already_queued_on_its_partition(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    wire.post(type="page_viewed", customer_id="c1", traits={"email": "c1@example.com"})
    wire.run()
    wire.post(type="signed_up", customer_id="c1", timestamp="2026-03-02T12:00:01Z")  # a backlog the fire queues behind
    wire.fire_all("c1")
    sends = [orjson.loads(v) for _, v, _ in wire.topics["outbox"] if v]
    assert [(m["step"], m["at"]) for m in sends] == [("greet", "2026-03-02T12:00:01Z"), ("follow_up", "2026-03-02T12:00:02Z")]


def test_an_event_is_one_table_write_its_id_kept_in_its_customers_record(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    wire.post(type="signed_up", customer_id="c1", id="s1", traits={"email": "c1@example.com"})
    wire.run()
    assert list(wire.tables.customers) == [b"c1"] and wire.tables.seen == {}  # one changelog record
    assert wire.record("c1").seen == ["s1"]
    wire.post(type="signed_up", customer_id="c1", id="s1", traits={"email": "c1@example.com"})  # sent again
    wire.run()
    assert wire.sent() == [("c1", "greet")]


def test_an_envelopes_event_is_read_as_accepted_at_the_envelopes_stamp_in_one_go() -> None:
    stamped = replace(parse_event({"type": "signed_up", "customer_id": "c1", "timestamp": AT}),
                      received_at=datetime(2026, 3, 2, 12, tzinfo=timezone.utc))  # a row's own stamp
    accepted = datetime(2026, 3, 2, 12, 0, 3, tzinfo=timezone.utc)
    envelope = orjson.loads(envelopes.event_envelope(stamped, accepted.timestamp()))
    event = envelopes.event_of(envelope, accepted)
    assert event == replace(stamped, received_at=accepted)  # the stamp of the envelope, not of the row


def test_the_engine_is_built_once_per_workspace_version_and_serves_every_input_of_it(tmp_path: Path) -> None:
    built: list[Engine] = []

    def counted(workspace: Any, store: Any, links: Any) -> Engine:
        built.append(Engine(workspace, store, links))
        return built[-1]

    wire = Wire(tmp_path, engine=counted)
    for i in range(6):  # on all four partitions, new customers and known ones
        wire.post(type="signed_up", customer_id=f"c{i % 3}", id=f"s{i}", traits={"email": f"c{i % 3}@example.com"})
    wire.post(type="page_viewed", anonymous_id="a1", id="p1")
    wire.post(type="logged_in", customer_id="c1", anonymous_id="a1", id="l1")
    wire.run()
    wire.fire_all("c1")
    assert len(built) == 1
    assert sorted(wire.sent()) == [("c0", "greet"), ("c1", "follow_up"), ("c1", "greet"), ("c2", "greet")]
    wire.router.live = live_workspace(tmp_path / "ws", wire.tables.progress)  # the worker loads its workspaces again
    wire.post(type="signed_up", customer_id="c9", id="s9", traits={"email": "c9@example.com"})
    wire.run()
    assert len(built) == 2 and ("c9", "greet") in wire.sent()


def test_an_envelope_that_is_not_a_json_object_is_dead_lettered(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    wire.post(type="signed_up", customer_id="c1", id="s1", traits={"email": "c1@example.com"})
    wire.run()
    as_pairs = orjson.dumps([["kind", envelopes.ERASE], ["customer_id", "c1"]])  # a dict() would take it
    wire.topics["events"].append((b"c1", as_pairs, None))
    wire.run()
    assert [value for _, value, _ in wire.topics["dead"]] == [as_pairs]
    assert wire.record("c1").state is not None  # not erased

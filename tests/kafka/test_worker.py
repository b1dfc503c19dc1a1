"""The engine on a real Kafka broker: events in, messages out, the same as simulate."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from engine.runtimes.kafka import envelopes
from engine.runtimes.kernel.serving import content_version
from engine.runtimes.simulate import simulate
from engine.testing import email, write_workspace
from rules.events import parse_event
from rules.workspace import load_workspace
from tests.e2e.server import NudgeServer

ROOT = Path(__file__).resolve().parents[2]
LINK_SECRET = "kafka-test-link-secret"  # workers and the API must share it
JOURNEYS = {
    "hello": "id: hello\ntrigger: {event: signed_up}\nsteps:\n  - id: greet\n    send: email\n    template: hi\n"
             "  - wait: 3s\n  - id: later\n    send: email\n    template: hi\n",
    "cart": "id: cart\nreentry: restart\ntrigger: {event: cart_updated}\nexit_on: [{event: purchase}]\nsteps:\n"
            "  - wait_for: {event: cart_viewed, timeout: 2s}\n    else:\n      - id: nudge\n        send: email\n"
            "        template: hi\n",
    # started by an anonymous visitor, finished for the customer they turn out to be: the profile
    # and its timer are handed over from the anonymous partition to the customer's
    "browse": "id: browse\ntrigger: {event: page_viewed}\nsteps:\n  - wait: 2s\n  - id: follow_up\n    send: email\n"
              "    template: hi\n",
}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return write_workspace(tmp_path / "ws", journeys=JOURNEYS,
                           templates={"hi.email.html": email("Hi {{ profile.first_name | default('there') }}")})


def run_worker(workspace: Path, bootstrap: str, tmp_path: Path, prefix: str = "t") -> Iterator[dict[str, Any]]:
    """One `nudge worker` on a fresh app id for the length of a test (a fixture's body: `yield from`)."""
    app_id = f"{prefix}{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "NUDGE_KAFKA_BOOTSTRAP": bootstrap, "NUDGE_KAFKA_APP_ID": app_id,
           "NUDGE_LINK_SECRET": LINK_SECRET, "NUDGE_KAFKA_PARTITIONS": "4", "NUDGE_KAFKA_DATA_DIR": str(tmp_path / "data"), "NUDGE_LOG_LEVEL": "warning"}
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "engine", "worker", "-w", str(workspace)], env=env, cwd=tmp_path,
                            stdout=log, stderr=subprocess.STDOUT)
    yield {"app_id": app_id, "bootstrap": bootstrap, "log": tmp_path / "worker.log"}
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def worker(kafka_bootstrap: str, workspace: Path, tmp_path: Path) -> Iterator[dict[str, Any]]:
    yield from run_worker(workspace, kafka_bootstrap, tmp_path)


def sample(now: datetime) -> list[dict[str, Any]]:
    """Sign-ups and carts for 20 customers (six of whom browsed anonymously before they logged
    in), stamped now so that nothing is late."""
    events = []
    for n in range(20):
        at = (now + timedelta(milliseconds=n)).isoformat().replace("+00:00", "Z")
        events.append({"id": f"s{n}", "type": "signed_up", "customer_id": f"c{n}", "timestamp": at,
                       "traits": {"email": f"c{n}@example.com", "first_name": f"C{n}"}})
        events.append({"id": f"k{n}", "type": "cart_updated", "customer_id": f"c{n}", "timestamp": at})
        if n % 2:
            events.append({"id": f"v{n}", "type": "cart_viewed", "customer_id": f"c{n}", "timestamp": at})
        if n < 6:
            events.append({"id": f"p{n}", "type": "page_viewed", "anonymous_id": f"a{n}", "timestamp": at})
            events.append({"id": f"l{n}", "type": "logged_in", "customer_id": f"c{n}", "anonymous_id": f"a{n}",
                           "timestamp": at})
    events.append(dict(events[0]))  # a repeated id is ignored
    return events


def expected_sends(workspace: Path, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    records = simulate(load_workspace(workspace).workspace, [parse_event(e) for e in events]).records
    return [{**r, "id": r["message_id"]} for r in records if r["type"] == "send" and r["status"] == "sent"]


def assert_same_messages(got: list[dict[str, Any]], expected: list[dict[str, Any]], why: str = "") -> None:
    """The same messages as simulate, each once. Message ids are compared too, except where a journey
    began for an anonymous visitor: an anonymous event that reaches its partition after the link but
    before the hand-over is the anonymous profile's (docs/kafka.md), which names the instance, and so
    the message id."""
    def content(m: dict[str, Any]) -> tuple[Any, ...]:
        return m["customer_id"], m["journey"], m["step"], m["to"], m["subject"]

    assert sorted(map(content, got)) == sorted(map(content, expected)), why
    assert len({m["id"] for m in got}) == len(got), "a message id twice"
    assert (sorted(m["id"] for m in got if m["journey"] != "browse")
            == sorted(m["id"] for m in expected if m["journey"] != "browse")), why


async def create_events_topic(bootstrap: str, app_id: str, partitions: int) -> None:
    """The events topic made before any worker starts (as an operator may have made it)."""
    from aiokafka.admin import NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(f"{app_id}.events", num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()


async def wait_for_topics(bootstrap: str, names: list[str], timeout: float = 60) -> None:
    """The worker creates its topics at start-up (the broker creates none by itself)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while not set(names) <= set(await admin.list_topics()):
            assert time.monotonic() < deadline, f"topics {names} were not created"
            await asyncio.sleep(0.5)
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, events: list[dict[str, Any]]) -> None:
    inputs = []
    for data in events:
        event = parse_event(data)
        inputs.append((envelopes.key_of(event).encode(), envelopes.event_envelope(event, time.time())))
    await produce_raw(bootstrap, topic, inputs)


async def produce_raw(bootstrap: str, topic: str, inputs: list[tuple[bytes, bytes]]) -> None:
    """Keyed values, as they are, in order."""
    await wait_for_topics(bootstrap, [topic])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value in inputs:
            await producer.send_and_wait(topic, key=key, value=value)
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def reading(bootstrap: str, topic: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer of the whole topic (a group of its own, from the earliest offset)."""
    await wait_for_topics(bootstrap, [topic])
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                group_id=f"check-{uuid.uuid4().hex[:6]}")
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def collect(bootstrap: str, topic: str, expected: int, timeout: float,
                  counts: Callable[[dict[str, Any]], bool] = lambda message: True) -> list[dict[str, Any]]:
    """Every message of the topic, read until `expected` of those that `counts` have come (or `timeout`)."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    async with reading(bootstrap, topic) as consumer:
        while sum(map(counts, found)) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                found.extend(orjson.loads(r.value) for r in records)
        await asyncio.sleep(2)  # a short grace period: anything extra would be a duplicate
        for records in (await consumer.getmany(timeout_ms=500)).values():
            found.extend(orjson.loads(r.value) for r in records)
    return found


def test_one_event_file_gives_the_same_messages_through_simulate_nudge_run_and_kafka(
        worker: dict[str, Any], workspace: Path, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in sample(datetime.now(timezone.utc))))
    events = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    sent = expected_sends(workspace, events)  # simulate

    asyncio.run(produce(worker["bootstrap"], f"{worker['app_id']}.events", events))
    messages = asyncio.run(collect(worker["bootstrap"], f"{worker['app_id']}.outbox", len(sent), timeout=90))
    assert_same_messages(messages, sent, worker["log"].read_text()[-3000:])

    embedded = NudgeServer(workspace, tmp_path / "run.db")  # nudge run
    embedded.start()
    try:
        assert embedded.post(events).status_code == 202
        embedded.wait_for(lambda: len(embedded.messages()) >= len(sent), timeout=60, what="every message")
    finally:
        embedded.stop()
    assert_same_messages(embedded.messages(), sent)
    assert sorted(m["id"] for m in embedded.messages()) == sorted(m["id"] for m in sent)  # ids too, all of them


def test_the_http_api_and_dispatcher_beside_kafka_workers_send_each_message_once(
        worker: dict[str, Any], workspace: Path, tmp_path: Path) -> None:
    events = sample(datetime.now(timezone.utc))
    sent = expected_sends(workspace, events)
    with edge_beside(workspace, tmp_path, worker["bootstrap"], worker["app_id"]) as edge:
        for start in range(0, len(events), 10):
            assert edge.post(events[start:start + 10]).status_code == 202
        edge.wait_for(lambda: len(edge.messages()) >= len(sent), timeout=90, what="every message")
        edge.wait_for(lambda: edge.health()["messages"].get("sent", 0) >= len(sent), what="the outbox rows")
    assert_same_messages(edge.messages(), sent)


def start_worker(workspace: Path, bootstrap: str, app_id: str, data: Path, log: Path,
                 store: str = "memory://") -> subprocess.Popen[bytes]:
    env = {**os.environ, "NUDGE_KAFKA_BOOTSTRAP": bootstrap, "NUDGE_KAFKA_APP_ID": app_id, "NUDGE_KAFKA_PARTITIONS": "4",
           "NUDGE_KAFKA_STORE": store, "NUDGE_LINK_SECRET": LINK_SECRET,
           "NUDGE_KAFKA_DATA_DIR": str(data), "NUDGE_LOG_LEVEL": os.environ.get("NUDGE_TEST_WORKER_LOG", "info"),
           "NUDGE_KAFKA_SESSION_TIMEOUT": "6"}
    return subprocess.Popen([sys.executable, "-m", "engine", "worker", "-w", str(workspace)], env=env, cwd=data.parent,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)


@contextlib.contextmanager
def edge_beside(workspace: Path, tmp_path: Path, bootstrap: str, app_id: str,
                workers: list[subprocess.Popen[bytes]] | None = None) -> Iterator[NudgeServer]:
    """`nudge api --kafka` beside the workers of `app_id`; stopped at the end, with `workers` killed."""
    edge = NudgeServer(workspace, tmp_path / "edge.db", command=("api", "--kafka"))
    edge.env = {"NUDGE_KAFKA_BOOTSTRAP": bootstrap, "NUDGE_KAFKA_APP_ID": app_id, "NUDGE_LINK_SECRET": LINK_SECRET}
    edge.start()
    try:
        yield edge
    finally:
        edge.stop()
        for w in workers or []:
            w.kill()


def wait_for_every_message(edge: NudgeServer, expected: list[dict[str, Any]], timeout: float,
                           logs: tuple[Path, ...] = ()) -> None:
    """Every expected message sent, then a grace period in which a duplicate would show up. On a
    time-out, the messages missing and the workers' warnings say which input or timer stalled."""
    try:
        edge.wait_for(lambda: len(edge.messages()) >= len(expected), timeout=timeout, what="every message")
    except AssertionError as exc:
        got = {(m["customer_id"], m["journey"], m["step"]) for m in edge.messages()}
        missing = sorted({(m["customer_id"], m["journey"], m["step"]) for m in expected} - got)
        notes = [line for log in logs for line in log.read_text(errors="replace").splitlines()
                 if "[WARNING]" in line or "[ERROR]" in line or "[CRITICAL]" in line or "Worker ready" in line]
        raise AssertionError(f"{exc}: {len(got)} of {len(expected)} sent; missing {missing}; "
                             "workers said:\n" + "\n".join(notes[-60:])) from None
    time.sleep(3)  # bounded grace period: a duplicate would show up now


def test_a_worker_killed_mid_stream_loses_no_message_and_sends_none_twice(
        kafka_bootstrap: str, workspace: Path, tmp_path: Path) -> None:
    app_id = f"f{uuid.uuid4().hex[:8]}"
    workers = [start_worker(workspace, kafka_bootstrap, app_id, tmp_path / f"w{i}", tmp_path / f"w{i}.log") for i in range(2)]
    with edge_beside(workspace, tmp_path, kafka_bootstrap, app_id, workers) as edge:
        events = sample(datetime.now(timezone.utc))
        for start in range(0, len(events) // 2, 10):
            assert edge.post(events[start:start + 10]).status_code == 202
        edge.wait_for(lambda: len(edge.messages()) >= 5, timeout=90, what="the first messages")
        # the anonymous visitors (all in this half) merged first: a failover can hold a link back
        # past their 2 s wait, which then fires for the anonymous profile (docs/kafka.md), not simulate's
        with edge.client() as c:
            edge.wait_for(lambda: all("page_viewed" in c.get(f"/v1/customers/c{n}").json().get("activity", {})
                                      for n in range(6)), timeout=90, what="the anonymous visitors merged")
        workers[0].kill()  # SIGKILL while its timers are pending
        workers[0].wait()
        for start in range(len(events) // 2, len(events), 10):
            assert edge.post(events[start:start + 10]).status_code == 202
        sent = expected_sends(workspace, events)
        wait_for_every_message(edge, sent, timeout=150, logs=(tmp_path / "w0.log", tmp_path / "w1.log"))
    assert_same_messages(edge.messages(), sent)


def test_customers_are_read_from_the_workers_state_and_erased_there_too(
        worker: dict[str, Any], workspace: Path, tmp_path: Path) -> None:
    events = sample(datetime.now(timezone.utc))
    with edge_beside(workspace, tmp_path, worker["bootstrap"], worker["app_id"]) as edge:
        with edge.client() as c:
            assert c.delete("/v1/customers/nobody").status_code == 404
            assert edge.post(events).status_code == 202
            edge.wait_for(lambda: len(edge.messages()) >= len(expected_sends(workspace, events)), timeout=90,
                          what="every message")
            # c0 browsed as a0 before logging in: one profile, its page view folded in
            edge.wait_for(lambda: c.get("/v1/customers/c0").status_code == 200
                          and "page_viewed" in c.get("/v1/customers/c0").json()["activity"], what="c0's merged view")
            view = c.get("/v1/customers/c0").json()
            assert view["traits"] == {"email": "c0@example.com", "first_name": "C0"}
            assert view["activity"]["signed_up"]["count"] == 1
            assert {m["step"] for m in view["messages"]} == {"greet", "later", "nudge", "follow_up"}

            assert c.delete("/v1/customers/c0").status_code == 200
            assert c.get("/v1/customers/c0").status_code == 404
            edge.wait_for(lambda: not edge.query("SELECT 1 FROM records WHERE body LIKE '%c0@example.com%'"),
                          what="the records scrubbed")
            # the worker forgot c0 and the link from a0: a new event starts a new profile (and, being
            # behind the erasure on c0's partition, shows it done), and a0's next page view stays anonymous
            later = (datetime.now(timezone.utc) + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
            assert edge.post([{"id": "again", "type": "cart_viewed", "customer_id": "c0",
                               "timestamp": later}]).status_code == 202
            edge.wait_for(lambda: c.get("/v1/customers/c0").status_code == 200, what="c0 anew")
            fresh = c.get("/v1/customers/c0").json()
            assert fresh["traits"] == {} and set(fresh["activity"]) == {"cart_viewed"}
            assert edge.post([{"id": "anon-again", "type": "page_viewed", "anonymous_id": "a0",
                               "timestamp": later}]).status_code == 202
            edge.wait_for(lambda: edge.query("SELECT 1 FROM customers WHERE key = 'anon:a0' "
                                             "AND CAST(state AS TEXT) LIKE '%page_viewed%'"), what="a0 anonymous again")
            assert c.get("/v1/customers/c1").status_code == 200  # the others are untouched


async def records_of(bootstrap: str, topic: str, until: Any, timeout: float) -> list[dict[str, Any]]:
    """Outcome records (each Kafka message is one input's list) until `until(records)` holds."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    async with reading(bootstrap, topic) as consumer:
        while not until(found):
            assert time.monotonic() < deadline, f"timed out; records so far: {found}"
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                for message in batch:
                    found.extend(orjson.loads(message.value))
    return found


async def publish_apply(bootstrap: str, topic: str, version: str) -> None:
    """What `nudge api --kafka` sends at an apply: one envelope on every partition."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for partition in sorted(await producer.partitions_for(topic)):
            await producer.send_and_wait(topic, key=envelopes.APPLY_KEY.encode(), partition=partition,
                                         value=envelopes.apply_envelope(version, False, time.time()))
    finally:
        await producer.stop()


def test_a_worker_switches_at_an_apply_and_keeps_its_version_when_its_files_are_broken(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    slow = ("id: slow\ntrigger: {event: signed_up}\nsteps:\n  - id: hold\n    wait: 1h\n  - id: after\n"
            "    send: email\n    template: hi\n")
    ws = write_workspace(tmp_path / "ws", journeys={"slow": slow}, templates={"hi.email.html": email("Hi")})
    app_id = f"r{uuid.uuid4().hex[:8]}"
    (tmp_path / "w").mkdir()
    proc = start_worker(ws, kafka_bootstrap, app_id, tmp_path / "w", tmp_path / "w.log")
    topic, records = f"{app_id}.events", f"{app_id}.records"
    now = datetime.now(timezone.utc)

    def sign_up(n: int) -> dict[str, Any]:
        return {"id": f"s{n}", "type": "signed_up", "customer_id": f"r{n}", "timestamp": now.isoformat(),
                "traits": {"email": f"r{n}@example.com"}}

    def entered(count: int) -> Any:
        return lambda found: sum(r["type"] == "entered" for r in found) >= count

    try:
        asyncio.run(produce(kafka_bootstrap, topic, [sign_up(n) for n in range(3)]))
        asyncio.run(records_of(kafka_bootstrap, records, entered(3), timeout=90))

        journey = ws / "journeys" / "slow.yaml"
        journey.write_text("id: slow\ntrigger: {event: signed_up\n")  # broken: the worker keeps the old one
        asyncio.run(publish_apply(kafka_bootstrap, topic, content_version(ws)))
        deadline = time.monotonic() + 30
        while "cannot switch" not in (tmp_path / "w.log").read_text():
            assert time.monotonic() < deadline and proc.poll() is None, (tmp_path / "w.log").read_text()[-2000:]
            time.sleep(0.1)
        assert "journeys/slow.yaml:3:1: invalid YAML" in (tmp_path / "w.log").read_text()  # where the mistake is
        asyncio.run(produce(kafka_bootstrap, topic, [sign_up(3)]))
        asyncio.run(records_of(kafka_bootstrap, records, entered(4), timeout=60))

        journey.write_text("id: slow\ntrigger: {event: signed_up}\nsteps:\n  - id: after\n    send: email\n"
                           "    template: hi\n")  # `hold` is gone: those waiting there exit, once applied
        asyncio.run(publish_apply(kafka_bootstrap, topic, content_version(ws)))
        found = asyncio.run(records_of(
            kafka_bootstrap, records, lambda f: sum(r.get("reason") == "step_removed" for r in f) >= 4, timeout=60))
        exits = sorted(r["customer_id"] for r in found if r.get("reason") == "step_removed")
        assert exits == ["r0", "r1", "r2", "r3"]
        assert all(r["step"] == "hold" for r in found if r.get("reason") == "step_removed")
        assert not [r for r in found if r["type"] == "send"]
    finally:
        proc.kill()


def test_a_worker_on_rocksdb_keeps_its_tables_on_disk_across_a_restart(
        kafka_bootstrap: str, workspace: Path, tmp_path: Path) -> None:
    app_id = f"d{uuid.uuid4().hex[:8]}"
    data = tmp_path / "w"
    data.mkdir()
    events = sample(datetime.now(timezone.utc))
    sent = expected_sends(workspace, events)
    outbox = f"{app_id}.outbox"
    first = start_worker(workspace, kafka_bootstrap, app_id, data, tmp_path / "first.log", store="rocksdb://")
    try:
        asyncio.run(produce(kafka_bootstrap, f"{app_id}.events", events))
        greetings = sum(m["step"] == "greet" for m in sent)
        asyncio.run(collect(kafka_bootstrap, outbox, greetings, timeout=90))
    finally:
        first.terminate()  # a clean stop, timers pending: the tables stay in the data dir
        first.wait(timeout=60)
    assert list((data / "v1" / "tables").glob("*.db")), "no RocksDB files on disk"
    second = start_worker(workspace, kafka_bootstrap, app_id, data, tmp_path / "second.log", store="rocksdb://")
    try:
        messages = asyncio.run(collect(kafka_bootstrap, outbox, len(sent), timeout=90))
    finally:
        second.kill()
    assert_same_messages(messages, sent, (tmp_path / "second.log").read_text()[-3000:])


def stamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def test_an_input_the_worker_cannot_take_is_dead_lettered_and_the_rest_go_on(
        worker: dict[str, Any], workspace: Path) -> None:
    app_id, bootstrap = worker["app_id"], worker["bootstrap"]
    sign_up = {"id": "s1", "type": "signed_up", "customer_id": "c1", "timestamp": stamp(datetime.now(timezone.utc)),
               "traits": {"email": "c1@example.com"}}
    sent = expected_sends(workspace, [sign_up])
    broken = [(b"c1", b"{not json"), (b"c1", orjson.dumps({"kind": "event", "event": {"type": "x"}}))]
    good = envelopes.event_envelope(parse_event(sign_up), time.time())
    asyncio.run(produce_raw(bootstrap, f"{app_id}.events", [*broken, (b"c1", good)]))
    messages = asyncio.run(collect(bootstrap, f"{app_id}.outbox", len(sent), timeout=60))
    assert_same_messages(messages, sent, worker["log"].read_text()[-3000:])  # c1's own input is not held up

    async def dead_letters() -> list[Any]:
        found: list[Any] = []
        async with reading(bootstrap, f"{app_id}.dead-letters") as consumer:
            deadline = time.monotonic() + 30
            while len(found) < len(broken) and time.monotonic() < deadline:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    found.extend(batch)
        return found

    letters = asyncio.run(dead_letters())
    assert [(m.key, m.value) for m in letters] == broken  # as they came, to be looked at and replayed
    headers = [dict(m.headers) for m in letters]
    assert headers[0]["error"].startswith(b"JSONDecodeError") and headers[1]["error"].startswith(b"KeyError")
    assert all(h["source"].startswith(f"{app_id}.events:".encode()) for h in headers)
    assert "dead-lettered" in worker["log"].read_text()


def test_anonymous_events_after_the_hand_over_follow_the_profile_to_its_customer(
        worker: dict[str, Any], workspace: Path) -> None:
    """The anonymous partition forwards what comes for a handed-over profile, once, and drops an id
    the profile took before; the customer's partition takes it as the customer's (not as a new
    anonymous visitor), whether or not its copy of the aliases table has caught up."""
    app_id, bootstrap = worker["app_id"], worker["bootstrap"]
    topic, outbox = f"{app_id}.events", f"{app_id}.outbox"
    now = datetime.now(timezone.utc)
    before = [{"id": "s9", "type": "signed_up", "customer_id": "c9", "timestamp": stamp(now),
               "traits": {"email": "c9@example.com", "first_name": "Nine"}},
              {"id": "p9", "type": "page_viewed", "anonymous_id": "a9", "timestamp": stamp(now)},
              {"id": "l9", "type": "logged_in", "customer_id": "c9", "anonymous_id": "a9", "timestamp": stamp(now)}]
    first = expected_sends(workspace, before)
    asyncio.run(produce(bootstrap, topic, before))
    # the browse follow-up comes from the timer that moved with the profile: the hand-over is done
    asyncio.run(collect(bootstrap, outbox, len(first), timeout=60))
    later = datetime.now(timezone.utc)
    after = [dict(before[1]),  # p9 again: taken before the hand-over, so dropped at the anonymous partition
             {"type": "cart_updated", "anonymous_id": "a9", "timestamp": stamp(later)},  # no id
             {"id": "v9", "type": "page_viewed", "anonymous_id": "a9", "timestamp": stamp(later)}]
    sent = expected_sends(workspace, before + after)
    assert {m["journey"] for m in sent if m["step"] in ("nudge", "follow_up")} == {"cart", "browse"}
    assert all(m["customer_id"] == "c9" for m in sent)
    asyncio.run(produce(bootstrap, topic, after))
    messages = asyncio.run(collect(bootstrap, outbox, len(sent), timeout=60))
    assert_same_messages(messages, sent, worker["log"].read_text()[-3000:])


def test_a_worker_whose_partition_setting_does_not_match_the_topic_refuses_to_start(
        kafka_bootstrap: str, workspace: Path, tmp_path: Path) -> None:
    app_id = f"p{uuid.uuid4().hex[:8]}"
    asyncio.run(create_events_topic(kafka_bootstrap, app_id, partitions=2))
    (tmp_path / "w").mkdir()
    proc = start_worker(workspace, kafka_bootstrap, app_id, tmp_path / "w", tmp_path / "w.log")  # says 4
    try:
        assert proc.wait(timeout=60) == 78  # EX_CONFIG
    finally:
        proc.kill()
    assert f"topic {app_id}.events has 2 partitions but NUDGE_KAFKA_PARTITIONS is 4" in (tmp_path / "w.log").read_text()


def test_inputs_the_consumer_group_committed_past_are_read_again(
        kafka_bootstrap: str, workspace: Path, tmp_path: Path) -> None:
    """faust can commit past inputs it never delivered (around a rebalance): the worker's own count
    (the progress table) finds them, here at the tail of partitions, where no later input shows it."""
    app_id = f"g{uuid.uuid4().hex[:8]}"
    topic, outbox = f"{app_id}.events", f"{app_id}.outbox"
    (tmp_path / "w").mkdir()
    now = datetime.now(timezone.utc)
    first = [{"id": "s0", "type": "signed_up", "customer_id": "g0", "timestamp": stamp(now),
              "traits": {"email": "g0@example.com"}}]
    later = [{"id": f"s{n}", "type": "signed_up", "customer_id": f"g{n}", "timestamp": stamp(now),
              "traits": {"email": f"g{n}@example.com"}} for n in range(1, 7)]
    worker = start_worker(workspace, kafka_bootstrap, app_id, tmp_path / "w", tmp_path / "first.log")
    try:
        asyncio.run(produce(kafka_bootstrap, topic, first))
        asyncio.run(collect(kafka_bootstrap, outbox, 1, timeout=60))
    finally:
        worker.terminate()
        worker.wait(timeout=60)

    async def skip_ahead() -> None:  # the new inputs, committed as if they had been taken in
        await produce(kafka_bootstrap, topic, later)
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=app_id, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in range(4)]  # start_worker: 4 partitions
            consumer.assign(partitions)
            await consumer.commit(await consumer.end_offsets(partitions))
        finally:
            await consumer.stop()

    asyncio.run(skip_ahead())
    worker = start_worker(workspace, kafka_bootstrap, app_id, tmp_path / "w", tmp_path / "second.log")
    try:
        sent = expected_sends(workspace, first + later)
        messages = asyncio.run(collect(kafka_bootstrap, outbox, len(sent), timeout=90))
    finally:
        worker.kill()
    log = (tmp_path / "second.log").read_text()
    assert_same_messages(messages, sent, log[-3000:])
    assert "skipped inputs" in log


def test_workers_killed_and_restarted_again_and_again_lose_nothing_and_send_nothing_twice(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    """Three workers; while events arrive, one after another is SIGKILLed and started again. The
    anonymous visitors' wait is longer than a failover, so every message is simulate's."""
    journeys = {**JOURNEYS, "browse": JOURNEYS["browse"].replace("wait: 2s", "wait: 30s")}
    workspace = write_workspace(tmp_path / "ws", journeys=journeys,
                                templates={"hi.email.html": email("Hi {{ profile.first_name | default('there') }}")})
    app_id = f"k{uuid.uuid4().hex[:8]}"
    rng = random.Random(7)
    now = datetime.now(timezone.utc)
    events = [e for n in range(6) for e in sample(now + timedelta(milliseconds=20 * n))]
    for n, e in enumerate(events):  # six rounds of the sample, each its own customers and ids
        for field in ("id", "customer_id", "anonymous_id"):
            if e.get(field):
                e[field] = f"{e[field]}-{n // (len(events) // 6)}"
    sent = expected_sends(workspace, events)

    def start(i: int, run: int) -> subprocess.Popen[bytes]:
        (tmp_path / f"w{i}").mkdir(exist_ok=True)
        return start_worker(workspace, kafka_bootstrap, app_id, tmp_path / f"w{i}", tmp_path / f"w{i}-{run}.log")

    workers = [start(i, 0) for i in range(3)]
    with edge_beside(workspace, tmp_path, kafka_bootstrap, app_id, workers) as edge:
        for run, start_at in enumerate(range(0, len(events), 20), start=1):
            assert edge.post(events[start_at:start_at + 20]).status_code == 202
            time.sleep(0.5)
            if run % 4 == 0:
                victim = rng.randrange(3)
                workers[victim].kill()
                workers[victim].wait()
                workers[victim] = start(victim, run)
        wait_for_every_message(edge, sent, timeout=240, logs=tuple(sorted(tmp_path.glob("w*.log"))))
    assert_same_messages(edge.messages(), sent)


def test_a_batch_of_inputs_leaves_one_outcome_message_per_partition_holding_every_inputs_records(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    """Inputs waiting when the worker starts come in a few batches: their records arrive in a
    message per partition per batch, whose headers name each input and its count of records."""
    app_id = f"o{uuid.uuid4().hex[:8]}"
    asyncio.run(create_events_topic(kafka_bootstrap, app_id, partitions=4))
    workspace = write_workspace(tmp_path / "ws", journeys={"hello": JOURNEYS["hello"].split("  - wait")[0]},
                                templates={"hi.email.html": email("Hi")})  # no timers: nothing after the inputs
    now = stamp(datetime.now(timezone.utc))
    sign_ups = [{"id": f"s{n}", "type": "signed_up", "customer_id": f"o{n}", "timestamp": now,
                 "traits": {"email": f"o{n}@example.com"}} for n in range(40)]
    asyncio.run(produce(kafka_bootstrap, f"{app_id}.events", sign_ups))
    (tmp_path / "w").mkdir()
    proc = start_worker(workspace, kafka_bootstrap, app_id, tmp_path / "w", tmp_path / "w.log")

    async def messages() -> list[Any]:
        found: list[Any] = []
        deadline = time.monotonic() + 90
        async with reading(kafka_bootstrap, f"{app_id}.records") as consumer:
            while sum(r["type"] == "entered" for m in found for r in orjson.loads(m.value)) < len(sign_ups):
                assert time.monotonic() < deadline, (tmp_path / "w.log").read_text()[-3000:]
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    found.extend(batch)
        return found

    try:
        found = asyncio.run(messages())
    finally:
        proc.kill()
    assert len(found) < len(sign_ups)  # not one message per input
    offsets: dict[int, list[int]] = {}
    for m in found:
        headers = dict(m.headers)
        inputs = orjson.loads(headers["inputs"])
        assert sum(count for _, count in inputs) == len(orjson.loads(m.value))
        offsets.setdefault(int(headers["partition"]), []).extend(offset for offset, _ in inputs)
    assert all(o == sorted(set(o)) for o in offsets.values())  # each partition's inputs in order, each once
    assert sum(len(o) for o in offsets.values()) == len(sign_ups)

"""Outcome records leave a worker as one message per events partition per batch, and the edge
stores each input's records once, however often the message (or an overlapping one, from the
batch taken again after a crash) comes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson

from engine.runtimes.embedded import database
from engine.runtimes.embedded.database import transaction
from engine.runtimes.kafka import outcomes
from engine.runtimes.kafka.batch import Batch
from engine.runtimes.kafka.producer import Acks
from engine.runtimes.kafka.edge import KafkaEdgeRuntime
from engine.runtimes.kafka.store import Tables
from engine.runtimes.settings import KafkaSettings, Secret, Settings
from engine.testing import email, write_workspace
from tests.unit.test_kafka_router import HELLO


def entered(customer: str, n: int) -> dict[str, Any]:
    return {"at": f"2026-03-02T12:00:0{n}Z", "customer_id": customer, "journey": "hello", "type": "entered"}


def take(inputs: list[tuple[int, int, list[dict[str, Any]] | None]]) -> list[tuple[str, bytes | None, bytes | None, Any]]:
    """What a batch sends for (partition, offset, records) inputs; records None: the input fails."""
    tables = Tables(customers={}, seen={}, aliases={}, suppressions={}, progress={})  # type: ignore[arg-type]
    sent: list[tuple[str, bytes | None, bytes | None, Any]] = []

    async def main() -> None:
        async def send(topic: str, key: bytes | None, value: bytes | None, headers: Any, acks: Acks) -> None:
            sent.append((topic, key, value, headers))

        batch = Batch(send, tables.progress, {}, records_topic="app.records")
        for partition, offset, records in inputs:
            batch.begin(SimpleNamespace(message=SimpleNamespace(partition=partition, offset=offset)))
            batch.record([{"type": "doomed"}] if records is None else records)
            batch.send("app.outbox", f"m{partition}:{offset}", b"{}")
            if records is None:
                batch.drop(0)
            await batch.release()
        await batch.flush()

    asyncio.run(main())
    return sent


def test_a_batch_sends_one_outcome_message_per_partition_with_its_inputs_records_in_order() -> None:
    sent = take([(0, 10, [entered("c1", 1), entered("c1", 2)]), (1, 4, [entered("c2", 1)]),
                 (0, 11, None), (0, 12, [entered("c3", 1)]), (0, 13, [])])
    messages = [(key, value, headers) for topic, key, value, headers in sent if topic == "app.records"]
    assert len(messages) == 2  # one per partition, not one per input
    by_partition = {dict(headers)["partition"]: (key, value, headers) for key, value, headers in messages}
    key, value, headers = by_partition[b"0"]
    assert value is not None and orjson.loads(value) == [entered("c1", 1), entered("c1", 2), entered("c3", 1)]
    assert orjson.loads(dict(headers)["inputs"]) == [[10, 2], [12, 1]]  # the failed input's records are gone
    assert key != by_partition[b"1"][0]  # each partition's messages keep one order on the records topic
    assert [m for topic, _, m, _ in sent if topic == "app.outbox"] == [b"{}"] * 4


def sent_email(customer: str, text_bytes: int) -> dict[str, Any]:
    return {"type": "send", "customer_id": customer, "journey": "hello", "step": "greet", "channel": "email",
            "text": "x" * text_bytes, "at": "2026-03-02T12:00:01Z"}


def test_a_batch_whose_records_would_outgrow_a_message_sends_them_in_several_each_under_the_limit() -> None:
    """A thousand inputs of one partition, each sending a 1 KB email, made a value over the 1,000,000 bytes
    librdkafka sends: the batch failed, and was taken again and failed again while the backlog lasted."""
    inputs = [(0, offset, [sent_email(f"c{offset}", 1024)]) for offset in range(1000)]
    records = [(value, headers) for topic, _, value, headers in take(inputs) if topic == "app.records"]
    assert len(records) > 1 and all(value is not None and len(value) <= outcomes.LIMIT for value, _ in records)
    taken: dict[int, int] = {}
    read = [r for value, headers in records if value is not None for r in outcomes.unread(value, headers, taken)]
    assert read == [r for _, _, rs in inputs for r in rs] and taken == {0: 999}


def test_one_inputs_records_go_whole_however_big() -> None:
    inputs: outcomes.Inputs = [(7, [sent_email("c1", 400_000), sent_email("c1", 400_000)])]
    [(key, value, headers)] = outcomes.messages(0, inputs)
    assert orjson.loads(dict(headers)["inputs"]) == [[7, 2]] and len(orjson.loads(value)) == 2


def edge_of(tmp_path: Path) -> KafkaEdgeRuntime:
    root = write_workspace(tmp_path / "ws", journeys={"hello": HELLO}, templates={"hi.email.html": email("Hi")})
    database.create(tmp_path / "edge.db")
    return KafkaEdgeRuntime(root, tmp_path / "edge.db", KafkaSettings(link_secret=Secret("secret")),
                            "http://127.0.0.1", Settings())


def test_the_edge_stores_each_inputs_records_once_when_a_batch_is_taken_again_or_read_again(tmp_path: Path) -> None:
    first = [(0, 10, [entered("c1", 1), entered("c1", 2)]), (0, 12, [entered("c3", 1)]), (1, 4, [entered("c2", 1)])]
    again = [(0, 12, [entered("c3", 1)]), (0, 15, [entered("c4", 1)])]  # a worker killed after the first: taken again
    messages = [SimpleNamespace(value=value, headers=headers)
                for inputs in (first, first, again) for topic, _, value, headers in take(inputs) if topic == "app.records"]
    old = SimpleNamespace(value=orjson.dumps([entered("c9", 1)]), headers=())  # written by a worker before this form
    edge = edge_of(tmp_path)
    try:
        for chunk in ([*messages[:2], old], messages[2:4], messages[4:]):  # the edge reads the topic in pieces
            with transaction(edge.sink):
                edge._record_rows(chunk)
        stored = sorted(row for row in edge.read.execute("SELECT customer, at FROM records"))
        assert stored == [("c1", "2026-03-02T12:00:01Z"), ("c1", "2026-03-02T12:00:02Z"), ("c2", "2026-03-02T12:00:01Z"),
                          ("c3", "2026-03-02T12:00:01Z"), ("c4", "2026-03-02T12:00:01Z"), ("c9", "2026-03-02T12:00:01Z")]
    finally:
        edge.front.lock.release()

    edge = edge_of(tmp_path)  # restarted: what it has taken is in its file, not its memory
    try:
        with transaction(edge.sink):
            edge._record_rows(messages)
        assert edge.read.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 6
    finally:
        edge.front.lock.release()

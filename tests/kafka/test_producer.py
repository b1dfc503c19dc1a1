"""The worker's librdkafka producer (engine/runtimes/kafka/producer.py) on a real broker: what it
acknowledges is on the broker where aiokafka would have put it, and a record the broker refuses
stops the worker before it acknowledges the inputs it was for."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone
from pathlib import Path

import confluent_kafka
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from engine.runtimes.kafka.producer import Acks, Producer
from engine.runtimes.kafka.store import partition_for
from tests.kafka.test_worker import create_events_topic, produce, stamp, start_worker


async def make_topic(bootstrap: str, name: str, partitions: int, **config: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=config)])
    finally:
        await admin.close()


def test_acknowledged_records_are_on_the_broker_where_aiokafka_would_place_their_keys(kafka_bootstrap: str) -> None:
    topic = f"pr{uuid.uuid4().hex[:8]}"

    async def main() -> None:
        await make_topic(kafka_bootstrap, topic, 4)
        producer = Producer(kafka_bootstrap)
        keys = [f"c{n}" for n in range(40)]
        acks, watched = Acks(), Acks()
        for key in keys:
            await producer.send(topic, key.encode(), b"v-" + key.encode(), [("h", b"1")], acks)
        await producer.send(topic, b"any", b"placed", None, acks, 3)  # a partition chosen by the sender
        placed: list[tuple[int, int]] = []
        watched.watch(topic, lambda partition, offset: placed.append((partition, offset)))
        await producer.send(topic, b"c0", b"watched", None, watched, None, True)
        await acks.wait()
        await watched.wait()
        await producer.close()
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap)
        await consumer.start()
        try:
            found: dict[tuple[int, int], tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]] = {}
            for p in range(4):
                tp = TopicPartition(topic, p)
                consumer.assign([tp])
                consumer.seek(tp, 0)
                for record in (await consumer.getmany(tp, timeout_ms=5000)).get(tp, []):
                    found[p, record.offset] = (record.key, record.value, list(record.headers))
        finally:
            await consumer.stop()
        keyed = {(at[0], value): key for at, (key, value, _) in found.items()}
        for key in keys:  # every record taken, on the partition its key falls on, headers and all
            assert keyed[partition_for(key, 4), b"v-" + key.encode()] == key.encode()
        assert all(headers == [("h", b"1")] for _, value, headers in found.values() if value and value[:2] == b"v-")
        assert (3, b"placed") in keyed
        assert len(placed) == 1 and found[placed[0]][1] == b"watched" and placed[0][0] == partition_for("c0", 4)

    asyncio.run(main())


def test_a_record_the_broker_refuses_fails_its_send_and_one_too_large_for_the_producer_is_refused_at_once(
        kafka_bootstrap: str) -> None:
    topic = f"pr{uuid.uuid4().hex[:8]}"

    async def main() -> None:
        await make_topic(kafka_bootstrap, topic, 1, **{"max.message.bytes": "1000"})
        producer = Producer(kafka_bootstrap)
        taken = Acks()
        await producer.send(topic, b"k", b"small", None, taken)
        await taken.wait()
        refused = Acks()
        await producer.send(topic, b"k", b"small", None, refused)
        await producer.send(topic, b"k", b"x" * 5000, None, refused)  # over the topic's limit: the broker's no
        with pytest.raises(confluent_kafka.KafkaException):
            await refused.wait()
        with pytest.raises(confluent_kafka.KafkaException):  # over the producer's own limit (1 MB)
            await producer.send(topic, b"k", b"x" * 2_000_000, None, Acks())
        await producer.close()

    asyncio.run(main())


def test_a_worker_whose_outputs_the_broker_refuses_exits_75_without_committing_their_inputs(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    """The outbox topic takes no message of an email's size: the batch's sends fail, and the worker
    stops (EX_TEMPFAIL, for a supervisor to restart it) before the inputs' offsets are committed."""
    from engine.testing import email, write_workspace

    ws = write_workspace(tmp_path / "ws", journeys={
        "hello": "id: hello\ntrigger: {event: signed_up}\nsteps:\n  - id: greet\n    send: email\n    template: hi\n"},
        templates={"hi.email.html": email("Hi {{ profile.first_name | default('there') }}")})
    app_id = f"r{uuid.uuid4().hex[:8]}"
    asyncio.run(create_events_topic(kafka_bootstrap, app_id, partitions=4))
    asyncio.run(make_topic(kafka_bootstrap, f"{app_id}.outbox", 4, **{"max.message.bytes": "200"}))
    (tmp_path / "w").mkdir()
    worker = start_worker(ws, kafka_bootstrap, app_id, tmp_path / "w", tmp_path / "w.log")
    try:
        asyncio.run(produce(kafka_bootstrap, f"{app_id}.events", [
            {"id": "s1", "type": "signed_up", "customer_id": "c1", "timestamp": stamp(datetime.now(timezone.utc)),
             "traits": {"email": "c1@example.com", "first_name": "C1"}}]))
        assert worker.wait(timeout=120) == 75, (tmp_path / "w.log").read_text()[-3000:]
    finally:
        worker.kill()
    assert "a batch could not be written out" in (tmp_path / "w.log").read_text()

    async def committed() -> dict[int, int | None]:
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=app_id, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [TopicPartition(f"{app_id}.events", p) for p in range(4)]
            return {tp.partition: await consumer.committed(tp) for tp in partitions}
        finally:
            await consumer.stop()

    assert set(asyncio.run(committed()).values()) <= {None, 0}  # no input taken in past its first

"""The broker of scripts/kafka is a real Kafka that aiokafka (the faust-streaming transport) can use."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

import pytest

aiokafka = pytest.importorskip("aiokafka", reason="aiokafka is not installed: pip install -e '.[kafka]'")
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: E402

PARTITIONS = 4
KEYS = [f"customer-{n}" for n in range(8)]
PER_KEY = 3


async def _create_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
        for _ in range(100):  # the topic's metadata reaches the broker a moment after creation
            if topic in await admin.list_topics():
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"topic {topic} was not created")
    finally:
        await admin.close()


async def _round_trip(bootstrap: str, topic: str) -> tuple[dict[str, int], list[tuple[str, str, int]], int]:
    await _create_topic(bootstrap, topic)

    sent_partition: dict[str, set[int]] = defaultdict(set)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for i in range(PER_KEY):
            for key in KEYS:
                meta = await producer.send_and_wait(topic, key=key.encode(), value=f"{key}:{i}".encode())
                sent_partition[key].add(meta.partition)
    finally:
        await producer.stop()
    assert all(len(ps) == 1 for ps in sent_partition.values()), sent_partition

    received: list[tuple[str, str, int]] = []
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"{topic}-reader",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        async with asyncio.timeout(60):
            while len(received) < len(KEYS) * PER_KEY:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    received += [(r.key.decode(), r.value.decode(), r.partition) for r in records]
    finally:
        await consumer.stop()
    return {k: ps.pop() for k, ps in sent_partition.items()}, received, len(partitions)


def test_keyed_messages_round_trip_on_a_four_partition_topic(kafka_bootstrap: str) -> None:
    topic = f"nudge-broker-test-{uuid.uuid4().hex[:8]}"
    sent_partition, received, partition_count = asyncio.run(_round_trip(kafka_bootstrap, topic))

    assert partition_count == PARTITIONS
    assert len(received) == len(KEYS) * PER_KEY
    by_key: dict[str, list[str]] = defaultdict(list)
    partitions_of: dict[str, set[int]] = defaultdict(set)
    for key, value, partition in received:
        by_key[key].append(value)
        partitions_of[key].add(partition)
    # Every message came back once, and one key's messages in the order they were sent.
    assert by_key == {key: [f"{key}:{i}" for i in range(PER_KEY)] for key in KEYS}
    # Equal keys land on one partition: the one the producer reported.
    assert {key: ps for key, ps in partitions_of.items()} == {key: {p} for key, p in sent_partition.items()}
    # And the keys are spread: more than one partition is in use.
    assert len(set(sent_partition.values())) > 1

"""The worker's librdkafka producer without a broker: a record nobody takes fails its send's future
(the batch then stops the worker) rather than leaving it waiting; tests/kafka/test_producer.py
has the broker's side."""

from __future__ import annotations

import asyncio
import socket

import pytest

confluent_kafka = pytest.importorskip("confluent_kafka")

from engine.runtimes.kafka.producer import Producer  # noqa: E402


def closed_port() -> int:
    with socket.socket() as s:  # bound and let go: nothing listens there
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_a_record_no_broker_takes_fails_its_send_when_the_delivery_timeout_passes() -> None:
    async def main() -> None:
        producer = Producer(f"127.0.0.1:{closed_port()}", **{"message.timeout.ms": 300, "log_level": 0})
        sent = await producer.send("events", b"c1", b"{}")
        with pytest.raises(confluent_kafka.KafkaException, match="timed out"):
            await asyncio.wait_for(sent, 30)
        await producer.close(timeout=0)

    asyncio.run(main())


def test_a_record_larger_than_the_producer_takes_is_refused_at_the_send() -> None:
    async def main() -> None:
        producer = Producer(f"127.0.0.1:{closed_port()}", **{"message.max.bytes": 1000, "log_level": 0})
        with pytest.raises(confluent_kafka.KafkaException, match="MSG_SIZE_TOO_LARGE"):
            await producer.send("events", b"c1", b"x" * 2000)
        await producer.close(timeout=0)

    asyncio.run(main())

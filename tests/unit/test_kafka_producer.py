"""The worker's librdkafka producer without a broker: a record nobody takes fails its group's wait
(the batch then stops the worker) rather than leaving it waiting, and a group's acknowledgements
are counted; tests/kafka/test_producer.py has the broker's side."""

from __future__ import annotations

import asyncio
import socket

import pytest

confluent_kafka = pytest.importorskip("confluent_kafka")

from engine.runtimes.kafka.producer import Acks, Producer  # noqa: E402


def closed_port() -> int:
    with socket.socket() as s:  # bound and let go: nothing listens there
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_a_record_no_broker_takes_fails_its_send_when_the_delivery_timeout_passes() -> None:
    async def main() -> None:
        producer = Producer(f"127.0.0.1:{closed_port()}", **{"message.timeout.ms": 300, "log_level": 0})
        acks = Acks()
        await producer.send("events", b"c1", b"{}", None, acks)
        with pytest.raises(confluent_kafka.KafkaException, match="timed out"):
            await acks.wait(30)
        await producer.close(timeout=0)

    asyncio.run(main())


def test_a_record_larger_than_the_producer_takes_is_refused_at_the_send() -> None:
    async def main() -> None:
        producer = Producer(f"127.0.0.1:{closed_port()}", **{"message.max.bytes": 1000, "log_level": 0})
        acks = Acks()
        with pytest.raises(confluent_kafka.KafkaException, match="MSG_SIZE_TOO_LARGE"):
            await producer.send("events", b"c1", b"x" * 2000, None, acks)
        assert acks.waiting == 0  # nothing to wait for
        await producer.close(timeout=0)

    asyncio.run(main())


class Report:
    """What librdkafka hands a delivery report: where the record went."""

    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self.at = (topic, partition, offset)

    def topic(self) -> str:
        return self.at[0]

    def partition(self) -> int:
        return self.at[1]

    def offset(self) -> int:
        return self.at[2]


def test_a_group_is_acknowledged_once_every_record_is_and_its_watched_records_are_reported_where_they_went() -> None:
    async def main() -> None:
        acks, taken = Acks(), []
        acks.watch("log", lambda partition, offset: taken.append((partition, offset)))
        acks.waiting = 3  # as three sends count them
        waiting = asyncio.create_task(acks.wait())
        acks.report(None, Report("outbox", 0, 7))
        acks.report_watched(None, Report("log", 2, 40))
        await asyncio.sleep(0)
        assert not waiting.done() and taken == [(2, 40)]
        acks.report_watched(None, Report("log", 2, 41))
        await waiting
        assert taken == [(2, 40), (2, 41)]
        await acks.wait()  # nothing left to wait for

    asyncio.run(main())


def test_a_refused_record_fails_its_group_at_once_and_is_not_reported_taken() -> None:
    async def main() -> None:
        acks, taken = Acks(), []
        acks.watch("log", lambda partition, offset: taken.append((partition, offset)))
        acks.waiting = 3
        waiting = asyncio.create_task(acks.wait())
        await asyncio.sleep(0)
        acks.report_watched(confluent_kafka.KafkaError(confluent_kafka.KafkaError.MSG_SIZE_TOO_LARGE), Report("log", 0, -1))
        with pytest.raises(confluent_kafka.KafkaException, match="MSG_SIZE_TOO_LARGE"):
            await waiting  # the two others still unreported
        assert taken == []
        with pytest.raises(confluent_kafka.KafkaException):
            await acks.wait()  # and whoever waits later

    asyncio.run(main())


def test_a_watcher_that_fails_is_logged_and_the_record_still_counts(caplog: pytest.LogCaptureFixture) -> None:
    """A RocksDB store that cannot note a changelog offset must not stop the reports: raised out of librdkafka's
    poll, it left the record and every later one uncounted, and each batch waited 60 s and stopped the worker."""
    def fails(partition: int, offset: int) -> None:
        raise OSError("No space left on device")

    async def main() -> None:
        acks = Acks()
        acks.watch("log", fails)
        acks.waiting = 1
        waiting = asyncio.create_task(acks.wait())
        await asyncio.sleep(0)
        acks.report_watched(None, Report("log", 1, 9))
        await waiting

    asyncio.run(main())
    assert "log[1]@9" in caplog.text and "No space left" in caplog.text

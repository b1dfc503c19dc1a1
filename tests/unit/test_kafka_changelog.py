"""A table write through the worker's own changelog path (faust_internals.write_changelog): stored at once,
logged to its input's partition, counted in the batch's acknowledgements, and a RocksDB store told the
offset of each record the broker has taken, as faust's own changelog callback does."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

confluent_kafka = pytest.importorskip("confluent_kafka")

from engine.runtimes.kafka.faust_internals import write_changelog  # noqa: E402
from engine.runtimes.kafka.producer import Acks  # noqa: E402
from tests.unit.test_kafka_producer import Report  # noqa: E402


class Source:
    """The faust event a write belongs to (weakly referenced while it is stored): its input's partition."""

    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(partition=partition)


class Store(dict[bytes, bytes]):
    """A table's store that keeps the offsets it is told it holds data up to."""

    def __init__(self) -> None:
        super().__init__()
        self.persisted: list[tuple[Any, int]] = []

    def set_persisted_offset(self, tp: Any, offset: int) -> None:
        self.persisted.append((tp, offset))


def test_a_changelog_write_is_stored_logged_to_its_inputs_partition_and_its_offset_persisted_once_taken() -> None:
    store = Store()
    table: Any = SimpleNamespace(data=store, changelog_topic=SimpleNamespace(get_topic_name=lambda: "app-customers-changelog"))
    produced: list[tuple[Any, ...]] = []

    async def produce(topic: str, key: bytes | None, value: bytes | None, headers: Any, acks: Acks,
                      partition: int | None, watched: bool) -> None:
        acks.waiting += 1
        produced.append((topic, key, value, partition, watched))

    async def main() -> None:
        acks = Acks()
        for offset, key in enumerate((b"c1", b"c2", b"c3")):
            await write_changelog(produce, table, Source(5), key,
                                  b"v-" + key, acks)
        await write_changelog(produce, table, Source(5), b"c3", None, acks)
        assert store == {b"c1": b"v-c1", b"c2": b"v-c2"}  # stored (and deleted) at once
        assert produced[0] == ("app-customers-changelog", b"c1", b"v-c1", 5, True)
        assert store.persisted == []  # nothing taken yet
        acks.report_watched(None, Report("app-customers-changelog", 5, 10))
        acks.report_watched(None, Report("app-customers-changelog", 5, 11))
        acks.report_watched(confluent_kafka.KafkaError(confluent_kafka.KafkaError.MSG_SIZE_TOO_LARGE), Report("x", 5, -1))
        acks.report_watched(None, Report("app-customers-changelog", 5, 12))
        assert [(tp.topic, tp.partition, offset) for tp, offset in store.persisted] == [
            ("app-customers-changelog", 5, 10), ("app-customers-changelog", 5, 11), ("app-customers-changelog", 5, 12)]
        with pytest.raises(confluent_kafka.KafkaException):
            await acks.wait()  # the refused one fails the batch

    asyncio.run(main())

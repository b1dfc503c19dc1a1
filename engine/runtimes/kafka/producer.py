"""The worker's producer for its outputs and changelog records: librdkafka (confluent-kafka) bridged
to asyncio.

aiokafka's producer, under faust's, is pure Python: per record a batch entry, a future and
faust's wrappers on the worker's event loop, a quarter of a worker's time with the waits for
acknowledgements (BENCHMARKS.md). librdkafka batches, sends and retries records on its own
threads; `send` hands it a record and returns an asyncio future, resolved when the broker has it
(acks=all, idempotent, so a record retried after a lost reply is written once) or has refused it
for good. Keyed records are placed as aiokafka and the Java client place them
(murmur2), so a key lands on the same partition whichever client wrote it.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any, Iterable, NamedTuple

import confluent_kafka

log = logging.getLogger("nudge.producer")

# a record the broker has not taken in this time fails (the batch then stops the worker); in
# line with the time a batch may wait for its acknowledgements (store.WRITE_TIMEOUT)
DELIVERY_TIMEOUT_MS = 60_000
SETTINGS: dict[str, Any] = {
    "acks": "all", "enable.idempotence": True,  # no record lost or written twice by a retry
    "partitioner": "murmur2_random",  # aiokafka's and Java's placement of keyed records
    # a batch's sends are awaited together: a short linger fills librdkafka's batches without
    # adding much to the three round trips a batch of inputs makes
    "linger.ms": 2, "batch.num.messages": 10_000,
    "message.timeout.ms": DELIVERY_TIMEOUT_MS,
}
POLL_EVERY = 0.0005  # seconds between polls for delivery reports while sends are unacknowledged
FULL_WAIT = 0.005  # seconds a send waits when librdkafka's queue is full before trying again


class Delivered(NamedTuple):
    """Where the broker put a record."""

    topic: str
    partition: int
    offset: int


class Producer:
    """Sends records from one event loop: the loop of `start`, or of the first send.

    Delivery reports are served on the loop (`poll(0)` while sends are unacknowledged), not on a
    thread of their own: librdkafka calls back once per record, and each call from a second
    thread waits for the loop's thread to hand over the GIL (up to 5 ms each)."""

    def __init__(self, bootstrap: str, **overrides: Any) -> None:
        self._config = {"bootstrap.servers": bootstrap, **SETTINGS, "logger": log, **overrides}
        self._producer: Any = None  # confluent_kafka.Producer once started
        self._unacknowledged = 0
        self._sending = asyncio.Event()  # set while sends are unacknowledged
        self._pump: asyncio.Task[None] | None = None

    async def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Any = None,
                   partition: int | None = None) -> asyncio.Future[Delivered]:
        """Hands the record to librdkafka; returns the future of the broker's acknowledgement (an
        exception if it refused the record or did not take it in time). Raises if librdkafka
        refuses it at once (too large, an unknown partition, a producer failed for good)."""
        if self._producer is None:
            self._start()
        future: asyncio.Future[Delivered] = asyncio.get_running_loop().create_future()
        report = partial(self._report, future)
        while True:
            try:
                self._producer.produce(topic, value, key, -1 if partition is None else partition, report,
                                       headers=headers)
                break
            except BufferError:  # librdkafka's queue is full: room is made as reports are served
                self._producer.poll(0)
                await asyncio.sleep(FULL_WAIT)
        self._unacknowledged += 1
        self._sending.set()
        return future

    async def start(self, topics: Iterable[str], timeout: float = 10.0) -> None:
        """Connects and looks the topics up ahead of the first send: librdkafka holds a record for a
        topic it has not looked up until its next one-second scan, which every first batch after a
        start would otherwise wait for."""
        if self._producer is None:
            self._start()
        for topic in topics:
            try:
                await asyncio.to_thread(self._producer.list_topics, topic, timeout)
            except confluent_kafka.KafkaException as exc:  # the sends will wait, and fail if it lasts
                log.warning("the producer could not look up %s yet: %s", topic, exc)

    def _start(self) -> None:
        self._producer = confluent_kafka.Producer(self._config)
        self._pump = asyncio.create_task(self._serve(), name="nudge-producer-reports")

    def _report(self, future: asyncio.Future[Delivered], error: Any, message: Any) -> None:
        """librdkafka's delivery report of one record (served by `poll`, on the loop)."""
        self._unacknowledged -= 1
        if future.done():
            return
        if error is None:
            future.set_result(Delivered(message.topic(), message.partition(), message.offset()))
        else:
            future.set_exception(confluent_kafka.KafkaException(error))

    async def _serve(self) -> None:
        """Serves delivery reports while any send waits for one: the loop runs this between its
        other work, so many reports are served in one poll."""
        while True:
            await self._sending.wait()
            self._producer.poll(0)
            if self._unacknowledged:
                await asyncio.sleep(POLL_EVERY)
            else:
                self._sending.clear()

    async def close(self, timeout: float = 10.0) -> None:
        """Waits (up to `timeout` s) for the sends in hand to be reported, then stops serving reports."""
        if self._producer is None or self._pump is None:
            return
        deadline = asyncio.get_running_loop().time() + timeout
        while self._unacknowledged and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(POLL_EVERY)
        self._pump.cancel()
        self._producer = None

"""The worker's producer for its outputs and changelog records: librdkafka (confluent-kafka) bridged
to asyncio.

aiokafka's producer, under faust's, is pure Python: per record a batch entry, a future and
faust's wrappers on the worker's event loop, a quarter of a worker's time with the waits for
acknowledgements (BENCHMARKS.md). librdkafka batches, sends and retries records on its own
threads; `send` hands it a record counted in a group's `Acks`, whose `wait` returns when the broker
has every record of the group (acks=all, idempotent, so a record retried after a lost reply is
written once) and fails when it has refused one for good. Keyed records are placed as aiokafka and the Java client place them
(murmur2), so a key lands on the same partition whichever client wrote it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Iterable

import confluent_kafka

log = logging.getLogger("nudge.producer")

# a record the broker has not taken in this time fails (the batch then stops the worker); in
# line with the time a batch may wait for its acknowledgements (WAIT)
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
WAIT = DELIVERY_TIMEOUT_MS / 1000  # seconds `Acks.wait` waits: a producer that died with records queued would hang it
Taken = Callable[[int, int], None]  # (partition, offset) of a watched record the broker has taken


class Acks:
    """The broker's acknowledgements of a group of sends, counted: librdkafka's report of a record counts
    it off, and `wait` returns once every one is in (a future, a callback and a tuple per record cost a
    worker more than sending it). A refusal fails the whole group; the records of a watched topic are
    reported as they are taken (`watch`)."""

    def __init__(self) -> None:
        self.waiting = 0  # sends not reported yet
        self.refused: BaseException | None = None  # the first refusal
        self._watchers: dict[str, Taken] = {}
        self._done: asyncio.Future[None] | None = None

    def watch(self, topic: str, taken: Taken) -> None:
        """`taken` is told where each record of `topic` sent watched (`Producer.send`) is, once the broker has it."""
        self._watchers.setdefault(topic, taken)

    def report(self, error: Any, message: Any) -> None:
        """librdkafka's delivery report of one record (served by `poll`, on the loop)."""
        self.waiting -= 1
        if error is not None and self.refused is None:
            self.refused = confluent_kafka.KafkaException(error)
        done = self._done
        if done is not None and not done.done() and (self.refused is not None or not self.waiting):
            if self.refused is None:
                done.set_result(None)
            else:
                done.set_exception(self.refused)

    def report_watched(self, error: Any, message: Any) -> None:
        """Counted off first: a watcher that fails (a RocksDB store that cannot note the offset) is logged, and
        must not stop the reports, which librdkafka's `poll` would abandon, raising, with the rest unserved."""
        self.report(error, message)
        if error is None:
            try:
                self._watchers[message.topic()](message.partition(), message.offset())
            except Exception:
                log.exception("could not note where %s[%d]@%d went", message.topic(), message.partition(),
                              message.offset())

    async def wait(self, timeout: float = WAIT) -> None:
        """Returns once the broker has every record sent so far; raises the first refusal (at once), or
        TimeoutError. A producer `flush` would not do: it gives up waiting after a short idle time and
        does not report failed sends."""
        if self.waiting and self.refused is None:
            self._done = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._done, timeout)
            finally:
                self._done = None
        if self.refused is not None:
            raise self.refused


class Producer:
    """Sends records from one event loop: the loop of `start`, or of the first send.

    Delivery reports are served on the loop (`poll(0)` while sends are unacknowledged), not on a
    thread of their own: librdkafka calls back once per record, and each call from a second
    thread waits for the loop's thread to hand over the GIL (up to 5 ms each)."""

    def __init__(self, bootstrap: str, **overrides: Any) -> None:
        self._config = {"bootstrap.servers": bootstrap, **SETTINGS, "logger": log, **overrides}
        self._producer: Any = None  # confluent_kafka.Producer once started
        self._sending = asyncio.Event()  # set while sends are unacknowledged
        self._pump: asyncio.Task[None] | None = None

    async def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Any, acks: Acks,
                   partition: int | None = None, watched: bool = False) -> None:
        """Hands the record to librdkafka, counted in `acks` until the broker acknowledges it (or refuses it,
        or does not take it in time: `acks` then fails); `watched`: its place goes to the watcher of its
        topic (`Acks.watch`). Raises if librdkafka refuses it at once (too large, an unknown partition, a
        producer failed for good)."""
        if self._producer is None:
            self._start()
        report = acks.report_watched if watched else acks.report
        while True:
            try:
                self._producer.produce(topic, value, key, -1 if partition is None else partition, report,
                                       headers=headers)
                break
            except BufferError:  # librdkafka's queue is full: room is made as reports are served
                self._producer.poll(0)
                await asyncio.sleep(FULL_WAIT)
        acks.waiting += 1
        self._sending.set()

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

    async def _serve(self) -> None:
        """Serves delivery reports while any send waits for one: the loop runs this between its
        other work, so many reports are served in one poll."""
        while True:
            await self._sending.wait()
            self._producer.poll(0)
            if len(self._producer):  # records not acknowledged, or reports not served yet
                await asyncio.sleep(POLL_EVERY)
            else:
                self._sending.clear()

    async def close(self, timeout: float = 10.0) -> None:
        """Waits (up to `timeout` s) for the sends in hand to be reported, then stops serving reports."""
        if self._producer is None or self._pump is None:
            return
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self._producer) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(POLL_EVERY)
        self._pump.cancel()
        self._producer = None

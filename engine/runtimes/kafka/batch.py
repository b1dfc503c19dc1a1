"""One batch of inputs on its way out: held outputs, the outcome records of each partition, buffered
table writes, the progress count and the timers scheduled (for the due index once they are written)."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from engine.runtimes.kafka import outcomes
from engine.runtimes.kafka.producer import Acks
from engine.runtimes.kafka.progress import Progress
from engine.runtimes.kafka.store import Log, Table, Writes

Send = Callable[[str, bytes | None, bytes | None, Any, Acks], Awaitable[None]]  # topic, key, value, headers, acks


class Batch:
    """An input's outputs are held until it is handled (`release`): one that fails sends nothing.
    The released outputs go to the producer together when the batch is done (`flush`, `finish`),
    with the outcome records as one message per events partition (more if big: outcomes.py; a message per input cost a
    worker more than its engine's work for it): librdkafka sends a burst in a few requests, where
    records handed over one by one while inputs are handled went out a few per request, at more
    cost in its thread than the Python they replaced."""

    def __init__(self, send: Send, progress: Table, gone: dict[int, int], *, records_topic: str) -> None:
        self._send = send
        self.records_topic = records_topic
        self.held: list[tuple[str, bytes | None, bytes | None, Any]] = []  # the input's being handled
        self.released: list[tuple[str, bytes | None, bytes | None, Any]] = []
        self.held_records: list[dict[str, Any]] = []
        self.outcomes: dict[int, outcomes.Inputs] = {}  # events partition -> its inputs' records, in order
        self.writes = Writes()
        self.progress = Progress(progress, self.writes, gone)
        self.timers: list[tuple[int, float, str, str]] = []  # partition, due, timer id, record key
        self.input = (-1, -1)  # partition and offset of the input being handled

    def begin(self, source: Any) -> None:
        """`source` (the agent's event of an input) is handled next: what follows is its own."""
        self.input = (source.message.partition, source.message.offset)
        self.writes.begin(source)

    def send(self, topic: str, key: str | bytes | None, value: bytes | None, headers: Any = None) -> None:
        self.held.append((topic, key.encode() if isinstance(key, str) else key, value, headers))

    def record(self, records: list[dict[str, Any]]) -> None:
        """Outcome records of the input being handled, held with its outputs."""
        self.held_records += records

    async def release(self) -> None:
        """The input is handled: its outputs and records go with the batch."""
        self.released += self.held
        self.held.clear()
        if self.held_records:
            partition, offset = self.input
            self.outcomes.setdefault(partition, []).append((offset, self.held_records))
            self.held_records = []

    def drop(self, scheduled: int) -> None:
        """Forget what the input being handled made: its held outputs and records, writes and timers."""
        self.held.clear()
        self.held_records = []
        self.writes.rollback()
        del self.timers[scheduled:]

    async def _send_outputs(self, acks: Acks) -> None:
        send = self._send
        for topic, key, value, headers in self.released:
            await send(topic, key, value, headers, acks)
        self.released.clear()
        for partition, inputs in self.outcomes.items():
            for key, value, headers in outcomes.messages(partition, inputs):
                await send(self.records_topic, key, value, headers, acks)
        self.outcomes.clear()

    async def flush(self) -> None:
        """The outputs and outcome records sent, then every send acknowledged."""
        acks = Acks()
        await self._send_outputs(acks)
        await acks.wait()

    async def finish(self, log: Log, records: Table, progress: Table) -> None:
        """Writes the batch out (table writes through `log`) in the order that keeps it safe to take again after a crash at any
        point, in three round trips to the broker:
        1. the outputs (outcome records included), and the writes of the other tables (aliases,
           suppressions, seen ids): done again, those come out the same, so they need not wait
           for the outputs;
        2. then the customer records, each saying which input it has taken in: they must not
           reach the broker before the outputs and links of those inputs;
        3. and last the count of inputs taken in (progress.py)."""
        first = Acks()  # one count for both: the customer records wait for all of it
        await self._send_outputs(first)
        await self.writes.send(log, first, but=(records, progress))
        await first.wait()
        await self.writes.apply(log, but=(progress,))
        await self.writes.apply(log)

"""One batch of inputs on its way out: held outputs, buffered table writes, the progress count
and the timers scheduled (for the due index once they are written)."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from engine.runtimes.kafka.progress import Progress
from engine.runtimes.kafka.faust_internals import write_changelog
from engine.runtimes.kafka.store import Log, Table, Writes, acknowledged

Send = Callable[[str, bytes | None, bytes | None, Any], Awaitable[Any]]  # topic, key, value, headers -> ack future


class Batch:
    """An input's outputs are held until it is handled (`release`): one that fails sends nothing.
    Sends go out at once, and `flush` waits until the broker has every one."""

    def __init__(self, send: Send, progress: Table, gone: dict[int, int], log: Log = write_changelog) -> None:
        self._send = send
        self.acks: list[Any] = []
        self.held: list[tuple[str, bytes | None, bytes | None, Any]] = []
        self.writes = Writes(log)
        self.progress = Progress(progress, self.writes, gone)
        self.timers: list[tuple[int, float, str, str]] = []  # partition, due, timer id, record key

    def send(self, topic: str, key: str | bytes | None, value: bytes | None, headers: Any = None) -> None:
        self.held.append((topic, key.encode() if isinstance(key, str) else key, value, headers))

    async def release(self) -> None:
        for topic, key, value, headers in self.held:
            self.acks.append(await self._send(topic, key, value, headers))
        self.held.clear()

    def drop(self, scheduled: int) -> None:
        """Forget what the input being handled made: its held outputs, writes and timers."""
        self.held.clear()
        self.writes.rollback()
        del self.timers[scheduled:]

    async def flush(self) -> None:
        await acknowledged(self.acks)

    async def finish(self, records: Table, progress: Table) -> None:
        """Writes the batch out in the order that keeps it safe to take again after a crash at any
        point, in three round trips to the broker:
        1. the outputs, and the writes of the other tables (aliases, suppressions, seen ids):
           done again, those come out the same, so they need not wait for the outputs;
        2. then the records, each saying which input it has taken in: they must not reach the
           broker before the outputs and links of those inputs;
        3. and last the count of inputs taken in (progress.py)."""
        await acknowledged([*self.acks, *await self.writes.send(but=(records, progress))])
        await self.writes.apply(but=(progress,))
        await self.writes.apply()

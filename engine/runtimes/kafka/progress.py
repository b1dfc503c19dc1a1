"""The worker's own count of which events it has taken in, per partition, and the rewind when
the consumer skips some.

faust-streaming can skip inputs around a rebalance: messages fetched while partitions change
hands are dropped from its queues, and its consumer counts a jump in offsets as a gap to
commit over (meant for compacted topics and transaction markers, which the events topic does
not have). Its committed offsets are therefore not trusted alone. The `progress` table holds,
per partition, the offset of the last input whose table writes are on the broker. An input
past the next one expected means some were skipped: it waits, with the rest of its
partition's batch, and the consumer is sent back to the first one missing; a partition with no
count yet expects offset 0 first (the group's first rebalance can commit past a new partition's
first inputs too). An input at or below the count was taken in before (a redelivery after a
rebalance or a restart) and is passed over.
"""

from __future__ import annotations

import logging
import time
from typing import Awaitable, Callable

from engine.runtimes.kafka.store import Table, Writes

log = logging.getLogger("nudge.worker")


def last_in(read: Callable[[bytes], bytes | None], partition: int) -> int | None:
    """The offset of the last input of `partition` taken in, from a read of the progress table."""
    value = read(b"%d" % partition)
    return int(value) if value is not None else None


class Progress:
    """One batch's view of the count (reads see the batch's own advances). `gone` names, per
    partition, the first offset missing that rewinds could not bring back: it is passed over."""

    def __init__(self, table: Table, writes: Writes, gone: dict[int, int] | None = None) -> None:
        self.table, self.writes = table, writes
        self.gone = gone or {}
        self.rewinds: dict[int, int] = {}  # partition -> the first offset to read again

    def last(self, partition: int) -> int | None:
        return last_in(lambda key: self.writes.get(self.table, key), partition)

    def admit(self, partition: int, offset: int) -> bool:
        """Whether to handle this input now."""
        if partition in self.rewinds:
            return False  # behind a skip: its turn comes after the inputs missing
        done = self.last(partition)
        expected = 0 if done is None else done + 1  # a partition with no count yet starts at its beginning
        if offset == expected:
            return True
        if offset < expected:
            return False
        if self.gone.get(partition) == expected:
            log.error("events partition %d: inputs %d to %d are gone from the topic (retention?); going on",
                      partition, expected, offset - 1)
            return True
        self.rewinds[partition] = expected
        return False

    def advance(self, partition: int, offset: int) -> None:
        """Taken in (or dead-lettered): written with the input, so to its partition's changelog."""
        self.writes.set(self.table, b"%d" % partition, b"%d" % offset)


class Rewinder:
    """Sends the consumer back to skipped inputs; once per partition and offset a second, because
    inputs fetched before the seek still arrive (and are held back) until the seek takes hold.
    Inputs still missing after `give_up` seconds of asking are no longer in the topic (deleted
    by retention): they are declared `gone`, or the partition would wait for ever."""

    def __init__(self, seek: Callable[[int, int], Awaitable[None]], clock: Callable[[], float] = time.monotonic,
                 every: float = 1.0, give_up: float = 120.0) -> None:
        self.seek, self.clock, self.every, self.give_up = seek, clock, every, give_up
        self.sought: dict[int, tuple[int, float]] = {}  # partition -> (offset, when last asked)
        self.since: dict[int, tuple[int, float]] = {}  # partition -> (offset, when first asked)
        self.gone: dict[int, int] = {}

    async def rewind(self, rewinds: dict[int, int]) -> None:
        for partition, offset in rewinds.items():
            if self.since.get(partition, (None, 0.0))[0] != offset:
                self.since[partition] = (offset, self.clock())
            if self.clock() - self.since[partition][1] >= self.give_up:
                self.gone[partition] = offset
            before = self.sought.get(partition)
            if before is not None and before[0] == offset and self.clock() - before[1] < self.every:
                continue
            self.sought[partition] = (offset, self.clock())
            log.warning("events partition %d: the consumer skipped inputs from offset %d; reading them again",
                        partition, offset)
            try:
                await self.seek(partition, offset)
            except Exception:  # the partition moved away meanwhile: its new owner does the same
                log.warning("events partition %d: could not seek to %d", partition, offset, exc_info=True)


class Stalls:
    """Partitions whose consumer is past inputs it never delivered, at the tail where no later
    input shows the skip: inputs on the broker beyond the count, and none arriving for `after`
    seconds. A partition with no count yet is expected to start at its beginning."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, after: float = 5.0) -> None:
        self.clock, self.after = clock, after
        self.heard_at: dict[int, float] = {}  # partition -> when an input last arrived (or it was assigned)

    def heard(self, partition: int) -> None:
        self.heard_at[partition] = self.clock()

    def own(self, partitions: set[int]) -> None:
        self.heard_at = {p: self.heard_at.get(p, self.clock()) for p in partitions}

    def stalled(self, done: Callable[[int], int | None], highwater: Callable[[int], int | None]) -> dict[int, int]:
        """Partition -> the first offset to read again; each reported once per `after` seconds."""
        found = {}
        for partition, at in self.heard_at.items():
            last = done(partition)
            expected = 0 if last is None else last + 1
            end = highwater(partition)
            if end is not None and end > expected and self.clock() - at >= self.after:
                found[partition] = expected
                self.heard_at[partition] = self.clock()
        return found


class Tally:
    """Inputs received and changelog records written since the worker started, reported in its log
    once per `every` seconds while inputs come: what an input costs in table writes, read off a
    running worker."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, every: float = 60.0) -> None:
        self.clock, self.every = clock, every
        self.inputs = self.changelog = 0
        self._reported = (clock(), 0)  # when, and at how many inputs

    def add(self, inputs: int, changelog: int) -> None:
        self.inputs += inputs
        self.changelog += changelog

    def report(self) -> str | None:
        """The line to log now, or None (too soon, or nothing new)."""
        when, inputs = self._reported
        if self.clock() - when < self.every or self.inputs == inputs:
            return None
        self._reported = (self.clock(), self.inputs)
        return (f"{self.inputs} inputs received, {self.changelog} changelog records written "
                f"({self.changelog / self.inputs:.2f} per input) since start")

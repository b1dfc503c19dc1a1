"""Which timers are due, per partition this worker owns: a memory index over the records.

The timers themselves live in the customer records (the `customers` table, recovered from its
changelog), so the index is only a cache: it is rebuilt from the table after every rebalance
and kept current as records are written. An entry may be stale (its timer fired or moved):
the worker checks the record before it asks for a timer to be fired.
"""

from __future__ import annotations

import heapq
from typing import Any, Iterable


class DueIndex:
    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.heaps: dict[int, list[tuple[float, str, str]]] = {}  # partition -> (due, timer id, record key)
        self.stale = True  # rebuild before use

    @property
    def owned(self) -> set[int]:
        return set(self.heaps)

    def rebuild(self, records: Iterable[tuple[str, int, dict[str, dict[str, Any]]]], mine: set[int]) -> None:
        """From (record key, partition, timers) of every record this worker holds."""
        self.heaps = {p: [] for p in mine}
        for key, partition, timers in records:
            if partition in mine:
                self.heaps[partition].extend((t["due"], tid, key) for tid, t in timers.items())
        for heap in self.heaps.values():
            heapq.heapify(heap)
        self.stale = False

    def push(self, partition: int, due: float, timer_id: str, key: str) -> None:
        """A timer just written (or a fire request to look at again at `due`, in case it was lost)."""
        heap = self.heaps.get(partition)
        if heap is not None:
            heapq.heappush(heap, (due, timer_id, key))

    def pop_due(self, now: float) -> list[tuple[int, str, str]]:
        """(partition, timer id, record key) of every entry due at `now`, removed from the index."""
        due = []
        for partition, heap in self.heaps.items():
            while heap and heap[0][0] <= now:
                _, tid, key = heapq.heappop(heap)
                due.append((partition, tid, key))
        return due

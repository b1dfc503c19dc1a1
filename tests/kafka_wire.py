"""What a worker does with one input, without a broker: the real router and batch, the tables
updated in memory. Shared by the stand-in brokers of the router tests and the contract tests."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

from engine.runtimes.kafka.batch import Batch, Send
from engine.runtimes.kafka.live import LiveWorkspace
from engine.runtimes.kafka.router import Router
from engine.runtimes.kafka.snapshots import Snapshots
from engine.runtimes.kafka.store import Table, Tables


async def take(router: Router, tables: Tables, message: Any, send: Send) -> Batch:
    """Route `message` as the worker's agent does (a failing input is quarantined), flush what it
    sends, and apply its table writes; returns the batch (its timers, for a due index)."""
    batch = Batch(send, tables.progress, {}, records_topic=router.topics.records)
    batch.begin(SimpleNamespace(message=message))  # as the agent's event: writes belong to it
    try:
        router.route(message.value, message.key.decode(), message.partition, message.offset, batch)
    except Exception as exc:
        batch.drop(0)
        router.quarantine(message, exc, batch)
    await batch.release()
    await batch.flush()
    for table in (tables.customers, tables.seen, tables.aliases, tables.suppressions,
                  *((tables.experiments,) if tables.experiments is not None else ())):
        for key, value in batch.writes.written(table):
            if value is None:
                table.pop(key, None)  # type: ignore[attr-defined]
            else:
                table[key] = value
    return batch


class MemoryShelf:
    """The snapshots topic as a list: entries kept in the order put."""

    def __init__(self) -> None:
        self.entries: list[tuple[bytes, bytes]] = []

    async def put(self, *entries: tuple[bytes, bytes]) -> None:
        self.entries.extend(entries)

    async def scan(self, wanted: Callable[[bytes], bool]) -> list[tuple[bytes, bytes]]:
        return [(key, value) for key, value in self.entries if wanted(key)]


def live_workspace(root: Path, progress: Table, shelf: MemoryShelf | None = None,
                   versions: dict[bytes, bytes] | None = None) -> LiveWorkspace:
    """A worker's workspaces with their snapshots in memory (a shelf of their own unless given), the
    versions table a mapping (a new one unless given), unpacked beside `root`."""
    return LiveWorkspace(root, Snapshots(shelf or MemoryShelf(), root.parent / "unpacked"),
                         {} if versions is None else versions, progress)  # type: ignore[arg-type]

"""The applied versions of the workspace, kept on the broker so that a worker runs what was applied,
whatever its disk holds (SPEC §10: a new version runs only when applied, never because a file changed).

`<app>.workspaces` (one partition, compacted) holds, under each version (the hash `content_version`
makes of the files), a zip of those files: the edge writes it, acknowledged, before it puts an
`apply` on the events topic, and every process that loads a version checks that the files it
unpacked hash to it. Other keys name versions: `initial:<version>`, the version every partition runs
before its first apply (the files of the first process of the deployment to start; when two start
at once, the first record wins, and a key of its own per claim keeps compaction from removing
it), and `applied`, the version last applied (what the edge shows after a restart).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Callable, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from engine.model import Workspace
from engine.runtimes.kernel.copies import SnapshotError, unpack
from engine.runtimes.kernel.serving import read_edit

log = logging.getLogger("nudge.snapshots")

LIMIT = 1_000_000  # bytes of a compressed snapshot: the broker's default largest message is 1 MiB
INITIAL, APPLIED = b"initial:", b"applied"
TIMEOUT = 30.0  # seconds for the broker to take or give back snapshots


class Shelf(Protocol):
    """Where snapshots are kept: records appended in order, read back in that order."""

    async def put(self, *entries: tuple[bytes, bytes]) -> None:
        """Appends the entries (key, value) in order; returns once they are all kept."""

    async def scan(self, wanted: Callable[[bytes], bool]) -> list[tuple[bytes, bytes]]:
        """Every entry kept under a key `wanted`, oldest first."""


class Snapshots:
    """Versions put on and taken from a shelf; taken ones are unpacked under `into` (a worker's data
    dir, or a temporary one) and stay there while they run: pages are read from their folder."""

    def __init__(self, shelf: Shelf, into: Path) -> None:
        self.shelf, self.into = shelf, into

    async def put(self, data: bytes, version: str, pointer: bytes | None = None) -> None:
        """Packed files, which must be `version`, filed under it; then `pointer` (if any) names it. Raises
        SnapshotError when they are not that version (edited since it was hashed) or too large."""
        if len(data) > LIMIT:
            raise SnapshotError(f"the workspace's files make {len(data):,} bytes compressed, more than the {LIMIT:,} "
                                "a Kafka deployment can apply: move large files (images) out of the workspace and "
                                "link to them")
        await asyncio.to_thread(unpack, data, self.into, version)
        await self.shelf.put((version.encode(), data), *(((pointer, version.encode()),) if pointer else ()))

    async def point(self, pointer: bytes, version: str) -> None:
        """`pointer` names `version` from now on (its snapshot is already kept)."""
        await self.shelf.put((pointer, version.encode()))

    async def load(self, version: str) -> Workspace:
        """The version's workspace from its snapshot; raises SnapshotError when it is missing or wrong."""
        found = await self.shelf.scan(lambda key: key == version.encode())
        if not found:
            raise SnapshotError(f"no snapshot of version {version} is kept")
        folder = await asyncio.to_thread(unpack, found[-1][1], self.into, version)
        edit = await asyncio.to_thread(read_edit, folder)
        if not isinstance(edit, Workspace):
            raise SnapshotError(f"the snapshot of version {version} has problems: "
                                + "; ".join(str(p) for p in edit))
        return edit

    async def initial(self, files: bytes) -> str:
        """The version partitions run before their first apply: the first one recorded, or else that of
        `files` (packed from this process's disk), recorded now."""
        def claim(key: bytes) -> bool:
            return key.startswith(INITIAL)

        found = await self.shelf.scan(claim)
        if not found:
            folder = await asyncio.to_thread(unpack, files, self.into)
            await self.put(files, folder.name, INITIAL + folder.name.encode())
            found = await self.shelf.scan(claim)  # another process may have recorded its own first
        return found[0][1].decode()

    async def deployed(self, files: bytes) -> str:
        """The version last applied, or else the initial one."""
        found = await self.shelf.scan(lambda key: key == APPLIED)
        return found[-1][1].decode() if found else await self.initial(files)


class KafkaShelf:
    """The shelf on a one-partition compacted topic; each call opens its own client (calls are rare:
    a worker's start or assignment, an apply)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self._declared = False

    async def declare(self) -> None:
        """The topic, made once (the broker creates no topics by itself)."""
        if self._declared:
            return
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            if self.topic not in await admin.list_topics():
                await admin.create_topics([NewTopic(self.topic, num_partitions=1, replication_factor=1,
                                                    topic_configs={"cleanup.policy": "compact"})])
        except TopicAlreadyExistsError:
            pass  # made meanwhile by another process
        finally:
            await admin.close()
        self._declared = True

    async def put(self, *entries: tuple[bytes, bytes]) -> None:
        await self.declare()
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            async with asyncio.timeout(TIMEOUT):
                sent = [await producer.send(self.topic, key=key, value=value, partition=0) for key, value in entries]
                await asyncio.gather(*sent)
        finally:
            await producer.stop()

    async def scan(self, wanted: Callable[[bytes], bool]) -> list[tuple[bytes, bytes]]:
        await self.declare()
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                    fetch_max_bytes=4 * LIMIT, max_partition_fetch_bytes=2 * LIMIT)
        await consumer.start()
        tp = TopicPartition(self.topic, 0)
        found: list[tuple[bytes, bytes]] = []
        try:
            consumer.assign([tp])
            async with asyncio.timeout(TIMEOUT):
                await consumer.seek_to_beginning(tp)
                end = (await consumer.end_offsets([tp]))[tp]
                while await consumer.position(tp) < end:
                    for record in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                        if record.key is not None and wanted(record.key) and record.value is not None \
                                and record.offset < end:
                            found.append((record.key, record.value))
        finally:
            await consumer.stop()
        return found

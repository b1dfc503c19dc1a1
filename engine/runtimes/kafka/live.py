"""The workspace versions a worker runs: one per partition of the events topic, switched by an apply.

`nudge apply` (through `nudge api --kafka`) files a snapshot of the files on the broker
(snapshots.py), then puts an `apply` envelope on every partition; each partition switches at that
offset, so every input before it runs the old version and every input after it the new one, on
whichever worker owns the partition (SPEC §10: never because a file changed). The switch is kept
in the `versions` table (partition -> the offsets it switched at, and to what), written with the
batch that takes the envelope in: a worker that starts, or takes a partition over, runs the version
applied there, loaded from its snapshot whatever the worker's disk holds, and before any apply the
deployment's initial version (the files of its first process). Each customer record carries the
version its instances were last placed for; an input for a record of another version first moves
its instances (stay, move by `was:`, exit `step_removed`), as `nudge run` does at apply.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Iterable

import orjson

from engine.migration import Edit
from engine.model import Workspace
from engine.runtimes.kafka import envelopes as env
from engine.runtimes.kafka.progress import last_in
from engine.runtimes.kafka.snapshots import Snapshots
from engine.runtimes.kernel.copies import SnapshotError, pack, unpack
from engine.runtimes.kafka.store import Table, Writes
from engine.runtimes.kernel.serving import read_edit
from rules.workspace import load_workspace

log = logging.getLogger("nudge.worker")

SWITCHES_KEPT = 8  # a partition's latest switches: a batch taken again needs the one before its apply


class Unapplied(Exception):
    """A partition's applied version that this worker cannot load: it must not run another instead."""


def applies_in(inputs: Iterable[Any]) -> list[str]:
    """The versions the `apply` envelopes among a batch's inputs (faust events) switch to."""
    found = []
    for item in inputs:
        if b'"apply"' not in item.value:  # a byte search: most inputs are not read twice
            continue
        try:
            envelope = env.parse(item.value)
        except Exception:  # the router dead-letters what it cannot read
            continue
        if envelope.get("kind") == env.APPLY:
            found.append(str(envelope.get("version")))
    return found


class LiveWorkspace:
    def __init__(self, root: Path, snapshots: Snapshots, table: Table, progress: Table) -> None:
        self.root, self.snapshots, self.table, self.progress = root, snapshots, table, progress
        self.files = pack(root)  # as they are at the start: the initial version if this is the first process
        folder = unpack(self.files, snapshots.into)
        self.disk = folder.name
        self.loaded: dict[str, Workspace] = {self.disk: load_workspace(folder).workspace}
        self.initial = self.disk  # until `prepare` has asked the broker for the deployment's
        self._initial_known = False
        self._reschedule: dict[str, bool] = {}  # per version: whether its apply re-plans changed waits
        self._refused: dict[str, str] = {}  # per version: why it cannot be loaded here
        self._at: dict[int, str] = {}
        self._read: set[int] = set()  # partitions whose version was read from the table since they came
        self.switched: list[tuple[int, str]] = []  # partitions switched since the worker last moved their customers

    def version(self, partition: int) -> str:
        return self._at.get(partition, self.initial)

    def workspace(self, partition: int) -> Workspace:
        return self.loaded[self.version(partition)]

    def edit(self, placed_for: str | None, partition: int) -> Edit:
        """From the version a record was placed for (when this worker knows it) to its partition's."""
        to = self.version(partition)
        return Edit(self.loaded.get(placed_for or ""), self.loaded[to], self._reschedule.get(to, False))

    def reassigned(self) -> None:
        """Partitions moved between workers: each one's version is read again before its next input."""
        self._read.clear()

    async def prepare(self, partitions: Iterable[int], applies: Iterable[str] = ()) -> None:
        """Before a batch (no other in flight): the version each of `partitions` runs, and those the batch's
        applies switch to, loaded. Raises Unapplied for a partition whose version cannot be loaded."""
        if not self._initial_known:
            self.initial = await self.snapshots.initial(self.files)
            self._initial_known = True
            await self._load(self.initial)  # what a partition not yet prepared shows (the tick's content tests)
        fresh = set(partitions) - self._read
        for partition in fresh:
            self._at[partition] = self._applied(partition)
            self._read.add(partition)
        for partition in sorted(set(partitions)):
            version = self.version(partition)
            if not await self._load(version):
                raise Unapplied(f"events partition {partition} runs the applied version {version}, which this "
                                f"worker cannot load ({self._refused[version]}); it stops rather than run another "
                                f"version: give it the files of version {version} (in {self.root}), or make its "
                                "snapshot available again")
        for version in applies:
            await self._load(version)  # one that fails is refused at its apply: the partition keeps its version
        elsewhere = sorted(p for p in fresh if self.version(p) != self.disk)
        for version in sorted({self.version(p) for p in elsewhere}):
            log.warning("this worker's files in %s are version %s; events partition(s) %s run the applied version %s",
                        self.root, self.disk, ", ".join(str(p) for p in elsewhere if self.version(p) == version),
                        version)

    async def _load(self, version: str) -> bool:
        """From its snapshot; or else from this worker's files when they are that version (an apply sent
        without a snapshot, by an earlier edge or by hand), which are then filed for the other workers."""
        if version in self.loaded:
            return True
        try:
            self.loaded[version] = await self.snapshots.load(version)
            return True
        except SnapshotError as exc:
            missing = str(exc)
        files = await asyncio.to_thread(pack, self.root)
        folder = await asyncio.to_thread(unpack, files, self.snapshots.into)
        edit = await asyncio.to_thread(read_edit, folder) if folder.name == version else None
        if not isinstance(edit, Workspace):
            self._refused[version] = (f"{missing}, and this worker's files in {self.root} are "
                                      + ("that version but have problems" if edit else f"version {folder.name}"))
            return False
        self.loaded[version] = edit
        try:
            await self.snapshots.put(files, version)
            log.warning("version %s had no snapshot: filed from this worker's files", version)
        except SnapshotError as exc:
            log.error("version %s runs from this worker's files, but cannot be filed for the others: %s", version, exc)
        return True

    def _switches(self, read: Any, partition: int) -> list[list[Any]]:
        """[offset, version] for each switch kept, oldest first."""
        value = read(self.table, b"%d" % partition)
        return list(orjson.loads(value)) if value else []

    def _applied(self, partition: int) -> str:
        """The version the partition's last input taken in ran: a switch at a later offset was written by a
        batch whose inputs were not all taken in, and is made again when its apply comes again."""
        last = last_in(self.progress.get, partition)
        taken = [version for offset, version in self._switches(lambda t, k: t.get(k), partition)
                 if last is not None and offset <= last]
        return taken[-1] if taken else self.initial

    def switch(self, partition: int, offset: int, version: str, reschedule: bool, writes: Writes) -> bool:
        """At an apply's offset: `partition` runs `version` from here on, kept in the table with the batch's
        writes (unless it cannot be loaded: then it keeps its version and says why)."""
        if version == self.version(partition):
            return False
        if version not in self.loaded:
            log.error("events partition %d cannot switch to the applied version %s: %s; it keeps running version %s "
                      "(apply again once the snapshot is there)", partition, version,
                      self._refused.get(version, "not loaded"), self.version(partition))
            return False
        switches = [s for s in self._switches(writes.get, partition) if s[0] < offset] + [[offset, version]]
        writes.set(self.table, b"%d" % partition, orjson.dumps(switches[-SWITCHES_KEPT:]))
        self._reschedule[version] = reschedule
        self._at[partition] = version
        self.switched.append((partition, version))
        log.warning("events partition %d runs version %s of the workspace from offset %d (%d journeys)", partition,
                    version, offset, len(self.loaded[version].journeys))
        return True

"""An apply on the Kafka runtime (SPEC §10), without a broker: the apply files a snapshot of the files,
every partition switches at the offset of its `apply` envelope and keeps that version in its table, and
a worker (re)started runs each partition's applied version from its snapshot, whatever its disk holds."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from engine.runtimes.kafka import envelopes
from engine.runtimes.kafka.producer import Acks
from engine.runtimes.kafka.live import Unapplied, applies_in
from engine.runtimes.kafka.snapshots import APPLIED, INITIAL, LIMIT, Snapshots
from engine.runtimes.kernel.copies import SnapshotError, pack, unpack
from engine.runtimes.kafka.store import partition_for
from engine.runtimes.kernel.serving import content_version
from engine.testing import email, write_workspace
from tests.kafka_wire import MemoryShelf, live_workspace, take
from tests.unit.test_kafka_router import BROWSE, HELLO, Wire

RENAMED = BROWSE.replace("  - wait: 2s\n", "  - id: pause\n    was: '0'\n    wait: 1h\n")
WAITING = "id: browse\ntrigger: {event: page_viewed}\nsteps:\n  - id: hold\n    wait_for: {event: clicked, timeout: 1h}\n" \
          "  - id: follow_up\n    send: email\n    template: hi\n"
WITHOUT_HOLD = WAITING.replace("  - id: hold\n    wait_for: {event: clicked, timeout: 1h}\n", "")


class AppliedWire(Wire):
    """The stand-in broker with a worker's start-up and durable state: before each input the worker
    prepares the versions it needs, after it the progress count and the versions table are written."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.shelf = MemoryShelf()
        self.versions: dict[bytes, bytes] = {}
        self.restart(tmp_path / "ws")

    def restart(self, root: Path) -> None:
        """A worker started anew on the files of `root`, with the tables and snapshots as they are."""
        self.router.live = live_workspace(root, self.tables.progress, self.shelf, self.versions)

    def apply(self, root: Path, reschedule: bool = False) -> str:
        """What `nudge apply` through the edge does: the snapshot filed, then an envelope on every partition."""
        version = content_version(root)
        asyncio.run(Snapshots(self.shelf, root.parent / "edge").put(pack(root), version, APPLIED))
        apply_envelopes(self, version, reschedule)
        return version

    async def _handle(self, message: Any) -> None:
        async def send(topic: str, key: bytes | None, value: bytes | None, headers: Any, acks: Acks) -> None:
            self.topics[topic].append((key, value, headers))

        await self.router.live.prepare({message.partition}, applies_in([SimpleNamespace(message=message,
                                                                                         value=message.value)]))
        batch = await take(self.router, self.tables, message, send)
        for key, value in batch.writes.written(self.router.live.table):
            self.versions[key] = value
        self.tables.progress[b"%d" % message.partition] = b"%d" % message.offset


def apply_envelopes(wire: Wire, version: str, reschedule: bool = False) -> None:
    """One apply envelope per partition, as the edge sends them."""
    for partition in range(4):
        key = next(f"w{i}" for i in range(1000) if partition_for(f"w{i}", 4) == partition)
        wire.topics["events"].append((key.encode(), envelopes.apply_envelope(version, reschedule, 0.0), None))
    wire.run()


def steps(wire: Wire, customer: str) -> list[str]:
    state = wire.record(customer).state
    assert state is not None
    return [i.step_id for i in state.instances.values()]


def removed(wire: Wire) -> list[dict[str, Any]]:
    """The exits with reason step_removed recorded so far."""
    return [r for _, v, _ in wire.topics["records"] if v for r in orjson.loads(v)
            if r["type"] == "exited" and r["reason"] == "step_removed"]


def edit(tmp_path: Path, name: str, browse: str, subject: str = "Hi") -> Path:
    return write_workspace(tmp_path / name, journeys={"browse": browse, "hello": HELLO},
                           templates={"hi.email.html": email(subject)})


def test_edited_files_change_nothing_until_the_apply_reaches_the_partition(tmp_path: Path) -> None:
    wire = AppliedWire(tmp_path)
    wire.post(type="page_viewed", customer_id="c1")
    wire.run()
    root = edit(tmp_path, "ws2", RENAMED)
    wire.post(type="page_viewed", customer_id="c2")  # before the apply: the running version
    wire.run()
    assert steps(wire, "c1") == steps(wire, "c2") == ["0"]
    wire.apply(root)
    assert sorted(p for p, _ in wire.router.live.switched) == [0, 1, 2, 3]
    wire.post(type="noise", customer_id="c1")  # its next input moves it: claimed by `was`, it stays in flight
    wire.run()
    assert steps(wire, "c1") == ["pause"]
    assert removed(wire) == []


def test_an_apply_that_reschedules_replans_a_changed_wait(tmp_path: Path) -> None:
    wire = AppliedWire(tmp_path)
    wire.post(type="page_viewed", customer_id="c1")
    wire.run()
    [before] = wire.record("c1").timers.values()
    wire.router.clock = lambda: before["due"] - 1.0  # the apply comes a second after the wait began
    version = wire.apply(edit(tmp_path, "ws2", RENAMED), reschedule=True)
    wire.topics["events"].append((b"c1", envelopes.migrate_envelope(version, 0.0), None))
    wire.run()
    dues = [t["due"] for t in wire.record("c1").timers.values()]  # the old timer is unscheduled
    assert dues == [before["due"] + 3600 - 2]  # 1h from when the 2 s wait began


def test_a_worker_restarted_on_edited_files_runs_the_applied_version_from_its_snapshot(tmp_path: Path) -> None:
    wire = AppliedWire(tmp_path)
    applied = wire.apply(edit(tmp_path, "a", WAITING, subject="From A"))
    wire.post(type="page_viewed", customer_id="c1", traits={"email": "c1@example.com"})
    wire.run()
    assert steps(wire, "c1") == ["hold"]
    unapplied = edit(tmp_path, "b", WITHOUT_HOLD, subject="From B")  # edited on disk, never applied
    wire.restart(unapplied)
    wire.post(type="clicked", customer_id="c1")
    wire.run()
    live = wire.router.live
    asyncio.run(live.prepare(range(4)))  # as each partition's first batch does
    assert {live.version(p) for p in range(4)} == {applied} != {live.disk}
    assert removed(wire) == []
    assert [orjson.loads(v)["subject"] for _, v, _ in wire.topics["outbox"] if v] == ["From A"]
    assert wire.record("c1").version == applied


def test_before_any_apply_every_worker_runs_the_files_of_the_first_to_start(tmp_path: Path) -> None:
    wire = AppliedWire(tmp_path)
    wire.post(type="page_viewed", customer_id="c1")
    wire.run()
    first = wire.router.live.disk
    wire.restart(edit(tmp_path, "later", RENAMED))  # another worker, other files, no apply yet
    wire.post(type="page_viewed", customer_id="c2")
    wire.run()
    assert wire.router.live.version(partition_for("c2", 4)) == first != wire.router.live.disk
    assert steps(wire, "c2") == ["0"]  # the first files' unnamed wait, not the later files' `pause`


def test_a_batch_taken_again_after_a_crash_runs_the_version_in_force_before_its_apply(tmp_path: Path) -> None:
    wire = AppliedWire(tmp_path)
    wire.post(type="page_viewed", customer_id="c1")
    wire.run()
    before = wire.router.live.version(0)
    wire.apply(edit(tmp_path, "ws2", RENAMED))
    for partition in range(4):  # the switches were written, the inputs' count not: the worker died between
        wire.tables.progress[b"%d" % partition] = b"%d" % (wire.offsets[partition] - 1)
    wire.restart(tmp_path / "ws")
    asyncio.run(wire.router.live.prepare(range(4)))
    assert {wire.router.live.version(p) for p in range(4)} == {before}


def test_a_snapshot_filed_under_another_version_is_refused_and_the_partition_keeps_its_version(
        tmp_path: Path) -> None:
    wire = AppliedWire(tmp_path)
    running = wire.router.live.version(0)
    claimed = content_version(edit(tmp_path, "claimed", RENAMED))
    wire.shelf.entries.append((claimed.encode(), pack(edit(tmp_path, "other", WAITING))))
    with pytest.raises(SnapshotError, match="holds the files of version"):
        asyncio.run(Snapshots(wire.shelf, tmp_path / "unpacked").load(claimed))
    apply_envelopes(wire, claimed)
    assert wire.router.live.switched == [] and {wire.router.live.version(p) for p in range(4)} == {running}


def test_an_apply_without_a_snapshot_leaves_every_partition_on_its_version(tmp_path: Path) -> None:
    wire = AppliedWire(tmp_path)
    apply_envelopes(wire, "0123456789abcdef")
    assert wire.router.live.switched == []
    assert wire.router.live.version(0) == wire.router.live.disk


def test_a_partition_whose_applied_version_cannot_be_loaded_is_not_run_on_another(tmp_path: Path) -> None:
    wire = AppliedWire(tmp_path)
    wire.post(type="page_viewed", customer_id="c1")
    wire.run()
    partition = partition_for("c1", 4)
    wire.versions[b"%d" % partition] = orjson.dumps([[0, "0123456789abcdef"]])  # its snapshot is gone
    wire.restart(tmp_path / "ws")
    with pytest.raises(Unapplied, match="0123456789abcdef"):
        asyncio.run(wire.router.live.prepare({partition}))


def test_files_too_large_for_the_broker_are_refused_before_anything_is_filed(tmp_path: Path) -> None:
    root = edit(tmp_path, "big", WAITING)
    (root / "templates" / "banner.txt").write_text(base64.b64encode(os.urandom(LIMIT + 100_000)).decode())
    shelf = MemoryShelf()
    with pytest.raises(SnapshotError, match="bytes compressed, more than the 1,000,000"):
        asyncio.run(Snapshots(shelf, tmp_path / "unpacked").put(pack(root), content_version(root), APPLIED))
    assert shelf.entries == []


def test_a_snapshot_that_would_unpack_past_its_limit_is_refused_before_a_file_is_written(tmp_path: Path) -> None:
    """A zip of zeros compresses ~1000x: a snapshot under the broker's 1 MB could fill a worker's disk."""
    root = edit(tmp_path, "zeros", WAITING)
    (root / "templates" / "zeros.txt").write_bytes(b"0" * 2_000_000)
    packed = pack(root)
    assert len(packed) < 100_000
    with pytest.raises(SnapshotError, match="more than 1,000,000 bytes unpacked"):
        unpack(packed, tmp_path / "unpacked", content_version(root), limit=1_000_000)
    assert list((tmp_path / "unpacked").iterdir()) == []
    assert unpack(packed, tmp_path / "unpacked", content_version(root)).name == content_version(root)


def test_files_edited_after_they_were_hashed_are_not_filed_as_that_version(tmp_path: Path) -> None:
    root = edit(tmp_path, "ws2", WAITING)
    version = content_version(root)
    (root / "journeys" / "browse.yaml").write_text(WITHOUT_HOLD)
    shelf = MemoryShelf()
    with pytest.raises(SnapshotError, match="holds the files of version"):
        asyncio.run(Snapshots(shelf, tmp_path / "unpacked").put(pack(root), version, APPLIED))
    assert shelf.entries == []


def test_the_first_worker_records_the_files_it_started_on_even_when_they_are_edited_before_its_first_input(
        tmp_path: Path) -> None:
    wire = AppliedWire(tmp_path)
    started = wire.router.live.disk
    (tmp_path / "ws" / "journeys" / "browse.yaml").write_text(RENAMED)
    wire.post(type="page_viewed", customer_id="c1")
    wire.run()
    assert wire.router.live.initial == started
    assert steps(wire, "c1") == ["0"]


def test_two_processes_starting_at_once_on_other_files_both_take_the_first_claim_as_initial(tmp_path: Path) -> None:
    shelf = MemoryShelf()
    first, second = pack(edit(tmp_path, "first", WAITING)), pack(edit(tmp_path, "second", WITHOUT_HOLD))
    # both found no claim, and both filed theirs: the second under a key of its own
    asyncio.run(Snapshots(shelf, tmp_path / "a").put(first, content_version(tmp_path / "first"),
                                                     INITIAL + content_version(tmp_path / "first").encode()))
    asyncio.run(Snapshots(shelf, tmp_path / "b").put(second, content_version(tmp_path / "second"),
                                                     INITIAL + content_version(tmp_path / "second").encode()))
    assert asyncio.run(Snapshots(shelf, tmp_path / "c").initial(second)) == content_version(tmp_path / "first")


def test_an_apply_sent_without_a_snapshot_runs_the_workers_files_when_they_are_that_version_and_files_them(
        tmp_path: Path) -> None:
    wire = AppliedWire(tmp_path)
    (tmp_path / "ws" / "journeys" / "browse.yaml").write_text(RENAMED)  # by an earlier edge, or by hand
    version = content_version(tmp_path / "ws")
    apply_envelopes(wire, version)
    assert {wire.router.live.version(p) for p in range(4)} == {version}
    assert [key for key, _ in wire.shelf.entries].count(version.encode()) == 1  # for the other workers

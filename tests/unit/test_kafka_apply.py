"""An apply on the Kafka runtime (SPEC §10), without a broker: every partition switches at the offset of
its `apply` envelope, and customers move by `was:` (rescheduled when asked) as with `nudge run`."""

from __future__ import annotations

from pathlib import Path

import orjson

from engine.runtimes.kafka import envelopes
from engine.runtimes.kafka.store import partition_for
from engine.runtimes.kernel.serving import content_version
from engine.testing import email, write_workspace
from tests.unit.test_kafka_router import BROWSE, HELLO, Wire

RENAMED = BROWSE.replace("  - wait: 2s\n", "  - id: pause\n    was: '0'\n    wait: 1h\n")


def apply_everywhere(wire: Wire, version: str, reschedule: bool = False) -> None:
    """One apply envelope per partition, as the edge sends them."""
    for partition in range(4):
        key = next(f"w{i}" for i in range(1000) if partition_for(f"w{i}", 4) == partition)
        wire.topics["events"].append((key.encode(), envelopes.apply_envelope(version, reschedule, 0.0), None))
    wire.run()


def steps(wire: Wire, customer: str) -> list[str]:
    state = wire.record(customer).state
    assert state is not None
    return [i.step_id for i in state.instances.values()]


def test_edited_files_change_nothing_until_the_apply_reaches_the_partition(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    wire.post(type="page_viewed", customer_id="c1")
    wire.run()
    root = write_workspace(tmp_path / "ws", journeys={"browse": RENAMED, "hello": HELLO},
                           templates={"hi.email.html": email("Hi {{ profile.first_name | default('there') }}")})
    wire.post(type="page_viewed", customer_id="c2")  # before the apply: the running version
    wire.run()
    assert steps(wire, "c1") == steps(wire, "c2") == ["0"]
    apply_everywhere(wire, content_version(root))
    assert sorted(p for p, _ in wire.router.live.switched) == [0, 1, 2, 3]
    wire.post(type="noise", customer_id="c1")  # its next input moves it: claimed by `was`, it stays in flight
    wire.run()
    assert steps(wire, "c1") == ["pause"]
    exits = [r for _, v, _ in wire.topics["records"] if v for r in orjson.loads(v) if r["type"] == "exited"]
    assert exits == []


def test_an_apply_that_reschedules_replans_a_changed_wait(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    wire.post(type="page_viewed", customer_id="c1")
    wire.run()
    [before] = wire.record("c1").timers.values()
    wire.router.clock = lambda: before["due"] - 1.0  # the apply comes a second after the wait began
    root = write_workspace(tmp_path / "ws", journeys={"browse": RENAMED, "hello": HELLO})
    apply_everywhere(wire, content_version(root), reschedule=True)
    wire.topics["events"].append((b"c1", envelopes.migrate_envelope(content_version(root), 0.0), None))
    wire.run()
    dues = [t["due"] for t in wire.record("c1").timers.values()]  # the old timer is unscheduled
    assert dues == [before["due"] + 3600 - 2]  # 1h from when the 2 s wait began


def test_a_worker_whose_files_are_not_the_applied_version_keeps_its_own(tmp_path: Path) -> None:
    wire = Wire(tmp_path)
    apply_everywhere(wire, "0123456789abcdef")
    assert wire.router.live.switched == []
    assert wire.router.live.version(0) == wire.router.live.started

"""The HTTP side of the Kafka runtime on its own: its mirror of the workers' tables is read, never run."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import generate_latest

from connectors.api.metrics import Metrics
from engine.runtimes.embedded import database
from engine.runtimes.embedded.database import transaction
from engine.runtimes.kafka.edge import KafkaEdgeRuntime
from engine.runtimes.kafka.snapshots import LIMIT, Snapshots
from engine.runtimes.kernel.health import Unavailable
from engine.runtimes.kernel.serving import content_version
from engine.runtimes.settings import KafkaSettings, Secret, Settings
from engine.testing import email, write_workspace
from tests.kafka_wire import MemoryShelf
from tests.unit.test_kafka_router import HELLO, Wire

BROWSE_EDITED = "id: browse\ntrigger: {event: page_viewed}\nsteps:\n  - id: follow_up\n    send: email\n" \
                "    template: hi\n"


def test_the_edge_plans_from_its_mirror_and_leaves_the_step_removed_exits_to_the_workers(tmp_path: Path) -> None:
    """The workers migrate their customers and send the `exited step_removed` records; the edge
    writing its own from its mirror counted each exit twice in reports."""
    wire = Wire(tmp_path)
    wire.post(type="page_viewed", customer_id="c1")  # browse waits 2 s: an instance in flight
    wire.run()
    root, db = tmp_path / "ws", tmp_path / "edge.db"
    database.create(db)
    edge = KafkaEdgeRuntime(root, db, KafkaSettings(link_secret=Secret("secret")), "http://127.0.0.1", Settings())
    try:
        with transaction(edge.sink):  # the customers changelog, as the edge mirrors it
            edge._customer_rows([SimpleNamespace(key=b"c1", value=wire.record("c1").encode())])
        assert edge.read.execute("SELECT COUNT(*) FROM customers WHERE active > 0").fetchone()[0] == 1
        write_workspace(root, journeys={"browse": BROWSE_EDITED, "hello": HELLO}, templates={"hi.email.html": email("Hi")})
        before = edge.workspace
        planned = asyncio.run(edge.versions.apply(dry_run=True))  # browse's wait is gone: c1 would exit
        assert planned.plan is not None
        assert [(r.journey, r.fate, r.customers) for r in planned.plan.rows] == [("browse", "exit", ("c1",))]
        with pytest.raises(Unavailable):  # no broker: the apply cannot reach the workers, so nothing changes
            asyncio.run(edge.versions.apply(confirm=True))
        assert edge.workspace is before and edge.versions.workspace is before
        assert edge.read.execute("SELECT type, body FROM records").fetchall() == []
    finally:
        edge.front.lock.release()


def test_an_apply_the_partitions_did_not_all_take_is_not_recorded_as_applied(tmp_path: Path) -> None:
    """The `applied` pointer is what an edge started again shows as live: filed before the envelopes, an apply
    that reached no partition looked done after a restart, and applying again changed nothing."""
    Wire(tmp_path)  # its workspace, in tmp_path / "ws"
    root, db = tmp_path / "ws", tmp_path / "edge.db"
    database.create(db)
    edge = KafkaEdgeRuntime(root, db, KafkaSettings(link_secret=Secret("secret")), "http://127.0.0.1", Settings())
    shelf = MemoryShelf()
    edge.snapshots = Snapshots(shelf, tmp_path / "unpacked")  # a shelf that takes the files; no broker for the rest
    try:
        write_workspace(root, journeys={"browse": BROWSE_EDITED, "hello": HELLO}, templates={"hi.email.html": email("Hi")})
        with pytest.raises(Unavailable):
            asyncio.run(edge.versions.apply(confirm=True))
        assert [key for key, _ in shelf.entries] == [content_version(root).encode()]  # the files, not the pointer
    finally:
        edge.front.lock.release()


def test_the_edge_reports_no_engine_counts_or_backlog_it_cannot_know(tmp_path: Path) -> None:
    """`processed`, `late`, `timers_fired` and the lag are the workers'; a zero that never moves would mislead."""
    root, db = write_workspace(tmp_path / "ws", journeys={"hello": HELLO}, templates={"hi.email.html": email("Hi")}), \
        tmp_path / "edge.db"
    database.create(db)
    edge = KafkaEdgeRuntime(root, db, KafkaSettings(link_secret=Secret("secret")), "http://127.0.0.1", Settings())
    try:
        text = generate_latest(Metrics(edge.counters, lambda: edge.counts(edge.read), edge.clock).registry).decode()
    finally:
        edge.front.lock.release()
    assert 'nudge_events_total{outcome="accepted"}' in text and "nudge_messages" in text
    for unknown in ('outcome="processed"', 'outcome="late"', "nudge_timers_fired", "nudge_lag_seconds",
                    "nudge_events_pending"):
        assert unknown not in text


def test_an_edge_whose_files_cannot_be_filed_as_the_first_version_says_so_on_healthz(tmp_path: Path) -> None:
    """The first process of a deployment files its files as the initial version; files over the broker's limit
    cannot be, and the task that takes the applied version ended without a word."""
    Wire(tmp_path)  # its workspace, in tmp_path / "ws"
    root, db = tmp_path / "ws", tmp_path / "edge.db"
    (root / "templates" / "banner.txt").write_text(base64.b64encode(os.urandom(LIMIT + 100_000)).decode())
    database.create(db)
    edge = KafkaEdgeRuntime(root, db, KafkaSettings(link_secret=Secret("secret")), "http://127.0.0.1", Settings())
    edge.snapshots = Snapshots(MemoryShelf(), tmp_path / "unpacked")
    try:
        asyncio.run(edge._adopt())
        assert "more than the 1,000,000" in edge.health.verdict({}).problems["applied version"]
    finally:
        edge.front.lock.release()

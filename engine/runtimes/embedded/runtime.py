"""`nudge run`: ingest, engine loop, timers and dispatcher in one process on one SQLite file."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from engine.events import Event
from engine.links import SignedLinks
from engine.runtimes.embedded import database, queries
from engine.runtimes.embedded.broadcasts import Desk
from engine.runtimes.embedded.front import Front, secret_from_meta
from engine.runtimes.embedded.ingest import Ingest
from engine.runtimes.embedded.processor import BatchResult, Processor
from engine.runtimes.kernel.health import Health
from engine.runtimes.kernel.port import Accepted, Broadcasts, Counters, EngineCounters
from engine.runtimes.kernel.serving import load_edit, sleep_until, watch
from rules.problems import Problem
from rules.workspace import load_workspace

log = logging.getLogger("nudge.run")


class EmbeddedRuntime:
    """The `Runtime` port on one SQLite file, the engine in this process."""

    holder = "nudge run"  # named in the refusal of a second process on the same database

    def __init__(self, workspace_dir: Path, db_path: Path, public_url: str = "http://127.0.0.1:8080",
                 wall_clock: Callable[[], float] = time.time, environ: Mapping[str, str] | None = None) -> None:
        self.root = workspace_dir
        self.public_url = public_url
        self.clock = wall_clock
        self.engine_counters = EngineCounters()
        self.counters = Counters(engine=self.engine_counters)
        self._tasks: list[asyncio.Task[None]] = []
        self._engine_wake = asyncio.Event()
        self.health = Health(wall_clock)
        self.workspace = load_workspace(workspace_dir).workspace
        self.front = Front(workspace_dir, db_path, self.holder, self.workspace, public_url, wall_clock,
                           environ or {}, self.counters, self.health)
        self.read = self.front.read
        self.links = SignedLinks(secret_from_meta(self.read, "link_secret").encode(), public_url)
        self.processor = Processor(database.connect(db_path), self.workspace, self.links, wall_clock)
        self.ingest = Ingest(database.connect(db_path), wall_clock, self._engine_wake.set)
        self.broadcasts: Broadcasts | None = Desk(self.processor, self._engine_wake.set)

    async def start(self) -> None:
        await self.front.dispatcher.recover()
        self._tasks = [
            asyncio.create_task(self.ingest.run(), name="ingest"),
            asyncio.create_task(self._engine_loop(), name="engine"),
            asyncio.create_task(self.front.dispatch_loop(), name="dispatch"),
        ]
        self.health.track(*self._tasks)

    async def stop(self) -> None:
        await self.front.stop(self._tasks)

    async def submit(self, events: list[Event]) -> Accepted:
        accepted = await self.ingest.submit(events)
        self.counters.accepted += accepted.accepted
        self.counters.duplicates += accepted.duplicates
        return accepted

    def wake(self) -> None:
        self._engine_wake.set()

    def wake_dispatch(self) -> None:
        self.front.dispatch_wake.set()

    def counts(self, conn: sqlite3.Connection) -> dict[str, Any]:
        return queries.counts(conn)

    async def _engine_loop(self) -> None:
        while True:
            self._engine_wake.clear()
            self.health.began("engine")
            try:
                result: BatchResult = await asyncio.to_thread(self.processor.run_batch)
            except Exception as exc:
                self.health.failed("engine", exc)
                log.exception("engine batch failed; retrying in 1 s")
                await asyncio.sleep(1)
                continue
            self.health.done("engine")
            counted = self.engine_counters
            counted.processed += result.events
            counted.late += result.late
            counted.timers_fired += result.timers
            counted.failed += result.failed
            counted.diagnostics += len(result.diagnostics)
            if result.messages:
                self.wake_dispatch()
            if result.work:
                await asyncio.sleep(0)
                continue
            await sleep_until(self._engine_wake, self.processor.next_due(), self.clock)

    async def erase_customer(self, customer_id: str) -> bool:
        """GDPR erasure (queries.erase); False when there is no such customer."""
        found: bool = await asyncio.to_thread(queries.erase, self.read, customer_id)
        return found

    async def reload(self) -> list[Problem]:
        """Load the edited workspace and move every customer in flight to it; an invalid edit is refused."""
        edit = await load_edit(self.root, self.health)
        if isinstance(edit, list):
            return edit
        exits = await asyncio.to_thread(self.processor.migrate, edit)
        self.workspace = edit
        log.info("reloaded %d journeys; %d customers exited with step_removed", len(edit.journeys), exits)
        self._engine_wake.set()
        return []

    async def probe(self) -> dict[str, str]:
        return await self.front.probe()

    async def watch(self, interval: float = 1.0) -> None:
        await watch(self.root, self.reload, interval)

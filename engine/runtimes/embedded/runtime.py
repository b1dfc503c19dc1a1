"""`nudge run`: ingest, engine loop, timers and dispatcher in one process on one SQLite file."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from connectors.channels.base import Sender
from connectors.channels.config import build_senders
from engine.links import SignedLinks
from engine.runtimes.embedded import database, queries
from engine.runtimes.embedded.dispatcher import Dispatcher, DispatchSettings, Observer
from engine.runtimes.embedded.health import Health
from engine.runtimes.embedded.ingest import Ingest
from engine.runtimes.embedded.lock import claim
from engine.runtimes.embedded.processor import BatchResult, Processor
from rules.problems import Problem, WorkspaceError
from rules.workspace import fingerprint, load_workspace

log = logging.getLogger("nudge.run")


def secret_from_meta(conn: Any, name: str) -> str:
    """A random secret generated once and kept in the database (signing keys survive restarts)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()
    if row:
        return str(row[0])
    value = secrets.token_urlsafe(32)
    conn.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (name, value))
    return str(conn.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()[0])


@dataclass
class Counters:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    late: int = 0
    processed: int = 0
    timers_fired: int = 0
    failed: int = 0  # events and timers set aside in failed_inputs
    diagnostics: int = 0
    observers: list[Observer] = field(default_factory=list)


class EmbeddedRuntime:
    holder = "nudge run"  # named in the refusal of a second process on the same database

    def __init__(self, workspace_dir: Path, db_path: Path, public_url: str = "http://127.0.0.1:8080",
                 wall_clock: Callable[[], float] = time.time, environ: Mapping[str, str] | None = None) -> None:
        self.root = workspace_dir
        self.db_path = db_path
        self.public_url = public_url
        self.clock = wall_clock
        self.counters = Counters()
        self._tasks: list[asyncio.Task[None]] = []
        self._engine_wake = asyncio.Event()
        self._dispatch_wake = asyncio.Event()
        self.health = Health(wall_clock)
        self.workspace = load_workspace(workspace_dir).workspace
        self.lock = claim(db_path, self.holder)  # before anything writes: a second process stops here
        self.read = database.connect(db_path)
        self.probe_conn = database.connect(db_path, busy_timeout=2.0)
        self.links = SignedLinks(secret_from_meta(self.read, "link_secret").encode(), public_url)
        self.processor = Processor(database.connect(db_path), self.workspace, self.links, wall_clock)
        self.ingest = Ingest(database.connect(db_path), wall_clock, self._engine_wake.set)
        self.senders = build_senders(self.workspace.settings, workspace_dir, environ or {}, public_url)
        rates = {ch: float(c["rate_per_second"]) for ch, c in (self.workspace.settings.channels or {}).items()
                 if isinstance(c, dict) and c.get("rate_per_second")}
        self.dispatcher = Dispatcher(database.connect(db_path), self.senders, wall_clock, rates=rates,
                                     observe=self._observe, settings=DispatchSettings.from_env(environ or {}))
        self.last_reload_problems: list[Problem] = []

    def _observe(self, message: dict[str, Any], status: str, latency: float) -> None:
        for observer in self.counters.observers:
            observer(message, status, latency)

    async def start(self) -> None:
        await self.dispatcher.recover()
        self._tasks = [
            asyncio.create_task(self.ingest.run(), name="ingest"),
            asyncio.create_task(self._engine_loop(), name="engine"),
            asyncio.create_task(self._dispatch_loop(), name="dispatch"),
        ]
        self.health.track(*self._tasks)

    async def stop(self) -> None:
        """Hand-offs in flight finish (within NUDGE_SHUTDOWN_GRACE) and are recorded; no new one starts."""
        await self.dispatcher.drain()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for sender in {id(s): s for s in self.senders.values()}.values():
            await sender.close()
        self.dispatcher.close()

    def wake(self) -> None:
        self._engine_wake.set()

    async def _sleep_until(self, wake: asyncio.Event, due: float | None) -> None:
        """No busy polling: sleep until woken or until the next due time."""
        timeout = None if due is None else max(0.0, due - self.clock())
        try:
            await asyncio.wait_for(wake.wait(), timeout)
        except TimeoutError:
            pass

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
            self.counters.processed += result.events
            self.counters.late += result.late
            self.counters.timers_fired += result.timers
            self.counters.failed += result.failed
            self.counters.diagnostics += len(result.diagnostics)
            if result.messages:
                self._dispatch_wake.set()
            if result.work:
                await asyncio.sleep(0)
                continue
            await self._sleep_until(self._engine_wake, self.processor.next_due())

    async def _dispatch_loop(self) -> None:
        self.dispatcher.wake = self._dispatch_wake.set
        while True:
            self._dispatch_wake.clear()
            self.health.began("dispatch")
            try:
                claimed, in_flight = await self.dispatcher.run_round()  # at most `poll` long, even if a provider hangs
                busy = claimed + in_flight
                due = None if busy else await self.dispatcher.next_ready()
            except Exception as exc:
                self.health.failed("dispatch", exc)
                log.exception("dispatch failed; retrying in 1 s")
                await asyncio.sleep(1)
                continue
            self.health.done("dispatch")
            if busy:
                continue
            await self._sleep_until(self._dispatch_wake, due)

    async def erase_customer(self, customer_id: str) -> bool:
        """GDPR erasure (queries.erase); False when there is no such customer."""
        found: bool = await asyncio.to_thread(queries.erase, self.read, customer_id)
        return found

    async def reload(self) -> list[Problem]:
        """Load the edited workspace; an invalid edit is refused and the last valid one keeps running."""
        try:  # compiled off the loop: a large workspace must not stall the API meanwhile
            workspace = (await asyncio.to_thread(load_workspace, self.root)).workspace
        except WorkspaceError as exc:
            for problem in exc.problems:
                log.error("reload refused: %s", problem)
            self.last_reload_problems = exc.problems
            self.health.warn("workspace", "edit refused, the last valid version keeps running: "
                                          + "; ".join(str(p) for p in exc.problems))
            return exc.problems
        exits = await asyncio.to_thread(self.processor.migrate, workspace)
        self.workspace = workspace
        self.last_reload_problems = []
        self.health.warn("workspace", None)
        log.info("reloaded %d journeys; %d customers exited with step_removed", len(workspace.journeys), exits)
        self._engine_wake.set()
        return []

    async def probe(self) -> dict[str, str]:
        """Problems found at probe time, beyond what the loops recorded: can the database be written?"""
        problem = await asyncio.to_thread(database.write_problem, self.probe_conn, self.clock())
        return {"database": problem} if problem else {}

    async def watch(self, interval: float = 1.0) -> None:
        """Reload when a workspace file changes (polling mtimes: no extra dependency)."""
        seen = fingerprint(self.root)
        while True:
            await asyncio.sleep(interval)
            current = fingerprint(self.root)
            if current != seen:
                seen = current
                await self.reload()

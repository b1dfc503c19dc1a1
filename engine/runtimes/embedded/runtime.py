"""`nudge run`: ingest, engine loop, timers and dispatcher on one SQLite file; the engine loop in a process of
its own (engine_process.py) or, for tests and tools with a manual clock, in this one."""

from __future__ import annotations

import asyncio
import gc
import logging
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable

from engine.events import Event
from engine.migration import Fate, Plan
from engine.model import Workspace
from engine.links import SignedLinks
from engine.runtimes.embedded import database, queries
from engine.runtimes.embedded.broadcasts import Desk
from engine.runtimes.embedded.engine_process import EngineDesk, EngineProcess
from engine.runtimes.embedded.front import Front, secret_from_meta
from engine.runtimes.embedded.ingest import Ingest
from engine.runtimes.embedded.processor import BatchResult, Processor
from engine.runtimes.embedded.wire import Tally
from engine.runtimes.kernel.copies import SnapshotError, pack, unpack
from engine.runtimes.kernel.health import Health, Unavailable
from engine.runtimes.kernel.port import Accepted, Broadcasts, Counters, EngineCounters
from engine.runtimes.kernel.serving import Proceed, Versions, sleep_until
from engine.runtimes.settings import Settings
from engine.runtimes.startup import EX_CONFIG, StartupError
from rules.workspace import load_workspace

log = logging.getLogger("nudge.run")


class EmbeddedRuntime:
    """The `Runtime` port on one SQLite file; `engine_process`: the engine loop runs in a child process (what
    `nudge run` does), else on a thread of this one (tests with a manual clock)."""

    holder = "nudge run"  # named in the refusal of a second process on the same database

    def __init__(self, workspace_dir: Path, db_path: Path, public_url: str = "http://127.0.0.1:8080",
                 wall_clock: Callable[[], float] = time.time, settings: Settings | None = None,
                 confirm_exits: bool = False, engine_process: bool = False) -> None:
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
                           settings or Settings(), self.counters, self.health)
        self.read = self.front.read
        self.links = SignedLinks(secret_from_meta(self.read, "link_secret").encode(), public_url)
        self.processor = Processor(database.connect(db_path), self.workspace, self.links, wall_clock)
        self.ingest = Ingest(database.connect(db_path), wall_clock, self.wake)
        self.versions = Versions(workspace_dir, self.workspace, self.health, self._migrate, wall_clock)
        try:
            self._catch_up(confirm_exits)
        except StartupError:
            self.front.lock.release()  # refused: the database is free for the command that fixes it
            raise
        self.engine: EngineProcess | None = None
        self.broadcasts: Broadcasts | None = Desk(self.processor, self._engine_wake.set)
        self.copies = db_path.with_name(db_path.name + ".versions")
        if engine_process:  # this process's processor did the catch-up; from now on the child runs batches
            self.processor.conn.close()
            try:
                self._copy(self.versions.version)
            except SnapshotError as exc:
                self.front.lock.release()
                raise StartupError(EX_CONFIG, f"the workspace files changed while `nudge run` started ({exc}): "
                                              "start it again") from None
            self.engine = EngineProcess(self.copies, db_path, public_url, lambda: self.versions.version,
                                        self.health, self.engine_counters, self.wake_dispatch)
            self.broadcasts = EngineDesk(self.engine)

    def _catch_up(self, confirm_exits: bool) -> None:
        """Files edited while the server was stopped: the customers in flight move to them before anything
        runs (their steps found by id and `was:`), and a start that would exit some is refused unless confirmed."""
        last, version = self.processor.version(), self.versions.version
        if last == version:
            return
        plan, applied = self.processor.migrate(self.workspace, version=version,
                                               proceed=lambda p: confirm_exits or not p.exits)
        if not applied:
            where = ", ".join(sorted({f"{r.journey}: {r.step}" for r in plan.rows if r.fate is Fate.EXIT}))
            raise StartupError(EX_CONFIG, f"the workspace files (version {version}) differ from the version last run "
                                          f"({last}) and would exit {plan.exits} customer(s) with step_removed "
                                          f"({where}): restore the files, give the steps that replace theirs "
                                          "`was: OLD_ID`, or start with --yes to let them exit (`nudge plan` shows who)")
        if last is not None:
            log.warning("the workspace files changed while stopped (version %s -> %s): %d customer(s) in flight, "
                        "%d moved, %d exited step_removed", last, version, plan.in_flight, plan.moves, plan.exits)

    async def start(self) -> None:
        out_of_collection()
        await self.front.dispatcher.recover()
        engine = await self.engine.start() if self.engine else asyncio.create_task(self._engine_loop(), name="engine")
        self._tasks = [
            asyncio.create_task(self.ingest.run(), name="ingest"),
            engine,
            asyncio.create_task(self.front.dispatch_loop(), name="dispatch"),
        ]
        self.health.track(*self._tasks)

    async def stop(self) -> None:
        if self.engine is not None:  # its last batch's messages are in the outbox before the dispatcher drains
            await self.engine.stop()
        await self.front.stop(self._tasks)
        gc.unfreeze()

    async def submit(self, events: list[Event]) -> Accepted:
        accepted = await self.ingest.submit(events)
        self.counters.accepted += accepted.accepted
        self.counters.duplicates += accepted.duplicates
        return accepted

    def wake(self) -> None:
        """Events were committed (or a broadcast scheduled): the engine looks now."""
        if self.engine is not None:
            self.engine.wake()
        else:
            self._engine_wake.set()

    def wake_dispatch(self) -> None:
        self.front.dispatch_wake.set()

    def counts(self, conn: sqlite3.Connection) -> dict[str, Any]:
        found = queries.counts(conn)
        if self.engine is not None:
            found["engine_process"] = {"pid": self.engine.pid, "restarts": self.engine.restarts,
                                       "last_exit": self.engine.last_exit}
        return found

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
            Tally.of(result).add_to(self.engine_counters)
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

    async def _migrate(self, edit: Workspace, version: str, reschedule: bool,
                       proceed: Proceed) -> tuple[Plan, bool]:
        """Plan and (if `proceed` agrees) carry out an edit between two batches (Versions.apply); the engine
        process loads the same files itself (and refuses if they changed meanwhile)."""
        if self.engine is not None:
            try:
                folder = await asyncio.to_thread(self._copy, version)
            except SnapshotError as exc:
                raise Unavailable(f"the files changed while version {version} was being applied ({exc}): "
                                  "apply again", 0) from None
            try:
                plan, applied = await self.engine.call("migrate", version, reschedule, proceed, str(folder))
            except Unavailable:
                if await asyncio.to_thread(self._placed_for) != version:
                    raise
                log.warning("the engine process ended after applying version %s, before it said so: version %s "
                            "runs (its plan is not known here)", version, version)
                plan, applied = Plan((), reschedule, timing_known=False), True
            await asyncio.to_thread(self._keep_only, self.versions.version if not applied else version)
        else:
            plan, applied = await asyncio.to_thread(self.processor.migrate, edit, version=version,
                                                    reschedule=reschedule, proceed=proceed)
        if applied:
            self.workspace = edit
            self.wake()
            gc.unfreeze()  # the old workspace's cycles are garbage now; the new one goes out of sight once in place
            asyncio.get_running_loop().call_soon(out_of_collection)
        return plan, applied

    def _copy(self, version: str) -> Path:
        """The files of `version` copied beside the database for the engine process (raises SnapshotError
        when the folder no longer holds that version); an engine process started again after a crash runs
        the server's version from there, whatever edit the folder holds by then."""
        return unpack(pack(self.root), self.copies, version)

    def _placed_for(self) -> str | None:
        """The version the customers in flight were last placed for, as the database says."""
        row = self.read.execute("SELECT value FROM meta WHERE key = 'workspace_version'").fetchone()
        return None if row is None else str(row[0])

    def _keep_only(self, version: str) -> None:
        """The copies of other versions (the one replaced, a dry run's) removed."""
        for folder in self.copies.iterdir() if self.copies.is_dir() else ():
            if folder.name != version:
                shutil.rmtree(folder, ignore_errors=True)

    async def probe(self) -> dict[str, str]:
        return await self.front.probe()


def out_of_collection() -> None:
    """What is built to last as long as the server (the workspace, its templates, the app) goes out of the
    garbage collector's sight: a full collection no longer rescans it, a stall of 40-120 ms every few
    thousand events under load, which the p99 latency at 2,000 events/s would show."""
    gc.collect()
    gc.freeze()

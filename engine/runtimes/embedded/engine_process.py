"""The server's side of its engine process (engine_child.py): start it, wake it, call it, hear from it, restart it.

The server keeps the API, ingest, the dispatcher and the database lock; the engine process works on the same
SQLite file (writers take turns through turns.py). What the engine did comes back as messages: the
counters, and the health of its batches (began, done, failed), so /healthz and /metrics stay true.
An engine process that dies is a problem on /healthz until another, started after a pause, has done a
batch: what the dead one had not committed is still pending, so nothing is lost or done twice.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from engine.runtimes.embedded.wire import HEADER, WAKE, Tally, frame
from engine.runtimes.kernel.health import Health, Unavailable
from engine.runtimes.kernel.port import EngineCounters
from engine.runtimes.startup import EX_CONFIG, StartupError

log = logging.getLogger("nudge.run")

READY_WITHIN = 120.0   # seconds an engine process may take to load the workspace and say it is ready
STOP_WITHIN = 30.0     # seconds its last batch may take after a stop, before it is killed
RESTART_PAUSES = (1.0, 2.0, 5.0, 10.0, 30.0)  # before each restart in a row that did not get to a batch


class EngineDown(Exception):
    """The engine process is not running: /healthz names why, until another has done a batch."""


@dataclass
class Started:
    process: subprocess.Popen[bytes]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


class EngineProcess:
    """One engine process at a time for the server's life; `version` is the workspace version it must run,
    from its copy in `copies`/VERSION (kernel/copies.py): an engine process started again after a crash
    runs the server's version even when the workspace folder holds an edit not applied yet."""

    def __init__(self, copies: Path, db: Path, public_url: str, version: Callable[[], str], health: Health,
                 counters: EngineCounters, on_messages: Callable[[], None], log_level: str | None = None) -> None:
        self.copies, self.db, self.public_url, self.version = copies, db, public_url, version
        self.health, self.counters, self.on_messages = health, counters, on_messages
        self.log_level = log_level or logging.getLevelName(logging.getLogger().getEffectiveLevel())
        self.restarts = 0
        self.last_exit: str | None = None
        self._current: Started | None = None
        self._calls: dict[int, asyncio.Future[Any]] = {}
        self._numbers = itertools.count()
        self._stopping = False
        self._supervisor: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self._current.process.pid if self._current else None

    async def start(self) -> asyncio.Task[None]:
        """The first engine process, ready; refused (StartupError) when it cannot run the server's version."""
        started = await self._spawn()
        if isinstance(started, str):
            raise StartupError(EX_CONFIG, f"the engine process refused to start: {started}")
        self._current = started
        self._supervisor = asyncio.create_task(self._supervise(), name="engine")
        return self._supervisor

    def wake(self) -> None:
        if self._current is not None:
            self._current.writer.write(WAKE)

    async def call(self, name: str, *args: Any) -> Any:
        """Run `Engine.call_<name>` in the engine process, between two of its batches."""
        current = self._current
        if current is None:
            raise Unavailable(f"the engine process is not running ({self.last_exit or 'starting'}): try again", 5)
        number = next(self._numbers)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[number] = future
        current.writer.write(frame(("call", number, name, args)))
        try:
            return await future
        finally:
            self._calls.pop(number, None)

    async def stop(self) -> None:
        """The batch under way finishes; then the process exits (killed after STOP_WITHIN seconds)."""
        self._stopping = True
        current = self._current
        if current is not None:
            current.writer.write(frame(("stop",)))
            try:
                await asyncio.wait_for(asyncio.to_thread(current.process.wait), STOP_WITHIN)
            except TimeoutError:
                log.error("the engine process did not stop within %.0f s: killed", STOP_WITHIN)
                current.process.kill()
                await asyncio.to_thread(current.process.wait)
            current.writer.close()
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)

    async def _supervise(self) -> None:
        """Hear the engine process until it ends; unless stopping, start another (pausing longer each time in
        a row one ends before doing a batch)."""
        quick = 0
        while True:
            assert self._current is not None
            batches = await self._listen(self._current)
            status = await asyncio.to_thread(self._current.process.wait)
            self._current.writer.close()
            self._current = None
            if self._stopping:
                self._lost(EngineDown("the server is stopping"))
                return
            self.last_exit = f"exited {describe(status)} at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}"
            self._lost(EngineDown(f"the engine process {self.last_exit}; restarting"))
            quick = 0 if batches else quick + 1
            while self._current is None:
                pause = RESTART_PAUSES[min(quick, len(RESTART_PAUSES) - 1)]
                log.error("the engine process %s; starting another in %.0f s", self.last_exit, pause)
                await asyncio.sleep(pause)
                started = await self._spawn()
                if isinstance(started, str):
                    quick += 1
                    self.last_exit = f"refused to start again: {started}"
                    self.health.failed("engine", EngineDown(f"the engine process {self.last_exit}"))
                    continue
                self._current = started
                self.restarts += 1

    def _lost(self, why: EngineDown) -> None:
        self.health.failed("engine", why)
        for future in self._calls.values():
            if not future.done():
                future.set_exception(Unavailable(f"{why}: what was asked may or may not have been done; look, "
                                                 "then try again", 5))

    async def _listen(self, current: Started) -> int:
        """Act on the engine's messages until its end of the socket closes; returns how many batches it did."""
        batches = 0
        while True:
            try:
                message = await _read(current.reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return batches
            except Exception:  # a message that cannot be read: the two no longer understand each other
                log.exception("the engine process sent what cannot be read; it is stopped and another started")
                current.process.kill()
                return batches
            kind = message[0]
            if kind == "began":
                self.health.began("engine")
            elif kind == "done":
                batches += 1
                self._count(message[1])
            elif kind == "failed":
                self.health.failed("engine", message[1])
            elif kind == "reply":
                _, number, ok, value = message
                future = self._calls.get(number)
                if future is not None and not future.done():
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)

    def _count(self, tally: Tally) -> None:
        self.health.done("engine")
        tally.add_to(self.counters)
        if tally.messages:
            self.on_messages()

    async def _spawn(self) -> Started | str:
        """An engine process, once it says it is ready; its refusal (the reason) otherwise."""
        ours, theirs = socket.socketpair()
        version = self.version()
        command = [sys.executable, "-m", "engine.runtimes.embedded.engine_child", "--fd", str(theirs.fileno()),
                   "--parent", str(os.getpid()), "--workspace", str(self.copies / version), "--db", str(self.db),
                   "--public-url", self.public_url, "--version", version, "--log-level", self.log_level]
        try:
            process = subprocess.Popen(command, pass_fds=(theirs.fileno(),))
        except OSError as exc:  # no process to be had now (EAGAIN, ENOMEM): a refusal, tried again after a pause
            ours.close()
            return f"it could not be started ({exc})"
        finally:
            theirs.close()
        reader, writer = await asyncio.open_unix_connection(sock=ours)
        try:
            first = await asyncio.wait_for(_read(reader), READY_WITHIN)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            first = ("refused", f"it ended before it was ready ({describe(await _ended(process))}; see its log)")
        if first[0] != "ready":
            writer.close()
            await _ended(process)
            return str(first[1])
        log.info("engine process %d running version %s", process.pid, self.version())
        return Started(process, reader, writer)


async def _read(reader: asyncio.StreamReader) -> tuple[Any, ...]:
    (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    message: tuple[Any, ...] = pickle.loads(await reader.readexactly(size))
    return message


async def _ended(process: subprocess.Popen[bytes]) -> int:
    """Its exit status, killing it first if it has not ended within a few seconds."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(process.wait), 5)
    except TimeoutError:
        process.kill()
        return await asyncio.to_thread(process.wait)


def describe(status: int) -> str:
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"with status {status}"


class EngineDesk:
    """The `Broadcasts` port when the engine runs in its own process: scheduled and cancelled there, between
    two of its batches (it looks at the broadcast's start right after)."""

    waiting_known = True

    def __init__(self, engine: EngineProcess) -> None:
        self.engine = engine

    async def schedule(self, broadcast_id: str, now: bool) -> dict[str, Any]:
        view: dict[str, Any] = await self.engine.call("schedule", broadcast_id, now)
        return view

    async def cancel(self, broadcast_id: str) -> dict[str, int]:
        done: dict[str, int] = await self.engine.call("cancel", broadcast_id)
        return done

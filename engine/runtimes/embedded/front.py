"""The SQLite side every runtime serving the API keeps: the lock, the API's connections, the dispatcher and its loop.

The embedded runtime's engine writes the outbox into it; the Kafka edge fills it from the workers' topics.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path
from typing import Any, Callable

from connectors.channels.base import Sender
from connectors.channels.config import build_senders
from engine.effects import Message
from engine.model import Workspace
from engine.runtimes.embedded import database
from engine.runtimes.embedded.dispatcher import Dispatcher, DispatchSettings
from engine.runtimes.embedded.lock import claim
from engine.runtimes.kernel.health import Health
from engine.runtimes.kernel.port import Counters
from engine.runtimes.kernel.serving import sleep_until
from engine.runtimes.settings import Settings

log = logging.getLogger("nudge.run")


def secret_from_meta(conn: Any, name: str) -> str:
    """A random secret generated once and kept in the database (signing keys survive restarts)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()
    if row:
        return str(row[0])
    value = secrets.token_urlsafe(32)
    conn.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (name, value))
    return str(conn.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()[0])


class Front:
    """Claims the database for `holder` before anything writes: a second process stops here."""

    def __init__(self, root: Path, db_path: Path, holder: str, workspace: Workspace, public_url: str,
                 clock: Callable[[], float], settings: Settings, counters: Counters, health: Health) -> None:
        self.clock, self.counters, self.health = clock, counters, health
        self.lock = claim(db_path, holder)
        self.read = database.connect(db_path)
        self.probe_conn = database.connect(db_path, busy_timeout=2.0)
        self.senders: dict[str, Sender] = build_senders(workspace.settings, root, settings.providers, public_url)
        rates = {ch: float(c["rate_per_second"]) for ch, c in (workspace.settings.channels or {}).items()
                 if isinstance(c, dict) and c.get("rate_per_second")}
        self.dispatcher = Dispatcher(database.connect(db_path), self.senders, clock, rates=rates,
                                     observe=self._observe,
                                     settings=DispatchSettings(retry=settings.retry, grace=settings.shutdown_grace))
        self.dispatch_wake = asyncio.Event()

    def _observe(self, message: Message, status: str, latency: float) -> None:
        for observer in self.counters.observers:
            observer(message, status, latency)

    async def dispatch_loop(self) -> None:
        self.dispatcher.wake = self.dispatch_wake.set
        while True:
            self.dispatch_wake.clear()
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
            await sleep_until(self.dispatch_wake, due, self.clock)

    async def probe(self) -> dict[str, str]:
        """Can the database be written?"""
        problem = await asyncio.to_thread(database.write_problem, self.probe_conn, self.clock())
        return {"database": problem} if problem else {}

    async def stop(self, tasks: list[asyncio.Task[None]]) -> None:
        """Hand-offs in flight finish (within NUDGE_SHUTDOWN_GRACE) and are recorded; no new one starts."""
        await self.dispatcher.drain()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for sender in {id(s): s for s in self.senders.values()}.values():
            await sender.close()
        self.dispatcher.close()

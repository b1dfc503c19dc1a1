"""The server's side of its engine process (engine/runtimes/embedded/engine_process.py), with a real child:
events committed here wake it and its batches are counted here; an edit's plan and a broadcast's refusal
come back as they are; it refuses to run a workspace version other than the server's."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Awaitable, Callable

import orjson
import pytest

from engine.runtimes.embedded import database
from engine.runtimes.embedded.broadcasts import UnknownBroadcast
from engine.runtimes.embedded.engine_process import EngineProcess, Started
from engine.runtimes.embedded.wire import HEADER
from engine.runtimes.embedded.runtime import EmbeddedRuntime
from engine.runtimes.kernel.health import Health, Unavailable
from engine.runtimes.kernel.port import EngineCounters
from engine.runtimes.kernel.serving import Status
from engine.runtimes.startup import EX_CONFIG, StartupError
from engine.testing import email, journey_yaml, send_step, write_workspace
from rules.events import parse_event
from tests.helpers import hello_journey

HI = {"hi.email.html": email("Hi")}


def served(tmp_path: Path) -> EmbeddedRuntime:
    root = write_workspace(tmp_path / "ws", journeys={"hello": hello_journey("1h")}, templates=HI)
    database.create(tmp_path / "nudge.db")
    return EmbeddedRuntime(root, tmp_path / "nudge.db", engine_process=True)


def signups(*customers: str) -> list[Any]:
    now = datetime.now(timezone.utc)
    return [parse_event({"id": f"e-{c}", "type": "signed_up", "customer_id": c, "traits": {"email": f"{c}@x.example"}},
                        received_at=now) for c in customers]


async def until(condition: Callable[[], bool], what: str) -> None:
    """A real process on the other side: poll, with a deadline."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def running(runtime: EmbeddedRuntime, body: Callable[[], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        await runtime.start()
        try:
            return await body()
        finally:
            await runtime.stop()

    try:
        return asyncio.run(go())
    finally:
        runtime.front.lock.release()


def test_events_committed_here_are_processed_there_and_its_batches_counted_here(tmp_path: Path) -> None:
    runtime = served(tmp_path)

    async def body() -> None:
        assert runtime.engine is not None and runtime.engine.pid is not None
        assert (await runtime.submit(signups("c1", "c2", "c3"))).accepted == 3
        await until(lambda: runtime.engine_counters.processed == 3, "three events processed")
        await until(lambda: runtime.read.execute("SELECT COUNT(*) FROM outbox WHERE status = 'sent'").fetchone()[0]
                    == 3, "the three emails handed off")  # the engine's batch woke this process's dispatcher
        assert runtime.health.verdict({"engine": 0}).problems == {}

    running(runtime, body)


def test_an_edit_is_planned_and_applied_there_with_the_confirmation_as_data(tmp_path: Path) -> None:
    runtime = served(tmp_path)

    async def body() -> None:
        await runtime.submit(signups("c1"))
        await until(lambda: runtime.engine_counters.processed == 1, "the sign-up processed")  # now in its wait
        write_workspace(runtime.root, journeys={"hello": journey_yaml("hello", "{event: signed_up}",
                                                                      send_step("greet", "hi"))}, templates=HI)
        refused = await runtime.versions.apply()
        assert refused.status is Status.REFUSED and refused.plan is not None and refused.plan.exits == 1
        assert (await runtime.versions.apply(confirm=True)).status is Status.APPLIED
        assert runtime.read.execute("SELECT value FROM meta WHERE key = 'workspace_version'").fetchone() == (
            runtime.versions.version,)

    running(runtime, body)


def test_a_broadcast_refused_there_raises_its_own_error_here(tmp_path: Path) -> None:
    runtime = served(tmp_path)

    async def body() -> None:
        assert runtime.broadcasts is not None
        with pytest.raises(UnknownBroadcast, match="no broadcast 'spring'"):
            await runtime.broadcasts.schedule("spring", now=True)

    running(runtime, body)


def test_while_the_engine_process_is_down_calls_are_unavailable_and_health_fails_until_another_has_run(
        tmp_path: Path) -> None:
    runtime = served(tmp_path)

    async def body() -> None:
        engine = runtime.engine
        assert engine is not None and engine.pid is not None and runtime.broadcasts is not None
        os.kill(engine.pid, signal.SIGKILL)
        await until(lambda: engine.pid is None, "the death noticed")
        with pytest.raises(Unavailable, match="not running .*killed by SIGKILL"):
            await runtime.broadcasts.schedule("spring", now=True)
        assert "killed by SIGKILL" in runtime.health.verdict({}).problems["engine"]
        await runtime.submit(signups("c1"))  # ingest goes on meanwhile
        await until(lambda: engine.restarts == 1 and runtime.engine_counters.processed == 1, "another engine process")
        assert runtime.health.verdict({"engine": 0}).problems == {}

    running(runtime, body)


def test_an_engine_process_refuses_a_workspace_version_other_than_the_servers(tmp_path: Path) -> None:
    copies = tmp_path / "nudge.db.versions"  # the copy filed under the server's version holds other files
    write_workspace(copies / "0123456789abcdef", journeys={"hello": hello_journey("1h")}, templates=HI)
    database.create(tmp_path / "nudge.db")
    engine = EngineProcess(copies, tmp_path / "nudge.db", "http://127.0.0.1:1", lambda: "0123456789abcdef",
                           Health(time.time), EngineCounters(), lambda: None)
    with pytest.raises(StartupError) as refused:
        asyncio.run(engine.start())
    assert refused.value.status == EX_CONFIG
    assert "the server runs 0123456789abcdef" in str(refused.value)


def test_an_engine_process_started_again_runs_the_servers_version_while_the_folder_holds_an_edit_not_applied(
        tmp_path: Path) -> None:
    """SPEC §10: an edit waits for `nudge apply`; an engine process that crashes meanwhile is replaced by one
    running the server's version (its copy beside the database), not refused for the folder's edit."""
    runtime = served(tmp_path)

    def subjects() -> list[str]:
        rows = runtime.read.execute("SELECT customer, payload FROM outbox ORDER BY seq").fetchall()
        return [f"{customer}: {orjson.loads(payload)['subject']}" for customer, payload in rows]

    async def body() -> None:
        engine = runtime.engine
        assert engine is not None and engine.pid is not None
        running_version = runtime.versions.version
        write_workspace(runtime.root, journeys={"hello": hello_journey("1h")}, templates={"hi.email.html": email("Edited")})
        os.kill(engine.pid, signal.SIGKILL)
        await until(lambda: engine.pid is None, "the death noticed")
        await runtime.submit(signups("c1"))
        await until(lambda: engine.restarts == 1 and runtime.engine_counters.processed == 1, "another engine process")
        assert runtime.health.verdict({"engine": 0}).problems == {}
        await until(lambda: len(subjects()) == 1, "c1's greeting")
        assert (runtime.versions.version, subjects()) == (running_version, ["c1: Hi"])
        assert (await runtime.versions.apply()).status is Status.APPLIED  # the edit, once applied
        await runtime.submit(signups("c2"))
        await until(lambda: len(subjects()) == 2, "c2's greeting")
        assert subjects() == ["c1: Hi", "c2: Edited"]
        assert [p.name for p in runtime.copies.iterdir()] == [runtime.versions.version]

    running(runtime, body)


class DiesAfterApplying:
    """An engine process that commits an apply and is killed before its reply reaches the server."""

    def __init__(self, db: Path) -> None:
        self.db = db

    async def call(self, name: str, version: str, *args: Any) -> Any:
        conn = database.connect(self.db)
        with conn:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'workspace_version'", (version,))
        conn.close()
        raise Unavailable("the engine process exited killed by SIGKILL: what was asked may or may not have been done")

    def wake(self) -> None:
        """The next engine process runs a batch at once: nothing to do here."""


def test_an_apply_committed_by_an_engine_process_that_died_before_replying_is_taken_as_applied(tmp_path: Path) -> None:
    """Otherwise the server kept the old version, started the next engine process on it over customers
    placed for the new one, and a retried apply planned the old-to-new move again."""
    runtime = served(tmp_path)
    try:
        runtime.engine = DiesAfterApplying(tmp_path / "nudge.db")  # type: ignore[assignment]
        write_workspace(runtime.root, journeys={"hello": hello_journey("1h")}, templates={"hi.email.html": email("Edited")})
        outcome = asyncio.run(runtime.versions.apply())
        assert (outcome.status, runtime.versions.version) == (Status.APPLIED, outcome.version)
        assert [p.name for p in runtime.copies.iterdir()] == [outcome.version]
    finally:
        runtime.front.lock.release()


def test_an_engine_process_refuses_to_run_customers_placed_for_another_version(tmp_path: Path) -> None:
    runtime = served(tmp_path)
    runtime.front.lock.release()
    conn = database.connect(tmp_path / "nudge.db")
    with conn:
        conn.execute("UPDATE meta SET value = 'fedcba9876543210' WHERE key = 'workspace_version'")
    engine = EngineProcess(runtime.copies, tmp_path / "nudge.db", "http://127.0.0.1:1", lambda: runtime.versions.version,
                           Health(time.time), EngineCounters(), lambda: None)
    with pytest.raises(StartupError, match="placed for version fedcba9876543210"):
        asyncio.run(engine.start())


def test_a_message_the_server_cannot_read_stops_that_engine_process_instead_of_its_supervisor(tmp_path: Path) -> None:
    """Before, the error ended the task that restarts engine processes: none was ever started again."""
    killed: list[bool] = []

    async def go() -> int:
        reader = asyncio.StreamReader()
        reader.feed_data(HEADER.pack(3) + b"bad")
        reader.feed_eof()
        process = SimpleNamespace(kill=lambda: killed.append(True))
        engine = EngineProcess(tmp_path, tmp_path / "nudge.db", "http://127.0.0.1:1", lambda: "v", Health(time.time),
                               EngineCounters(), lambda: None)
        return await engine._listen(Started(process, reader, None))  # type: ignore[arg-type]

    assert asyncio.run(go()) == 0 and killed == [True]

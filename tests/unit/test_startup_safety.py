"""Start-up safety in-process: the database lock, health verdicts, secrets kept out of messages."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from connectors.channels.config import ConfigError, build_senders
from engine.runtimes.embedded import database
from engine.runtimes.kernel.health import Health
from engine.runtimes.embedded.lock import DatabaseLock
from engine.runtimes.settings import ProviderSettings, Secret
from engine.runtimes.startup import EX_TEMPFAIL, StartupError
from engine.testing import email, write_workspace
from rules.workspace import load_workspace
from tests.helpers import hello_journey


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_second_lock_on_a_database_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    held = DatabaseLock.acquire(tmp_path / "nudge.db", "nudge run")
    with pytest.raises(StartupError) as refused:
        DatabaseLock.acquire(tmp_path / "nudge.db", "nudge run")
    assert refused.value.status == EX_TEMPFAIL
    assert f"in use by nudge run (pid {os.getpid()} on " in str(refused.value)
    held.release()
    DatabaseLock.acquire(tmp_path / "nudge.db", "nudge run").release()


def test_an_engine_that_keeps_failing_is_a_problem_until_a_batch_succeeds() -> None:
    clock = Clock()
    health = Health(clock)
    health.began("engine")
    health.failed("engine", OSError("disk I/O error"))
    health.failed("engine", OSError("disk I/O error"))
    verdict = health.verdict({"engine": 3})
    assert verdict.status == "failing"
    assert "(2 attempt(s) in a row): OSError: disk I/O error" in verdict.problems["engine"]
    health.began("engine")
    health.done("engine")
    assert health.verdict({"engine": 0}).problems == {}


def test_a_batch_that_never_ends_and_events_no_batch_takes_are_stalls() -> None:
    clock = Clock()
    health = Health(clock, stall_after=60)
    health.began("engine")
    clock.now += 60
    assert health.verdict({"engine": 5}).problems == {}
    clock.now += 1
    assert health.verdict({"engine": 5}).problems["engine"].startswith("stalled: one batch has been running since")
    health.done("engine")
    clock.now += 61
    assert health.verdict({"engine": 0}).problems == {}  # idle, nothing waiting: fine
    assert health.verdict({"engine": 5}).problems["engine"].startswith("stalled: 5 waiting and no batch done since")


def test_a_refused_edit_is_a_warning_and_an_ended_task_a_problem() -> None:
    health = Health(Clock())
    health.warn("workspace", "edit refused")
    assert health.verdict({}).status == "warning"

    async def watcher() -> None:
        raise PermissionError("workspace unreadable")

    async def run() -> None:
        task = asyncio.create_task(watcher(), name="watcher")
        health.track(task)
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run())
    verdict = health.verdict({})
    assert verdict.status == "failing"
    assert verdict.problems == {"watcher": "stopped: PermissionError: workspace unreadable"}


def test_a_bad_smtp_url_is_explained_without_its_password(tmp_path: Path) -> None:
    write_workspace(tmp_path, settings="channels:\n  email: {provider: smtp}\nsender: {email: \"a@b.example\"}",
                    journeys={"hello": hello_journey()},
                    templates={"hi.email.html": email("Hi")})
    settings = load_workspace(tmp_path).workspace.settings
    with pytest.raises(ConfigError) as refused:
        build_senders(settings, tmp_path, ProviderSettings(smtp_url=Secret("smtp://ann:hunter2@:587")), "http://x")
    assert "hunter2" not in str(refused.value)
    assert "smtp://ann:***@:587" in str(refused.value)


def test_the_write_probe_tells_a_corrupted_database_from_a_busy_one(tmp_path: Path) -> None:
    path = tmp_path / "nudge.db"
    database.create(path)
    writer = database.connect(path)
    assert database.write_problem(writer, 1.0) is None
    writer.execute("BEGIN IMMEDIATE")
    assert database.write_problem(database.connect(path, busy_timeout=0.1), 2.0) is None  # busy, not broken
    writer.execute("ROLLBACK")
    writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    probe = database.connect(path)  # open before the damage, as a running server's is
    with path.open("r+b") as file:  # every page but the first (the schema) overwritten
        file.seek(4096)
        file.write(b"\xa5" * (path.stat().st_size - 4096))
    assert database.write_problem(probe, 3.0) == "corrupted: database disk image is malformed"

"""`nudge run`'s engine process (engine/runtimes/embedded/engine_process.py): killed mid-stream it loses and
repeats nothing, /healthz says so while it is down and another takes over; it is part of the server (a second
server is still refused) and ends with it, even when the server is killed."""

from __future__ import annotations

import os
import signal
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest

from engine.runtimes.simulate import simulate
from rules.events import parse_event
from rules.workspace import load_workspace
from tests.e2e.server import NudgeServer, workspace_server
from tests.e2e.test_crash import CART, TEMPLATES, WELCOME, Threads, drained, expected_sent, health_or_none, \
    post_batches, sends
from tests.e2e.test_operations import finished, second_run

CUSTOMERS = 1_500
PER_BATCH = 125  # customers per request: 500 events
KILLS = 2


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NudgeServer]:
    srv = workspace_server(tmp_path, journeys={"01_welcome": WELCOME, "02_cart": CART}, templates=TEMPLATES)
    yield srv.start()
    srv.stop()


def engine_pid(server: NudgeServer) -> int:
    pid = server.health()["engine_process"]["pid"]
    assert isinstance(pid, int) and pid != server.process.pid  # type: ignore[union-attr]
    return pid


def gone(pid: int) -> bool:
    """Ended (a zombie not yet reaped by whoever adopted it counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_the_engine_process_killed_mid_stream_loses_and_repeats_nothing_and_healthz_fails_until_another_runs(
        server: NudgeServer) -> None:
    posted: list[dict[str, Any]] = []
    progress = {"batches": 0, "retries": 0}
    seen: list[dict[str, Any]] = []  # /healthz while the engine process was down
    batches = CUSTOMERS // PER_BATCH

    def poster() -> None:
        post_batches(server, batches, PER_BATCH, posted, progress)

    def killer() -> None:
        for point in range(1, KILLS + 1):
            server.wait_for(lambda: progress["batches"] >= point * batches // (KILLS + 2), timeout=120,
                            what="batches posted")
            pid = engine_pid(server)
            os.kill(pid, signal.SIGKILL)
            server.wait_for(lambda: "killed by SIGKILL" in ((health_or_none(server) or {}).get("problems") or {})
                            .get("engine", ""), timeout=30, what="/healthz naming the dead engine process")
            seen.append(server.health())
            server.wait_for(lambda: (h := health_or_none(server)) is not None and h["engine_process"]["pid"] != pid
                            and h["engine_process"]["restarts"] == point, timeout=60, what="another engine process")

    threads = Threads()
    threads.start(poster, "poster")
    threads.start(killer, "killer")
    threads.join(timeout=240)
    server.wait_for(lambda: drained(server, len(posted)), timeout=120, what="backlog, timers and outbox drained")

    assert progress == {"batches": batches, "retries": 0}  # the API took every request while the engine was down
    assert len(seen) == KILLS and all(h["status"] == "failing" for h in seen)
    assert all("restarting" in h["problems"]["engine"] for h in seen)
    health = server.health()
    assert health["status"] == "ok" and health["engine_process"]["restarts"] == KILLS
    assert "killed by SIGKILL" in health["engine_process"]["last_exit"]
    conn = sqlite3.connect(server.db)
    try:
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM events GROUP BY status").fetchall())
    finally:
        conn.close()
    assert statuses == {"processed": len(posted)}, statuses  # none lost

    lines = server.messages()
    ids = Counter(m["id"] for m in lines)
    assert [i for i, n in ids.items() if n > 1] == [], "a message was sent twice"
    expected = sends(simulate(load_workspace(server.workspace).workspace, [parse_event(e) for e in posted]).records)
    assert len(expected) == sum(expected_sent(i) for i in range(CUSTOMERS))
    assert {m["message_id"] for m in expected} == set(ids), "messages differ from simulate's"


def test_the_engine_process_is_part_of_the_server_a_second_is_refused_and_it_ends_with_the_server(
        server: NudgeServer) -> None:
    pid = engine_pid(server)
    code, out = finished(second_run(server))
    assert code == 75 and "in use by nudge run" in out, out
    assert not gone(pid)
    server.kill()  # SIGKILL: no chance to stop it; the kernel ends it with the server
    server.wait_for(lambda: gone(pid), timeout=30, what="the engine process to end with the server")

    server.start()
    pid = engine_pid(server)
    assert server.process is not None
    server.process.terminate()  # SIGTERM: its batch finishes, it exits, then the server does
    assert server.process.wait(timeout=30) == 0
    server.wait_for(lambda: gone(pid), timeout=30, what="the engine process to stop with the server")

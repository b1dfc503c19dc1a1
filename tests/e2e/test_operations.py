"""Operating `nudge run` and `nudge api --kafka`: one writer per database, a /healthz that tells
the truth, one-line start-up errors, private files. Real processes throughout."""

from __future__ import annotations

import os
import resource
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

import httpx
import orjson
import pytest

from tests.e2e.server import ROOT, NudgeServer, free_port, workspace_server
from tests.helpers import HI, hello_journey, message

def nudge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "NUDGE_API_KEYS": "k", **(env or {})}, timeout=60)


def hello(tmp_path: Path, **kwargs: Any) -> NudgeServer:
    return workspace_server(tmp_path, journeys={"hello": hello_journey()}, templates={"hi.email.html": HI}, **kwargs)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NudgeServer]:
    srv = hello(tmp_path).start()
    yield srv
    srv.stop()


def signed_up(customer: str) -> dict[str, Any]:
    return {"type": "signed_up", "customer_id": customer, "traits": {"email": f"{customer}@example.com"}}


def second_run(srv: NudgeServer) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "engine", "run", "--workspace", str(srv.workspace), "--db",
                             str(srv.db), "--port", str(free_port())], cwd=ROOT, text=True,
                            env={**os.environ, "NUDGE_API_KEYS": "k"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def finished(proc: subprocess.Popen[str], within: float = 30) -> tuple[int, str]:
    """The exit code and output of a process that must exit by itself (killed, and a failure, if not)."""
    try:
        out, _ = proc.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"the process did not exit by itself: {out[-2000:]}")
    return proc.returncode, out


# -- one writer per database --------------------------------------------------------------

def test_a_second_server_on_a_busy_database_refuses_to_start_and_touches_nothing(server: NudgeServer) -> None:
    with sqlite3.connect(server.db) as conn:  # a hand-off in flight in the live process
        conn.execute("INSERT INTO outbox (id, channel, payload, status, origin) "
                     "VALUES ('m_live', 'email', '{}', 'sending', 0)")
    code, out = finished(second_run(server))
    assert code == 75, out
    assert f"pid {server.process.pid}" in out and socket.gethostname() in out  # type: ignore[union-attr]
    assert str(server.db) in out and "Traceback" not in out
    assert server.query("SELECT status FROM outbox WHERE id = 'm_live'") == [("sending",)]  # not "recovered"
    assert server.post(signed_up("c1")).status_code == 202  # the live one goes on


def test_the_lock_dies_with_its_process_so_a_killed_server_restarts(server: NudgeServer) -> None:
    server.kill()
    server.start()
    assert server.post(signed_up("c1")).status_code == 202


def test_reading_commands_work_beside_a_running_server_and_writing_ones_are_refused(server: NudgeServer) -> None:
    assert server.post(signed_up("c1")).status_code == 202
    listing = nudge("outbox", "--db", str(server.db))
    assert listing.returncode == 0, listing.stderr
    report = nudge("report", "--db", str(server.db), "--workspace", str(server.workspace))
    assert report.returncode == 0, report.stderr
    for command in (("outbox", "--db", str(server.db), "--resolve", "m1", "--as", "sent"),
                    ("failed", "--db", str(server.db), "--retry")):
        refused = nudge(*command)
        assert refused.returncode == 75, refused.stderr
        assert f"pid {server.process.pid}" in refused.stderr, refused.stderr  # type: ignore[union-attr]


# -- private files -------------------------------------------------------------------------

def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_the_database_its_journal_and_its_lock_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    srv = hello(tmp_path).start()
    try:
        assert srv.post(signed_up("c1")).status_code == 202
        for name in ("nudge.db", "nudge.db-wal", "nudge.db-shm", "nudge.db.lock"):
            assert private(tmp_path / name), name
    finally:
        srv.stop()


def test_an_existing_world_readable_database_is_made_private_at_start(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "nudge.db").close()
    os.chmod(tmp_path / "nudge.db", 0o644)
    srv = hello(tmp_path).start()
    srv.stop()
    assert private(tmp_path / "nudge.db")


# -- health --------------------------------------------------------------------------------

def health(srv: NudgeServer) -> tuple[int, dict[str, Any]]:
    response = httpx.get(srv.url + "/healthz", timeout=10)
    return response.status_code, response.json()


def wait_health(srv: NudgeServer, predicate: Any, what: str) -> dict[str, Any]:
    seen: list[tuple[int, dict[str, Any]]] = []

    def check() -> bool:
        seen[:] = [health(srv)]
        return bool(predicate(*seen[0]))

    srv.wait_for(check, timeout=30, what=f"{what} (last: {seen})")
    return seen[0][1]


def test_healthz_fails_with_the_reason_while_the_database_cannot_be_written_and_recovers(tmp_path: Path) -> None:
    server = workspace_server(tmp_path, journeys={"hello": hello_journey("3s")}, templates={"hi.email.html": HI})
    pid = server.start().process.pid  # type: ignore[union-attr]
    try:
        assert server.post(signed_up("c1")).status_code == 202  # its second email is a timer 3 s later
        server.wait_for(lambda: len(server.messages()) == 1, what="the first email")
        pids = (pid, server.health()["engine_process"]["pid"])  # the server and its engine process
        for each in pids:
            resource.prlimit(each, resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))  # every file write fails
        body = wait_health(server, lambda code, b: code == 503 and "engine" in b["problems"], "engine failing")
        assert body["status"] == "failing"
        assert "disk I/O error" in body["problems"]["database"]
        assert "disk I/O error" in body["problems"]["engine"]
        assert "events_pending" in body and "messages" in body  # the counts are kept
        refused = server.post(signed_up("c2"))
        assert refused.status_code == 503 and "disk I/O error" in refused.json()["error"]
        assert refused.headers["retry-after"] == "5"
        for each in pids:
            resource.prlimit(each, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        body = wait_health(server, lambda code, b: code == 200, "recovered")
        assert body["status"] == "ok" and body["problems"] == {}
    finally:
        server.stop()


def test_messages_a_failed_round_left_sending_fail_healthz_until_a_restart_resolves_them(server: NudgeServer) -> None:
    with sqlite3.connect(server.db) as conn:  # as a round whose closing write failed (a full disk) leaves it
        conn.execute("INSERT INTO outbox (id, channel, payload, status, origin) VALUES ('m_stranded', 'email', ?, "
                     "'sending', 0)", (orjson.dumps(asdict(message("m_stranded", to="c9@example.com"))),))
    body = wait_health(server, lambda code, b: code == 503, "the stranded message")
    assert body["problems"]["dispatch"].startswith("1 message(s) left 'sending' by a round that failed")
    server.restart()  # in-doubt check at start-up: the file connector knows it never went out, so it goes now
    server.wait_for(lambda: [m["id"] for m in server.messages()] == ["m_stranded"], what="the resent message")
    assert health(server)[0] == 200


def test_a_refused_edit_is_a_warning_on_healthz_not_a_failure(server: NudgeServer) -> None:
    journeys = server.workspace / "journeys.yaml"
    good = journeys.read_text()
    journeys.write_text(good + "\nsettingz: {}\n")
    with server.client() as c:
        assert c.post("/v1/workspace/apply").status_code == 422
    body = wait_health(server, lambda code, b: code == 200 and "workspace" in b["warnings"], "the refused edit")
    assert body["status"] == "warning"
    assert "settingz" in body["warnings"]["workspace"]
    journeys.write_text(good + "\n")
    body = wait_health(server, lambda code, b: b["status"] == "ok", "the fixed edit")
    assert body["warnings"] == {}


# -- start-up errors -----------------------------------------------------------------------

def one_line_refusal(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_directory_where_the_database_should_be_is_refused_in_one_line(tmp_path: Path) -> None:
    srv = hello(tmp_path)
    (tmp_path / "nudge.db").mkdir()
    result = nudge("run", "--workspace", str(srv.workspace), "--db", str(tmp_path / "nudge.db"),
                   "--port", str(free_port()))
    assert result.returncode == 73
    assert one_line_refusal(result) == f"nudge run: cannot open database {tmp_path / 'nudge.db'}: is a directory"


def test_a_database_under_a_file_is_refused_in_one_line(tmp_path: Path) -> None:
    srv = hello(tmp_path)
    (tmp_path / "plain").write_text("")
    result = nudge("run", "--workspace", str(srv.workspace), "--db", str(tmp_path / "plain" / "nudge.db"),
                   "--port", str(free_port()))
    assert result.returncode == 73
    assert one_line_refusal(result) == \
        f"nudge run: cannot open database {tmp_path / 'plain' / 'nudge.db'}: not a directory"


@pytest.fixture
def bound_by_permissions() -> list[str]:
    """A command prefix under which file permissions hold: root reads and writes everything,
    unless its capabilities to override them are dropped (setpriv, util-linux)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permissions cannot be tested")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


def run_as(prefix: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, sys.executable, "-m", "engine", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "NUDGE_API_KEYS": "k"}, timeout=60)


def test_a_database_in_a_read_only_folder_is_refused_in_one_line(tmp_path: Path,
                                                                bound_by_permissions: list[str]) -> None:
    workspace = hello(tmp_path).workspace
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    result = run_as(bound_by_permissions, "run", "--workspace", str(workspace), "--db", str(locked / "nudge.db"),
                    "--port", str(free_port()))
    assert result.returncode == 73
    assert one_line_refusal(result) == f"nudge run: cannot open database {locked / 'nudge.db'}: permission denied"


def test_an_unreadable_database_is_refused_in_one_line(tmp_path: Path, bound_by_permissions: list[str]) -> None:
    workspace = hello(tmp_path).workspace
    sqlite3.connect(tmp_path / "nudge.db").close()
    (tmp_path / "nudge.db").chmod(0o000)
    result = run_as(bound_by_permissions, "run", "--workspace", str(workspace), "--db", str(tmp_path / "nudge.db"),
                    "--port", str(free_port()))
    assert result.returncode == 73
    assert one_line_refusal(result) == f"nudge run: cannot open database {tmp_path / 'nudge.db'}: permission denied"


def test_an_unreadable_workspace_is_refused_in_one_line(tmp_path: Path, bound_by_permissions: list[str]) -> None:
    workspace = hello(tmp_path).workspace
    workspace.chmod(0o000)
    result = run_as(bound_by_permissions, "run", "--workspace", str(workspace), "--db", str(tmp_path / "nudge.db"),
                    "--port", str(free_port()))
    assert result.returncode == 66
    assert one_line_refusal(result) == f"nudge run: cannot read workspace {workspace}: permission denied"


@pytest.mark.parametrize(("command", "variable", "value"), [
    ("run", "NUDGE_LOG_LEVEL", "loud"), ("run", "NUDGE_PUBLIC_URL", "nudge.example"),
    ("worker", "NUDGE_KAFKA_STORE", "redis://cache"), ("worker", "NUDGE_KAFKA_PARTITIONS", "eight"),
])
def test_a_bad_setting_is_refused_at_start_in_one_line_naming_it(tmp_path: Path, command: str, variable: str,
                                                                 value: str) -> None:
    srv = hello(tmp_path)
    args = ["--db", str(tmp_path / "nudge.db"), "--port", str(free_port())] if command == "run" else []
    result = nudge(command, "--workspace", str(srv.workspace), *args,
                   env={"NUDGE_LINK_SECRET": "s3cret", "NUDGE_KAFKA_BOOTSTRAP": closed_port(), variable: value})
    assert result.returncode == 78, result.stderr
    assert one_line_refusal(result).startswith(f"nudge {command}: {variable} must be ")


# -- Kafka: secrets and an unreachable broker ----------------------------------------------

def closed_port() -> str:
    return f"127.0.0.1:{free_port()}"


def test_a_worker_without_a_link_secret_refuses_to_start(tmp_path: Path) -> None:
    srv = hello(tmp_path)
    env = {"NUDGE_KAFKA_BOOTSTRAP": closed_port(), "NUDGE_LINK_SECRET": ""}
    for command in (("worker", "--workspace", str(srv.workspace)),
                    ("api", "--kafka", "--workspace", str(srv.workspace), "--db", str(tmp_path / "edge.db"),
                     "--port", str(free_port()))):
        result = nudge(*command, env=env)
        assert result.returncode == 78, result.stderr
        assert "NUDGE_LINK_SECRET" in one_line_refusal(result)


def test_a_post_while_the_broker_is_unreachable_answers_503_with_retry_after(tmp_path: Path) -> None:
    edge = hello(tmp_path, db=tmp_path / "edge.db",
                 env={"NUDGE_KAFKA_BOOTSTRAP": closed_port(), "NUDGE_LINK_SECRET": "s3cret"})
    edge.command = ("api", "--kafka")
    edge.start(healthy=False)
    try:
        code, body = health(edge)
        assert code == 503 and "broker" in body["problems"], body
        with edge.client() as client:  # a deadline, not a measurement: today's hang ends past 30 s
            response = client.post("/v1/events", json=signed_up("c1"), timeout=20)
        assert response.status_code == 503, response.text
        assert int(response.headers["retry-after"]) > 0
        assert "broker" in response.json()["error"]
    finally:
        edge.stop()

"""SPEC §10 against a real `nudge run`: an edit waits for `nudge apply`, exits need --yes, `was:` keeps
customers in place, and `--watch` holds an edit that would exit customers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from tests.e2e.server import ROOT, NudgeServer, workspace_server
from tests.helpers import HI, hello_journey

JOURNEY = hello_journey("1h", wait_id="pause")
RENAMED = JOURNEY.replace("id: pause\n", "id: hold\n")
CLAIMED = JOURNEY.replace("id: pause\n    wait: 1h\n", "id: hold\n    was: pause\n    wait: 1s\n")


def serve(tmp_path: Path, *flags: str) -> NudgeServer:
    srv = workspace_server(tmp_path, journeys={"hello": JOURNEY}, templates={"hi.email.html": HI})
    srv.command = ("run", *flags)
    return srv.start()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NudgeServer]:
    srv = serve(tmp_path)
    yield srv
    srv.stop()


@pytest.fixture
def watching(tmp_path: Path) -> Iterator[NudgeServer]:
    srv = serve(tmp_path, "--watch")
    yield srv
    srv.stop()


def nudge_apply(server: NudgeServer, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine", "apply", "--url", server.url, "--key", server.api_key, *flags],
                          capture_output=True, text=True, cwd=ROOT, timeout=60, env={**os.environ, "COLUMNS": "200"})


def waiting_at(server: NudgeServer, customer: str) -> list[str]:
    with server.client() as c:
        return [j["step"] for j in c.get(f"/v1/customers/{customer}").json()["journeys"]]


def workspace(server: NudgeServer) -> dict[str, Any]:
    with server.client() as c:
        body: dict[str, Any] = c.get("/v1/workspace").json()
    return body


def log(server: NudgeServer) -> str:
    return (server.db.parent / "server.log").read_text()


def exits(server: NudgeServer) -> list[str]:
    return [json.loads(b)["reason"] for (b,) in server.query("SELECT body FROM records WHERE type = 'exited'")]


def one_waiting(server: NudgeServer, customer: str = "c1") -> None:
    server.post({"type": "signed_up", "customer_id": customer, "traits": {"email": f"{customer}@example.com"}})
    server.wait_for(lambda: waiting_at(server, customer) == ["pause"], what=f"{customer} waiting at pause")


def test_a_renamed_step_waits_for_nudge_apply_which_refuses_it_without_yes(server: NudgeServer) -> None:
    one_waiting(server)
    live = workspace(server)["version"]
    (server.workspace / "journeys" / "hello.yaml").write_text(RENAMED)
    server.wait_for(lambda: "files changed on disk" in log(server), what="the watcher to notice the edit")
    status = workspace(server)
    assert (status["version"], status["disk_differs"]) == (live, True)
    assert status["pending"]["plan"]["journeys"][0]["steps"][0]["customers"] == ["c1"]
    health = server.health()
    assert health["status"] == "ok" and health["workspace"]["disk_differs"] is True  # an edit not applied yet is normal
    assert waiting_at(server, "c1") == ["pause"]

    refused = nudge_apply(server)
    assert refused.returncode == 3, refused.stderr
    assert "c1" in refused.stdout and "exit: step_removed" in refused.stdout
    assert "nudge apply --yes" in refused.stderr
    assert waiting_at(server, "c1") == ["pause"] and workspace(server)["version"] == live
    assert "step_removed" not in exits(server)

    (server.workspace / "journeys" / "hello.yaml").write_text(CLAIMED)
    applied = nudge_apply(server, "--reschedule")
    assert applied.returncode == 0, applied.stderr
    assert "move → hold" in applied.stdout and "re-planned" in applied.stdout
    server.wait_for(lambda: any(m["step"] == "later" for m in server.messages()), what="c1's second email")
    assert exits(server) == ["completed"]
    assert workspace(server)["disk_differs"] is False


def test_nudge_apply_yes_exits_the_customers_of_a_removed_step(server: NudgeServer) -> None:
    one_waiting(server)
    (server.workspace / "journeys" / "hello.yaml").write_text(RENAMED)
    dry = nudge_apply(server, "--dry-run")
    assert dry.returncode == 0 and "c1" in dry.stdout and "dry run" in dry.stderr
    assert nudge_apply(server, "--yes").returncode == 0
    assert exits(server) == ["step_removed"]
    assert nudge_apply(server).returncode == 0  # the same files again: nothing to do


def test_nudge_apply_names_the_problems_of_the_files_and_keeps_the_version_running(server: NudgeServer) -> None:
    journey = server.workspace / "journeys" / "hello.yaml"
    journey.write_text(JOURNEY.replace("template: hi", "tempalte: hi", 1))
    result = nudge_apply(server)
    assert result.returncode == 1
    assert "journeys/hello.yaml:6:5: unknown key 'tempalte' (did you mean 'template'?)" in result.stderr
    refused = server.health()["workspace"]["refused"]
    assert refused["outcome"] == "invalid" and "tempalte" in refused["problems"][0]
    journey.write_text(JOURNEY)  # the edit undone: nothing refused is on disk any more
    assert server.health()["workspace"]["refused"] is None


def test_nudge_apply_without_the_key_or_a_server_says_so(server: NudgeServer, tmp_path: Path) -> None:
    denied = subprocess.run([sys.executable, "-m", "engine", "apply", "--url", server.url, "--key", "wrong"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert denied.returncode == 77 and "invalid API key" in denied.stderr
    nobody = subprocess.run([sys.executable, "-m", "engine", "apply", "--url", "http://127.0.0.1:9", "--key", "k"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert nobody.returncode == 69 and "no Nudge server answers at http://127.0.0.1:9" in nobody.stderr


def test_watch_applies_a_harmless_edit_and_holds_one_that_would_exit_customers(watching: NudgeServer) -> None:
    one_waiting(watching)
    (watching.workspace / "journeys" / "hello.yaml").write_text(RENAMED)
    watching.wait_for(lambda: watching.health()["workspace"]["refused"] is not None, what="the edit held")
    health = watching.health()
    assert health["status"] == "warning" and "held" in health["warnings"]["workspace"]
    assert health["workspace"]["refused"]["outcome"] == "refused"
    assert "would exit 1 customer(s)" in log(watching)
    assert waiting_at(watching, "c1") == ["pause"]
    (watching.workspace / "journeys" / "hello.yaml").write_text(CLAIMED)  # `was:` keeps c1: applied as saved
    watching.wait_for(lambda: waiting_at(watching, "c1") == ["hold"], what="c1 moved to hold")
    now = watching.health()["workspace"]
    assert (now["disk_differs"], now["refused"]) == (False, None)
    assert "step_removed" not in exits(watching)


def test_the_api_refuses_an_exiting_apply_with_409_and_problems_with_422(server: NudgeServer) -> None:
    one_waiting(server)
    journey = server.workspace / "journeys" / "hello.yaml"
    with server.client() as c:
        journey.write_text(RENAMED)
        refused = c.post("/v1/workspace/apply", json={})
        assert refused.status_code == 409
        body = refused.json()
        assert body["outcome"] == "refused" and "--yes" in body["error"] and body["plan"]["exit"] == 1
        journey.write_text(JOURNEY.replace("wait: 1h", "wait: soon"))
        invalid = c.post("/v1/workspace/apply", json={"confirm": True})
        assert invalid.status_code == 422 and invalid.json()["problems"][0].startswith("journeys/hello.yaml:8:11: ")
        assert c.post("/v1/workspace/apply", json={"confirm": "perhaps"}).status_code == 422
        assert httpx.post(server.url + "/v1/workspace/apply", json={}).status_code == 401


def test_a_restart_on_files_that_would_exit_customers_is_refused_and_was_lets_it_start(server: NudgeServer) -> None:
    one_waiting(server)
    server.stop()
    (server.workspace / "journeys" / "hello.yaml").write_text(RENAMED)
    with pytest.raises(RuntimeError, match=r"would exit 1 customer\(s\) with step_removed \(hello: pause\)"):
        server.start()
    assert server.process is not None and server.process.returncode == 78
    (server.workspace / "journeys" / "hello.yaml").write_text(CLAIMED)
    server.start()
    assert waiting_at(server, "c1") == ["hold"]
    assert "changed while stopped" in log(server)

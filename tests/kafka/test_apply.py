"""SPEC §10 on Kafka: `nudge apply` to `nudge api --kafka` plans from the workers' customers, is refused
without --yes when they would exit, and with `was:` the workers keep them in place and send their message;
a worker restarted on files edited but not applied runs the applied version, from its snapshot."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

from engine.runtimes.kafka.snapshots import LIMIT
from engine.runtimes.kernel.serving import content_version
from engine.testing import email, write_workspace
from tests.e2e.server import ROOT, NudgeServer
from tests.kafka.test_worker import edge_beside, start_worker

SLOW = ("id: slow\ntrigger: {event: signed_up}\nsteps:\n  - id: greet\n    send: email\n    template: hi\n"
        "  - id: hold\n    wait: 1h\n  - id: after\n    send: email\n    template: hi\n")
RENAMED = SLOW.replace("id: hold\n", "id: pause\n")
HELD = ("id: slow\ntrigger: {event: signed_up}\nsteps:\n  - id: greet\n    send: email\n    template: hi\n"
        "  - id: hold\n    wait_for: {event: clicked, timeout: 1h}\n  - id: middle\n    send: email\n    template: hi\n"
        "  - id: rest\n    wait: 1h\n  - id: after\n    send: email\n    template: hi\n")
SHORTENED = HELD.replace("  - id: hold\n    wait_for: {event: clicked, timeout: 1h}\n", "").replace(
    "  - id: rest\n    wait: 1h\n", "")
CLAIMED = SLOW.replace("id: hold\n    wait: 1h\n", "id: pause\n    was: hold\n    wait: 1s\n")


def nudge_apply(edge: NudgeServer, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine", "apply", "--url", edge.url, "--key", edge.api_key, *flags],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, env={**os.environ, "COLUMNS": "200"})


def steps(edge: NudgeServer, customer: str) -> list[str]:
    with edge.client() as c:
        response = c.get(f"/v1/customers/{customer}")
    return [j["step"] for j in response.json()["journeys"]] if response.status_code == 200 else []


def test_an_apply_through_the_kafka_edge_is_refused_without_yes_and_was_keeps_customers(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", journeys={"slow": SLOW}, templates={"hi.email.html": email("Hi")})
    app_id = f"a{uuid.uuid4().hex[:8]}"
    (tmp_path / "w").mkdir()
    worker = start_worker(ws, kafka_bootstrap, app_id, tmp_path / "w", tmp_path / "w.log")
    with edge_beside(ws, tmp_path, kafka_bootstrap, app_id, [worker]) as edge:
        for n in range(2):
            assert edge.post({"type": "signed_up", "customer_id": f"k{n}",
                              "traits": {"email": f"k{n}@example.com"}}).status_code == 202
        edge.wait_for(lambda: all(steps(edge, f"k{n}") == ["hold"] for n in range(2)), timeout=90,
                      what="both customers waiting at hold, in the edge's mirror")

        (ws / "journeys" / "slow.yaml").write_text(RENAMED)
        refused = nudge_apply(edge)
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert "k0, k1" in refused.stdout and "nudge apply --yes" in refused.stderr

        (ws / "journeys" / "slow.yaml").write_text(CLAIMED)
        applied = nudge_apply(edge, "--reschedule")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert "move → pause" in applied.stdout
        edge.wait_for(lambda: sorted(m["customer_id"] for m in edge.messages() if m["step"] == "after") == ["k0", "k1"],
                      timeout=90, what="both customers' second email")
        edge.wait_for(lambda: edge.query("SELECT COUNT(*) FROM records WHERE type = 'exited'") == [(2,)],
                      what="both exits recorded")
        reasons = [json.loads(b)["reason"] for (b,) in edge.query("SELECT body FROM records WHERE type = 'exited'")]
        assert reasons == ["completed", "completed"]
        assert httpx.get(edge.url + "/healthz").json()["workspace"]["disk_differs"] is False


def edit(ws: Path, journey: str, subject: str) -> str:
    """The files rewritten (the journey and its template's subject); returns their version."""
    (ws / "journeys" / "slow.yaml").write_text(journey)
    (ws / "templates" / "hi.email.html").write_text(email(subject))
    return content_version(ws)


def subjects(edge: NudgeServer, step: str) -> list[tuple[str, str]]:
    return sorted((m["customer_id"], m["subject"]) for m in edge.messages() if m["step"] == step)


def workspace_status(edge: NudgeServer) -> dict[str, Any]:
    with edge.client() as c:
        body: dict[str, Any] = c.get("/v1/workspace").json()
    return body


def test_a_worker_restarted_on_files_not_applied_runs_the_applied_version_until_they_are_applied(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", journeys={"slow": SLOW}, templates={"hi.email.html": email("Hi")})
    app_id = f"r{uuid.uuid4().hex[:8]}"
    (tmp_path / "w").mkdir()
    first = start_worker(ws, kafka_bootstrap, app_id, tmp_path / "w", tmp_path / "w1.log")
    workers = [first]
    with edge_beside(ws, tmp_path, kafka_bootstrap, app_id, workers) as edge:
        applied = edit(ws, HELD, "From A")
        done = nudge_apply(edge)
        assert done.returncode == 0, done.stdout + done.stderr
        for n in range(2):
            assert edge.post({"type": "signed_up", "customer_id": f"k{n}",
                              "traits": {"email": f"k{n}@example.com"}}).status_code == 202
        edge.wait_for(lambda: all(steps(edge, f"k{n}") == ["hold"] for n in range(2)), timeout=90,
                      what="both customers waiting at hold, in the edge's mirror")
        assert subjects(edge, "greet") == [("k0", "From A"), ("k1", "From A")]

        unapplied = edit(ws, SHORTENED, "From B")  # `hold`, where they wait, is gone: not applied
        first.kill()
        first.wait()
        workers.append(start_worker(ws, kafka_bootstrap, app_id, tmp_path / "w", tmp_path / "w2.log"))
        for n in range(2):
            assert edge.post({"type": "clicked", "customer_id": f"k{n}"}).status_code == 202
        edge.wait_for(lambda: len(subjects(edge, "middle")) == 2, timeout=120, what="both customers' middle email")
        assert subjects(edge, "middle") == [("k0", "From A"), ("k1", "From A")]
        edge.wait_for(lambda: all(steps(edge, f"k{n}") == ["rest"] for n in range(2)), what="both waiting at rest")
        assert edge.query("SELECT COUNT(*) FROM records WHERE type = 'exited'") == [(0,)]
        assert f"run the applied version {applied}" in (tmp_path / "w2.log").read_text()

        edge.restart()  # the API too starts on the files not applied, and tells the version the workers run
        edge.wait_for(lambda: workspace_status(edge)["version"] == applied, what="the edge's live version")
        status = workspace_status(edge)
        assert (status["disk_version"], status["disk_differs"]) == (unapplied, True)

        refused = nudge_apply(edge)
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert "k0, k1" in refused.stdout
        confirmed = nudge_apply(edge, "--yes")
        assert confirmed.returncode == 0, confirmed.stdout + confirmed.stderr
        edge.wait_for(lambda: edge.query("SELECT COUNT(*) FROM records WHERE type = 'exited'") == [(2,)],
                      timeout=60, what="both exits recorded")
        reasons = [json.loads(b)["reason"] for (b,) in edge.query("SELECT body FROM records WHERE type = 'exited'")]
        assert reasons == ["step_removed", "step_removed"]
        assert workspace_status(edge)["version"] == unapplied


def test_an_apply_whose_files_are_too_large_for_the_broker_is_refused_with_their_size(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", journeys={"slow": SLOW}, templates={"hi.email.html": email("Hi")})
    with edge_beside(ws, tmp_path, kafka_bootstrap, f"s{uuid.uuid4().hex[:8]}") as edge:
        edge.wait_for(lambda: workspace_status(edge)["version"] == content_version(ws), what="the edge's version")
        (ws / "templates" / "banner.txt").write_text(base64.b64encode(os.urandom(LIMIT + 100_000)).decode())
        refused = nudge_apply(edge, "--yes")
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "bytes compressed, more than the 1,000,000" in refused.stderr
        assert workspace_status(edge)["version"] != content_version(ws)

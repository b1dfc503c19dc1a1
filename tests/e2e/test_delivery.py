"""Delivery under a misbehaving provider, on a real `nudge run` with the official SendGrid client and its fake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from connectors.fakes.sendgrid import SendGridFake
from connectors.fakes.sendgrid import create_app as sendgrid_app
from connectors.fakes.server import FakeServer
from engine.testing import journey_yaml, send_step
from tests.e2e.server import ROOT, NudgeServer, workspace_server
from tests.helpers import HI

SETTINGS = """\
channels:
  email: {provider: sendgrid}
sender:
  email: "Shop <hello@shop.example>"
  postal_address: 1 Main St"""


@pytest.fixture
def sendgrid() -> Iterator[tuple[SendGridFake, str]]:
    fake = SendGridFake(api_key="SG.test")
    with FakeServer(sendgrid_app(fake)) as url:
        yield fake, url
        fake.faults.release()


def server_for(tmp_path: Path, url: str, **env: str) -> NudgeServer:
    """`nudge run` sending one email on each signed_up, through the fake."""
    server = workspace_server(tmp_path, settings=SETTINGS, journeys={"hello": journey_yaml(
        "hello", "{event: signed_up}", send_step("greet", "hi"))}, templates={"hi.email.html": HI})
    server.env = {"SENDGRID_API_KEY": "SG.test", "NUDGE_SENDGRID_BASE_URL": url, **env}
    return server


def signup(customer: str) -> dict[str, Any]:
    return {"type": "signed_up", "customer_id": customer, "traits": {"email": f"{customer}@example.com"}}


def statuses(server: NudgeServer) -> dict[str, str]:
    """message id -> status."""
    return dict(server.query("SELECT id, status FROM outbox"))  # type: ignore[arg-type]


def sent_ids(fake: SendGridFake) -> list[str]:
    return [m.payload["custom_args"]["message_id"] for m in fake.messages]


def test_a_hanging_provider_holds_up_neither_events_nor_health(tmp_path: Path,
                                                               sendgrid: tuple[SendGridFake, str]) -> None:
    fake, url = sendgrid
    server = server_for(tmp_path, url, NUDGE_PROVIDER_TIMEOUT="100").start()
    try:
        fake.faults.hang(seconds=300, times=100)
        for n in range(20):
            assert server.post(signup(f"c{n}")).status_code == 202
        server.wait_for(lambda: fake.faults.stalled >= 6, what="six hand-offs hanging (as many as asyncio's threads)")
        with server.client() as client:
            posted = client.post("/v1/events", json=signup("late"), timeout=60)
            health = client.get("/healthz", timeout=60)
        assert posted.status_code == 202 and health.status_code == 200
        assert fake.faults.abandoned == 0  # answered while the provider still hangs: no hand-off has given up yet
    finally:
        fake.faults.release()
        server.stop()


def test_sigterm_lets_hand_offs_in_flight_finish_and_records_them(tmp_path: Path,
                                                                  sendgrid: tuple[SendGridFake, str]) -> None:
    fake, url = sendgrid
    server = server_for(tmp_path, url, NUDGE_PROVIDER_TIMEOUT="30").start()
    try:
        fake.faults.hang(seconds=1.5, times=100)
        for n in range(20):
            server.post(signup(f"c{n}"))
        server.wait_for(lambda: fake.faults.stalled >= 1, what="hand-offs in flight")
        assert server.process is not None
        server.process.terminate()
        server.process.wait(timeout=60)
    finally:
        server.stop()
    at_sendgrid = set(sent_ids(fake))
    outbox = statuses(server)
    assert at_sendgrid and at_sendgrid == {m for m, s in outbox.items() if s == "sent"}
    assert set(outbox.values()) <= {"sent", "pending"}  # nothing left sending, so nothing in doubt at the next start


def nudge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_an_operator_resolves_and_requeues_on_a_running_server_and_it_acts_at_once(
        tmp_path: Path, sendgrid: tuple[SendGridFake, str]) -> None:
    fake, url = sendgrid
    server = server_for(tmp_path, url, NUDGE_PROVIDER_TIMEOUT="0.3").start()
    try:
        fake.faults.hang(seconds=1.0)
        server.post(signup("c1"))
        server.wait_for(lambda: "in_doubt" in statuses(server).values(), what="the timed-out hand-off in doubt")
        server.wait_for(lambda: len(fake.messages) == 1, what="SendGrid accepting it after the stall")
        [doubtful] = statuses(server)
        assert doubtful in nudge("outbox", "--db", str(server.db), "--in-doubt").stdout  # reading works beside it
        assert nudge("outbox", "--db", str(server.db), "--resolve", doubtful, "--as", "resend").returncode == 75
        assert httpx.post(server.url + "/v1/outbox/resolve", json={"as": "resend", "all": True}).status_code == 401
        with server.client() as client:
            answer = client.post("/v1/outbox/resolve", json={"as": "resend", "ids": [doubtful]}).json()
            assert answer == {"resolved": [doubtful], "as": "resend"}
            server.wait_for(lambda: len(fake.messages) == 2, what="the resend, with no other message to wake it")

            fake.faults.error(status=400)
            server.post(signup("c2"))
            server.wait_for(lambda: "dead" in statuses(server).values(), what="a refused message")
            [dead] = [m for m, s in statuses(server).items() if s == "dead"]
            assert httpx.get(server.url + "/v1/outbox?status=dead").status_code == 401
            listed = client.get("/v1/outbox", params={"status": "dead"}).json()["messages"]
            assert [m["id"] for m in listed] == [dead] and "400" in listed[0]["error"]
            assert client.post("/v1/outbox/requeue", json={}).status_code == 422  # ids, reason or all: never by accident
            assert client.post("/v1/outbox/requeue", json={"ids": [dead]}).json() == {"requeued": [dead]}
            server.wait_for(lambda: statuses(server)[dead] == "sent", what="the re-queued message sent")

            fake.faults.hang(seconds=1.0)
            server.post(signup("c3"))
            server.wait_for(lambda: "in_doubt" in statuses(server).values(), what="another hand-off in doubt")
            answer = client.post("/v1/outbox/resolve", json={"as": "sent", "all": True}).json()
            assert answer["as"] == "sent" and len(answer["resolved"]) == 1
        assert set(statuses(server).values()) == {"sent"}
        server.wait_for(lambda: len(fake.messages) == 4, what="the third customer's email accepted after its stall")
        assert sorted(set(sent_ids(fake))) == sorted(statuses(server))
    finally:
        server.stop()

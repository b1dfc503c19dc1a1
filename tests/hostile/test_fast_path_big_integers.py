"""A real `nudge run` refuses an integer beyond 64 bits (SPEC §8) alone, where it used to keep it as a rounded float:
on POST /v1/events and on the Segment batch route alike."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.server import NudgeServer, workspace_server
from tests.helpers import HI, hello_journey

WRITE_KEY = "wk_site"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NudgeServer]:
    srv = workspace_server(tmp_path_factory.mktemp("big"), journeys={"hello": hello_journey("1h")},
                           templates={"hi.email.html": HI}, env={"NUDGE_WRITE_KEYS": WRITE_KEY}).start()
    yield srv
    srv.stop()


def test_an_integer_beyond_64_bits_is_refused_naming_its_field_and_its_neighbours_are_accepted(server: NudgeServer) -> None:
    body = ('[{"type": "signed_up", "customer_id": "big", "properties": {"n": 18446744073709551616}},'
            ' {"type": "signed_up", "customer_id": "small", "properties": {"n": -9223372036854775809}},'
            ' {"type": "signed_up", "customer_id": "fine", "properties": {"n": 1.8446744073709552e19}}]')
    with server.client() as c:
        response = c.post("/v1/events", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 202, response.text
    assert [(r["index"], r["field"]) for r in response.json()["rejected"]] == [(0, "properties.n"), (1, "properties.n")]
    assert "2^53" in response.json()["rejected"][0]["reason"]
    assert response.json()["accepted"] == 1


def test_a_segment_message_with_an_integer_beyond_64_bits_is_refused_alone(server: NudgeServer) -> None:
    body = ('{"batch": [{"type": "track", "userId": "u1", "event": "Big", "properties": {"n": 18446744073709551616}},'
            ' {"type": "track", "userId": "u2", "event": "Fine", "properties": {"n": 2}}]}')
    with server.client() as c:
        response = c.post("/v1/batch", content=body, auth=(WRITE_KEY, ""), headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert [(r["index"], r["field"]) for r in response.json()["rejected"]] == [(0, "properties.n")]

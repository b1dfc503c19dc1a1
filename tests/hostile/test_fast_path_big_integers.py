"""A real `nudge run` refuses an integer beyond 64 bits (SPEC §8) alone, where it used to keep it as a rounded float."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.server import workspace_server
from tests.helpers import HI, hello_journey


def test_an_integer_beyond_64_bits_is_refused_naming_its_field_and_its_neighbours_are_accepted(tmp_path: Path) -> None:
    server = workspace_server(tmp_path, journeys={"hello": hello_journey("1h")}, templates={"hi.email.html": HI}).start()
    try:
        body = ('[{"type": "signed_up", "customer_id": "big", "properties": {"n": 18446744073709551616}},'
                ' {"type": "signed_up", "customer_id": "small", "properties": {"n": -9223372036854775809}},'
                ' {"type": "signed_up", "customer_id": "fine", "properties": {"n": 1.8446744073709552e19}}]')
        with server.client() as c:
            response = c.post("/v1/events", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 202, response.text
        assert [(r["index"], r["field"]) for r in response.json()["rejected"]] == [(0, "properties.n"), (1, "properties.n")]
        assert "2^53" in response.json()["rejected"][0]["reason"]
        assert response.json()["accepted"] == 1
    finally:
        server.stop()

"""SPEC §8 at the boundary of a real `nudge run`: refused events answer 422 naming the field and the limit,
customer routes take an id exactly as sent, and no customer id can reach an anonymous profile."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.e2e.server import NudgeServer, workspace_server
from tests.helpers import HI, hello_journey


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NudgeServer]:
    """`hello` (an email, a 1 h wait, another); events may be dated up to 1 h after their receipt."""
    srv = workspace_server(tmp_path_factory.mktemp("limits"), settings="future_skew: 1h",
                           journeys={"hello": hello_journey("1h")}, templates={"hi.email.html": HI}).start()
    yield srv
    srv.stop()


def now(offset: timedelta = timedelta(0)) -> str:
    return (datetime.now(timezone.utc) + offset).isoformat().replace("+00:00", "Z")


def signed_up(customer: str, **fields: Any) -> dict[str, Any]:
    return {"type": "signed_up", "customer_id": customer, "traits": {"email": f"{customer}@example.com"}, **fields}


def known(server: NudgeServer, customer: str) -> bool:
    with server.client() as c:
        return c.get(f"/v1/customers/{customer}").status_code == 200


def test_a_refused_event_answers_422_naming_the_field_and_the_limit(server: NudgeServer) -> None:
    batch = [
        signed_up("big", traits={"points": 18446744073709551615}),
        signed_up("deep", properties={"x": json.loads("[" * 33 + "]" * 33)}),
        signed_up("long", properties={"note": "a" * 16385}),
        signed_up("a/b"),
        signed_up("ctl\u0007"),
        signed_up("inject", traits={"email": "a@b.c\r\nBcc: x@y"}),
        signed_up("many", traits={"email": "attacker@x, v1@y"}),
        signed_up("mars", traits={"timezone": "Mars/Olympus"}),
        signed_up("far", timestamp="2099-01-01T00:00:00Z"),
        signed_up("old", timestamp="1969-12-31T23:59:59Z"),
    ]
    response = server.post(batch)
    assert response.status_code == 422, response.text
    refused = {r["index"]: (r["field"], r["reason"]) for r in response.json()["rejected"]}
    assert {i: field for i, (field, _) in refused.items()} == {
        0: "traits.points", 1: "properties.x" + ".0" * 32, 2: "properties.note", 3: "customer_id", 4: "customer_id",
        5: "traits.email", 6: "traits.email", 7: "traits.timezone", 8: "timestamp", 9: "timestamp"}
    assert "2^53" in refused[0][1] and "32 levels" in refused[1][1] and "16 KiB" in refused[2][1]
    assert "future_skew (1h)" in refused[8][1] and "1970-9998" in refused[9][1]


def test_an_event_within_the_workspaces_future_skew_is_accepted_and_the_engine_goes_on(server: NudgeServer) -> None:
    response = server.post([signed_up("soon", timestamp=now(timedelta(minutes=30))),
                            signed_up("later", timestamp=now(timedelta(hours=2))),
                            signed_up("fine", traits={"email": "  fine@example.com ", "points": 2**53 - 1})])
    assert response.status_code == 202, response.text
    assert [(r["index"], r["field"]) for r in response.json()["rejected"]] == [(1, "timestamp")]
    server.wait_for(lambda: known(server, "fine") and known(server, "soon"), what="both customers")
    with server.client() as c:
        assert c.get("/v1/customers/fine").json()["traits"]["email"] == "fine@example.com"
        assert c.get("/v1/customers/later").status_code == 404


@pytest.mark.parametrize("path", ["a/b", "a%2Fb", "victim%2F", "ann%0A", "ann%0D%0A", "%00", "anon:zzz", "x" * 201, ""])
def test_customer_routes_refuse_an_id_no_customer_can_have(server: NudgeServer, path: str) -> None:
    with server.client() as c:
        for method in ("GET", "DELETE"):
            response = c.request(method, f"/v1/customers/{path}")
            assert response.status_code == 422, (method, response.status_code, response.text)
            assert response.json()["field"] == "customer_id"


def test_deleting_victim_slash_does_not_erase_victim(server: NudgeServer) -> None:
    assert server.post(signed_up("victim")).status_code == 202
    server.wait_for(lambda: known(server, "victim"), what="victim's profile")
    with server.client() as c:
        c.follow_redirects = True  # as curl -L or a browser would
        assert c.delete("/v1/customers/victim%2F").status_code == 422
        assert c.delete("/v1/customers/victim/").status_code == 422
        assert c.delete("/v1/customers/victim%0A").status_code == 422  # a route's `$` would drop the newline
        assert c.delete("/v1/customers/victim2").status_code == 404
        assert c.get("/v1/customers/victim").status_code == 200
        assert c.delete("/v1/customers/victim").json() == {"erased": "victim"}
        assert c.get("/v1/customers/victim").status_code == 404


def test_a_customer_id_can_never_share_an_anonymous_visitors_profile(server: NudgeServer) -> None:
    visitor = {"type": "page_viewed", "anonymous_id": "zzz", "traits": {"first_name": "Visitor"}}
    assert server.post(visitor).status_code == 202
    server.wait_for(lambda: server.query("SELECT 1 FROM customers WHERE key = 'anon:zzz'") != [], what="the visitor")
    response = server.post({"type": "signed_up", "customer_id": "anon:zzz", "traits": {"email": "attacker@example.com"}})
    assert response.status_code == 422
    assert response.json()["rejected"][0]["field"] == "customer_id" and "anon:" in response.json()["rejected"][0]["reason"]
    [(state,)] = server.query("SELECT state FROM customers WHERE key = 'anon:zzz'")
    assert json.loads(state)["traits"] == {"first_name": "Visitor"}
    with server.client() as c:
        assert c.delete("/v1/customers/anon:zzz").status_code == 422
    assert server.query("SELECT 1 FROM customers WHERE key = 'anon:zzz'") != []


def test_the_log_keeps_no_trace_of_a_refused_event(server: NudgeServer, tmp_path: Path) -> None:
    assert server.post(signed_up("ghost", traits={"phone": "555-0100"})).status_code == 422
    assert server.query("SELECT COUNT(*) FROM events WHERE body LIKE '%ghost%'") == [(0,)]

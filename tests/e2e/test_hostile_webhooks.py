"""Provider webhooks of a real `nudge run` under hostile input: huge bodies, replays, malformed items."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from connectors.fakes.sendgrid import SendGridFake
from connectors.fakes.twilio import TwilioFake
from connectors.webhooks.sendgrid_events import P256_ORDER, SIGNATURE_HEADER
from tests.e2e.server import NudgeServer, workspace_server
from tests.helpers import HI, hello_journey

SENDGRID = "/v1/providers/sendgrid/events"
TWILIO = "/v1/providers/twilio/inbound"
BIG = 2 * 1024 * 1024


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[NudgeServer, SendGridFake, TwilioFake]]:
    sendgrid, twilio = SendGridFake(), TwilioFake()
    server = workspace_server(tmp_path, journeys={"hello": hello_journey()}, templates={"hi.email.html": HI})
    server.env = {"SENDGRID_WEBHOOK_PUBLIC_KEY": sendgrid.public_key, "TWILIO_AUTH_TOKEN": twilio.auth_token,
                  "NUDGE_PUBLIC_URL": server.url}
    yield server.start(), sendgrid, twilio
    server.stop()


def chunks(total: int) -> Iterator[bytes]:
    """A streamed body with no Content-Length: the server has to count as it reads."""
    for _ in range(total // 65536):
        yield b"x" * 65536


def status_of_stream(url: str) -> int:
    try:
        return httpx.post(url, content=chunks(BIG), timeout=30).status_code
    except httpx.TransportError:  # the server answered 413 and closed while the client was still sending
        return 413


def test_provider_webhooks_refuse_a_huge_body_before_checking_its_signature(
        world: tuple[NudgeServer, SendGridFake, TwilioFake]) -> None:
    server, _, twilio = world
    assert httpx.post(server.url + SENDGRID, content=b"[" + b" " * BIG + b"]", timeout=30).status_code == 413
    assert status_of_stream(server.url + SENDGRID) == 413
    form = twilio.inbound(server.url + TWILIO, "+15550000001", "+15550100000", "x" * 100_000)
    assert form.post().status_code == 413
    assert status_of_stream(server.url + TWILIO) == 413
    assert server.health()["status"] == "ok"


def test_one_malformed_item_in_a_signed_sendgrid_batch_does_not_refuse_the_others(
        world: tuple[NudgeServer, SendGridFake, TwilioFake]) -> None:
    server, sendgrid, _ = world
    good = {"event": "open", "customer_id": "c1", "email": "ann@example.com", "timestamp": 1_800_000_000,
            "sg_message_id": "m1"}
    body, headers = sendgrid.signed_event_post([good, {**good, "timestamp": "yesterday"}, 7])
    response = httpx.post(server.url + SENDGRID, content=body, headers=headers, timeout=10)
    assert (response.status_code, response.json()) == (200, {"accepted": 1, "unattributed": 0, "refused": 2})


def test_a_replayed_sendgrid_post_is_refused_re_encoded_and_after_a_restart(
        world: tuple[NudgeServer, SendGridFake, TwilioFake]) -> None:
    server, sendgrid, _ = world
    item = {"event": "open", "customer_id": "c1", "email": "ann@example.com", "timestamp": 1_800_000_000}
    body, headers = sendgrid.signed_event_post([item])
    r, s = decode_dss_signature(base64.b64decode(headers[SIGNATURE_HEADER]))
    twin = {**headers, SIGNATURE_HEADER: base64.b64encode(encode_dss_signature(r, P256_ORDER - s)).decode()}

    def post(with_headers: dict[str, str]) -> httpx.Response:
        return httpx.post(server.url + SENDGRID, content=body, headers=with_headers, timeout=10)

    assert post(headers).status_code == 200
    refused = post(twin)
    assert refused.status_code == 401 and "replay" in json.loads(refused.content)["error"]
    server.restart()
    assert post(headers).status_code == 401


def test_an_integer_beyond_64_bits_in_a_signed_sendgrid_item_refuses_that_item_instead_of_rounding_it(
        world: tuple[NudgeServer, SendGridFake, TwilioFake]) -> None:
    """A custom argument SendGrid echoes back (`message_id`) written as 18446744073709551616 is kept exact and
    refused by the SPEC §8 integer limit, as on `POST /v1/events`, not read as the float 1.8446744073709552e19."""
    server, sendgrid, _ = world
    good = {"event": "open", "customer_id": "c1", "email": "ann@example.com", "timestamp": 1_800_000_000,
            "sg_message_id": "m1"}
    body, headers = sendgrid.signed_event_post([{**good, "message_id": 2**64}])  # json writes ints exactly
    response = httpx.post(server.url + SENDGRID, content=body, headers=headers, timeout=10)
    assert (response.status_code, response.json()) == (200, {"accepted": 0, "unattributed": 0, "refused": 1})

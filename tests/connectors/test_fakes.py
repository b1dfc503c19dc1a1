"""The SendGrid and Twilio fakes, driven by the official client libraries over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from typing import Any, Callable, Iterator
from urllib.error import URLError

import httpx
import pytest
import requests
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.mail import Category, CustomArg, Header, Mail
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from connectors.fakes.sendgrid import SIGNATURE_HEADER, TIMESTAMP_HEADER, SendGridFake
from connectors.fakes.sendgrid import create_app as sendgrid_app
from connectors.fakes.server import FakeServer
from connectors.fakes.twilio import TwilioFake
from connectors.fakes.twilio import create_app as twilio_app
from connectors.webhooks.sendgrid_events import SendGridVerifier

KEY = "SG.test-key"
FROM_NUMBER = "+15005550006"
ANN = "+447700900123"


def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Bounded poll for something the server's thread does after the client has given up."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def sendgrid() -> Iterator[tuple[SendGridFake, str]]:
    fake = SendGridFake(api_key=KEY)
    with FakeServer(sendgrid_app(fake)) as url:
        yield fake, url


@pytest.fixture
def twilio() -> Iterator[tuple[TwilioFake, Client]]:
    fake = TwilioFake()
    with FakeServer(twilio_app(fake)) as url:
        client = Client(fake.account_sid, fake.auth_token, http_client=TwilioHttpClient(timeout=5))
        client.api.base_url = url
        yield fake, client


class Receiver:
    """A webhook endpoint that keeps what arrived, raw."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, bytes, dict[str, str]]] = []

    async def receive(self, request: Request) -> Response:
        self.requests.append((str(request.url), await request.body(), dict(request.headers)))
        return Response(status_code=200)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    hook = Receiver()
    with FakeServer(Starlette(routes=[Route("/hook", hook.receive, methods=["POST"])])) as url:
        yield hook, url + "/hook"


def welcome(to: str = "ann@example.com") -> Mail:
    mail = Mail(from_email=("shop@example.com", "Shop"), to_emails=to, subject="Welcome, Ann",
                plain_text_content="Hello", html_content="<p>Hello</p>")
    mail.add_custom_arg(CustomArg("message_id", "msg_1"))
    mail.add_custom_arg(CustomArg("journey", "welcome"))
    mail.add_category(Category("welcome"))
    mail.add_header(Header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    return mail


def sendgrid_client(url: str, key: str = KEY, timeout: float = 5) -> SendGridAPIClient:
    client = SendGridAPIClient(api_key=key, host=url)
    client.client.timeout = timeout
    return client


def refusal(call: Callable[[], Any]) -> HTTPError:
    with pytest.raises(HTTPError) as caught:
        call()
    return caught.value


# SendGrid


def test_the_official_client_sends_and_the_fake_keeps_the_whole_request(sendgrid: tuple[SendGridFake, str]) -> None:
    fake, url = sendgrid
    mail = welcome()
    response = sendgrid_client(url).send(mail)
    assert response.status_code == 202 and response.body == b""
    [sent] = fake.messages
    assert response.headers["X-Message-Id"] == sent.message_id and len(sent.message_id) == 22
    assert sent.payload == mail.get()
    assert sent.payload["custom_args"] == {"message_id": "msg_1", "journey": "welcome"}
    assert sent.payload["categories"] == ["welcome"] and sent.recipients() == ["ann@example.com"]
    demo = httpx.get(url + "/_fake/messages").json()
    assert demo == [{"message_id": sent.message_id, "payload": sent.payload}]


def test_a_wrong_key_is_refused_with_sendgrids_error_body(sendgrid: tuple[SendGridFake, str]) -> None:
    fake, url = sendgrid
    error = refusal(lambda: sendgrid_client(url, key="SG.wrong").send(welcome()))
    assert error.status_code == 401
    assert json.loads(error.body) == {"errors": [{
        "message": "The provided authorization grant is invalid, expired, or revoked", "field": None, "help": None}]}
    missing = httpx.post(url + "/v3/mail/send", json=welcome().get())
    assert missing.status_code == 401 and missing.json()["errors"][0]["message"] == "authorization required"
    assert fake.messages == []


def test_every_shape_error_is_reported_with_its_field(sendgrid: tuple[SendGridFake, str]) -> None:
    fake, url = sendgrid
    bad = {"personalizations": [{"to": [{"email": "ann@example.com"}, {"email": "nope"}]}],
           "content": [{"type": "text/html", "value": "<p>x</p>"}, {"type": "text/plain", "value": ""}],
           "headers": {"From": "evil@example.com"}, "custom_args": {"step": 3}}
    answer = httpx.post(url + "/v3/mail/send", json=bad, headers={"Authorization": f"Bearer {KEY}"})
    assert answer.status_code == 400
    fields = {e["field"] for e in answer.json()["errors"]}
    assert fields == {"personalizations.0.to.1.email", "from.email", "subject", "content.1.value", "content.1.type",
                      "headers", "custom_args.step"}
    empty = httpx.post(url + "/v3/mail/send", json={}, headers={"Authorization": f"Bearer {KEY}"})
    assert {e["field"] for e in empty.json()["errors"]} == {"personalizations", "from.email", "subject", "content"}
    assert fake.messages == []


def test_the_official_client_sees_a_bad_address_as_a_400(sendgrid: tuple[SendGridFake, str]) -> None:
    _, url = sendgrid
    error = refusal(lambda: sendgrid_client(url).send(welcome(to="ann@example")))
    assert error.status_code == 400
    assert json.loads(error.body)["errors"][0]["field"] == "personalizations.0.to.0.email"


def test_a_template_id_stands_in_for_subject_and_content(sendgrid: tuple[SendGridFake, str]) -> None:
    fake, url = sendgrid
    mail = Mail(from_email="shop@example.com", to_emails="ann@example.com")
    mail.template_id = "d-0123456789abcdef"
    assert sendgrid_client(url).send(mail).status_code == 202
    assert fake.messages[0].payload["template_id"] == "d-0123456789abcdef"


def test_injected_429s_carry_both_rate_limit_headers_then_sending_resumes(sendgrid: tuple[SendGridFake, str]) -> None:
    fake, url = sendgrid
    fake.faults.rate_limit(times=2, seconds=3)
    client = sendgrid_client(url)
    for _ in range(2):
        error = refusal(lambda: client.send(welcome()))
        assert error.status_code == 429 and error.headers["Retry-After"] == "3"
        assert 0 <= int(error.headers["X-RateLimit-Reset"]) - time.time() <= 4
    assert client.send(welcome()).status_code == 202
    assert len(fake.messages) == 1


def test_an_injected_500_is_not_recorded(sendgrid: tuple[SendGridFake, str]) -> None:
    fake, url = sendgrid
    fake.faults.error(status=500)
    error = refusal(lambda: sendgrid_client(url).send(welcome()))
    assert error.status_code == 500 and "errors" in json.loads(error.body)
    assert fake.messages == []


def test_a_hang_times_the_client_out_yet_the_mail_is_accepted(sendgrid: tuple[SendGridFake, str]) -> None:
    fake, url = sendgrid
    fake.faults.hang(seconds=0.6)
    with pytest.raises((URLError, socket.timeout, TimeoutError)):
        sendgrid_client(url, timeout=0.2).send(welcome())
    eventually(lambda: len(fake.messages) == 1)  # in doubt: the sender cannot know it went


def test_faults_can_be_injected_over_http_for_demos(sendgrid: tuple[SendGridFake, str]) -> None:
    _, url = sendgrid
    assert httpx.post(url + "/_fake/faults", json={"kind": "error", "status": 503}).status_code == 204
    assert refusal(lambda: sendgrid_client(url).send(welcome())).status_code == 503
    assert httpx.post(url + "/_fake/faults", json={"kind": "explode"}).status_code == 400


def test_signed_events_verify_with_the_sendgrid_library_and_a_tampered_body_does_not(
        sendgrid: tuple[SendGridFake, str]) -> None:
    fake, url = sendgrid
    sendgrid_client(url).send(welcome())
    events = fake.events_for(fake.messages[0], "click", url="https://shop.example/café")
    assert events[0]["message_id"] == "msg_1" and events[0]["journey"] == "welcome"
    assert events[0]["sg_message_id"].startswith(fake.messages[0].message_id + ".")
    body, headers = fake.signed_event_post(events)
    signature, timestamp = headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER]
    webhook = EventWebhook(fake.public_key)
    assert webhook.verify_signature(body.decode(), signature, timestamp)
    assert not webhook.verify_signature(body.decode().replace("click", "open"), signature, timestamp)
    assert not webhook.verify_signature(body.decode(), signature, str(int(timestamp) + 1))
    assert SendGridVerifier(fake.public_key).check(body, signature, timestamp, now=time.time()) is None


def test_events_are_posted_raw_and_signed_to_the_webhook(sendgrid: tuple[SendGridFake, str],
                                                         receiver: tuple[Receiver, str]) -> None:
    fake, url = sendgrid
    hook, hook_url = receiver
    sendgrid_client(url).send(welcome())
    fake.webhook_url = hook_url
    assert fake.post_events(fake.events_for(fake.messages[0], "delivered")).status_code == 200
    assert httpx.post(url + "/_fake/events", json={"message_id": fake.messages[0].message_id,
                                                  "event": "open"}).json() == {"webhook_status": 200}
    for _, body, headers in hook.requests:
        assert body.endswith(b"]\r\n")  # SendGrid's raw body: verify the bytes, never a re-serialisation
        assert EventWebhook(fake.public_key).verify_signature(
            body.decode(), headers[SIGNATURE_HEADER.lower()], headers[TIMESTAMP_HEADER.lower()])
    assert [json.loads(b)[0]["event"] for _, b, _ in hook.requests] == ["delivered", "open"]


def test_stopping_does_not_wait_for_a_hanging_request() -> None:
    fake = SendGridFake(api_key=KEY)
    server = FakeServer(sendgrid_app(fake))
    url = server.start()
    fake.faults.hang(seconds=60)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url + "/v3/mail/send", json={}, timeout=0.2)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5


# Twilio


def test_the_official_client_creates_a_message_and_the_fake_records_it(twilio: tuple[TwilioFake, Client]) -> None:
    fake, client = twilio
    message = client.messages.create(to=ANN, from_=FROM_NUMBER, body="Your cart misses you",
                                     status_callback="https://nudge.example/webhooks/twilio/status")
    assert re.fullmatch(r"SM[0-9a-f]{32}", message.sid)
    assert message.status == "queued" and message.num_segments == "1" and message.direction == "outbound-api"
    assert message.to == ANN and message.from_ == FROM_NUMBER and message.account_sid == fake.account_sid
    assert message.date_created is not None  # the library parsed Twilio's RFC 2822 date
    [sent] = fake.messages
    assert sent.sid == message.sid
    assert sent.params == {"To": ANN, "From": FROM_NUMBER, "Body": "Your cart misses you",
                           "StatusCallback": "https://nudge.example/webhooks/twilio/status"}


def test_a_messaging_service_message_starts_accepted_and_long_texts_count_segments(
        twilio: tuple[TwilioFake, Client]) -> None:
    _, client = twilio
    service = "MG" + "0" * 32
    message = client.messages.create(to=ANN, messaging_service_sid=service, body="x" * 161)
    assert message.status == "accepted" and message.messaging_service_sid == service and message.from_ is None
    assert message.num_segments == "2"
    assert client.messages.create(to=ANN, from_=FROM_NUMBER, body="🎉" * 36).num_segments == "2"  # UCS-2, 2 units each


def test_wrong_credentials_are_refused_with_twilio_error_20003(twilio: tuple[TwilioFake, Client]) -> None:
    fake, client = twilio
    intruder = Client(fake.account_sid, "wrong-token")
    intruder.api.base_url = client.api.base_url
    with pytest.raises(TwilioRestException) as caught:
        intruder.messages.create(to=ANN, from_=FROM_NUMBER, body="hi")
    assert caught.value.status == 401 and caught.value.code == 20003
    assert fake.messages == []


@pytest.mark.parametrize(("params", "code"), [
    ({"to": "07700 900123", "from_": FROM_NUMBER, "body": "hi"}, 21211),
    ({"to": ANN, "from_": FROM_NUMBER}, 21602),
    ({"to": ANN, "body": "hi"}, 21603),
    ({"to": ANN, "from_": ANN, "body": "hi"}, 21266),
    ({"to": ANN, "from_": FROM_NUMBER, "body": "x" * 1601}, 21617),
])
def test_a_bad_request_gets_twilios_error_code(twilio: tuple[TwilioFake, Client], params: dict[str, str],
                                               code: int) -> None:
    fake, client = twilio
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(**params)
    assert caught.value.status == 400 and caught.value.code == code
    assert fake.messages == []


def test_an_opted_out_number_gets_21610_until_it_texts_start(twilio: tuple[TwilioFake, Client]) -> None:
    fake, client = twilio
    fake.inbound("https://nudge.example/webhooks/twilio/inbound", ANN, FROM_NUMBER, "stop")
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to=ANN, from_=FROM_NUMBER, body="Last call")
    assert caught.value.code == 21610
    fake.inbound("https://nudge.example/webhooks/twilio/inbound", ANN, FROM_NUMBER, "START")
    assert client.messages.create(to=ANN, from_=FROM_NUMBER, body="Welcome back").status == "queued"


@pytest.mark.parametrize(("inject", "status", "code"), [
    (lambda f: f.rate_limit(seconds=2), 429, 20429),
    (lambda f: f.error(), 500, 20500),
])
def test_injected_failures_reach_the_client_as_twilio_errors(twilio: tuple[TwilioFake, Client], inject: Any,
                                                             status: int, code: int) -> None:
    fake, client = twilio
    inject(fake.faults)
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to=ANN, from_=FROM_NUMBER, body="hi")
    assert caught.value.status == status and caught.value.code == code
    assert client.messages.create(to=ANN, from_=FROM_NUMBER, body="hi").status == "queued"
    assert len(fake.messages) == 1


def test_a_twilio_hang_times_the_client_out_yet_the_text_is_accepted(twilio: tuple[TwilioFake, Client]) -> None:
    fake, client = twilio
    impatient = Client(fake.account_sid, fake.auth_token, http_client=TwilioHttpClient(timeout=0.2))
    impatient.api.base_url = client.api.base_url
    fake.faults.hang(seconds=0.6)
    with pytest.raises(requests.exceptions.Timeout):  # not a TwilioException: the library lets it through
        impatient.messages.create(to=ANN, from_=FROM_NUMBER, body="hi")
    eventually(lambda: len(fake.messages) == 1)


def test_the_async_client_reaches_the_fake_through_the_same_base_url(twilio: tuple[TwilioFake, Client]) -> None:
    fake, client = twilio

    async def send() -> str:
        http = AsyncTwilioHttpClient()
        async_client = Client(fake.account_sid, fake.auth_token, http_client=http)
        async_client.api.base_url = client.api.base_url
        try:
            message = await async_client.messages.create_async(to=ANN, from_=FROM_NUMBER, body="hi")
        finally:
            await http.close()
        return str(message.sid)

    assert asyncio.run(send()) == fake.messages[0].sid


def test_signed_callbacks_validate_with_the_twilio_library(twilio: tuple[TwilioFake, Client],
                                                           receiver: tuple[Receiver, str]) -> None:
    fake, client = twilio
    hook, hook_url = receiver
    client.messages.create(to=ANN, from_=FROM_NUMBER, body="hi", status_callback=hook_url)
    callback = fake.status_callback(fake.messages[0], "undelivered", error_code="30003")
    assert callback.params["MessageSid"] == fake.messages[0].sid and callback.params["ErrorCode"] == "30003"
    inbound = fake.inbound(hook_url, ANN, FROM_NUMBER, "Is the sale still on?")
    validator = RequestValidator(fake.auth_token)
    for signed in (callback, inbound):
        assert validator.validate(signed.url, signed.params, signed.headers["X-Twilio-Signature"])
        tampered = {**signed.params, "To": "+15550000000"}
        assert not validator.validate(signed.url, tampered, signed.headers["X-Twilio-Signature"])
        assert signed.post().status_code == 200
    for url, body, headers in hook.requests:
        form = dict(httpx.QueryParams(body.decode()))
        assert validator.validate(url, form, headers["x-twilio-signature"])
    sid = fake.messages[0].sid
    assert httpx.post(client.api.base_url + "/_fake/status", json={"sid": sid}).json() == {"webhook_status": 200}
    assert dict(httpx.QueryParams(hook.requests[-1][1].decode()))["MessageStatus"] == "delivered"

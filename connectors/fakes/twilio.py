"""A local Twilio Messages API with Twilio's error codes, and signed status callbacks and inbound texts."""

from __future__ import annotations

import argparse
import base64
import math
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from connectors.fakes.server import Fault, Faults, body_unless_fault, demo_options, fault_route, serve_demo
from engine.policies import E164
from rules.sms_segments import count_segments

DEFAULT_ACCOUNT_SID = "AC" + "fa4e" * 8
DEFAULT_AUTH_TOKEN = "fake-auth-token"
API_VERSION = "2010-04-01"
MAX_BODY = 1600
# Twilio's own opt-out handling: these replies opt a number out of (or back into) the sender's texts.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})


def sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def error(status: int, code: int, message: str, **extra: Any) -> JSONResponse:
    """Twilio's legacy error body, which the twilio library turns into a TwilioRestException with `code`."""
    body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status, **extra}
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if status == 401 else None
    return JSONResponse(body, status, headers)


@dataclass(frozen=True)
class SentText:
    """An accepted request: the form the client posted and the message resource answered."""

    sid: str
    params: dict[str, str]
    resource: dict[str, Any]


@dataclass(frozen=True)
class SignedRequest:
    """A form post as Twilio makes it to a webhook, signed with the account's auth token."""

    url: str
    params: dict[str, str]
    headers: dict[str, str]

    def post(self) -> httpx.Response:
        return httpx.post(self.url, data=self.params, headers=self.headers, timeout=10)

    async def post_async(self) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(self.url, data=self.params, headers=self.headers)


@dataclass
class TwilioFake:
    """State shared by the app and the test: credentials, opted-out numbers, what was sent, faults to inject."""

    account_sid: str = DEFAULT_ACCOUNT_SID
    auth_token: str = DEFAULT_AUTH_TOKEN
    opted_out: set[str] = field(default_factory=set)
    messages: list[SentText] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)

    def signed(self, url: str, params: dict[str, str]) -> SignedRequest:
        """Sign with the library's own RequestValidator, so a check that passes here passes against Twilio."""
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        return SignedRequest(url, params, {"X-Twilio-Signature": signature})

    def status_callback(self, text: SentText, status: str = "delivered", error_code: str | None = None,
                        url: str | None = None) -> SignedRequest:
        """The callback Twilio posts to the message's StatusCallback when its status changes."""
        target = url or text.params.get("StatusCallback")
        if not target:
            raise ValueError(f"message {text.sid} was sent without a StatusCallback: pass url")
        params = {"AccountSid": self.account_sid, "ApiVersion": API_VERSION, "MessageSid": text.sid,
                  "SmsSid": text.sid, "MessageStatus": status, "SmsStatus": status, "To": text.params["To"],
                  "From": text.resource["from"] or ""}
        if text.resource["messaging_service_sid"]:
            params["MessagingServiceSid"] = text.resource["messaging_service_sid"]
        if error_code:
            params["ErrorCode"] = error_code
        return self.signed(target, params)

    def inbound(self, url: str, from_: str, to: str, body: str) -> SignedRequest:
        """A text received by our number; STOP and START change `opted_out` first, as Twilio does."""
        word = body.strip().upper()
        if word in STOP_WORDS:
            self.opted_out.add(from_)
        elif word in START_WORDS:
            self.opted_out.discard(from_)
        message_sid = sid("SM")
        params = {"AccountSid": self.account_sid, "ApiVersion": API_VERSION, "MessageSid": message_sid,
                  "SmsMessageSid": message_sid, "SmsSid": message_sid, "SmsStatus": "received", "From": from_,
                  "To": to, "Body": body, "NumMedia": "0", "NumSegments": str(count_segments(body).segments)}
        return self.signed(url, params)

    def authorized(self, header: str, account: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return False
        return (scheme == "Basic" and secrets.compare_digest(user, self.account_sid)
                and secrets.compare_digest(password, self.auth_token) and account == self.account_sid)

    def refusal(self, form: dict[str, str]) -> JSONResponse | None:
        """The first reason Twilio would refuse this message (it reports one at a time)."""
        to, sender, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        if not to:
            return error(400, 21604, "A 'To' phone number is required.")
        if not (sender or form.get("MessagingServiceSid")):
            return error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return error(400, 21602, "Message body is required.")
        if not E164.match(to):
            return error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if to == sender:
            return error(400, 21266, "'To' and 'From' number cannot be the same")
        if len(body) > MAX_BODY:
            return error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        if to in self.opted_out:
            return error(400, 21610, "Attempt to send to unsubscribed recipient")
        return None

    def accept(self, form: dict[str, str]) -> SentText:
        """The message resource; a messaging service starts it `accepted`, a From number `queued`, as Twilio does."""
        message_sid = sid("SM")
        service = form.get("MessagingServiceSid")
        now = format_datetime(datetime.now(timezone.utc).replace(microsecond=0))
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{message_sid}"
        resource = {
            "account_sid": self.account_sid, "api_version": API_VERSION, "body": form["Body"],
            "date_created": now, "date_updated": now, "date_sent": None, "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": form.get("From") or None,
            "messaging_service_sid": service, "num_media": "0",
            "num_segments": str(count_segments(form["Body"]).segments), "price": None, "price_unit": "USD",
            "sid": message_sid, "status": "accepted" if service else "queued", "to": form["To"],
            "subresource_uris": {"media": f"{uri}/Media.json"}, "uri": f"{uri}.json"}
        text = SentText(message_sid, form, resource)
        self.messages.append(text)
        return text


def _refusal(fault: Fault) -> Response:
    if fault.kind == "rate_limit":
        response = error(429, 20429, "Too Many Requests")
        response.headers["Retry-After"] = str(math.ceil(fault.seconds))
        return response
    return error(fault.status, 20503 if fault.status == 503 else 20500, HTTPStatus(fault.status).phrase)


def create_app(fake: TwilioFake) -> Starlette:
    """The HTTP face of `fake`: Messages.json, plus `/_fake/*` for demos run in another process."""

    async def create(request: Request) -> Response:
        body, refused = await body_unless_fault(request, fake.faults, _refusal)
        if refused is not None:
            return refused
        if not fake.authorized(request.headers.get("Authorization", ""), request.path_params["account"]):
            return error(401, 20003, "Authenticate", detail="Your AccountSid or AuthToken was incorrect.")
        form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        refused = fake.refusal(form)
        if refused is not None:
            return refused
        return JSONResponse(fake.accept(form).resource, 201)

    async def messages(request: Request) -> Response:
        return JSONResponse([{"sid": m.sid, "params": m.params, "resource": m.resource} for m in fake.messages])

    async def status(request: Request) -> Response:
        """Demo hook: `{"sid", "status", "error_code"?}` posts the signed callback to the message's StatusCallback."""
        ask = await request.json()
        text = next((m for m in fake.messages if m.sid == ask.get("sid")), None)
        if text is None or "StatusCallback" not in text.params:
            return JSONResponse({"error": "unknown sid, or sent without a StatusCallback"}, 404)
        answer = await fake.status_callback(text, ask.get("status", "delivered"), ask.get("error_code")).post_async()
        return JSONResponse({"webhook_status": answer.status_code})

    async def inbound(request: Request) -> Response:
        """Demo hook: `{"url", "from", "to", "body"}` posts a signed inbound text (STOP opts the sender out)."""
        ask = await request.json()
        answer = await fake.inbound(ask["url"], ask["from"], ask["to"], ask["body"]).post_async()
        return JSONResponse({"webhook_status": answer.status_code})

    return Starlette(routes=[Route(f"/{API_VERSION}/Accounts/{{account}}/Messages.json", create, methods=["POST"]),
                             Route("/_fake/messages", messages, methods=["GET"]),
                             Route("/_fake/status", status, methods=["POST"]),
                             Route("/_fake/inbound", inbound, methods=["POST"]),
                             fault_route(fake.faults)])


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)


def main() -> None:
    options = demo_options("A local Twilio Messages API for demos.", 8026, _options)
    fake = TwilioFake(account_sid=options.account_sid, auth_token=options.auth_token)
    serve_demo("Twilio", create_app(fake), options, f"  Account SID: {fake.account_sid}\n  Auth token: {fake.auth_token}")


if __name__ == "__main__":
    main()

"""A local SendGrid: v3 Mail Send with the real API's checks and error shapes, and a signed Event Webhook."""

from __future__ import annotations

import argparse
import base64
import json
import math
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.fakes.server import Fault, Faults, body_unless_fault, demo_options, fault_route, serve_demo

DEFAULT_API_KEY = "SG.fake-api-key"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
RESERVED_HEADERS = frozenset({"x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type",
                              "content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc"})
MAX_CATEGORIES = 10
MAX_CUSTOM_ARGS_BYTES = 10_000

Problem = tuple[str, str | None]  # (message, field), as in SendGrid's `errors` array


@dataclass(frozen=True)
class SentMail:
    """An accepted request, exactly as the client sent it, under the X-Message-Id it was given."""

    message_id: str
    payload: dict[str, Any]

    def recipients(self) -> list[str]:
        return [r["email"] for p in self.payload["personalizations"] for kind in ("to", "cc", "bcc")
                for r in p.get(kind) or []]


def _emails(personalization: dict[str, Any], i: int) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for kind in ("to", "cc", "bcc"):
        for j, recipient in enumerate(personalization.get(kind) or []):
            email = recipient.get("email") if isinstance(recipient, dict) else None
            where = f"personalizations.{i}.{kind}.{j}.email"
            if not isinstance(email, str) or not EMAIL.match(email):
                problems.append(("Does not contain a valid address.", where))
            elif email.lower() in seen:
                problems.append(("Each email address in the personalization block should be unique between to, "
                                 f"cc, and bcc. We found the first duplicate instance of [{email}] in the "
                                 f"personalizations.{i}.{kind} field.", where))
            seen.add(str(email).lower())
    return problems


def _extras(block: dict[str, Any], where: str) -> list[Problem]:
    """Custom args and headers, allowed on the message and on each personalization."""
    problems: list[Problem] = []
    args = block.get("custom_args") or {}
    if not isinstance(args, dict):
        return [("Invalid type. Expected: object.", f"{where}custom_args")]
    for key, value in args.items():
        if not isinstance(value, str):
            problems.append((f"Invalid type. Expected: string, given: {type(value).__name__}.",
                             f"{where}custom_args.{key}"))
    if len(json.dumps(args).encode()) > MAX_CUSTOM_ARGS_BYTES:
        problems.append(("The custom_args may not exceed 10000 bytes.", f"{where}custom_args"))
    headers = block.get("headers") or {}
    reserved = sorted(h for h in headers if isinstance(headers, dict) and h.lower() in RESERVED_HEADERS)
    if reserved:
        problems.append((f"The following headers are reserved and cannot be set: {', '.join(reserved)}.",
                         f"{where}headers"))
    return problems


def _content(payload: dict[str, Any]) -> list[Problem]:
    content = payload.get("content")
    if content is None and payload.get("template_id"):
        return []
    if not isinstance(content, list) or not content:
        return [("Unless a valid template_id is provided, the content parameter is required. There must be at "
                 "least one defined content block. We typically suggest both text/plain and text/html blocks "
                 "are included, but only one block is required.", "content")]
    problems: list[Problem] = []
    for j, block in enumerate(content):
        block = block if isinstance(block, dict) else {}
        for key in ("type", "value"):
            if not isinstance(block.get(key), str) or not block[key]:
                problems.append((f"The content {key} must be a string at least one character in length.",
                                 f"content.{j}.{key}"))
        if j > 0 and block.get("type") == "text/plain":
            problems.append(("If present, text/plain content must be first, followed by any other content.",
                             f"content.{j}.type"))
    return problems


def problems_in(payload: Any) -> list[Problem]:
    """Every reason SendGrid would refuse this body with 400; all are reported at once, as SendGrid does."""
    if not isinstance(payload, dict):
        return [("Bad Request", None)]
    problems: list[Problem] = []
    personalizations = payload.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        problems.append(("The personalizations field is required and must have at least one personalization.",
                         "personalizations"))
        personalizations = []
    for i, p in enumerate(personalizations):
        p = p if isinstance(p, dict) else {}
        if not isinstance(p.get("to"), list) or not p["to"]:
            problems.append(("The to array is required for all personalization objects, and must have at least "
                             "one email object with a valid email address.", f"personalizations.{i}.to"))
        problems += _emails(p, i) + _extras(p, f"personalizations.{i}.")
    sender = payload.get("from")
    email = sender.get("email") if isinstance(sender, dict) else None
    if not email:
        problems.append(("The from object must be provided for every email send. It is an object that requires "
                         "the email parameter, but may also contain a name parameter.", "from.email"))
    elif not isinstance(email, str) or not EMAIL.match(email):
        problems.append(("The from email does not contain a valid address.", "from.email"))
    each_has_subject = bool(personalizations) and all(isinstance(p, dict) and p.get("subject")
                                                      for p in personalizations)
    if not (payload.get("subject") or each_has_subject or payload.get("template_id")):
        problems.append(("The subject is required. You can get around this requirement if you use a template "
                         "with a subject defined or if every personalization has a subject defined.", "subject"))
    problems += _content(payload)
    categories = payload.get("categories") or []
    if len(categories) > MAX_CATEGORIES:
        problems.append(("Too many categories. You may not have more than 10 categories per request.",
                         "categories"))
    problems += [("A category cannot be longer than 255 characters.", f"categories.{k}")
                 for k, c in enumerate(categories) if len(str(c)) > 255]
    return problems + _extras(payload, "")


def errors(*problems: Problem) -> dict[str, Any]:
    """SendGrid's error body; `help` points at the docs anchor for a field error."""
    return {"errors": [{"message": message, "field": where,
                        "help": f"{HELP}#message.{where.split('.')[0]}" if where else None}
                       for message, where in problems]}


@dataclass
class SendGridFake:
    """State shared by the app and the test: the key to accept, what was sent, faults to inject, the signing key."""

    api_key: str = DEFAULT_API_KEY
    webhook_url: str | None = None
    messages: list[SentMail] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)
    signing_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()),
                                                     repr=False)

    @property
    def public_key(self) -> str:
        """The verification key as SendGrid's settings page shows it: base64 DER, no PEM armour."""
        der = self.signing_key.public_key().public_bytes(serialization.Encoding.DER,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(der).decode()

    def events_for(self, mail: SentMail, event: str, **fields: Any) -> list[dict[str, Any]]:
        """One event per recipient, with custom args as top-level keys, as the Event Webhook reports them."""
        categories = mail.payload.get("categories") or []
        events = []
        for i, p in enumerate(mail.payload["personalizations"]):
            args = {**(mail.payload.get("custom_args") or {}), **(p.get("custom_args") or {})}
            for kind in ("to", "cc", "bcc"):
                for r in p.get(kind) or []:
                    item: dict[str, Any] = {**args, "email": r["email"], "timestamp": int(time.time()),
                                            "event": event, "sg_event_id": secrets.token_urlsafe(16)[:22],
                                            "sg_message_id": f"{mail.message_id}.filterdrecv-fake-{i}-0.0",
                                            "smtp-id": f"<{mail.message_id}@fake.sendgrid>"}
                    if categories:
                        item["category"] = categories if len(categories) > 1 else categories[0]
                    events.append({**item, **fields})
        return events

    def signed_event_post(self, events: list[dict[str, Any]], timestamp: int | None = None
                          ) -> tuple[bytes, dict[str, str]]:
        """The raw body and headers of an Event Webhook post: ECDSA P-256/SHA-256 over timestamp + body."""
        body = (json.dumps(events, ensure_ascii=False, separators=(",", ":")) + "\r\n").encode()  # as SendGrid
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = self.signing_key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return body, {"Content-Type": "application/json", "User-Agent": "SendGrid Event API",
                      SIGNATURE_HEADER: base64.b64encode(signature).decode(), TIMESTAMP_HEADER: stamp}

    def post_events(self, events: list[dict[str, Any]], url: str | None = None) -> httpx.Response:
        """Deliver events signed to the webhook, as SendGrid would."""
        body, headers = self.signed_event_post(events)
        target = url or self.webhook_url
        if not target:
            raise ValueError("no webhook URL: pass one or set SendGridFake.webhook_url")
        return httpx.post(target, content=body, headers=headers, timeout=10)

    def find(self, message_id: str) -> SentMail | None:
        return next((m for m in self.messages if m.message_id == message_id), None)


def _refusal(fault: Fault) -> Response:
    if fault.kind == "rate_limit":
        headers = {"Retry-After": str(math.ceil(fault.seconds)), "X-RateLimit-Limit": "600",
                   "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(math.ceil(time.time() + fault.seconds))}
        return JSONResponse(errors(("too many requests", None)), 429, headers)
    return JSONResponse(errors(("internal error", None)), fault.status)


def create_app(fake: SendGridFake) -> Starlette:
    """The HTTP face of `fake`: the Mail Send endpoint, plus `/_fake/*` for demos run in another process."""

    async def send(request: Request) -> Response:
        body, refused = await body_unless_fault(request, fake.faults, _refusal)
        if refused is not None:
            return refused
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if not key:
            return JSONResponse(errors(("authorization required", None)), 401)
        if scheme != "Bearer" or not secrets.compare_digest(key, fake.api_key):
            return JSONResponse(errors(("The provided authorization grant is invalid, expired, or revoked", None)),
                                401)
        try:
            payload = json.loads(body)
        except ValueError:
            return JSONResponse(errors(("Bad Request", None)), 400)
        problems = problems_in(payload)
        if problems:
            return JSONResponse(errors(*problems), 400)
        mail = SentMail(secrets.token_urlsafe(16)[:22], payload)
        fake.messages.append(mail)
        return Response(status_code=202, headers={"X-Message-Id": mail.message_id})

    async def messages(request: Request) -> Response:
        return JSONResponse([{"message_id": m.message_id, "payload": m.payload} for m in fake.messages])

    async def events(request: Request) -> Response:
        """Demo hook: `{"message_id", "event", ...fields}` is sent, signed, to the webhook URL."""
        ask = await request.json()
        mail = fake.find(str(ask.pop("message_id", "")))
        if mail is None or not fake.webhook_url:
            return JSONResponse({"error": "unknown message_id, or no --webhook-url"}, 404)
        body, headers = fake.signed_event_post(fake.events_for(mail, str(ask.pop("event", "delivered")), **ask))
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.post(fake.webhook_url, content=body, headers=headers)
        return JSONResponse({"webhook_status": answer.status_code})

    return Starlette(routes=[Route("/v3/mail/send", send, methods=["POST"]),
                             Route("/_fake/messages", messages, methods=["GET"]),
                             Route("/_fake/events", events, methods=["POST"]),
                             fault_route(fake.faults)])


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--webhook-url", help="where POST /_fake/events delivers signed events")


def main() -> None:
    options = demo_options("A local SendGrid Mail Send API for demos.", 8025, _options)
    fake = SendGridFake(api_key=options.api_key, webhook_url=options.webhook_url)
    serve_demo("SendGrid", create_app(fake), options,
               f"  API key: {fake.api_key}\n  Event Webhook verification key: {fake.public_key}")


if __name__ == "__main__":
    main()

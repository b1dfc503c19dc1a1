"""Provider feedback endpoints: SendGrid's Event Webhook, Twilio's status callbacks and inbound texts."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from twilio.request_validator import RequestValidator

from connectors.api.deps import Deps, now_rfc3339, read_limited_body
from connectors.webhooks import sendgrid_events, twilio_events
from engine.runtimes.embedded import queries
from rules.limits import json_value

SENDGRID_MAX_BODY = 1024 * 1024  # SendGrid posts a batch once it reaches 768 KB
TWILIO_MAX_BODY = 64 * 1024  # a callback is a form of a few dozen fields; a text is at most 1,600 characters


def _json(status: int, body: object) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def provider_routes(deps: Deps) -> APIRouter:
    router = APIRouter(prefix="/v1/providers", tags=["provider feedback"])
    key = deps.settings.providers.sendgrid_webhook_public_key
    sendgrid = sendgrid_events.SendGridVerifier(key) if key else None
    token = deps.settings.providers.twilio_auth_token
    twilio = RequestValidator(token) if token else None

    @router.post("/sendgrid/events", summary="SendGrid's signed Event Webhook")
    async def sendgrid_webhook(request: Request) -> Response:
        if sendgrid is None:
            return _json(503, {"error": "SENDGRID_WEBHOOK_PUBLIC_KEY is not set: signed events cannot be checked"})
        body = await read_limited_body(request, SENDGRID_MAX_BODY)
        if body is None:
            return _json(413, {"error": f"body over {SENDGRID_MAX_BODY} bytes"})
        now = time.time()
        signature = request.headers.get(sendgrid_events.SIGNATURE_HEADER) or ""
        reason = sendgrid.check(body, signature, request.headers.get(sendgrid_events.TIMESTAMP_HEADER), now)
        replay_key = sendgrid_events.replay_key(signature)
        if reason or replay_key is None:
            return _json(401, {"error": reason or "invalid signature"})
        if not await deps.on_db(queries.first_use_of_signature, replay_key, now, sendgrid.freshness.memory):
            return _json(401, {"error": "signature already used (replay)"})
        try:
            items = json_value(body)
        except ValueError:
            return _json(400, {"error": "expected a JSON array of events"})
        if not isinstance(items, list):
            return _json(400, {"error": "expected a JSON array of events"})
        cache: dict[str, str | None] = {}

        def find(address: str) -> str | None:
            return cache.get(address.lower())

        for address in {str(i.get("email", "")).lower() for i in items if isinstance(i, dict) and not i.get("customer_id")}:
            cache[address] = await deps.on_db(queries.customer_by_address, address)
        mapped = sendgrid_events.to_events(items, find)
        accepted = await deps.submit(mapped.events)
        # 200 even with refused items: SendGrid retries a whole batch on any other answer
        return _json(200, {"accepted": accepted, "unattributed": mapped.unattributed, "refused": mapped.refused})

    async def twilio_form(request: Request) -> tuple[dict[str, str] | None, Response | None]:
        if twilio is None:
            return None, _json(503, {"error": "TWILIO_AUTH_TOKEN is not set: Twilio signatures cannot be checked"})
        body = await read_limited_body(request, TWILIO_MAX_BODY)
        if body is None:
            return None, _json(413, {"error": f"body over {TWILIO_MAX_BODY} bytes"})
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        url = deps.public_url + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if not twilio.validate(url, form, request.headers.get("X-Twilio-Signature", "")):
            return None, _json(403, {"error": "invalid X-Twilio-Signature"})
        return form, None

    @router.post("/twilio/status", summary="Twilio message status callbacks")
    async def twilio_status(request: Request) -> Response:
        form, refused = await twilio_form(request)
        if refused is not None or form is None:
            return refused or _json(400, {})
        message = await deps.on_db(queries.message_by_provider_id, form.get("MessageSid", ""))
        event = twilio_events.status_event(form, message, now_rfc3339())
        await deps.submit([event] if event else [])
        return Response(status_code=204)

    @router.post("/twilio/inbound", summary="Twilio inbound texts: STOP, START, replies")
    async def twilio_inbound(request: Request) -> Response:
        form, refused = await twilio_form(request)
        if refused is not None or form is None:
            return refused or _json(400, {})
        customer = await deps.on_db(queries.customer_by_address, None, form.get("From", ""))
        event = twilio_events.inbound_event(form, customer, now_rfc3339())
        await deps.submit([event] if event else [])
        return Response("<Response/>", media_type="application/xml")  # empty TwiML: no auto-reply from us

    return router

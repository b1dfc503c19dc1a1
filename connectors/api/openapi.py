"""The API's OpenAPI document and its pages: every body, auth scheme and status code declared, and
/docs and /redoc served from assets installed with Nudge (fastapi-offline's bundle), never a CDN."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic.json_schema import models_json_schema

from connectors.api.segment import SegmentBatch, SegmentMessage
from rules.events import EventModel

ASSETS = Path(fastapi_offline.__file__).parent / "static"  # Swagger UI (Apache-2.0), Redoc (MIT)
REF = "#/components/schemas/{model}"

SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "An API key of NUDGE_API_KEYS (or the generated one)."},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "The same key, in its own header."},
    "writeKey": {"type": "http", "scheme": "basic", "description":
                 "Segment's way: a write key (NUDGE_WRITE_KEYS, or any API key) as the user name, no password; "
                 "also taken as a Bearer key or as `writeKey` in the body."},
    "nudgeSignature": {"type": "apiKey", "in": "header", "name": "Nudge-Signature", "description":
                       "With NUDGE_WEBHOOK_SECRET set, event posts must also carry "
                       "`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, '<t>.' + body)>` (docs/operations.md)."},
    "reportsKey": {"type": "apiKey", "in": "query", "name": "key", "description": "A NUDGE_REPORTS_KEYS key (or an API key)."},
    "sendgridSignature": {"type": "apiKey", "in": "header", "name": "X-Twilio-Email-Event-Webhook-Signature",
                          "description": "SendGrid's ECDSA signature, checked with SENDGRID_WEBHOOK_PUBLIC_KEY."},
    "twilioSignature": {"type": "apiKey", "in": "header", "name": "X-Twilio-Signature",
                        "description": "Twilio's HMAC-SHA1 signature, checked with TWILIO_AUTH_TOKEN."},
}
API_KEY: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]

ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
REJECTED = {"type": "array", "items": {"type": "object", "properties": {
    "index": {"type": "integer"}, "field": {"type": "string"}, "reason": {"type": "string"}}}}
INGESTED: dict[str, Any] = {"type": "object", "properties": {
    "accepted": {"type": "integer"}, "duplicates": {"type": "integer"}, "rejected": REJECTED,
    "ids": {"type": "array", "items": {"type": "string"}}}}


def _error(description: str, example: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": schema or ERROR, "example": {"error": example}}}}


def _json(description: str, schema: dict[str, Any], example: Any) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema, "example": example}}}


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


UNAUTHORIZED = _error("No key (or signature) was sent, or the signature is stale, wrong or replayed",
                      "missing API key: send 'Authorization: Bearer <key>'")
FORBIDDEN = _error("The key is not one of this server's", "invalid API key")
UNAVAILABLE = {**_error("The database or the broker cannot take the request now; nothing was changed: "
                        "try again after Retry-After seconds", "the database is unavailable (disk I/O error); "
                        "nothing was changed: try again"),
               "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}}
TOO_LARGE = _error("The body is over its limit (after decompression for gzip)", "body over 1048576 bytes; split the batch")
BAD_JSON = _error("The body is not JSON (or not the expected shape)", "invalid JSON: unexpected character")
NOT_VALID = _json("Not one valid event: each refusal names its index, field and reason (SPEC §8)",
                  {"type": "object", "properties": {"error": {"type": "string"}, "rejected": REJECTED}},
                  {"error": "no valid event", "rejected": [{"index": 0, "field": "traits.email",
                                                            "reason": "'x' is not one address like ann@example.com"}]})
INVALID_PARAMS = _json("A parameter or body field fails validation", {"type": "object"},
                       {"detail": [{"loc": ["body", "as"], "msg": "Field required", "type": "missing"}]})
PAGE_REFUSED = _html("The link's signature does not verify (edited or truncated): nothing was changed")

EVENT_EXAMPLE = {"id": "evt_123", "type": "purchase", "customer_id": "c42", "timestamp": "2026-03-01T12:00:00Z",
                 "properties": {"order_id": "o1", "total": 59.0}, "traits": {"email": "ann@example.com"}}
SEGMENT_EXAMPLE = {"type": "track", "event": "Order Completed", "userId": "c42", "messageId": "m-1",
                   "timestamp": "2026-03-01T12:00:00Z", "sentAt": "2026-03-01T12:00:01Z",
                   "properties": {"total": 59.0}, "context": {"ip": "203.0.113.9", "locale": "en-US"}}
SENDGRID_EVENTS = {"type": "array", "items": {"type": "object", "additionalProperties": True, "properties": {
    "event": {"type": "string", "examples": ["delivered", "open", "click", "bounce", "spamreport", "unsubscribe"]},
    "email": {"type": "string"}, "timestamp": {"type": "integer"}, "sg_message_id": {"type": "string"},
    "sg_event_id": {"type": "string"}, "url": {"type": "string"}, "type": {"type": "string"},
    "message_id": {"type": "string", "description": "custom arg: Nudge's message id"},
    "customer_id": {"type": "string", "description": "custom arg"}}}}
TWILIO_FORM = {"type": "object", "additionalProperties": {"type": "string"}, "properties": {
    "MessageSid": {"type": "string"}, "MessageStatus": {"type": "string", "examples": ["delivered", "undelivered"]},
    "ErrorCode": {"type": "string"}, "From": {"type": "string"}, "To": {"type": "string"}, "Body": {"type": "string"}}}


def _body(schema: dict[str, Any], example: Any, media: str = "application/json", **extra: Any) -> dict[str, Any]:
    return {"required": True, "content": {media: {"schema": schema, "example": example}}, **extra}


def _operations() -> dict[tuple[str, str], dict[str, Any]]:
    """Per operation: its body, security and every answer it can give (the route's own 2xx kept)."""
    event = {"$ref": REF.format(model="EventModel")}
    segment_single = _body({"$ref": REF.format(model="SegmentMessage")}, SEGMENT_EXAMPLE, description=(
        "One Segment Spec call (application/json, or text/plain as analytics-next sends it; gzip allowed)."))
    segment_batch = _body({"$ref": REF.format(model="SegmentBatch")},
                          {"batch": [SEGMENT_EXAMPLE], "sentAt": "2026-03-01T12:00:01Z"})
    segment_answers = {"200": _json("Stored durably; a message whose messageId was seen is a duplicate",
                                    {**INGESTED, "properties": {**INGESTED["properties"], "success": {"type": "boolean"}}},
                                    {"success": True, "accepted": 1, "duplicates": 0, "rejected": [], "ids": ["m-1"]}),
                       "400": _json("Unreadable body, or no valid message (each refusal named)",
                                    {"type": "object", "properties": {"error": {"type": "string"}, "rejected": REJECTED}},
                                    {"error": "no valid message", "rejected": [
                                        {"index": 0, "field": "event", "reason": "a track call needs an event name"}]}),
                       "401": _error("No write key", "missing write key: send it as the Basic auth user name"),
                       "403": _error("Not a write key of this server", "invalid write key"),
                       "413": TOO_LARGE, "503": UNAVAILABLE}
    segment = {"security": [{"writeKey": []}, {"bearer": []}], "responses": segment_answers, "tags": ["Segment"]}
    customer = {"security": API_KEY, "responses": {
        "401": UNAUTHORIZED, "403": FORBIDDEN, "404": _error("No such customer", "no customer 'c42'"),
        "422": _json("An id no customer can have (SPEC §8)", ERROR, {"error": "customer_id: contains '/'",
                                                                     "field": "customer_id", "reason": "contains '/'"}),
        "503": UNAVAILABLE}}
    outcome = {"type": "object", "properties": {"error": {"type": "string"}, "outcome": {"type": "string"},
                                                "plan": {"type": ["object", "null"]},
                                                "problems": {"type": "array", "items": {"type": "string"}}}}
    apply_answers = {"security": API_KEY, "responses": {  # SPEC §10
        "401": UNAUTHORIZED, "403": FORBIDDEN, "503": UNAVAILABLE,
        "409": _json("Customers would exit step_removed and `confirm` was not given: nothing was applied", outcome,
                     {"error": "not applied: version 3f2a would exit 3 customer(s) with step_removed; ...",
                      "outcome": "refused", "plan": {"exit": 3}, "problems": []}),
        "422": _json("The files have problems (file:line:column); the last valid version keeps running", outcome,
                     {"error": "not applied: the files have 1 problem(s); version 9c1e keeps running",
                      "outcome": "invalid", "plan": None,
                      "problems": ["journeys/cart.yaml:12:9: unknown key 'tempalte'"]})}}
    operations: dict[tuple[str, str], dict[str, Any]] = {
        ("post", "/v1/events"): {
            "requestBody": _body({"oneOf": [event, {"type": "array", "items": event, "minItems": 1, "maxItems": 1000}]},
                                 EVENT_EXAMPLE, description="One event (SPEC §2) or an array of up to 1,000; body ≤ 1 MiB"),
            "security": [{"bearer": []}, {"apiKey": []}, {"bearer": [], "nudgeSignature": []}],
            "responses": {"202": _json("Durably committed (duplicates ignored, refused ones listed)", INGESTED,
                                       {"accepted": 1, "duplicates": 0, "rejected": [], "ids": ["evt_123"]}),
                          "400": BAD_JSON, "401": UNAUTHORIZED, "403": FORBIDDEN, "413": TOO_LARGE, "422": NOT_VALID,
                          "503": UNAVAILABLE}},
        ("get", "/v1/customers/{customer_id}"): customer,
        ("delete", "/v1/customers/{customer_id}"): customer,
        ("post", "/v1/reload"): apply_answers,
        ("post", "/v1/workspace/apply"): apply_answers,
        ("get", "/v1/workspace"): {"security": API_KEY, "responses": {
            "401": UNAUTHORIZED, "403": FORBIDDEN, "503": UNAVAILABLE}},
        ("get", "/reports"): {"security": [*API_KEY, {"reportsKey": []}], "responses": {
            "400": _error("A bad period or format", "since and until are YYYY-MM-DD or RFC 3339"),
            "401": UNAUTHORIZED, "403": FORBIDDEN, "503": UNAVAILABLE}},
        ("get", "/healthz"): {"security": [], "responses": {"503": _json(
            "Something fails (engine, database, watcher, broker): named in `problems`", {"type": "object"},
            {"status": "failing", "problems": ["database: cannot be read"]})}},
        ("get", "/metrics"): {"security": []},
        ("get", "/v1/outbox"): {"security": API_KEY, "responses": {
            "401": UNAUTHORIZED, "403": FORBIDDEN, "422": INVALID_PARAMS, "503": UNAVAILABLE}},
        ("post", "/v1/outbox/requeue"): {"security": API_KEY, "responses": {
            "400": _error("The body is not JSON", "There was an error parsing the body"),
            "401": UNAUTHORIZED, "403": FORBIDDEN, "422": INVALID_PARAMS, "503": UNAVAILABLE}},
        ("post", "/v1/outbox/resolve"): {"security": API_KEY, "responses": {
            "400": _error("The body is not JSON", "There was an error parsing the body"),
            "401": UNAUTHORIZED, "403": FORBIDDEN, "422": INVALID_PARAMS, "503": UNAVAILABLE}},
        ("get", "/u/{token}"): {"security": [], "responses": {"403": PAGE_REFUSED, "503": UNAVAILABLE}},
        ("post", "/u/{token}"): {
            "security": [], "responses": {
                "403": _html("The link's signature does not verify, or a change other than unsubscribing came "
                             "without the page's form token or from another site: nothing was changed"),
                "422": _html("The preferences page again, each refused field explained (a time that is not HH:MM, "
                             "no day, a number that is not E.164), or a form token too old: nothing was changed"),
                "503": UNAVAILABLE},
            "requestBody": {"required": False, "content": {"application/x-www-form-urlencoded": {"schema": {
                "type": "object", "properties": {
                    "List-Unsubscribe": {"type": "string", "enum": ["One-Click"], "description": "RFC 8058"},
                    "action": {"type": "string", "enum": ["unsubscribe", "resubscribe", "save"],
                               "description": "default: unsubscribe (the one-click POST)"},
                    "form_token": {"type": "string", "description": "resubscribe, save: the token of the page served"},
                    "keep": {"type": "array", "items": {"type": "string"}, "description": "save: topics to keep"},
                    "sms_reminders": {"type": "string", "description": "save: present (any value) to turn text "
                                                                       "reminders on"},
                    "reminder_time": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$",
                                      "description": "save: local time of the reminders"},
                    "reminder_days": {"type": "array", "items": {"type": "string", "enum": [
                        "mon", "tue", "wed", "thu", "fri", "sat", "sun"]}, "description": "save: days of the reminders"},
                    "phone": {"type": "string", "description": "save: a mobile number (E.164 once spaces and "
                                                               "dashes are dropped)"}}}}}}},
        ("get", "/confirm/{token}"): {"security": [], "responses": {
            "403": PAGE_REFUSED, "410": _html("The link was sent to an address the profile no longer has"),
            "503": UNAVAILABLE}},
        ("post", "/confirm/{token}"): {"security": [], "responses": {
            "403": _html("The link's signature does not verify, or the form came from another site"),
            "410": _html("The link was sent to an address the profile no longer has: nothing was changed"),
            "503": UNAVAILABLE}},
        ("get", "/c/{token}"): {"security": [], "responses": {
            "302": {"description": "The click is recorded; on to the link's target",
                    "headers": {"Location": {"schema": {"type": "string"}}}},
            "404": _html("The link's signature does not verify"), "503": UNAVAILABLE}},
        ("post", "/v1/providers/sendgrid/events"): {
            "security": [{"sendgridSignature": []}], "tags": ["provider feedback"],
            "requestBody": _body(SENDGRID_EVENTS, [{"event": "open", "email": "ann@example.com", "timestamp": 1772366400,
                                                    "sg_message_id": "abc.filter", "message_id": "msg_1"}]),
            "responses": {"200": _json("Taken (refused and unattributed items counted: SendGrid retries any other answer)",
                                       {"type": "object"}, {"accepted": 1, "unattributed": 0, "refused": 0}),
                          "400": BAD_JSON, "401": _error("Bad, stale or replayed signature", "invalid signature"),
                          "413": TOO_LARGE, "503": _error("SENDGRID_WEBHOOK_PUBLIC_KEY is not set, or the database is "
                                                          "unavailable", "SENDGRID_WEBHOOK_PUBLIC_KEY is not set")}},
    }
    twilio: dict[str, Any] = {"security": [{"twilioSignature": []}], "tags": ["provider feedback"],
              "requestBody": _body(TWILIO_FORM, {"MessageSid": "SM123", "MessageStatus": "delivered"},
                                   "application/x-www-form-urlencoded"),
              "responses": {"403": _error("Bad X-Twilio-Signature", "invalid X-Twilio-Signature"), "413": TOO_LARGE,
                            "503": _error("TWILIO_AUTH_TOKEN is not set, or the database is unavailable",
                                          "TWILIO_AUTH_TOKEN is not set")}}
    operations[("post", "/v1/providers/twilio/status")] = {
        **twilio, "responses": {"204": {"description": "Taken"}, **twilio["responses"]}}
    operations[("post", "/v1/providers/twilio/inbound")] = {
        **twilio, "responses": {"200": {"description": "Empty TwiML: no automatic reply",
                                        "content": {"application/xml": {"schema": {"type": "string"}}}},
                                **twilio["responses"]}}
    for kind in ("track", "identify", "page", "screen", "alias", "group"):
        for path in (f"/v1/{kind}", f"/v1/{kind[0]}"):
            operations[("post", path)] = {**segment, "requestBody": segment_single}
    for path in ("/v1/batch", "/v1/b"):
        operations[("post", path)] = {**segment, "requestBody": segment_batch}
    return operations


def _apply(operation: dict[str, Any], spec: dict[str, Any]) -> None:
    """Declared answers join the route's own success answer (unless declared) and FastAPI's 422 for its parameters."""
    answers = spec.get("responses", {})
    generated = operation.get("responses", {})
    kept = {c: v for c, v in generated.items() if c == "422" or (c.startswith("2") and not any(
        d.startswith("2") for d in answers))}
    operation.update({k: v for k, v in spec.items() if k != "responses"})
    operation["responses"] = {**kept, **answers}


def document(app: FastAPI) -> dict[str, Any]:
    """The whole document, built once."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    _, defs = models_json_schema([(EventModel, "validation"), (SegmentMessage, "validation"),
                                  (SegmentBatch, "validation")], ref_template=REF)
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {}).update(defs.get("$defs", {}))
    components["securitySchemes"] = SECURITY_SCHEMES
    operations = _operations()
    for path, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            if (spec := operations.get((method, path))) is not None:
                _apply(operation, spec)
    doc["security"] = API_KEY
    app.openapi_schema = doc
    return doc


def install(app: FastAPI) -> None:
    """`app` must be built with docs_url=None and redoc_url=None: these pages replace FastAPI's CDN ones."""
    app.openapi = lambda: document(app)  # type: ignore[method-assign]
    app.mount("/docs-assets", StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} API",
                              redoc_js_url="/docs-assets/redoc.standalone.js",
                              redoc_favicon_url="/docs-assets/favicon.png", with_google_fonts=False)


__all__ = ["document", "install"]

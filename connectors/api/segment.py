"""Segment Spec ingestion: what analytics.js, analytics-next and the Segment and RudderStack server
libraries post, translated into Nudge events that enter exactly as /v1/events' do (docs/operations.md,
"Integrations")."""

from __future__ import annotations

import re
import zlib
from datetime import datetime, timezone
from typing import Any, Literal, Mapping

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from connectors.api.auth import Secret, basic_user, bearer, key_ok
from connectors.api.deps import Deps, read_limited_body
from connectors.api.ingest import ingest
from rules.data import DataTally
from rules.events import parse_timestamp
from rules.limits import json_value
from rules.problems import EventError
from rules.traits import check_reserved

MAX_BODY = 1024 * 1024  # after decompression too: a gzip bomb costs no more than a plain body
MAX_MESSAGES = 1000
KINDS = ("track", "identify", "page", "screen", "alias", "group")
TRAIT_NAMES = {"firstName": "first_name", "lastName": "last_name"}  # Segment's reserved traits, in Nudge's spelling
CAMPAIGN = ("name", "source", "medium", "term", "content")
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": "Authorization, Content-Type, Content-Encoding"}


class SegmentMessage(BaseModel):
    """One Segment Spec call as the SDKs send it: the fields Nudge reads (others are accepted and ignored)."""

    model_config = ConfigDict(extra="allow")

    type: Literal["track", "identify", "page", "screen", "alias", "group"] | None = Field(
        None, description="required in a batch; a single call's type is its path")
    messageId: str | None = Field(None, description="the event id: a message sent again is a duplicate")
    userId: str | int | None = Field(None, description="customer_id")
    anonymousId: str | None = Field(None, description="anonymous_id; with userId, the two are linked")
    event: str | None = Field(None, description="track: the name, mapped to a type (settings.event_names, else snake case)")
    name: str | None = None
    category: str | None = None
    previousId: str | None = Field(None, description="alias: linked to userId")
    groupId: str | None = None
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = Field(None, description="identify: merged into the profile (firstName -> first_name)")
    context: dict[str, Any] | None = Field(None, description="ip, userAgent, locale, timezone, campaign, page, traits")
    timestamp: datetime | None = Field(None, description="when it happened by the device's clock (corrected by sentAt)")
    sentAt: datetime | None = Field(None, description="when the device sent it, by the same clock")
    writeKey: str | None = Field(None, description="the write key, when not sent as the Basic auth user name")


class SegmentBatch(BaseModel):
    """What the server libraries post to /v1/batch (and analytics-next to /v1/b)."""

    model_config = ConfigDict(extra="allow")

    batch: list[SegmentMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    sentAt: datetime | None = None
    context: dict[str, Any] | None = Field(None, description="defaults for every message's context")
    writeKey: str | None = None


def event_type(name: Any, names: Mapping[str, str]) -> str:
    """`settings.event_names[name]`, else snake case: "Order Completed" and "orderCompleted" -> order_completed."""
    if not isinstance(name, str) or not name.strip():
        raise EventError("event", "a track call needs an event name")
    if name in names:
        return names[name]
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    snake = re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_")
    if not snake:
        raise EventError("event", f"'{name[:80]}' has no letter or digit to make a type of")
    return snake


def corrected_timestamp(message: Mapping[str, Any], sent_at: Any, received: datetime) -> datetime:
    """Segment's clock-skew correction: timestamp + (receivedAt - sentAt), so a device whose clock is
    wrong by an hour still dates its events right; a message without a timestamp is dated on receipt."""
    stamp = message.get("timestamp", message.get("originalTimestamp"))
    if stamp is None:
        return received
    try:
        when = parse_timestamp(stamp)
        sent = None if sent_at is None else parse_timestamp(sent_at)
    except ValueError as exc:
        raise EventError("timestamp", str(exc)) from None
    try:
        return when if sent is None else when + (received - sent)
    except OverflowError:
        raise EventError("timestamp", "corrected by sentAt, it falls outside the years 1970-9998") from None


def _ident(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise EventError(field, "must be a string")
    return str(value)


def _object(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise EventError(field, "must be an object")
    return value


def _context_traits(context: Mapping[str, Any]) -> dict[str, Any]:
    """The device's locale and time zone as reserved traits, each kept only when valid: a browser's
    odd setting must not refuse the event it rides on."""
    found: dict[str, Any] = {}
    for key in ("locale", "timezone"):
        try:
            found.update(check_reserved({key: context[key]}) if key in context else {})
        except EventError:
            pass
    return found


def _context_properties(context: Mapping[str, Any]) -> dict[str, Any]:
    """What journeys may test about where an event came from: `properties.context.{ip, user_agent, campaign, page}`."""
    campaign = _object(context.get("campaign"), "context.campaign")
    page = _object(context.get("page"), "context.page")
    found = {"ip": context.get("ip"), "user_agent": context.get("userAgent"),
             "campaign": {k: campaign[k] for k in CAMPAIGN if k in campaign},
             "page": {k: page[k] for k in ("url", "path", "referrer", "title", "search") if k in page}}
    return {k: v for k, v in found.items() if v}


def to_event(message: Any, kind: str | None, *, context: Mapping[str, Any], sent_at: Any, received: datetime,
             names: Mapping[str, str]) -> dict[str, Any]:
    """One Segment message as a Nudge event (SPEC §2), left for parse_event to hold to SPEC §8."""
    if not isinstance(message, dict):
        raise EventError("message", "must be an object")
    kind = kind or message.get("type")
    if kind not in KINDS:
        raise EventError("type", f"'{str(kind)[:40]}' is not a Segment call ({', '.join(KINDS)})")
    merged = {**context, **_object(message.get("context"), "context")}
    traits = {**_object(merged.get("traits"), "context.traits"), **_object(message.get("traits"), "traits")}
    properties = dict(_object(message.get("properties"), "properties"))
    if kind == "track":
        type_ = event_type(message.get("event"), names)
    elif kind in ("page", "screen"):
        type_ = kind
        properties.update({k: message[k] for k in ("name", "category") if isinstance(message.get(k), str)})
    elif kind == "group":
        type_, properties = kind, {**properties, "group_id": _ident(message.get("groupId"), "groupId"),
                                   "group": _object(message.get("traits"), "traits")}
        traits = _object(merged.get("traits"), "context.traits")  # the group's traits are not the person's
    else:
        type_ = kind
    if where := _context_properties(merged):
        properties.setdefault("context", where)
    event: dict[str, Any] = {
        "type": type_,
        "customer_id": _ident(message.get("userId"), "userId"),
        # alias: the previous id is linked to the user the way SPEC §2 links an anonymous id
        "anonymous_id": _ident(message.get("previousId" if kind == "alias" else "anonymousId"),
                               "previousId" if kind == "alias" else "anonymousId"),
        "timestamp": corrected_timestamp(message, message.get("sentAt", sent_at), received).isoformat(),
        "properties": properties,
        "traits": {**_context_traits(merged), **{TRAIT_NAMES.get(k, k): v for k, v in traits.items()}},
    }
    if (message_id := _ident(message.get("messageId"), "messageId")) is not None:
        event["id"] = message_id
    return {k: v for k, v in event.items() if v is not None}


def _decoded(body: bytes, encoding: str) -> bytes | None:
    """The body as sent, or None when a gzip body would inflate past MAX_BODY."""
    if encoding.strip().lower() != "gzip":
        return body
    inflater = zlib.decompressobj(wbits=31)
    out = inflater.decompress(body, MAX_BODY + 1)
    return None if len(out) > MAX_BODY or inflater.unconsumed_tail else out


def _answer(status: int, body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=CORS)


def segment_routes(deps: Deps, writers: list[Secret], tally: DataTally | None = None) -> APIRouter:
    router = APIRouter(tags=["Segment"])
    runtime = deps.runtime

    async def receive(request: Request, kind: str | None) -> Response:
        """`kind` None: a batch `{"batch": [...], "sentAt", "context"}` whose messages name their type."""
        raw = await read_limited_body(request, MAX_BODY)
        if raw is None:
            return _answer(413, {"error": f"body over {MAX_BODY} bytes; split the batch"})
        try:
            body = _decoded(raw, request.headers.get("content-encoding", ""))
        except zlib.error as exc:
            return _answer(400, {"error": f"invalid gzip body: {exc}"})
        if body is None:
            return _answer(413, {"error": f"body over {MAX_BODY} bytes once decompressed; split the batch"})
        try:
            data = json_value(body)
        except orjson.JSONDecodeError as exc:
            return _answer(400, {"error": f"invalid JSON: {exc}"})
        if not isinstance(data, dict):
            return _answer(400, {"error": "expected a JSON object"})
        # the server SDKs send the key as Basic user name; analytics-next, in the body (a text/plain post
        # needs no CORS preflight); a Bearer key as every other Nudge call takes it
        presented = basic_user(request.headers.get("authorization", "")) or bearer(request) or data.get("writeKey")
        if not isinstance(presented, str) or not presented:
            return _answer(401, {"error": "missing write key: send it as the Basic auth user name"})
        if not key_ok(presented, writers):
            return _answer(403, {"error": "invalid write key"})
        messages = data.get("batch") if kind is None else [data]
        if not isinstance(messages, list) or not messages:
            return _answer(400, {"error": "expected a non-empty 'batch' array"})
        if len(messages) > MAX_MESSAGES:
            return _answer(413, {"error": f"at most {MAX_MESSAGES} messages per batch"})
        received = datetime.now(timezone.utc)
        names = runtime.workspace.settings.event_names
        outer: dict[str, Any] = data["context"] if kind is None and isinstance(data.get("context"), dict) else {}
        events: list[Any] = []
        translated: list[int] = []
        refused: list[dict[str, Any]] = []
        for index, message in enumerate(messages):
            try:
                events.append(to_event(message, kind, context=outer, sent_at=data.get("sentAt"),
                                       received=received, names=names))
                translated.append(index)
            except EventError as exc:
                refused.append({"index": index, "field": exc.field, "reason": exc.reason})
        runtime.counters.rejected += len(refused)
        result = await ingest(runtime, events, received, tally)
        rejected = sorted(refused + [{**r, "index": translated[r["index"]]} for r in result.rejected],
                          key=lambda r: int(r["index"]))
        if not result.ids:
            return _answer(400, {"error": "no valid message", "rejected": rejected})
        return _answer(200, {"success": True, **result.body(), "rejected": rejected})

    def route(path: str, kind: str | None, summary: str) -> None:
        async def post(request: Request) -> Response:
            return await receive(request, kind)

        async def preflight() -> Response:
            return Response(status_code=204, headers=CORS)

        router.add_api_route(path, post, methods=["POST"], summary=summary)
        router.add_api_route(path, preflight, methods=["OPTIONS"], include_in_schema=False)

    for kind in KINDS:  # analytics-next posts to <apiHost>/<first letter of the type>, and batches to <apiHost>/b
        route(f"/v1/{kind}", kind, f"Segment {kind} call")
        route(f"/v1/{kind[0]}", kind, f"Segment {kind} call (analytics-next's path)")
    route("/v1/batch", None, "Segment batch: what the Segment and RudderStack server libraries post")
    route("/v1/b", None, "Segment batch (analytics-next's batching path)")
    return router


__all__ = ["SegmentBatch", "SegmentMessage", "event_type", "segment_routes", "to_event"]

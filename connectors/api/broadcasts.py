"""Broadcasts over HTTP (SPEC §13): plan, send, cancel and follow one beside a running `nudge run`."""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, Field

from connectors.api.auth import Secret, require_key
from connectors.api.openapi import FORBIDDEN, UNAUTHORIZED, UNAVAILABLE
from connectors.api.deps import Deps
from engine.runtimes.embedded import broadcasts
from engine.runtimes.kernel.port import Broadcasts


class SendBody(BaseModel):
    now: bool = Field(False, description="start now for everyone, whatever send_at says")


def _answer(description: str, example: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": {"type": "object", "properties": {"error": {"type": "string"}}}, "example": {"error": example}}}}


UNKNOWN = _answer("No broadcast of that id in the workspace (or, to cancel, none sent)", "no broadcast 'spring'")
ANSWERS: dict[int | str, dict[str, Any]] = {401: UNAUTHORIZED, 403: FORBIDDEN, 404: UNKNOWN, 503: UNAVAILABLE}
WRITING: dict[int | str, dict[str, Any]] = {
    **ANSWERS, 400: _answer("The body is not JSON", "There was an error parsing the body"),
    409: _answer("Already sent, or already cancelled: a broadcast is sent once", "already cancelled"),
    501: _answer("This runtime does not send broadcasts", "broadcasts run in `nudge run`")}


def _json(status: int, body: object) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _refused(exc: broadcasts.BroadcastError) -> Response:
    """404 for a broadcast that is not there, 409 for one whose state refuses the action."""
    return _json(404 if isinstance(exc, broadcasts.UnknownBroadcast) else 409, {"error": str(exc)})


def broadcast_routes(deps: Deps, keys: list[Secret]) -> APIRouter:
    router = APIRouter(prefix="/v1/broadcasts", tags=["broadcasts"], dependencies=[Depends(require_key(keys))])

    def desk() -> Broadcasts | Response:
        if deps.runtime.broadcasts is not None:
            return deps.runtime.broadcasts
        return _json(501, {"error": "broadcasts run in `nudge run`; the Kafka runtime does not send them yet"})

    @router.get("/{broadcast_id}", responses=ANSWERS, summary="Where a broadcast stands: entered, sent, not sent by reason, waiting by zone")
    async def view(broadcast_id: str) -> Response:
        try:
            broadcasts.broadcast_of(deps.runtime.workspace, broadcast_id)
        except broadcasts.BroadcastError as exc:
            return _refused(exc)
        desk = deps.runtime.broadcasts
        return _json(200, await deps.on_db(broadcasts.status, broadcast_id, desk is not None and desk.waiting_known))

    @router.get("/{broadcast_id}/plan", responses=ANSWERS, summary="Before sending: audience, sends by hour, suppressed by reason")
    async def plan(broadcast_id: str) -> Response:
        try:
            return _json(200, await deps.on_db(broadcasts.forecast, deps.runtime.workspace, broadcast_id, time.time()))
        except broadcasts.BroadcastError as exc:
            return _refused(exc)

    @router.post("/{broadcast_id}/send", status_code=202, responses=WRITING, summary="Schedule a broadcast at its send_at (or now); once only")
    async def send(broadcast_id: str, body: SendBody | None = None) -> Response:
        sender = desk()
        if isinstance(sender, Response):
            return sender
        try:
            view = await sender.schedule(broadcast_id, bool(body and body.now))
        except broadcasts.BroadcastError as exc:
            return _refused(exc)
        return _json(202, view)

    @router.post("/{broadcast_id}/cancel", responses=WRITING, summary="Cancel before or during sending: customers not yet reached get nothing")
    async def cancel(broadcast_id: str) -> Response:
        sender = desk()
        if isinstance(sender, Response):
            return sender
        try:
            done = await sender.cancel(broadcast_id)
        except broadcasts.BroadcastError as exc:
            return _refused(exc)
        return _json(200, {"id": broadcast_id, "status": "cancelled", **done})

    return router

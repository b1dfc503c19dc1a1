"""The operator's outbox over HTTP: list dead and in-doubt messages, re-queue the dead, resolve the doubtful."""

from __future__ import annotations

from typing import Literal

import orjson
from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, Field, model_validator

from connectors.api.auth import Secret, require_key
from connectors.api.deps import Deps
from engine.runtimes.embedded import queries


class Requeue(BaseModel):
    """Which dead messages to send again: these ids, those whose error contains `reason`, or `all`."""

    ids: list[str] | None = None
    reason: str | None = None
    all: bool = False

    @model_validator(mode="after")
    def one_choice(self) -> Requeue:
        if sum((self.ids is not None, bool(self.reason), self.all)) != 1:
            raise ValueError("give exactly one of ids, reason or all: true")
        return self


class Resolve(BaseModel):
    """An operator's verdict on in-doubt messages (these ids, or `all`): sent, or send again."""

    as_: Literal["sent", "resend"] = Field(alias="as")
    ids: list[str] | None = None
    all: bool = False

    @model_validator(mode="after")
    def one_choice(self) -> Resolve:
        if (self.ids is not None) == self.all:
            raise ValueError("give either ids or all: true")
        return self


def _json(body: object) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def outbox_routes(deps: Deps, keys: list[Secret]) -> APIRouter:
    router = APIRouter(prefix="/v1/outbox", tags=["outbox"], dependencies=[Depends(require_key(keys))])

    @router.get("", summary="Messages by status (dead, in_doubt, ...), newest first, with their last error")
    async def listing(status: Literal["dead", "in_doubt", "pending", "sending", "sent", "erased"] = "dead",
                      limit: int = 100) -> Response:
        return _json({"messages": await deps.on_db(queries.outbox_rows, status, max(1, min(limit, 1000)))})

    @router.post("/requeue", summary="Send dead messages again, with a fresh set of attempts")
    async def requeue(body: Requeue) -> Response:
        done = await deps.on_db(queries.requeue_dead, None if body.all else body.ids, body.reason)
        deps.runtime.wake_dispatch()
        return _json({"requeued": done})

    @router.post("/resolve", summary="Resolve in-doubt messages as sent, or send them again")
    async def resolve(body: Resolve) -> Response:
        done = await deps.on_db(queries.resolve_in_doubt, body.as_, None if body.all else body.ids)
        deps.runtime.wake_dispatch()
        return _json({"resolved": done, "as": body.as_})

    return router

"""Editing what runs over HTTP (SPEC §10): the live version beside the files on disk, and apply with its plan."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from connectors.api.auth import Secret, require_key
from connectors.api.deps import Deps
from engine.runtimes.kernel.serving import HTTP_STATUS, Outcome


class Apply(BaseModel):
    """How to apply the workspace files: confirm exits, re-plan changed waits, or only show the plan."""

    model_config = ConfigDict(extra="forbid")

    confirm: bool = Field(False, description="apply even though customers would exit step_removed")
    reschedule: bool = Field(False, description="customers in a wait whose duration or time changed get the new "
                                                "one (default: they keep their due time)")
    dry_run: bool = Field(False, description="only return the plan")


def answer(outcome: Outcome) -> Response:
    """The outcome with its plan; an `error` beside it when nothing was applied (409 exits unconfirmed, 422 problems)."""
    status = HTTP_STATUS[outcome.status]
    body = outcome.to_json()
    if status >= 400:
        body = {"error": outcome.message, **body}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def workspace_routes(deps: Deps, keys: list[Secret]) -> APIRouter:
    router = APIRouter(prefix="/v1/workspace", tags=["workspace"], dependencies=[Depends(require_key(keys))])

    @router.get("", summary="The live version, whether the files on disk differ, a refused edit's problems, "
                            "and what applying the files would do now")
    async def status() -> Response:
        return Response(orjson.dumps(await deps.runtime.versions.status()), media_type="application/json")

    @router.post("/apply", summary="Plan the files on disk against the customers in flight and apply them; "
                                   "refused (409) when customers would exit and confirm is not given")
    async def apply(body: Apply | None = None) -> Response:
        body = body or Apply()
        return answer(await deps.runtime.versions.apply(confirm=body.confirm, reschedule=body.reschedule,
                                                         dry_run=body.dry_run))

    return router

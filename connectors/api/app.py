"""The HTTP API of a running Nudge (FastAPI): events in, customers, health, metrics, the workspace version."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import datetime, timezone
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from connectors.api.auth import Secret, SignatureChecker, bearer, key_ok, write_keys
from connectors.api.broadcasts import broadcast_routes
from connectors.api.deps import Deps, read_limited_body
from connectors.api.ingest import ingest
from connectors.api.preferences import preference_routes
from connectors.api.providers import provider_routes
from connectors.api.reports import report_page
from connectors.api.segment import segment_routes
from connectors.api.metrics import Metrics
from connectors.api.openapi import install as install_docs
from connectors.api.outbox import outbox_routes
from connectors.api.workspace import answer, workspace_routes
from engine.runtimes.embedded import queries
from engine.runtimes.kernel.health import Unavailable
from engine.runtimes.kernel.port import Runtime
from engine.runtimes.settings import Settings
from rules.limits import customer_id_problem, json_value

MAX_BODY = 1024 * 1024
MAX_EVENTS = 1000


def _json(status: int, body: Any) -> Response:
    return Response(orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS), status_code=status, media_type="application/json")


def _error(status: int, message: str, **extra: Any) -> Response:
    return _json(status, {"error": message, **extra})


def _customer_id_of(request: Request) -> str:
    """The id exactly as sent: a route regex ends in `$`, which matches before a trailing newline and drops it."""
    return str(request.scope["path"]).split("/v1/customers/", 1)[1]


def _bad_customer_id(customer_id: str) -> Response | None:
    """422 for an id no customer can have (SPEC §8), before anything is read or erased."""
    if problem := customer_id_problem(customer_id):
        return _error(422, f"customer_id: {problem}", field="customer_id", reason=problem)
    return None


def _retry_later(message: str, seconds: int) -> Response:
    response = _error(503, message)
    response.headers["Retry-After"] = str(seconds)
    return response


def create_app(runtime: Runtime, keys: list[Secret], signing: SignatureChecker | None = None,
               settings: Settings | None = None) -> FastAPI:
    metrics = Metrics(runtime.counters, lambda: runtime.counts(runtime.read), runtime.clock)
    runtime.counters.observers.append(metrics.observe)
    deps = Deps(runtime, settings or Settings())
    on_db = deps.on_db

    app = FastAPI(title="Nudge", version="1", description="Events in; journeys decide; messages out exactly once.",
                  docs_url=None, redoc_url=None)
    install_docs(app)
    app.include_router(provider_routes(deps))
    app.include_router(preference_routes(deps))
    app.include_router(outbox_routes(deps, keys))
    app.include_router(workspace_routes(deps, keys))
    app.include_router(broadcast_routes(deps, keys))
    writers = write_keys(deps.settings.api, keys)
    app.include_router(segment_routes(deps, writers, metrics.data))

    def unauthorized(request: Request, accepted: list[Secret] | None = None) -> Response | None:
        """None when the request carries one of the `accepted` keys (default: the API keys)."""
        presented = bearer(request)
        if not presented:
            return _error(401, "missing API key: send 'Authorization: Bearer <key>'")
        if not key_ok(presented, keys if accepted is None else accepted):
            return _error(403, "invalid API key")
        return None

    @app.post("/v1/events", status_code=202, summary="Send one event or a JSON array of up to 1,000")
    async def post_events(request: Request) -> Response:
        if (refused := unauthorized(request, writers)) is not None:
            return refused
        body = await read_limited_body(request, MAX_BODY)
        if body is None:
            return _error(413, f"body over {MAX_BODY} bytes; split the batch")
        if signing is not None:
            now = time.time()
            reason = signing.check(request.headers.get("nudge-signature"), body, now)
            if reason:
                return _error(401, reason)
            signature = signing.signature_of(request.headers.get("nudge-signature", ""))
            if not await on_db(queries.first_use_of_signature, signature, now, signing.memory):
                return _error(401, "signature already used (replay)")
        try:
            data = json_value(body)
        except orjson.JSONDecodeError as exc:
            return _error(400, f"invalid JSON: {exc}")
        items = data if isinstance(data, list) else [data]
        if not items:
            return _error(422, "empty batch")
        if len(items) > MAX_EVENTS:
            return _error(413, f"at most {MAX_EVENTS} events per request")
        result = await ingest(runtime, items, datetime.now(timezone.utc), metrics.data)
        if not result.ids:
            return _json(422, {"error": "no valid event", "rejected": result.rejected})
        return _json(202, result.body())

    # `:path` takes an id with its slashes (`victim%2F` arrives as `victim/`), so it is refused here instead of
    # matching nothing and being redirected by redirect_slashes to another customer
    @app.get("/v1/customers/{customer_id:path}", summary="Traits, activity, journeys in flight, recent messages")
    async def get_customer(customer_id: str, request: Request) -> Response:
        customer_id = _customer_id_of(request)
        if (refused := unauthorized(request) or _bad_customer_id(customer_id)) is not None:
            return refused
        view = await on_db(queries.customer_view, customer_id)
        return _error(404, f"no customer '{customer_id}'") if view is None else _json(200, view)

    @app.delete("/v1/customers/{customer_id:path}", summary="Erase a customer (GDPR): profile, events, state, message data")
    async def delete_customer(customer_id: str, request: Request) -> Response:
        customer_id = _customer_id_of(request)
        if (refused := unauthorized(request) or _bad_customer_id(customer_id)) is not None:
            return refused
        async with deps.db_lock:  # the API's connection, one user at a time
            found = await runtime.erase_customer(customer_id)
        return _json(200, {"erased": customer_id}) if found else _error(404, f"no customer '{customer_id}'")

    @app.post("/v1/reload", summary="Apply the files on disk, never confirming exits (POST /v1/workspace/apply "
                                    "without a body)", deprecated=True)
    async def reload(request: Request) -> Response:
        if (refused := unauthorized(request)) is not None:
            return refused
        return answer(await runtime.versions.apply())

    report_keys = list(deps.settings.api.reports_keys)

    @app.get("/reports", summary="Campaign performance and customer analytics (HTML, or ?format=json|csv)")
    async def reports(request: Request, format: str = "html", since: str | None = None, until: str | None = None,
                      journey: str | None = None) -> Response:
        # the read-only reports key (or an API key), in the Authorization header like every other
        # call, or as `?key=` because a browser cannot send a header from a bookmark
        readers = [*report_keys, *keys]
        if not key_ok(request.query_params.get("key"), readers) and (refused := unauthorized(request, readers)):
            return refused
        try:
            body, media = await on_db(report_page, runtime.workspace, format, since, until, journey)
        except ValueError as exc:
            return _error(400, str(exc))
        return Response(body, media_type=media)

    @app.exception_handler(Unavailable)
    async def unavailable(request: Request, exc: Unavailable) -> Response:
        """The runtime cannot take the request now (its broker is away): nothing was accepted."""
        return _retry_later(str(exc), exc.retry_after)

    @app.exception_handler(sqlite3.OperationalError)
    async def database_unavailable(request: Request, exc: sqlite3.OperationalError) -> Response:
        """A full disk, a file that cannot be written, a lock held too long: the request's transaction
        rolled back, so trying again is safe."""
        return _retry_later(f"the database is unavailable ({exc}); nothing was changed: try again", 5)

    @app.get("/healthz", summary="Liveness and backlog: 503 naming what fails (engine, database, watcher, broker)")
    async def healthz() -> Response:
        found = await runtime.probe()
        mark = runtime.health.idle_mark("dispatch")  # before the read: a round's own `sending` rows are not stranded
        try:
            counts: dict[str, Any] = await on_db(runtime.counts)
        except sqlite3.Error as exc:
            counts = {}
            found.setdefault("database", f"cannot be read: {exc}")
        sending = counts.get("messages", {}).get("sending", 0)
        stranded = sending if runtime.health.still_idle("dispatch", mark) else 0
        verdict = runtime.health.verdict({"engine": counts.get("events_pending") or 0}, found, stranded)
        # files on disk that differ from the running version are an edit not applied yet, the normal state
        # between saving and `nudge apply`: shown, never a problem (a supervisor must not restart for it)
        workspace = await runtime.versions.summary()
        return _json(503 if verdict.problems else 200, {"status": verdict.status, "problems": verdict.problems,
                                                        "warnings": verdict.warnings, "workspace": workspace, **counts})

    @app.get("/metrics", summary="Prometheus metrics")
    async def prometheus() -> Response:
        async with deps.db_lock:
            text = await asyncio.to_thread(generate_latest, metrics.registry)
        return PlainTextResponse(text, media_type=CONTENT_TYPE_LATEST)

    return app


__all__ = ["create_app"]

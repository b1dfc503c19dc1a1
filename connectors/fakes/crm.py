"""A local CRM that takes tasks ("call this VIP") from Nudge's webhook sends, as a receiver should:
it checks `Nudge-Signature` and keeps one task per `Idempotency-Key`.

Run it for the demo: `python -m connectors.fakes.crm --secret S` (port 8027); see docs/operations.md, "Integrations".
"""

from __future__ import annotations

import argparse
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.api.auth import Secret, SignatureChecker
from connectors.fakes.server import Fault, Faults, body_unless_fault, demo_options, fault_route, serve_demo

DEFAULT_SECRET = "whsec_demo"


@dataclass
class CrmFake:
    secret: str = DEFAULT_SECRET
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # by Idempotency-Key, in arrival order
    posts: int = 0  # every post that reached the fake, repeats and refusals included
    refused: list[str] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, body: bytes, signature: str | None, key: str | None, now: float) -> tuple[int, dict[str, Any]]:
        """The status and answer for one post: 401 for a bad signature, 400 without a key, else the task."""
        with self.lock:
            reason = SignatureChecker(Secret(self.secret)).check(signature, body, now)
            if reason is not None or not key:
                self.refused.append(reason or "missing Idempotency-Key")
                return (401, {"error": reason}) if reason else (400, {"error": "missing Idempotency-Key"})
            if key in self.tasks:
                return 200, {**self.tasks[key], "repeat": True}
            self.tasks[key] = {"id": f"task_{len(self.tasks) + 1}", "key": key, "task": orjson.loads(body or b"{}")}
            return 201, self.tasks[key]


def _refusal(fault: Fault) -> Response:
    headers = {"Retry-After": str(int(fault.seconds))} if fault.kind == "rate_limit" else {}
    return JSONResponse({"error": f"injected {fault.kind}"}, fault.status, headers=headers)


def create_app(fake: CrmFake) -> Starlette:
    async def create(request: Request) -> Response:
        fake.posts += 1  # on the server's one event loop
        body, refused = await body_unless_fault(request, fake.faults, _refusal)
        if refused is not None:
            return refused
        status, answer = fake.take(body, request.headers.get("nudge-signature"),
                                   request.headers.get("idempotency-key"), time.time())
        return JSONResponse(answer, status, headers={"X-Request-Id": str(answer.get("id", ""))})

    async def tasks(request: Request) -> Response:
        return JSONResponse(list(fake.tasks.values()))

    return Starlette(routes=[Route("/tasks", create, methods=["POST"]), Route("/_fake/tasks", tasks, methods=["GET"]),
                             fault_route(fake.faults)])


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--secret", default=DEFAULT_SECRET, help="NUDGE_WEBHOOK_SIGNING_SECRET of the Nudge posting")


def main() -> None:
    options = demo_options("A local CRM taking Nudge's webhook tasks, for demos.", 8027, _options)
    serve_demo("CRM", create_app(CrmFake(secret=options.secret)), options,
               f"  Tasks: POST /tasks (signed with {options.secret!r}); list: GET /_fake/tasks")


if __name__ == "__main__":
    main()

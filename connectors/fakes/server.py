"""What both fakes share: a real socket on 127.0.0.1 served from a thread, and a queue of injected faults."""

from __future__ import annotations

import argparse
import asyncio
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Callable, Literal

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

FaultKind = Literal["rate_limit", "error", "hang"]


@dataclass(frozen=True)
class Fault:
    """One planned misbehaviour: `seconds` is the advertised wait (rate_limit) or the stall (hang)."""

    kind: FaultKind
    status: int = 500
    seconds: float = 1.0


class Faults:
    """Faults for the next requests, in order; set from the test's thread, taken on the server's."""

    def __init__(self) -> None:
        self._queue: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._released = threading.Event()
        self.stalled = 0  # requests stalling right now
        self.abandoned = 0  # stalled requests whose client hung up (timed out) before the answer

    def _add(self, fault: Fault, times: int) -> None:
        with self._lock:
            self._queue.extend([fault] * times)

    def rate_limit(self, times: int = 1, seconds: float = 1.0) -> None:
        """429 with the provider's rate-limit headers, asking to wait `seconds`."""
        self._add(Fault("rate_limit", 429, seconds), times)

    def error(self, times: int = 1, status: int = 500) -> None:
        self._add(Fault("error", status), times)

    def hang(self, seconds: float, times: int = 1) -> None:
        """Stall, then answer as usual: a client that gave up still had its message accepted (the in-doubt case)."""
        self._released.clear()
        self._add(Fault("hang", seconds=seconds), times)

    def release(self) -> None:
        """End every stall now and drop the hangs still queued; other faults stay."""
        with self._lock:
            self._queue = deque(f for f in self._queue if f.kind != "hang")
        self._released.set()

    async def stall(self, fault: Fault | None, request: Request) -> None:
        """A hang: `fault.seconds`, or less when the test calls `release()`; a client hanging up is counted."""
        if fault is None or fault.kind != "hang":
            return
        self.stalled += 1
        gone = False
        try:
            deadline = time.monotonic() + fault.seconds
            while not self._released.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
                if not gone and await request.is_disconnected():
                    gone = True
                    self.abandoned += 1
        finally:
            self.stalled -= 1

    def take(self) -> Fault | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()


async def body_unless_fault(request: Request, faults: Faults,
                            refusal: Callable[[Fault], Response]) -> tuple[bytes, Response | None]:
    """The request's body and, when the next fault refuses the request, the provider's answer to send instead.

    The body is read before any stall: a client that gives up leaves no body to read. A hang stalls here,
    then the request goes on as usual.
    """
    body = await request.body()
    fault = faults.take()
    if fault is not None and fault.kind != "hang":
        return body, refusal(fault)
    await faults.stall(fault, request)
    return body, None


def demo_options(description: str, port: int, add: Callable[[argparse.ArgumentParser], None]) -> argparse.Namespace:
    """Command-line options of a fake run as its own process: --host, --port, then the fake's own (`add`)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    add(parser)
    return parser.parse_args()


def serve_demo(name: str, app: ASGIApp, options: argparse.Namespace, details: str) -> None:
    """Serve `app` in the foreground, after a banner of where it listens and `details` (its credentials)."""
    print(f"{name} fake on http://{options.host}:{options.port}\n{details}", flush=True)
    uvicorn.run(app, host=options.host, port=options.port, log_level="warning")


def fault_route(faults: Faults) -> Route:
    """`POST /_fake/faults {"kind", "times", "seconds", "status"}`: faults for a fake run in another process."""

    async def add(request: Request) -> Response:
        ask = await request.json()
        times, seconds = int(ask.get("times", 1)), float(ask.get("seconds", 1.0))
        match ask.get("kind"):
            case "rate_limit":
                faults.rate_limit(times, seconds)
            case "error":
                faults.error(times, int(ask.get("status", 500)))
            case "hang":
                faults.hang(seconds, times)
            case "release":
                faults.release()
            case other:
                return JSONResponse({"error": f"kind {other!r} is not rate_limit, error, hang or release"}, 400)
        return Response(status_code=204)

    return Route("/_fake/faults", add, methods=["POST"])


class FakeServer:
    """uvicorn in a daemon thread, so the official clients talk real HTTP to an in-process fake."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0, shutdown_grace: int = 1) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))  # bound here, so the port is known before the thread starts
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=shutdown_grace)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name="fake-provider", daemon=True)
        host, port = self._socket.getsockname()[:2]
        self.url = f"http://{host}:{port}"

    def start(self, timeout: float = 10.0) -> str:
        """Serve and return the base URL once the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._socket.close()
                raise RuntimeError(f"the fake on {self.url} did not start")
            time.sleep(0.01)
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit; a request still hanging is cancelled after the grace period."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

"""What both fakes share: a real socket on 127.0.0.1 served from a thread, and a queue of injected faults."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

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
        self._add(Fault("hang", seconds=seconds), times)

    def take(self) -> Fault | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()


async def stall(fault: Fault | None) -> None:
    if fault is not None and fault.kind == "hang":
        await asyncio.sleep(fault.seconds)


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
            case other:
                return JSONResponse({"error": f"kind {other!r} is not rate_limit, error or hang"}, 400)
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

"""The engine process's loop (engine/runtimes/embedded/engine_child.py) runs each batch with the cyclic garbage
collector paused, and gives it back after, a failed batch included: a batch's short-lived objects are not scanned
again and again while it runs, and nothing stays uncollected once it is done."""

from __future__ import annotations

import gc
import socket

import pytest

from engine.runtimes.embedded.engine_child import Engine
from engine.runtimes.embedded.processor import BatchResult
from engine.runtimes.embedded.wire import Inbox


class Batches:
    """A processor stand-in: says whether the collector ran during each batch; the first batch fails, and once
    the second is done the server's end closes (the loop then ends)."""

    def __init__(self, server: socket.socket) -> None:
        self.server = server
        self.collecting: list[bool] = []

    def run_batch(self) -> BatchResult:
        self.collecting.append(gc.isenabled())
        if len(self.collecting) == 1:
            raise RuntimeError("a batch that fails")
        return BatchResult()

    def next_due(self) -> float | None:
        self.server.shutdown(socket.SHUT_WR)  # the engine reads the end of its messages
        return None


def test_each_batch_runs_with_the_collector_paused_and_it_is_back_after_even_a_failed_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("engine.runtimes.embedded.engine_child.FAILED_PAUSE", 0.0)
    server, engine_end = socket.socketpair()
    batches = Batches(server)
    assert gc.isenabled()
    try:
        Engine(Inbox(engine_end), batches).run()  # type: ignore[arg-type]
    finally:
        engine_end.close()
        server.close()
    assert batches.collecting == [False, False]
    assert gc.isenabled()

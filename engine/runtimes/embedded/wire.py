"""The socket between `nudge run` and its engine process: length-prefixed pickles, both ends this package.

Pickle, because the two ends are the same code started from the same files (the child checks the workspace
version) and a plan, a broadcast's view or an engine error travel as they are; the socket is a socketpair
no other process can reach.

From the server: `("wake",)` (events committed, a broadcast scheduled), `("call", id, name, args)`,
`("stop",)`. From the engine: `("ready", pid)` or `("refused", why)`, then per batch `("began",)` and
`("done", Tally)` or `("failed", error)`, and `("reply", id, ok, value)` for each call.
"""

from __future__ import annotations

import pickle
import select
import socket
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.runtimes.embedded.processor import BatchResult
    from engine.runtimes.kernel.port import EngineCounters

HEADER = struct.Struct(">I")


@dataclass(frozen=True)
class Tally:
    """What one batch did, for the server's counters and health."""

    events: int
    late: int
    timers: int
    failed: int
    diagnostics: int
    messages: int

    @classmethod
    def of(cls, result: BatchResult) -> Tally:
        return cls(result.events, result.late, result.timers, result.failed, len(result.diagnostics), result.messages)

    def add_to(self, counters: EngineCounters) -> None:
        counters.processed += self.events
        counters.late += self.late
        counters.timers_fired += self.timers
        counters.failed += self.failed
        counters.diagnostics += self.diagnostics


def frame(message: tuple[Any, ...]) -> bytes:
    data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


WAKE = frame(("wake",))


def portable(exc: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else a RuntimeError saying what it was."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


class Inbox:
    """The engine's end: blocking sends, and reads that wait at most a timeout."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = bytearray()

    def send(self, message: tuple[Any, ...]) -> None:
        self.sock.sendall(frame(message))

    def receive(self, timeout: float | None) -> list[tuple[Any, ...]] | None:
        """The messages that came within `timeout` seconds (all of them, none if none came); None once the
        server's end is closed."""
        ready, _, _ = select.select([self.sock.fileno()], [], [], timeout)
        if not ready:
            return []
        self.sock.setblocking(False)
        try:
            while True:
                try:
                    chunk = self.sock.recv(1 << 16)
                except BlockingIOError:
                    break
                if not chunk:
                    return None
                self._buffer += chunk
        finally:
            self.sock.setblocking(True)
        return self._messages()

    def _messages(self) -> list[tuple[Any, ...]]:
        found = []
        while len(self._buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(self._buffer)
            if len(self._buffer) < HEADER.size + size:
                break
            found.append(pickle.loads(bytes(self._buffer[HEADER.size:HEADER.size + size])))
            del self._buffer[:HEADER.size + size]
        return found

"""The `file` channel: each message appended as one JSON line (development and tests)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from pathlib import Path
from typing import Any

import orjson

from connectors.channels.base import Delivery, Threads, TransientError

RECORD_KEYS = ("at", "customer_id", "journey", "step", "type", "channel", "template", "to", "status",
               "subject", "text", "variant")


def line_for(message: dict[str, Any]) -> bytes:
    """The SPEC §7 send record, plus the message id (and the HTML of an email)."""
    record = {"id": message["id"], **{k: message.get(k) for k in RECORD_KEYS}}
    record.update(type="send", status="sent")
    if message.get("html") is not None:
        record["html"] = message["html"]
    if message.get("headers"):
        record["headers"] = message["headers"]
    return orjson.dumps(record) + b"\n"


class FileSender:
    """Whole lines or nothing, each message once: the file is the provider, its index of ids the provider's memory."""

    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        self._size, self._ids = self._index()
        self._thread = Threads("file", size=1)  # one writer, off the event loop, in order
        self._waiting: list[tuple[str, bytes, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    def _index(self) -> tuple[int, set[str]]:
        """Read the file once: the ids of its whole lines; a cut-off last line (no newline) is cut away."""
        ids: set[str] = set()
        whole = 0
        with self.path.open("rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    break
                whole += len(line)
                with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError):
                    ids.add(str(orjson.loads(line)["id"]))
        if whole < os.fstat(self._fd).st_size:
            os.ftruncate(self._fd, whole)
        return whole, ids

    async def send(self, message: dict[str, Any]) -> Delivery:
        """Lines waiting together are written together: one trip to the writer thread for a group."""
        written = asyncio.get_running_loop().create_future()
        self._waiting.append((message["id"], line_for(message), written))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting())
        await written
        return Delivery(provider_id=message["id"])

    async def _write_waiting(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                await self._thread.run(self._append, [(mid, line) for mid, line, _ in group])
            except Exception as exc:  # each sender waiting on this group gets it
                outcome: BaseException | None = exc
            else:
                outcome = None
            for *_, written in group:
                if not written.done():  # a shutdown may have given up on it
                    written.set_result(None) if outcome is None else written.set_exception(outcome)

    def _append(self, lines: list[tuple[str, bytes]]) -> None:
        """All of the lines, or none: a short write (disk full, file size limit) is undone and raised.

        A message already in the file is skipped: an operator's `--as resend` of one that had landed
        writes no second line.
        """
        new: dict[str, bytes] = {}
        for mid, line in lines:
            if mid not in self._ids:
                new.setdefault(mid, line)
        data, written = b"".join(new.values()), 0
        try:
            while written < len(data):
                count = os.write(self._fd, data[written:])
                if count == 0:
                    raise OSError(errno.ENOSPC, "no byte written")
                written += count
        except OSError as exc:
            os.ftruncate(self._fd, self._size)
            raise TransientError(f"cannot append to {self.path}: {exc.strerror or exc}") from exc
        self._size += written
        self._ids.update(new)

    async def confirm(self, message_id: str) -> bool | None:
        """A whole line with this id is in the file, or is not (the index was read once at start)."""
        return message_id in self._ids

    async def close(self) -> None:
        self._thread.close()
        os.close(self._fd)

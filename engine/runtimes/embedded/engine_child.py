"""`nudge run`'s engine process: batches, timers, broadcasts' starts, winner checks and applied edits on the
server's SQLite file, beside the process that serves the API (engine_process.py starts it).

Its own interpreter, so the engine's batches do not share a GIL with HTTP parsing and the group commit.
It loads the workspace from the files and refuses to run a version other than the server's. It works
between calls and batches on one thread, so a call (an edit applied, a broadcast scheduled) always
comes between two batches. Its life is the server's: the server stops it over the socket (the batch under
way finishes, then it exits), so the signals a terminal or a supervisor sends the whole group (SIGTERM,
SIGINT, SIGHUP) are left to the server; the server ending (even by SIGKILL) ends it too.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import logging
import os
import signal
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from engine.links import SignedLinks
from engine.runtimes.embedded import database
from engine.runtimes.embedded.front import secret_from_meta
from engine.runtimes.embedded.processor import Processor
from engine.runtimes.embedded.runtime import out_of_collection
from engine.runtimes.embedded.wire import Inbox, Tally, portable
from engine.runtimes.kernel.serving import Proceed, content_version, read_edit
from engine.runtimes.startup import EX_CONFIG
from rules.problems import WorkspaceError
from rules.workspace import load_workspace

log = logging.getLogger("nudge.engine")

PR_SET_PDEATHSIG = 1
FAILED_PAUSE = 1.0  # seconds before a batch that failed is tried again


class EditChanged(Exception):
    """The files changed between the server's reading of an edit and the engine's: apply again."""


class Engine:
    """The loop: take the server's messages, run a batch, tell the server what it did; sleep until due or woken."""

    def __init__(self, inbox: Inbox, processor: Processor) -> None:
        self.inbox, self.processor = inbox, processor
        self.stopping = False

    def run(self) -> None:
        while self._take(0):
            if self.stopping:
                return
            self.inbox.send(("began",))
            try:
                with collector_paused():
                    result = self.processor.run_batch()
            except Exception as exc:
                log.exception("engine batch failed; retrying in %.0f s", FAILED_PAUSE)
                self.inbox.send(("failed", portable(exc)))
                if not self._pause(FAILED_PAUSE):
                    return
                continue
            self.inbox.send(("done", Tally.of(result)))
            if result.work:
                continue
            due = self.processor.next_due()
            if not self._take(None if due is None else max(0.0, due - time.time())):
                return

    def _pause(self, seconds: float) -> bool:
        """The whole pause, however many wake-ups come meanwhile (calls are still answered)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and not self.stopping:
            if not self._take(left):
                return False
        return True

    def _take(self, timeout: float | None) -> bool:
        """Wait for the server's messages (or a signal) up to `timeout` and act on them; False once it is gone."""
        messages = self.inbox.receive(timeout)
        if messages is None:
            log.error("the server's end of the engine socket closed: the engine process exits")
            return False
        for message in messages:
            if message[0] == "stop":
                self.stopping = True
            elif message[0] == "call":
                _, number, name, args = message
                try:
                    self.inbox.send(("reply", number, True, getattr(self, "call_" + name)(*args)))
                except Exception as exc:
                    self.inbox.send(("reply", number, False, portable(exc)))
        return True

    def call_migrate(self, version: str, reschedule: bool, proceed: Proceed, folder: str) -> tuple[Any, bool]:
        """The files the server planned (`version`, its copy in `folder`), loaded here, planned and applied
        between two batches."""
        if content_version(Path(folder)) != version:
            raise EditChanged(f"the files changed while version {version} was being applied: apply again")
        edit = read_edit(Path(folder))
        if isinstance(edit, list):
            raise EditChanged(f"the files of version {version} have {len(edit)} problem(s) now: apply again")
        return self.processor.migrate(edit, version=version, reschedule=reschedule, proceed=proceed)

    def call_schedule(self, broadcast_id: str, now: bool) -> dict[str, Any]:
        return self.processor.schedule_broadcast(broadcast_id, now)

    def call_cancel(self, broadcast_id: str) -> dict[str, int]:
        return self.processor.cancel_broadcast(broadcast_id)


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for a batch: its thousands of short-lived objects (decoded events, states,
    rows) are freed by their reference counts when it ends, so the collection that follows scans only what
    outlived it, where during the batch a collection every 700 allocations scans them again and again (a fifth
    of the engine's CPU per event). A batch makes few reference cycles; they wait for the batch's end."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def die_with(parent: int) -> None:
    """Linux: the kernel kills this process when the server's ends (SIGKILL included): a server started again
    never finds an engine of the old one still writing."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the closed socket ends it after its batch
        pass
    if os.getppid() != parent:
        sys.exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--public-url", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    die_with(args.parent)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s[engine]: %(message)s")
    for group_signal in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # the server's to act on: it stops this one
        signal.signal(group_signal, signal.SIG_IGN)
    inbox = Inbox(socket.socket(fileno=args.fd))
    try:
        workspace = load_workspace(args.workspace).workspace
    except WorkspaceError as exc:
        inbox.send(("refused", f"the workspace files have {len(exc.problems)} problem(s) now: "
                               + "; ".join(str(p) for p in exc.problems)))
        return EX_CONFIG
    version = content_version(args.workspace)
    if version != args.version:
        inbox.send(("refused", f"the workspace files are version {version}, the server runs {args.version}: "
                               "restore the files, or restart `nudge run` to start with them"))
        return EX_CONFIG
    conn = database.connect(args.db)
    links = SignedLinks(secret_from_meta(conn, "link_secret").encode(), args.public_url)
    processor = Processor(conn, workspace, links, time.time)
    if (placed := processor.version()) != args.version:  # an apply committed before the last one died
        inbox.send(("refused", f"the customers in flight are placed for version {placed}, the server runs "
                               f"{args.version}: restart `nudge run`"))
        return EX_CONFIG
    engine = Engine(inbox, processor)
    out_of_collection()
    inbox.send(("ready", os.getpid()))
    engine.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

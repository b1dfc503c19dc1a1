"""A running server keeps what startup built out of the garbage collector's full passes, and still frees an edit's old workspace."""

from __future__ import annotations

import asyncio
import gc
import weakref
from pathlib import Path

from engine.runtimes.embedded import database
from engine.runtimes.embedded.runtime import EmbeddedRuntime
from engine.testing import email, write_workspace
from tests.helpers import hello_journey

HI = {"hi.email.html": email("Hi")}


def runtime(tmp_path: Path) -> EmbeddedRuntime:
    root = write_workspace(tmp_path / "ws", journeys={"hello": hello_journey("1h")}, templates=HI)
    database.create(tmp_path / "nudge.db")
    return EmbeddedRuntime(root, tmp_path / "nudge.db")


def tracked(obj: object) -> bool:
    """Whether a full collection looks at `obj` (frozen objects are in no generation)."""
    return any(o is obj for o in gc.get_objects())


def test_the_workspace_loaded_at_start_is_out_of_the_collectors_passes_while_running(tmp_path: Path) -> None:
    served = runtime(tmp_path)

    async def run() -> tuple[bool, bool]:
        before = tracked(served.workspace)
        await served.start()
        during = tracked(served.workspace)
        await served.stop()
        return before, during

    try:
        assert asyncio.run(run()) == (True, False)
        assert tracked(served.workspace)  # stopped: the process's objects are the collector's again
    finally:
        served.front.lock.release()


def test_the_workspace_an_edit_replaced_is_freed_while_running(tmp_path: Path) -> None:
    served = runtime(tmp_path)

    async def run() -> tuple[bool, bool]:
        await served.start()
        old = weakref.ref(served.workspace.journeys[0])
        write_workspace(served.root, journeys={"hello": hello_journey("2h")}, templates=HI)
        assert (await served.versions.apply()).status == "applied"
        await asyncio.sleep(0)  # the loop's next turn: the edit is in place everywhere
        gc.collect()
        freed, new_is_frozen = old() is None, not tracked(served.workspace)
        await served.stop()
        return freed, new_is_frozen

    try:
        assert asyncio.run(run()) == (True, True)
    finally:
        served.front.lock.release()

"""What every long-running runtime does the same way: reload-and-refuse, watching the files, sleeping until due."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Awaitable, Callable

from engine.model import Workspace
from engine.runtimes.kernel.health import Health
from rules.problems import Problem, WorkspaceError
from rules.workspace import fingerprint, load_workspace

log = logging.getLogger("nudge.run")


def read_edit(root: Path) -> Workspace | list[Problem]:
    """The edited workspace, or the problems that refuse it (logged; the last valid version keeps running)."""
    try:
        return load_workspace(root).workspace
    except WorkspaceError as exc:
        for problem in exc.problems:
            log.error("reload refused: %s", problem)
        return exc.problems


async def load_edit(root: Path, health: Health) -> Workspace | list[Problem]:
    """`read_edit` off the loop (a large workspace must not stall the API meanwhile), its verdict on /healthz."""
    edit = await asyncio.to_thread(read_edit, root)
    if isinstance(edit, list):
        health.warn("workspace", "edit refused, the last valid version keeps running: "
                                 + "; ".join(str(p) for p in edit))
    else:
        health.warn("workspace", None)
    return edit


async def watch(root: Path, reload: Callable[[], Awaitable[object]], interval: float = 1.0) -> None:
    """Reload when a workspace file changes (polling mtimes: no extra dependency)."""
    seen = fingerprint(root)
    while True:
        await asyncio.sleep(interval)
        current = fingerprint(root)
        if current != seen:
            seen = current
            await reload()


async def sleep_until(wake: asyncio.Event, due: float | None, clock: Callable[[], float]) -> None:
    """No busy polling: sleep until woken or until the next due time."""
    timeout = None if due is None else max(0.0, due - clock())
    try:
        await asyncio.wait_for(wake.wait(), timeout)
    except TimeoutError:
        pass

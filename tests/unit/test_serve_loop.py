"""`nudge run` and `nudge api` serve on uvloop: a loop iteration and a socket read cost less CPU there."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import uvloop

from engine.runtimes.kernel.port import Runtime
from engine.runtimes.serve import run
from engine.runtimes.settings import Settings


class _Built(Exception):
    """Ends `run` as soon as the runtime would be built: the loop it runs on is known by then."""


def test_the_server_runs_its_runtime_on_uvloop(tmp_path: Path) -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    def build(url: str, settings: Settings) -> Runtime:
        loops.append(asyncio.get_running_loop())
        raise _Built

    with pytest.raises(_Built):
        run(build, tmp_path, tmp_path / "nudge.db", "127.0.0.1", 18291, Settings())
    assert len(loops) == 1 and isinstance(loops[0], uvloop.Loop)

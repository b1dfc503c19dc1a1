"""Start a runtime (the CLI chose which) and its HTTP API under uvicorn; SIGHUP asks to apply the files on disk."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Callable

import uvicorn
import uvloop

from connectors.api.app import create_app
from connectors.api.auth import SignatureChecker, api_keys
from engine.runtimes.kernel.port import Runtime
from engine.runtimes.settings import Settings

log = logging.getLogger("nudge.run")


Build = Callable[[str, Settings], Runtime]
"""Makes the runtime for a public URL and the settings (inside the event loop)."""


async def serve(build: Build, workspace: Path, db: Path, host: str, port: int, settings: Settings,
                watch: bool = False, announce: bool = True) -> None:
    """`watch` (`--watch`): apply each valid edit of the files that exits no one; otherwise edits wait for
    `nudge apply` (SIGHUP applies too, never confirming exits)."""
    runtime = build(settings.public_url or f"http://{host}:{port}", settings)
    keys, note = api_keys(settings.api, db)
    secret = settings.api.signing_secret
    app = create_app(runtime, keys, SignatureChecker(secret) if secret else None, settings)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                                           http="httptools"))  # HTTP parsed in C (llhttp), not in Python (h11)
    await runtime.start()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(runtime.versions.apply()))
    for stop_signal in (signal.SIGTERM, signal.SIGINT):  # uvicorn re-raises it once it has stopped serving:
        loop.add_signal_handler(stop_signal, lambda: None)  # caught, the process lives on to drain hand-offs
    watcher = asyncio.create_task(runtime.versions.watch(auto=watch), name="watcher")
    runtime.health.track(watcher)
    if announce:
        print(f"Nudge is running on http://{host}:{port}  (workspace {workspace}, database {db})", flush=True)
        if note:
            print(note, flush=True)
        outbox = runtime.workspace.settings.channels.get("file_path", "outbox/messages.jsonl")
        print(f"Messages from the file connector go to {workspace / outbox}", flush=True)
        print(f"Workspace version {runtime.versions.version}: " + (
            "edits apply as they are saved (--watch); one that would exit customers is held" if watch
            else "edits of the files apply with `nudge apply`"), flush=True)
    try:
        await server.serve()
    finally:
        watcher.cancel()
        await runtime.stop()


def run(build: Build, workspace: Path, db: Path, host: str, port: int, settings: Settings,
        watch: bool = False) -> None:
    logging.basicConfig(level=settings.log_level or "INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # libuv: a loop iteration's cost in C
        runner.run(serve(build, workspace, db, host, port, settings, watch))

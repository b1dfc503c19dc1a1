"""Start a runtime (the CLI chose which) and its HTTP API under uvicorn; SIGHUP asks to apply the files on disk."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Callable, Mapping

import uvicorn

from connectors.api.app import create_app
from connectors.api.auth import Secret, SignatureChecker, api_keys
from engine.runtimes.kernel.port import Runtime

log = logging.getLogger("nudge.run")


Build = Callable[[str, Mapping[str, str]], Runtime]
"""Makes the runtime for a public URL and the environment (inside the event loop)."""


async def serve(build: Build, workspace: Path, db: Path, host: str, port: int, environ: Mapping[str, str],
                watch: bool = False, announce: bool = True) -> None:
    """`watch` (`--watch`): apply each valid edit of the files that exits no one; otherwise edits wait for
    `nudge apply` (SIGHUP applies too, never confirming exits)."""
    runtime = build(environ.get("NUDGE_PUBLIC_URL", f"http://{host}:{port}"), environ)
    keys, note = api_keys(environ, db)
    secret = environ.get("NUDGE_WEBHOOK_SECRET")
    app = create_app(runtime, keys, SignatureChecker(Secret(secret)) if secret else None, environ)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
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


def run(build: Build, workspace: Path, db: Path, host: str, port: int, watch: bool = False) -> None:
    logging.basicConfig(level=os.environ.get("NUDGE_LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(build, workspace, db, host, port, os.environ, watch))

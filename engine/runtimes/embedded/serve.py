"""Start the embedded runtime and its HTTP API under uvicorn; SIGHUP reloads the workspace."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Mapping

import uvicorn

from connectors.api.app import create_app
from connectors.api.auth import Secret, SignatureChecker, api_keys
from engine.runtimes.embedded.runtime import EmbeddedRuntime

log = logging.getLogger("nudge.run")


async def serve(workspace: Path, db: Path, host: str, port: int, environ: Mapping[str, str],
                watch: bool = True, announce: bool = True, kafka: bool = False) -> None:
    public_url = environ.get("NUDGE_PUBLIC_URL", f"http://{host}:{port}")
    runtime: EmbeddedRuntime
    if kafka:
        from engine.runtimes.kafka.edge import KafkaEdgeRuntime
        from engine.runtimes.kafka.worker import KafkaSettings

        runtime = KafkaEdgeRuntime(workspace, db, KafkaSettings.from_env(environ), public_url, environ)
    else:
        runtime = EmbeddedRuntime(workspace, db, public_url, environ=environ)
    keys, note = api_keys(environ, db)
    secret = environ.get("NUDGE_WEBHOOK_SECRET")
    app = create_app(runtime, keys, SignatureChecker(Secret(secret)) if secret else None, environ)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
    await runtime.start()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(runtime.reload()))
    for stop_signal in (signal.SIGTERM, signal.SIGINT):  # uvicorn re-raises it once it has stopped serving:
        loop.add_signal_handler(stop_signal, lambda: None)  # caught, the process lives on to drain hand-offs
    watcher = asyncio.create_task(runtime.watch(), name="watcher") if watch else None
    if watcher:
        runtime.health.track(watcher)
    if announce:
        print(f"Nudge is running on http://{host}:{port}  (workspace {workspace}, database {db})", flush=True)
        if note:
            print(note, flush=True)
        outbox = runtime.workspace.settings.channels.get("file_path", "outbox/messages.jsonl")
        print(f"Messages from the file connector go to {workspace / outbox}", flush=True)
    try:
        await server.serve()
    finally:
        if watcher:
            watcher.cancel()
        await runtime.stop()


def run(workspace: Path, db: Path | None, host: str, port: int, kafka: bool = False) -> None:
    logging.basicConfig(level=os.environ.get("NUDGE_LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(workspace, db or workspace / ("nudge-edge.db" if kafka else "nudge.db"), host, port, os.environ,
                      kafka=kafka))

"""Start `nudge run` as a real subprocess on 127.0.0.1 and talk to it over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from engine.testing import write_workspace

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class NudgeServer:
    """One `nudge run` process; `restart()` keeps the workspace and database."""

    workspace: Path
    db: Path
    api_key: str = "test-key"
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    command: tuple[str, ...] = ("run",)  # ("api", "--kafka") beside Kafka workers

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def outbox(self) -> Path:
        return self.workspace / "outbox" / "messages.jsonl"

    def start(self, timeout: float = 30, healthy: bool = True) -> NudgeServer:
        """Start and wait until /healthz answers 200 (any answer when not `healthy`: up, but failing)."""
        env = {**os.environ, "NUDGE_API_KEYS": self.api_key, **self.env}
        log = (self.db.parent / "server.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "engine", *self.command, "--workspace", str(self.workspace), "--db", str(self.db),
             "--port", str(self.port)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nudge {self.command[0]} exited: {(self.db.parent / 'server.log').read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200 or not healthy:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("nudge run did not become healthy")

    def kill(self) -> None:
        """SIGKILL: no clean-up, as a crash."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> NudgeServer:
        self.kill()
        return self.start()

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key or self.api_key}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def post(self, events: Any, **kwargs: Any) -> httpx.Response:
        with self.client() as c:
            return c.post("/v1/events", json=events, **kwargs)

    def wait_for(self, predicate: Any, timeout: float = 30, what: str = "condition") -> None:
        """Poll a condition on the server's observable state (bounded: tests never sleep blindly)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def health(self) -> dict[str, Any]:
        return httpx.get(self.url + "/healthz", timeout=5).json()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Read the server's database (a separate read-only connection; WAL lets it look while it runs)."""
        import sqlite3

        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as conn:
            return conn.execute(sql).fetchall()

    def messages(self) -> list[dict[str, Any]]:
        import json

        if not self.outbox.exists():
            return []
        return [json.loads(line) for line in self.outbox.read_text().splitlines() if line.strip()]


def workspace_server(tmp_path: Path, name: str = "ws", *, db: Path | None = None, env: dict[str, str] | None = None,
                     settings: str = "", journeys: dict[str, str] | None = None,
                     templates: dict[str, str] | None = None, extra: str = "") -> NudgeServer:
    """A server, not started yet, over a workspace written to tmp_path/name (database: tmp_path/nudge.db)."""
    root = write_workspace(tmp_path / name, settings, journeys, templates, extra)
    return NudgeServer(root, db or tmp_path / "nudge.db", env=env or {})

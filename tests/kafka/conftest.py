"""A real Kafka broker for the Kafka tests, started by scripts/kafka (skipped, visibly, without Java)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    if os.environ.get("NUDGE_KAFKA_BOOTSTRAP"):
        yield os.environ["NUDGE_KAFKA_BOOTSTRAP"]
        return
    if not shutil.which("java"):
        pytest.skip("Java is not installed: Kafka tests need it")
    script = ROOT / "scripts" / "kafka"
    already = subprocess.run([str(script), "status"], capture_output=True).returncode == 0
    if not already:
        started = subprocess.run([str(script), "start"], capture_output=True, text=True, timeout=900)
        if started.returncode != 0:
            pytest.fail(f"scripts/kafka start failed:\n{started.stdout}\n{started.stderr}")
    yield "127.0.0.1:" + os.environ.get("NUDGE_KAFKA_PORT", "9092")
    if not already:
        subprocess.run([str(script), "stop"], capture_output=True, timeout=120)

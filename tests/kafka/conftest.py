"""A real Kafka broker for the Kafka tests.

`kafka_bootstrap` (session scope) is the bootstrap address of a broker:
- `NUDGE_KAFKA_BOOTSTRAP` when set (a broker you run yourself; nothing is started or stopped);
- else the broker of `scripts/kafka` on 127.0.0.1:`NUDGE_KAFKA_PORT` (default 9092): reused if
  it already runs (and then left running), otherwise started here and stopped at the end.
Without `java` on PATH the Kafka tests are skipped with a visible reason, never silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "kafka"
NO_JAVA = "Java is not installed: Kafka tests need it"

_skipped: list[str] = []


def _java_missing() -> bool:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.access(os.path.join(java_home, "bin", "java"), os.X_OK):
        return False
    return shutil.which("java") is None


def _script(command: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), command], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    given = os.environ.get("NUDGE_KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    if _java_missing():
        _skipped.append(NO_JAVA)
        pytest.skip(NO_JAVA)
    port = os.environ.get("NUDGE_KAFKA_PORT", "9092")
    already = _script("status", 30).returncode == 0
    if not already:
        t0 = time.monotonic()
        # The first start downloads the jars with Maven: allow for that beyond the broker's own timeout.
        started = _script("start", 900)
        if started.returncode != 0:
            pytest.fail(f"scripts/kafka start failed (exit {started.returncode}):\n{started.stdout}\n{started.stderr}",
                        pytrace=False)
        print(f"\nKafka broker on 127.0.0.1:{port} started in {time.monotonic() - t0:.1f}s")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        if not already:
            stopped = _script("stop", 120)
            if stopped.returncode != 0:
                print(f"scripts/kafka stop failed:\n{stopped.stdout}\n{stopped.stderr}")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Repeat the skip reason in the summary, so a run without Java says why Kafka went untested."""
    if _skipped:
        terminalreporter.write_sep("-", f"Kafka tests skipped: {_skipped[0]}", yellow=True)

"""`nudge validate`'s summary line counts broadcasts apart from journeys (a broadcast is loaded as a journey)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine.testing import journey_yaml, send_step
from tests.unit.test_broadcasts import LOCAL_9AM, ROOT, workspace


def test_validate_counts_broadcasts_apart_from_journeys(tmp_path: Path) -> None:
    root = workspace(tmp_path, {"spring": LOCAL_9AM, "autumn": LOCAL_9AM.replace("spring_sale", "autumn_sale")},
                     journeys={"hello": journey_yaml("hello", "{event: signed_up}", send_step("greet", "hi"))})
    done = subprocess.run([sys.executable, "-m", "engine", "validate", "--workspace", str(root)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ok: 1 journey, 2 broadcasts, 0 segments, 1 warning\n" in done.stderr

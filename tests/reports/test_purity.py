"""The report computations stay pure like the rest of engine/: the readers live in engine/runtimes/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_architecture import FORBIDDEN, ROOT, imported

REPORTS = sorted((ROOT / "engine" / "reports").glob("*.py"))


@pytest.mark.parametrize("path", REPORTS, ids=lambda p: p.name)
def test_report_modules_import_no_io_and_read_no_environment(path: Path) -> None:
    assert not imported(path) & {*FORBIDDEN, "os", "pathlib"}
    assert "environ" not in path.read_text()

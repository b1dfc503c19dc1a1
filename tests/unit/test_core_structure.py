"""The pure core stays split by job: small modules that never reach out to a runtime or an edge."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = sorted(p for p in ROOT.glob("engine/*.py") if p.name not in ("cli.py", "testing.py", "__main__.py"))
OUTSIDE = ("engine.runtimes", "engine.reports", "connectors", "rules")


def modules_imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.name)
def test_core_modules_import_no_runtime_edge_or_language_module(path: Path) -> None:
    reached = {m for m in modules_imported(path) if m.startswith(OUTSIDE)}
    assert not reached, f"{path.name} imports {sorted(reached)}"


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.name)
def test_core_modules_stay_under_three_hundred_lines(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= 300, f"{path.name}: split it by job (STYLE habit 1)"

"""The language and the core stay free of I/O, so replays are exact and tests need no server."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("sqlite3", "asyncio", "httpx", "requests", "faust", "aiokafka", "socket", "uvicorn",
             "fastapi", "starlette", "subprocess", "time", "random")
PURE = sorted(
    p for p in [*ROOT.glob("rules/*.py"), *ROOT.glob("engine/*.py")]
    if p.name not in ("cli.py",)
)


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_modules_import_no_io(path: Path) -> None:
    assert not imported(path) & set(FORBIDDEN)


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_modules_read_no_environment(path: Path) -> None:
    assert "os.environ" not in path.read_text() and "getenv" not in path.read_text()


def test_the_engine_core_does_not_depend_on_the_language_package() -> None:
    """rules/ compiles into engine.model; the machine must not reach back into rules/."""
    core = [p for p in ROOT.glob("engine/*.py") if p.name not in ("cli.py", "testing.py")]
    for path in core:
        assert "rules" not in imported(path), path.name

"""The language and the core stay free of I/O, so replays are exact and tests need no server."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("sqlite3", "asyncio", "httpx", "requests", "faust", "aiokafka", "socket", "uvicorn",
             "fastapi", "starlette", "subprocess", "time", "random")
PURE = sorted([*ROOT.glob("rules/*.py"), *ROOT.glob("engine/*.py")])


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
    core = [p for p in ROOT.glob("engine/*.py") if p.name != "testing.py"]
    for path in core:
        assert "rules" not in imported(path), path.name


CORE = sorted(p for p in ROOT.glob("engine/*.py") if p.name != "testing.py")
FILE_MODULES = {"os", "io", "pathlib", "shutil", "tempfile", "glob"}
FILE_METHODS = {"read_text", "write_text", "read_bytes", "write_bytes", "mkdir", "unlink", "touch", "rename",
                "rmdir", "iterdir"}


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_does_no_file_io(path: Path) -> None:
    """Workspaces are loaded by rules/, databases and topics by the runtimes; the core only computes."""
    tree = ast.parse(path.read_text())
    assert not imported(path) & FILE_MODULES
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            assert not (isinstance(node.func, ast.Name) and node.func.id == "open"), f"{path.name}:{node.lineno}"
            assert not (isinstance(node.func, ast.Attribute) and node.func.attr in FILE_METHODS), \
                f"{path.name}:{node.lineno}"


def component(module: str) -> str | None:
    """The unit dependencies are judged at: one runtime, the runtime kernel, one connector package, the core."""
    parts = module.split(".")
    if parts[:2] == ["engine", "runtimes"] and len(parts) > 2:
        return ".".join(parts[:3])
    if parts[0] == "connectors" and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0] if parts[0] in ("engine", "rules") else None


def module_of(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def dependencies() -> dict[str, set[str]]:
    """component -> the components its modules import (at any depth of the module, lazily or not)."""
    graph: dict[str, set[str]] = {}
    for path in [*ROOT.glob("engine/**/*.py"), *ROOT.glob("connectors/**/*.py")]:
        source = component(module_of(path))
        if source is None:
            continue
        targets = graph.setdefault(source, set())
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
            for name in names:
                target = component(name)
                if target is not None and target != source:
                    targets.add(target)
    return graph


def test_runtimes_and_connectors_import_each_other_one_way_only() -> None:
    """No cycle between the runtimes, the runtime kernel and the connector packages: each can be read,
    tested and replaced from the bottom up (the CLI, which chooses the runtime, stands above them all)."""
    graph = dependencies()
    graph.pop("engine", None)  # engine/cli/ and the core are checked below and above
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            assert state.get(nxt) != 1, "import cycle: " + " -> ".join([*path, node, nxt])
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_the_kernel_and_the_api_know_no_runtime_in_particular() -> None:
    graph = dependencies()
    runtimes = {"engine.runtimes.embedded", "engine.runtimes.kafka"}
    assert not graph["engine.runtimes.kernel"] & (runtimes | {"connectors.api", "connectors.channels"})
    assert "engine.runtimes.kafka" not in graph["engine.runtimes.embedded"]
    assert "connectors.api" not in graph["engine.runtimes.embedded"]
    assert "engine.runtimes.kafka" not in graph["connectors.api"]


def test_the_api_takes_the_runtime_port_not_a_runtime_class() -> None:
    for path in ROOT.glob("connectors/api/*.py"):
        text = path.read_text()
        assert "EmbeddedRuntime" not in text and "KafkaEdgeRuntime" not in text, path.name


def test_the_kafka_edge_is_no_embedded_runtime() -> None:
    """It once inherited EmbeddedRuntime and, with it, a reload that ran the engine on its mirror."""
    assert "engine.runtimes.embedded.runtime" not in imported_modules(ROOT / "engine/runtimes/kafka/edge.py")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_imports_no_runtime_and_no_connector(path: Path) -> None:
    assert not {m for m in imported_modules(path) if m.startswith(("engine.runtimes", "connectors"))}

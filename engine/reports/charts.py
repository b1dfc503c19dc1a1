"""Inline SVG charts drawn by hand, so a report opens anywhere with no script and no network."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Sequence

PALETTE = ("#2f6fdb", "#e07b24", "#2a9d62", "#c2410c", "#7c3aed", "#0891b2")


def _svg(width: int, height: int, body: str, label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="{escape(label)}" class="chart">{body}</svg>')


@dataclass(frozen=True)
class Stage:
    """A funnel bar: its count, and the earlier stage it is a share of (None: it starts a group)."""

    name: str
    value: int
    base: str | None = None
    base_value: int = 0
    note: str = ""        # said instead of a share when the count is unknown (e.g. delivery not reported)


def funnel(stages: Sequence[Stage], label: str, width: int = 560) -> str:
    """Horizontal bars in groups of one unit (customers, messages): each bar's width is relative to its
    group's first bar, its label a share of the stage it names, so no share compares unlike things."""
    row, left = 30, 110
    parts = []
    top = 1
    for i, stage in enumerate(stages):
        if stage.base is None:
            top = stage.value or 1
        y = i * row + 4
        w = (width - left - 190) * min(stage.value / top, 1.0)
        if stage.note:
            share = f" ({stage.note})"
        elif stage.base is not None:
            share = f" ({stage.value / stage.base_value * 100:.1f}% of {stage.base})" if stage.base_value else ""
        else:
            share = ""
        parts.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" class="axis">{escape(stage.name)}</text>'
                     f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{row - 8}" rx="3" '
                     f'fill="{PALETTE[0]}" '
                     f'opacity="{1 - (i % 4) * 0.15:.2f}"><title>{escape(stage.name)}: {stage.value:,}{escape(share)}'
                     f'</title></rect><text x="{left + w + 6:.1f}" y="{y + 16}" class="value">{stage.value:,}'
                     f'{escape(share)}</text>')
    return _svg(width, len(stages) * row + 8, "".join(parts), label)


def small_multiples(days: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], label: str,
                    width: int = 720, panel: int = 70) -> str:
    """One panel per series, each on its own scale (its peak is labelled), so a few clicks are not drawn flat
    on the scale of thousands of sends; a series with nothing in it says so instead of drawing a line."""
    left, right, gap = 120, 12, 12
    plot_w, plot_h = width - left - right, panel - gap - 8
    n = len(days)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    parts = []
    for k, (name, values) in enumerate(series):
        top = k * panel + 8
        peak = max(values, default=0)
        colour = PALETTE[k % len(PALETTE)]
        parts.append(f'<text x="{left - 8}" y="{top + plot_h / 2 + 4:.1f}" text-anchor="end" class="axis">'
                     f'{escape(name)}</text><line x1="{left}" y1="{top + plot_h}" x2="{width - right}" '
                     f'y2="{top + plot_h}" class="grid"/>')
        if not peak:
            parts.append(f'<text x="{left + 6}" y="{top + plot_h / 2 + 4:.1f}" class="axis">none in this period</text>')
            continue
        parts.append(f'<text x="{width - right}" y="{top + 8}" text-anchor="end" class="axis">max {peak:,.0f}</text>')

        def y(v: float) -> float:
            return top + plot_h - plot_h * v / peak

        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts.extend(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}"><title>{escape(days[i])} '
                     f'{escape(name)}: {v:,.0f}</title></circle>' for i, v in enumerate(values))
    bottom = len(series) * panel + 8
    step = max(1, n // 6)
    for i in range(0, n, step):
        parts.append(f'<text x="{x(i):.1f}" y="{bottom + 6}" text-anchor="middle" class="axis">{escape(days[i][5:])}</text>')
    return _svg(width, bottom + 14, "".join(parts), label)


def rate_bars(bars: Sequence[tuple[str, float, float, float]], label: str, width: int = 560) -> str:
    """Vertical bars of rates (name, rate, ci low, ci high) with 95% interval whiskers."""
    height, left, top, bottom = 220, 48, 16, 40
    plot_h = height - top - bottom
    peak = max((hi for _, _, _, hi in bars), default=0) or 1
    slot = (width - left - 12) / max(len(bars), 1)

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / peak

    parts = [f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 12}" y2="{top + plot_h}" class="grid"/>',
             f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" class="axis">{peak * 100:.0f}%</text>']
    for i, (name, rate, low, high) in enumerate(bars):
        cx = left + slot * i + slot / 2
        w = min(slot * 0.5, 80)
        parts.append(f'<rect x="{cx - w / 2:.1f}" y="{y(rate):.1f}" width="{w:.1f}" height="{top + plot_h - y(rate):.1f}" '
                     f'fill="{PALETTE[i % len(PALETTE)]}"><title>{escape(name)}: {rate * 100:.1f}% '
                     f'(95% CI {low * 100:.1f}–{high * 100:.1f}%)</title></rect>'
                     f'<line x1="{cx:.1f}" y1="{y(low):.1f}" x2="{cx:.1f}" y2="{y(high):.1f}" class="whisker"/>'
                     f'<text x="{cx:.1f}" y="{height - 22}" text-anchor="middle" class="axis">{escape(name)}</text>'
                     f'<text x="{cx:.1f}" y="{height - 6}" text-anchor="middle" class="value">{rate * 100:.1f}%</text>')
    return _svg(width, height, "".join(parts), label)

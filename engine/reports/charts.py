"""Inline SVG charts drawn by hand, so a report opens anywhere with no script and no network."""

from __future__ import annotations

from html import escape
from typing import Sequence

PALETTE = ("#2f6fdb", "#e07b24", "#2a9d62", "#c2410c", "#7c3aed", "#0891b2")


def _svg(width: int, height: int, body: str, label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="{escape(label)}" class="chart">{body}</svg>')


def funnel(stages: Sequence[tuple[str, int]], label: str, width: int = 560) -> str:
    """Horizontal bars, each stage's width relative to the first, with its share of the first."""
    row, left = 30, 110
    top = max((v for _, v in stages), default=0) or 1
    parts = []
    for i, (name, value) in enumerate(stages):
        y = i * row + 4
        w = (width - left - 130) * value / top
        share = f" ({value / stages[0][1] * 100:.1f}%)" if stages[0][1] and i else ""
        parts.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" class="axis">{escape(name)}</text>'
                     f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{row - 8}" rx="3" fill="{PALETTE[0]}" '
                     f'opacity="{1 - i * 0.1:.2f}"><title>{escape(name)}: {value:,}</title></rect>'
                     f'<text x="{left + w + 6:.1f}" y="{y + 16}" class="value">{value:,}{share}</text>')
    return _svg(width, len(stages) * row + 8, "".join(parts), label)


def time_series(days: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], label: str,
                width: int = 720, height: int = 220) -> str:
    """Lines over days, a legend above; a single day shows as dots."""
    left, right, top, bottom = 48, 12, 28, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((v for _, values in series for v in values), default=0) or 1
    n = len(days)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / peak

    parts = [f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" class="grid"/>',
             f'<line x1="{left}" y1="{top}" x2="{width - right}" y2="{top}" class="grid"/>',
             f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" class="axis">{peak:,.0f}</text>',
             f'<text x="{left - 6}" y="{top + plot_h + 4}" text-anchor="end" class="axis">0</text>']
    step = max(1, n // 6)
    for i in range(0, n, step):
        parts.append(f'<text x="{x(i):.1f}" y="{height - 12}" text-anchor="middle" class="axis">{escape(days[i][5:])}</text>')
    for k, (name, values) in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts.extend(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}"><title>{escape(days[i])} '
                     f'{escape(name)}: {v:,.0f}</title></circle>' for i, v in enumerate(values))
        parts.append(f'<rect x="{left + k * 110}" y="6" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{left + k * 110 + 16}" y="16" class="axis">{escape(name)}</text>')
    return _svg(width, height, "".join(parts), label)


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

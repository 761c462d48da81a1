"""The report's plots: inline SVG drawn here (overlaid histograms, horizontal bars), so the page fetches
nothing and runs no script."""

from __future__ import annotations

import numpy as np

from minekit.handoff.report_html import escape, fmt, short

BINS = 30


def hist_svg(title: str, series: list[tuple[str, str, np.ndarray]], *, x_label: str, density: bool,
             integer: bool = False, mark_zero: bool = False) -> str:
    """Overlaid step histograms on shared bins; y is the share of each series (density) or counts."""
    series = [(n, c, v[np.isfinite(v)]) for n, c, v in series if v.size]
    if not series:
        return ""
    lo = min(float(v.min()) for _, _, v in series)
    hi = max(float(v.max()) for _, _, v in series)
    if integer:
        lo, hi = np.floor(lo) - 0.5, np.ceil(hi) + 0.5
        step = max(1.0, np.ceil((hi - lo) / BINS))
        edges = np.arange(lo, hi + step, step)
    else:
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, BINS + 1)
    counts = [np.histogram(v, bins=edges)[0].astype(float) for _, _, v in series]
    if density:
        counts = [c / c.sum() if c.sum() else c for c in counts]
    top = max(float(c.max()) for c in counts) or 1.0
    w, h, left, right, top_pad, bottom = 420, 240, 48, 22, 46, 38
    pw, ph = w - left - right, h - top_pad - bottom

    def x(v: float) -> float:
        return left + (v - edges[0]) / (edges[-1] - edges[0]) * pw

    def y(v: float) -> float:
        return top_pad + ph - v / top * ph

    parts = [_svg_open(w, h, title), f"<text x='{left}' y='14' class='t'>{escape(title)}</text>"]
    parts += _axes(left, top_pad, pw, ph, edges[0], edges[-1], top, x_label,
                   "share" if density else "count", integer)
    if mark_zero and edges[0] < 0 < edges[-1]:
        parts.append(f"<line x1='{x(0):.1f}' x2='{x(0):.1f}' y1='{top_pad}' y2='{top_pad + ph}' class='zero'/>")
    for (name, color, values), c in zip(series, counts):
        d = [f"M{x(edges[0]):.1f},{y(0):.1f}"]
        for i, v in enumerate(c):
            d.append(f"L{x(edges[i]):.1f},{y(v):.1f}L{x(edges[i + 1]):.1f},{y(v):.1f}")
        d.append(f"L{x(edges[-1]):.1f},{y(0):.1f}Z")
        parts.append(f"<path d='{''.join(d)}' fill='{color}' fill-opacity='0.18' stroke='{color}' "
                     f"stroke-width='1.5'><title>{escape(name)}: {values.size:,} values</title></path>")
    parts += _legend([(f"{n} ({v.size:,})", c) for n, c, v in series], 8, 28, w)
    parts.append("</svg>")
    return "".join(parts)


def hbar_svg(title: str, labels: list[str], series: list[tuple[str, str, list[float]]], *,
             stacked: bool = False) -> str:
    """Horizontal bars: one group per label, one bar per series (or one stacked bar)."""
    n = len(series)
    bar = 14
    group = bar * (1 if stacked else n) + 10
    left, w = 170, 640
    top_pad = 40 + 13 * (sum(22 + 5.6 * len(n) for n, _, _ in series) > w - 8)
    h = top_pad + group * len(labels) + 34
    pw = w - left - 70
    totals = [sum(s[2][i] or 0 for s in series) for i in range(len(labels))] if stacked else []
    top = max(totals or [max((v or 0) for s in series for v in s[2]) if series else 1]) or 1
    parts = [_svg_open(w, h, title), f"<text x='8' y='14' class='t'>{escape(title)}</text>"]
    parts += _legend([(name, color) for name, color, _ in series], 8, 28, w)
    for i, label in enumerate(labels):
        y0 = top_pad + i * group
        parts.append(f"<text x='{left - 6}' y='{y0 + bar - 3}' class='l' text-anchor='end'>"
                     f"{escape(short(label))}</text>")
        offset = 0.0
        for j, (name, color, values) in enumerate(series):
            v = float(values[i] or 0)
            width = v / top * pw
            yy = y0 if stacked else y0 + j * bar
            xx = left + (offset / top * pw if stacked else 0)
            parts.append(f"<rect x='{xx:.1f}' y='{yy}' width='{width:.1f}' height='{bar - 2}' fill='{color}'>"
                         f"<title>{escape(label)} / {escape(name)}: {fmt(v)}</title></rect>")
            if not stacked and v:
                parts.append(f"<text x='{xx + width + 4:.1f}' y='{yy + bar - 4}' class='v'>{fmt(v)}</text>")
            offset += v
        if stacked:
            parts.append(f"<text x='{left + offset / top * pw + 4:.1f}' y='{y0 + bar - 4}' class='v'>"
                         f"{fmt(offset)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _axes(left, top, pw, ph, x0, x1, y1, x_label, y_label, integer) -> list[str]:
    parts = [f"<line x1='{left}' x2='{left + pw}' y1='{top + ph}' y2='{top + ph}' class='ax'/>",
             f"<line x1='{left}' x2='{left}' y1='{top}' y2='{top + ph}' class='ax'/>"]
    for k in range(5):
        v = x0 + (x1 - x0) * k / 4
        xx = left + pw * k / 4
        label = f"{round(v):d}" if integer else fmt(v)
        parts.append(f"<text x='{xx:.1f}' y='{top + ph + 13}' class='l' text-anchor='middle'>{label}</text>")
    for v in _nice_ticks(y1, integer=y_label == "count"):
        yy = top + ph - ph * v / y1
        parts.append(f"<line x1='{left}' x2='{left + pw}' y1='{yy:.1f}' y2='{yy:.1f}' class='grid'/>"
                     f"<text x='{left - 4}' y='{yy + 3:.1f}' class='l' text-anchor='end'>{fmt(v)}</text>")
    parts.append(f"<text x='{left + pw / 2:.1f}' y='{top + ph + 28}' class='l' text-anchor='middle'>"
                 f"{escape(x_label)}</text>")
    parts.append(f"<text x='10' y='{top + ph / 2:.1f}' class='l' transform='rotate(-90 10 {top + ph / 2:.1f})' "
                 f"text-anchor='middle'>{escape(y_label)}</text>")
    return parts


def _nice_ticks(top: float, *, integer: bool) -> list[float]:
    """Two to five round values (1, 2 or 5 times a power of ten) up to `top`."""
    if top <= 0:
        return []
    raw = top / 3
    power = 10 ** np.floor(np.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if integer:
        step = max(1.0, round(step))
    return [float(v) for v in np.arange(step, top * 1.0001, step)]


def _legend(items: list[tuple[str, str]], x: float, y: float, width: float = 420) -> list[str]:
    """Colour keys in a row, wrapping onto a second row where they would leave the figure."""
    parts, x0 = [], x
    for name, color in items:
        size = 22 + 5.6 * len(name)
        if x + size > width and x > x0:
            x, y = x0, y + 13
        parts.append(f"<rect x='{x:.0f}' y='{y - 8}' width='10' height='10' fill='{color}'/>"
                     f"<text x='{x + 13:.0f}' y='{y + 1}' class='l'>{escape(name)}</text>")
        x += size
    return parts


def _svg_open(w: int, h: int, title: str) -> str:
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' viewBox='0 0 {w} {h}' "
            f"role='img' aria-label='{escape(title)}'>")

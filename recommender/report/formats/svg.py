"""Small inline SVG charts drawn by hand: no JavaScript, no external assets.

Colours come from one palette so tests can find each chart in a screenshot.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from html import escape

from recommender.report.usage import Bucket

USAGE = "#4e79a7"  # usage distribution bars
CURRENT = "#e15759"  # current request
TARGET = "#59a14f"  # recommended target
SAVING = "#f28e2b"  # savings bars
EXTRA_COST = "#9c755f"  # negative savings
SERIES = ("#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#4e79a7", "#bab0ac")
AXIS = "#666666"
GRID = "#e5e5e5"


def _f(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _svg(width: int, height: int, label: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>" + "".join(body) + "</svg>"
    )


LIMIT = "#9467bd"  # current limit


def axis_unit(resource: str, hi: float) -> tuple[str, float]:
    """One unit for a chart's ticks (never millicores beside cores): its name and size."""
    if resource == "cpu":
        return ("millicores", 1e-3) if hi < 2 else ("cores", 1.0)
    return ("MiB", 2.0**20) if hi < 2 * 2**30 else ("GiB", 2.0**30)


def nice_ticks(lo: float, hi: float, most: int = 5) -> list[float]:
    """1-2-5 values between ``lo`` and ``hi`` (in the axis unit), at most ``most``."""
    ticks = [m * 10.0**e for e in range(math.floor(math.log10(lo)) - 1,
                                        math.ceil(math.log10(hi)) + 1)
             for m in (1, 2, 5) if lo <= m * 10.0**e <= hi]
    while len(ticks) > most:
        ticks = ticks[::2]
    return ticks


def distribution_chart(
    buckets: Sequence[Bucket],
    current: float | None,
    target: float | None,
    fmt: Callable[[float], str],
    label: str,
    title: str = "",
    width: int = 340,
    height: int = 160,
    limit: float | None = None,
    unit: tuple[str, float] | None = None,
) -> str:
    """Usage histogram (log x axis, ticks in one ``unit``, named under the axis) with the
    current request, the current limit and the target as lines."""
    left, right, top, bottom = 8, 8, 18, 36
    points = [b.start for b in buckets if b.start > 0] + [b.end for b in buckets]
    points += [v for v in (current, target, limit) if v]
    lo, hi = min(points) / 1.3, max(points) * 1.3
    span = math.log(hi / lo)
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(value: float) -> float:
        return left + plot_w * math.log(max(value, lo) / lo) / span

    peak = max((b.share for b in buckets), default=1.0) or 1.0
    body = [f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
            f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
            f'stroke="{AXIS}"/>']
    for b in buckets:
        x0, x1 = x(max(b.start, lo)), x(b.end)
        h = plot_h * b.share / peak
        body.append(f'<rect class="usage" x="{_f(x0)}" y="{_f(top + plot_h - h)}" '
                    f'width="{_f(max(x1 - x0, 1.5))}" height="{_f(h)}" fill="{USAGE}"/>')
    for value, colour, name, dash in ((current, CURRENT, "request", ' stroke-dasharray="5 3"'),
                                      (limit, LIMIT, "limit", ' stroke-dasharray="2 2"'),
                                      (target, TARGET, "target", "")):
        if not value:
            continue
        px = _f(x(value))
        body.append(f'<line class="{name}" x1="{px}" y1="{top - 4}" x2="{px}" '
                    f'y2="{top + plot_h}" stroke="{colour}" stroke-width="3"{dash}>'
                    f"<title>{name}: {escape(fmt(value))}</title></line>")
    if unit is not None:
        name, size = unit
        for tick in nice_ticks(lo / size, hi / size):
            px = _f(x(tick * size))
            body.append(f'<line x1="{px}" y1="{top + plot_h}" x2="{px}" y2="{top + plot_h + 3}" '
                        f'stroke="{AXIS}"/><text x="{px}" y="{top + plot_h + 14}" '
                        f'font-size="10" text-anchor="middle" fill="{AXIS}">{tick:g}</text>')
        body.append(f'<text x="{left + plot_w / 2}" y="{height - 4}" font-size="10" '
                    f'text-anchor="middle" fill="{AXIS}">{escape(name)} (log scale); bars: '
                    "share of samples</text>")
    else:
        for tick in _log_ticks(lo, hi):
            px = _f(x(tick))
            body.append(f'<text x="{px}" y="{height - 8}" font-size="10" text-anchor="middle" '
                        f'fill="{AXIS}">{escape(fmt(tick))}</text>')
    body.append(f'<text x="{width - right}" y="12" font-size="11" font-weight="bold" '
                f'text-anchor="end" fill="#333">{escape(title)}</text>')
    legend = [("usage", USAGE), ("request", CURRENT), ("target", TARGET)]
    if limit:
        legend.append(("limit", LIMIT))
    lx = left
    for name, colour in legend:
        body.append(f'<rect x="{lx}" y="4" width="9" height="9" fill="{colour}"/>'
                    f'<text x="{lx + 12}" y="12" font-size="10" fill="#333">{name}</text>')
        lx += 56
    return _svg(width, height, label, body)


def _log_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    step = (math.log(hi) - math.log(lo)) / (count + 1)
    return [math.exp(math.log(lo) + step * (i + 1)) for i in range(count)]


def bar_chart(
    items: Sequence[tuple[str, float]], fmt: Callable[[float], str], label: str,
    width: int = 520,
) -> str:
    """Horizontal bars (negative values in another colour), one per item."""
    row, left, right = 28, 110, 110
    height = row * max(len(items), 1) + 12
    peak = max((abs(v) for _, v in items), default=1.0) or 1.0
    body = [f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    for i, (name, value) in enumerate(items):
        y = 6 + i * row
        w = (width - left - right) * abs(value) / peak
        colour = SAVING if value >= 0 else EXTRA_COST
        body.append(f'<text x="{left - 8}" y="{y + 17}" font-size="12" text-anchor="end" '
                    f'fill="#333">{escape(name)}</text>')
        body.append(f'<rect class="bar" x="{left}" y="{y + 3}" width="{_f(max(w, 1))}" '
                    f'height="{row - 8}" fill="{colour}"/>')
        body.append(f'<text x="{_f(left + w + 6)}" y="{y + 17}" font-size="12" '
                    f'fill="#333">{escape(fmt(value))}</text>')
    return _svg(width, height, label, body)


def line_chart(
    series: Sequence[tuple[str, Sequence[tuple[float, float]]]], label: str,
    width: int = 720, height: int = 240,
) -> str:
    """Lines of 0..1 values over time (GPU utilisation), with a legend and day ticks."""
    left, right, top, bottom = 40, 12, 28, 26
    times = [t for _, points in series for t, _ in points]
    if not times:
        return _svg(width, height, label, [])
    t0, t1 = min(times), max(times)
    t1 = t1 if t1 > t0 else t0 + 1
    plot_w, plot_h = width - left - right, height - top - bottom

    def xy(t: float, v: float) -> str:
        return f"{_f(left + plot_w * (t - t0) / (t1 - t0))},{_f(top + plot_h * (1 - v))}"

    body = [f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = _f(top + plot_h * (1 - frac))
        body.append(f'<line x1="{left}" y1="{y}" x2="{width - right}" y2="{y}" '
                    f'stroke="{GRID}"/><text x="{left - 4}" y="{y}" font-size="10" '
                    f'text-anchor="end" dominant-baseline="middle" fill="{AXIS}">'
                    f"{frac:.0%}</text>")
    day = 86400.0
    tick = math.ceil(t0 / day) * day
    while tick <= t1:
        x = _f(left + plot_w * (tick - t0) / (t1 - t0))
        text = datetime.fromtimestamp(tick, UTC).strftime("%b %d")
        body.append(f'<line x1="{x}" y1="{top}" x2="{x}" y2="{top + plot_h}" stroke="{GRID}"/>'
                    f'<text x="{x}" y="{height - 8}" font-size="10" text-anchor="middle" '
                    f'fill="{AXIS}">{text}</text>')
        tick += day
    lx = left
    for i, (name, points) in enumerate(series):
        colour = SERIES[i % len(SERIES)]
        path = " ".join(xy(t, v) for t, v in points)
        body.append(f'<polyline class="series" points="{path}" fill="none" stroke="{colour}" '
                    f'stroke-width="2.5"/>')
        body.append(f'<rect x="{lx}" y="8" width="10" height="10" fill="{colour}"/>'
                    f'<text x="{lx + 14}" y="17" font-size="11" fill="#333">{escape(name)}</text>')
        lx += 14 + 7 * len(name) + 20
    return _svg(width, height, label, body)


def hourly_chart(held: float, needed: Sequence[float], label: str, width: int = 720,
                 height: int = 220) -> str:
    """GPUs needed per UTC hour (bars) against GPUs held (a line), axes in GPUs and hours."""
    left, right, top, bottom = 44, 12, 24, 30
    peak = max([held, *needed, 1.0])
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / 24

    def y(v: float) -> float:
        return top + plot_h * (1 - v / peak)

    body = [f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    for i in range(5):
        v = peak * i / 4
        body.append(f'<line x1="{left}" y1="{_f(y(v))}" x2="{width - right}" y2="{_f(y(v))}" '
                    f'stroke="{GRID}"/><text x="{left - 4}" y="{_f(y(v))}" font-size="10" '
                    f'text-anchor="end" dominant-baseline="middle" fill="{AXIS}">'
                    f"{v:.3g}</text>")
    body.append(f'<text x="12" y="{top + plot_h / 2}" font-size="10" fill="{AXIS}" '
                f'text-anchor="middle" transform="rotate(-90 12 {top + plot_h / 2})">GPUs</text>')
    for hour, value in enumerate(needed):
        x = left + hour * slot + 1
        body.append(f'<rect class="needed" x="{_f(x)}" y="{_f(y(value))}" '
                    f'width="{_f(slot - 2)}" height="{_f(top + plot_h - y(value))}" '
                    f'fill="{USAGE}"><title>{hour:02d}:00 UTC: {value:g} GPUs needed</title>'
                    "</rect>")
        if hour % 3 == 0:
            body.append(f'<text x="{_f(x + slot / 2)}" y="{height - 14}" font-size="10" '
                        f'text-anchor="middle" fill="{AXIS}">{hour:02d}</text>')
    body.append(f'<text x="{left + plot_w / 2}" y="{height - 2}" font-size="10" '
                f'text-anchor="middle" fill="{AXIS}">hour of day (UTC)</text>')
    body.append(f'<line class="held" x1="{left}" y1="{_f(y(held))}" x2="{width - right}" '
                f'y2="{_f(y(held))}" stroke="{CURRENT}" stroke-width="2.5"/>')
    body.append(f'<rect x="{left}" y="6" width="10" height="10" fill="{USAGE}"/>'
                f'<text x="{left + 14}" y="15" font-size="11" fill="#333">needed</text>'
                f'<rect x="{left + 80}" y="6" width="10" height="10" fill="{CURRENT}"/>'
                f'<text x="{left + 94}" y="15" font-size="11" fill="#333">held now '
                f"({held:g})</text>")
    return _svg(width, height, label, body)

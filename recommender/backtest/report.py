"""Backtest reports: a terminal table, JSON, and a self-contained HTML Pareto chart (inline SVG)
of slack against under-provisioned hours, one point per strategy and resource."""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Sequence
from typing import Any

from recommender.backtest.score import Backtest, Score

RESOURCE_LABELS = {"cpu": "CPU", "memory": "memory", "gpu": "GPU"}
UNDER_LABELS = {"cpu": "throttled hours", "memory": "OOM hours", "gpu": "busy > allocated hours"}


def _pct(value: float | None, digits: int = 2) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{100 * value:.{digits}f}%"


def _row(names: Sequence[str], resource: str, score: Score) -> list[str]:
    gpu = resource == "gpu"
    return [
        *names, RESOURCE_LABELS.get(resource, resource), f"{score.slack:.3f}",
        _pct(score.under), _pct(score.under_hours), str(score.hours),
        f"{score.mean_target:.3f}" if gpu else "",
        _pct(score.memory_over) if score.memory_over is not None else "",
        _pct(score.contention) if score.contention is not None else "",
    ]


HEADER = ["strategy", "resource", "slack", "under samples", "under hours", "hours",
          "GPUs/pod", "GPU memory over", "contention"]
LEGEND = """slack: share of the target left idle, sum(max(target - use, 0)) / sum(target)
under samples: share of samples above the target; under hours: share of container-hours with
any sample above it (CPU throttled; memory, with limit = request, an OOM kill); hours: clock
hours scored (after --warmup); GPUs/pod: devices per pod-sample (MIG as slices / 7, a shared
device as its fraction); GPU memory over: GPU-memory samples above what the plan reserves;
contention: GPU samples on a shared device busier than 1 (pods packed first-fit by memory)
"""


def _natural(text: str) -> list[Any]:
    """Sort key: ``VM/2`` before ``VM/10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _format(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines) + "\n"


def render_table(results: Sequence[Backtest], per_workload: bool = False) -> str:
    """Overall scores per strategy and resource; with ``per_workload`` one row per workload."""
    rows = [_row([b.strategy], r, s) for b in results for r, s in b.overall.items()]
    text = _format(rows, HEADER)
    if per_workload:
        wrows = [
            _row([b.strategy, w], r, s)
            for b in results
            for w, scores in sorted(b.workloads.items(), key=lambda item: _natural(item[0]))
            for r, s in scores.items()
        ]
        text += "\n" + _format(wrows, ["strategy", "workload", *HEADER[1:]])
    return text + "\n" + LEGEND


def render_json(results: Sequence[Backtest], **meta: Any) -> str:
    """``{**meta, "strategies": [...]}`` (NaN as null)."""
    return json.dumps(to_jsonable(results, **meta), indent=2) + "\n"


def to_jsonable(results: Sequence[Backtest], **meta: Any) -> dict[str, Any]:
    """The JSON document as a dict (NaN replaced by None)."""
    return _clean({**meta, "strategies": [b.to_json() for b in results]})


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")
WIDTH, HEIGHT, PAD = 420, 320, 50


def _chart(resource: str, points: list[tuple[str, float, float, str]]) -> str:
    """One SVG scatter: x = under-provisioned hours, y = slack (both 0..max, lower is better)."""
    xmax = max([p[1] for p in points] + [0.01]) * 1.15
    ymax = 1.0

    def x(v: float) -> float:
        return PAD + v / xmax * (WIDTH - 2 * PAD)

    def y(v: float) -> float:
        return HEIGHT - PAD - v / ymax * (HEIGHT - 2 * PAD)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{html.escape(resource)} Pareto chart">',
        f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-weight="bold">'
        f"{html.escape(RESOURCE_LABELS.get(resource, resource))}</text>",
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
        'stroke="#333"/>',
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#333"/>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 12}" text-anchor="middle" font-size="12">'
        f"{html.escape(UNDER_LABELS.get(resource, 'under hours'))} (%)</text>",
        f'<text x="14" y="{HEIGHT / 2}" font-size="12" text-anchor="middle" '
        f'transform="rotate(-90 14 {HEIGHT / 2})">slack</text>',
    ]
    for tick in range(5):
        xv, yv = xmax * tick / 4, ymax * tick / 4
        parts.append(f'<text x="{x(xv):.1f}" y="{HEIGHT - PAD + 14}" font-size="10" '
                     f'text-anchor="middle">{100 * xv:.1f}</text>')
        parts.append(f'<text x="{PAD - 6}" y="{y(yv) + 3:.1f}" font-size="10" '
                     f'text-anchor="end">{yv:.2f}</text>')
    placed: list[tuple[float, float]] = []
    for name, under, slack, colour in points:
        parts.append(f'<circle cx="{x(under):.1f}" cy="{y(slack):.1f}" r="6" fill="{colour}">'
                     f"<title>{html.escape(name)}: slack {slack:.3f}, under hours "
                     f"{100 * under:.2f}%</title></circle>")
        lx, ly = x(under) + 9, y(slack) + 4
        while any(abs(lx - px) < 60 and abs(ly - py) < 12 for px, py in placed):
            ly += 13  # labels of (nearly) coinciding points stack downwards
        placed.append((lx, ly))
        parts.append(f'<text x="{lx:.1f}" y="{ly:.1f}" font-size="11" fill="{colour}">'
                     f"{html.escape(name)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def render_html(results: Sequence[Backtest], title: str = "Tidal backtest") -> str:
    """A self-contained page: one Pareto chart per resource, then the table."""
    colour = {b.strategy: COLOURS[i % len(COLOURS)] for i, b in enumerate(results)}
    resources = sorted({r for b in results for r in b.overall},
                       key=lambda r: list(RESOURCE_LABELS).index(r) if r in RESOURCE_LABELS else 9)
    charts = []
    for resource in resources:
        points = [
            (b.strategy, b.overall[resource].under_hours, b.overall[resource].slack,
             colour[b.strategy])
            for b in results
            if resource in b.overall and not math.isnan(b.overall[resource].slack)
        ]
        charts.append(_chart(resource, points))
    return (
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}svg{margin:0 1em 1em 0}"
        "pre{background:#f6f6f6;padding:1em}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        "<p>Lower-left is better: less idle request (slack) and fewer container-hours with "
        "usage above the recommendation.</p>"
        f"<div>{''.join(charts)}</div>"
        f"<pre>{html.escape(render_table(results))}</pre></body></html>\n"
    )

"""Replica backtest reports: a terminal table, JSON, and an HTML chart of demand against ready
capacity over one day."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from recommender.backtest.replicas import REACTIVE, REFERENCES, TIDAL, HpaSetup, ReplicaResult
from recommender.backtest.report import _format, _natural
from recommender.logic.forecast import DemandGrid

UNITS = {"cpu": "cores", "gpu": "busy GPUs"}
LEGEND = """replica-hours: replicas the HPA kept (ready or starting) x hours; GPU-hours: the same x
GPUs per replica; under capacity: share of simulated time with demand above ready replicas x
capacity; scale events: replica count changes. static-peak: fixed replicas for the history's
peak at the target utilisation; reactive: an HPA on the demand's utilisation; tidal: the same
HPA plus the External metric tidal_forecast; naive and oracle are references for the forecast:
naive = {naive}, oracle = {oracle}.
"""


@dataclass(frozen=True)
class ReplicaRun:
    """What was simulated, for the report header and JSON."""

    signal: str
    setup: HpaSetup
    capacity_spec: str
    grid: DemandGrid
    capacity: np.ndarray
    score_from: int
    left_out: int  # workloads without demand to size

    @property
    def lead_s(self) -> float:
        return self.setup.lead_buckets(self.grid.step) * self.grid.step

    @property
    def scored_days(self) -> float:
        return max(self.grid.values.shape[1] - self.score_from, 0) * self.grid.step / 86400


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g}m"


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base > 0 else "-"


def _name(strategy: str) -> str:
    return f"{strategy} (ref)" if strategy in REFERENCES else strategy


def header(run: ReplicaRun) -> str:
    s = run.setup
    text = (f"replica backtest: {run.signal} demand ({UNITS[run.signal]}) of "
            f"{len(run.grid.keys)} workloads, cold start {_minutes(s.cold_start_s)}, forecast "
            f"lead {_minutes(run.lead_s)}, target utilisation {s.target_utilization:g}, "
            f"replica capacity {run.capacity_spec}; {run.scored_days:.1f} days scored")
    if run.left_out:
        text += f"\n{run.left_out} workloads left out: no demand at the capacity percentile"
    return text + "\n"


def render_table(run: ReplicaRun, results: Sequence[ReplicaResult],
                 per_workload: bool = False) -> str:
    """Totals per strategy (and with ``per_workload`` one row per strategy and workload)."""
    base = next(r for r in results if r.strategy == REACTIVE)
    gpus = run.setup.gpus_per_replica
    cols = ["strategy", "replica-hours", "vs reactive"]
    cols += ["GPU-hours"] if gpus else []
    cols += ["under capacity", "vs reactive", "scale events"]
    rows = []
    for r in results:
        row = [_name(r.strategy), f"{r.total_replica_hours:,.0f}",
               _ratio(r.total_replica_hours, base.total_replica_hours)]
        row += [f"{r.total_replica_hours * gpus:,.0f}"] if gpus else []
        row += [_pct(r.total_under_share), _ratio(r.total_under_share, base.total_under_share),
                f"{int(r.scale_events.sum()):,}"]
        rows.append(row)
    text = header(run) + "\n" + _format(rows, cols)
    if per_workload:
        order = sorted(range(len(run.grid.keys)),
                       key=lambda i: _natural("/".join(run.grid.keys[i])))
        wrows = [[_name(r.strategy), "/".join(run.grid.keys[i]), f"{r.replica_hours[i]:,.1f}",
                  _pct(float(r.under_share[i])), f"{int(r.scale_events[i])}"]
                 for r in results for i in order]
        text += "\n" + _format(wrows, ["strategy", "workload", "replica-hours",
                                       "under capacity", "scale events"])
    return text + "\n" + LEGEND.format(**REFERENCES)


def to_jsonable(run: ReplicaRun, results: Sequence[ReplicaResult]) -> dict[str, Any]:
    s = run.setup
    gpus = s.gpus_per_replica
    return {
        "signal": run.signal, "unit": UNITS[run.signal], "step_s": run.grid.step,
        "cold_start_s": s.cold_start_s, "lead_s": run.lead_s,
        "target_utilization": s.target_utilization, "tolerance": s.tolerance,
        "sync_s": s.sync_s, "stabilization_s": s.stabilization_s,
        "replica_capacity": run.capacity_spec, "gpus_per_replica": gpus,
        "scored_days": run.scored_days, "workloads_left_out": run.left_out,
        "strategies": [
            {
                "name": r.strategy, "reference": r.strategy in REFERENCES,
                "replica_hours": r.total_replica_hours,
                "gpu_hours": r.total_replica_hours * gpus,
                "under_capacity": r.total_under_share,
                "scale_events": int(r.scale_events.sum()),
                "workloads": [
                    {"namespace": ns, "workload": wl, "capacity": float(run.capacity[i]),
                     "replica_hours": float(r.replica_hours[i]),
                     "gpu_hours": float(r.replica_hours[i] * gpus),
                     "under_capacity": float(r.under_share[i]),
                     "scale_events": int(r.scale_events[i])}
                    for i, (ns, wl) in enumerate(run.grid.keys)
                ],
            }
            for r in results
        ],
    }


def render_json(run: ReplicaRun, results: Sequence[ReplicaResult]) -> str:
    return json.dumps(to_jsonable(run, results), indent=2) + "\n"


# -- HTML --------------------------------------------------------------------------------------
WIDTH, HEIGHT, PAD_L, PAD_R, PAD_Y = 760, 260, 64, 16, 36
SERIES = (("demand", "#222"), (REACTIVE, "#d62728"), (TIDAL, "#1f77b4"))


def chart_day(run: ReplicaRun) -> tuple[int, int]:
    """Bucket range of the last whole UTC day scored (or the last 24 h there are)."""
    per_day = int(round(86400 / run.grid.step))
    buckets = run.grid.values.shape[1]
    start_day = math.ceil(run.grid.t0 / 86400) * 86400
    first = int(round((start_day - run.grid.t0) / run.grid.step))
    days = (buckets - first) // per_day
    if days >= 1:
        lo = first + (days - 1) * per_day
        return max(lo, 0), lo + per_day
    return max(buckets - per_day, 0), buckets


def _path(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))


def _workload_chart(run: ReplicaRun, results: dict[str, ReplicaResult], row: int,
                    span: tuple[int, int]) -> str:
    lo, hi = span
    step, cap = run.grid.step, float(run.capacity[row])
    demand = np.nan_to_num(run.grid.values[row, lo:hi])
    lines = {"demand": demand}
    for name in (REACTIVE, TIDAL):
        lines[name] = results[name].ready[row, lo:hi] * cap
    top = max(float(max(v.max(initial=0.0) for v in lines.values())), 1e-9) * 1.1
    n = max(hi - lo, 1)

    def x(i: float) -> float:
        return PAD_L + i / n * (WIDTH - PAD_L - PAD_R)

    def y(v: float) -> float:
        return HEIGHT - PAD_Y - v / top * (HEIGHT - 2 * PAD_Y)

    name = "/".join(run.grid.keys[row])
    day = datetime.fromtimestamp(run.grid.t0 + lo * step, UTC).strftime("%Y-%m-%d")
    unit = UNITS[run.signal]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'role="img" aria-label="{html.escape(name)}: demand and ready capacity">',
             f'<text x="{PAD_L}" y="16" font-weight="bold">{html.escape(name)} '
             f"({day}, UTC)</text>"]
    for tick in range(5):
        v = top * tick / 4
        parts.append(f'<line x1="{PAD_L}" x2="{WIDTH - PAD_R}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                     'stroke="#eee"/>')
        parts.append(f'<text x="{PAD_L - 6}" y="{y(v) + 3:.1f}" font-size="10" '
                     f'text-anchor="end">{v:.3g}</text>')
    for hour in range(0, 25, 3):
        i = hour * 3600 / step
        parts.append(f'<text x="{x(i):.1f}" y="{HEIGHT - PAD_Y + 14}" font-size="10" '
                     f'text-anchor="middle">{hour:02d}:00</text>')
    parts.append(f'<text x="14" y="{HEIGHT / 2}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 14 {HEIGHT / 2})">{unit}</text>')
    for label, colour in SERIES:
        values = lines[label]
        points: list[tuple[float, float]] = []
        for i, v in enumerate(values.tolist()):  # steps: a value holds for its bucket
            points += [(x(i), y(v)), (x(i + 1), y(v))]
        dash = ' stroke-dasharray="4 2"' if label == TIDAL else ""
        parts.append(f'<path d="{_path(points)}" fill="none" stroke="{colour}" '
                     f'stroke-width="1.3"{dash}><title>{html.escape(label)}</title></path>')
    for i, (label, colour) in enumerate(SERIES):
        text = "demand" if label == "demand" else f"ready capacity, {label}"
        parts.append(f'<text x="{PAD_L + 8 + 190 * i}" y="{HEIGHT - 6}" font-size="11" '
                     f'fill="{colour}">■ {html.escape(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(run: ReplicaRun, results: Sequence[ReplicaResult], charts: int = 4) -> str:
    """A self-contained page: demand against ready capacity over the last whole day for the
    busiest workloads, then the table."""
    by_name = {r.strategy: r for r in results}
    busiest = np.argsort(-np.nan_to_num(run.grid.values).sum(axis=1), kind="stable")[:charts]
    span = chart_day(run)
    svgs = "".join(f"<div>{_workload_chart(run, by_name, int(i), span)}</div>" for i in busiest)
    return (
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Tidal replica backtest"
        "</title><style>body{font-family:sans-serif;margin:2em}pre{background:#f6f6f6;"
        "padding:1em}</style></head><body><h1>Tidal replica backtest</h1>"
        "<p>Demand against ready capacity (ready replicas x one replica's capacity): where the "
        "black line is above a coloured one, that HPA was short of ready replicas. "
        f"Busiest {len(busiest)} workloads.</p>{svgs}"
        f"<pre>{html.escape(render_table(run, results))}</pre></body></html>\n"
    )

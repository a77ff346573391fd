"""CSV: one row per container and resource, numbers in base units (cores, bytes, GPUs)."""

from __future__ import annotations

import csv
import io

from recommender.report.formats.json_doc import _num
from recommender.report.model import Report

COLUMNS = (
    "namespace", "workload", "container", "replicas", "activity", "resource", "unit",
    "request", "limit", "target", "lower_bound", "upper_bound", "request_devices",
    "target_devices", "diff_per_pod", "diff_total", "diff_percent", "status",
    "usage_p50", "usage_p95", "usage_max", "history_hours", "samples", "oom_kills",
    "monthly_cost_current", "monthly_cost_recommended", "monthly_saving", "flags",
)
UNITS = {"cpu": "cores", "memory": "bytes", "gpu": "gpus"}


def _cell(value: object) -> object:
    return "" if value is None else value


def _devices(devices: dict[str, float] | None) -> str:
    return " ".join(f"{r}={int(n)}" for r, n in sorted((devices or {}).items()))


def render(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for c in report.containers:
        flags = "; ".join(f"{f.code}: {f.message}" for f in c.flags)
        for line in c.lines:
            r = line.resource
            usage = line.usage
            writer.writerow(_cell(v) for v in (
                c.namespace, c.workload, c.container, c.replicas, c.activity, r, UNITS[r],
                _num(r, line.request), _num(r, line.values.get("limit")), _num(r, line.target),
                _num(r, line.values.get("lowerBound")), _num(r, line.values.get("upperBound")),
                _devices(line.devices.get("request")), _devices(line.devices.get("target")),
                _num(r, line.diff_per_pod), _num(r, c.diff_total(line)),
                None if line.diff_percent is None else round(line.diff_percent, 1),
                line.status,
                *((_num(r, usage.p50), _num(r, usage.p95), _num(r, usage.max)) if usage
                  else (None, None, None)),
                c.evidence.get("historySpanHours"), c.evidence.get("samples"),
                c.evidence.get("oomKills"),
                *((round(line.cost.current, 2), round(line.cost.recommended, 2),
                   round(line.cost.saving, 2)) if line.cost else (None, None, None)),
                flags,
            ))
    return out.getvalue()

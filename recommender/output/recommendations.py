"""Render recommendations: a terminal table, JSON and YAML (the offline contract)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import yaml

from recommender.logic.profile import Profiles, describe
from recommender.model.state import ContainerKey
from recommender.quantity import Rounding, format_quantity, human, is_gpu_resource
from recommender.recommendation import ContainerRecommendation

FORMATS = ("table", "json", "yaml")


def document(
    recs: Sequence[ContainerRecommendation],
    rounding: Rounding | None = None,
    generated_at: datetime | None = None,
    profiles: Profiles | None = None,
    **meta: Any,
) -> dict[str, Any]:
    """``{"generatedAt", "recommendations": [...]}``: each entry holds the four status maps
    as Kubernetes quantity strings plus the history span and sample count used, and with
    ``profiles`` its ``hourlyProfile``: per resource, 24 next-hours targets by UTC hour of day
    (null where unknown)."""
    stamp = (generated_at or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    entries = []
    for rec in recs:
        status = rec.to_status(rounding)
        entries.append(
            {
                "namespace": rec.namespace,
                "workload": rec.workload,
                "container": rec.container,
                **{k: status[k] for k in ("target", "lowerBound", "upperBound", "uncappedTarget")},
                "historySpanHours": rec.evidence.get("historySpanHours", 0.0),
                "samples": rec.evidence.get("samples", 0),
                "oomKills": rec.evidence.get("oomKills", 0),
            }
        )
        profile = (profiles or {}).get(ContainerKey(rec.namespace, rec.workload, rec.container))
        if profile:
            entries[-1]["hourlyProfile"] = {
                resource: [format_quantity(resource, v, rounding) if math.isfinite(v) else None
                           for v in values]
                for resource, values in profile.items()
            }
    return {"generatedAt": stamp, **meta, "recommendations": entries}


def render_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2) + "\n"


def render_yaml(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False)


def render_table(
    recs: Sequence[ContainerRecommendation], profiles: Profiles | None = None
) -> str:
    """One line per container and resource: target with its bounds, and the evidence; with
    ``profiles`` a last column, the next-hours target by UTC hour (00 to 23) and its range."""
    header: tuple[str, ...] = ("NAMESPACE", "WORKLOAD", "CONTAINER", "RESOURCE", "TARGET",
                               "LOWER", "UPPER", "UNCAPPED", "HISTORY")
    if profiles:
        header += ("IN PLACE BY HOUR (UTC 00-23)",)
    lines: list[tuple[str, ...]] = [header]
    for rec in sorted(recs, key=lambda r: (r.namespace, r.workload, r.container)):
        hours = float(rec.evidence.get("historySpanHours", 0.0))
        history = f"{hours / 24:.1f}d" if hours >= 24 else f"{hours:.0f}h"
        for resource in sorted(rec.target, key=lambda r: (r != "cpu", r != "memory", r)):
            lines.append(
                (
                    rec.namespace, rec.workload, rec.container, resource,
                    human(resource, rec.target.get(resource)),
                    _cell(resource, rec.lower_bound),
                    _cell(resource, rec.upper_bound),
                    human(resource, rec.uncapped_target.get(resource)),
                    history,
                )
            )
            if profiles:
                key = ContainerKey(rec.namespace, rec.workload, rec.container)
                values = profiles.get(key, {}).get(resource)
                lines[-1] += (describe(resource, values) if values else "",)
    if len(lines) == 1:
        return "No recommendations: the history has no samples.\n"
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n"
        for row in lines
    )


def _cell(resource: str, values: dict[str, float]) -> str:
    """A bound's cell; a GPU bound may name another device or MIG profile than the target."""
    if resource in values or not is_gpu_resource(resource):
        return human(resource, values.get(resource))
    other = next((r for r in values if is_gpu_resource(r)), None)
    if other is None:
        return "-"
    return f"{human(other, values[other])} {other.removeprefix('nvidia.com/')}"

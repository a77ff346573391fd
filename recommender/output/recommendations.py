"""Render recommendations: a terminal table, JSON and YAML (the offline contract)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import yaml

from recommender.quantity import Rounding, human, is_gpu_resource
from recommender.recommendation import ContainerRecommendation

FORMATS = ("table", "json", "yaml")


def document(
    recs: Sequence[ContainerRecommendation],
    rounding: Rounding | None = None,
    generated_at: datetime | None = None,
    **meta: Any,
) -> dict[str, Any]:
    """``{"generatedAt", "recommendations": [...]}``: each entry holds the four status maps
    as Kubernetes quantity strings plus the history span and sample count used."""
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
    return {"generatedAt": stamp, **meta, "recommendations": entries}


def render_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2) + "\n"


def render_yaml(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False)


def render_table(recs: Sequence[ContainerRecommendation]) -> str:
    """One line per container and resource: target with its bounds, and the evidence."""
    header = ("NAMESPACE", "WORKLOAD", "CONTAINER", "RESOURCE", "TARGET", "LOWER", "UPPER",
              "UNCAPPED", "HISTORY")
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

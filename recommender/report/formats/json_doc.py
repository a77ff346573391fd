"""The JSON report: a stable document described by ``report.schema.json`` (shipped in the
package). Quantities are numbers in base units: CPU cores, memory bytes, GPU equivalents;
GPU device maps and the proposal use Kubernetes names and quantity strings."""

from __future__ import annotations

import json
from importlib import resources as package_files
from typing import Any

from recommender.quantity import Rounding, format_quantity
from recommender.report.formats.text import timestamp
from recommender.report.model import (
    LINE_FIELDS,
    ContainerReport,
    GpuRelease,
    GpuReport,
    Report,
    ResourceLine,
    Savings,
)
from recommender.report.release import suggested_hpa
from recommender.report.usage import UsageStats

API_VERSION = "tidal.dev/v1alpha1"
KIND = "RecommendationReport"
UNITS = {"cpu": "cores", "memory": "bytes", "gpu": "gpus"}


def schema() -> dict[str, Any]:
    """The JSON Schema of the document (draft 2020-12)."""
    text = package_files.files("recommender.report").joinpath("report.schema.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


def _num(resource: str, value: float | None) -> float | int | None:
    if value is None:
        return None
    if resource == "memory":
        return int(round(value))
    return round(value, 4)


def _usage(resource: str, stats: UsageStats | None) -> dict[str, Any] | None:
    if stats is None:
        return None
    return {k: _num(resource, getattr(stats, k)) for k in ("p50", "p95", "max")}


def _line(container: ContainerReport, line: ResourceLine) -> dict[str, Any]:
    r = line.resource
    out: dict[str, Any] = {"resource": r, "unit": UNITS[r], "status": line.status}
    out.update({name: _num(r, line.values.get(name)) for name in LINE_FIELDS})
    if r == "gpu":
        out["devices"] = {
            name: {dev: int(n) for dev, n in sorted(devs.items())}
            for name, devs in sorted(line.devices.items())
        }
    total = container.diff_total(line)
    out["diffPerPod"] = _num(r, line.diff_per_pod)
    out["diffTotal"] = _num(r, total)
    out["diffPercent"] = None if line.diff_percent is None else round(line.diff_percent, 1)
    out["usage"] = _usage(r, line.usage)
    if line.hourly is not None:
        out["hourlyProfile"] = [None if v != v else _num(r, v) for v in line.hourly]
    out["monthlyCost"] = None if line.cost is None else {
        "current": round(line.cost.current, 2),
        "recommended": round(line.cost.recommended, 2),
        "saving": round(line.cost.saving, 2),
    }
    return out


def _container(c: ContainerReport, rounding: Rounding) -> dict[str, Any]:
    ev = c.evidence
    proposal = None
    if c.proposal is not None:
        proposal = {
            "requests": {k: format_quantity(k, v, rounding)
                         for k, v in sorted(c.proposal.requests.items())},
            "limits": {k: format_quantity(k, v, rounding)
                       for k, v in sorted(c.proposal.limits.items())},
            "remove": list(c.proposal.remove),
        }
    return {
        "namespace": c.namespace,
        "workload": c.workload,
        "kind": c.kind,
        "name": c.name,
        "container": c.container,
        "replicas": c.replicas,
        "activity": c.activity,
        "hasVpa": c.has_vpa,
        "status": c.status,
        "resources": [_line(c, line) for line in c.lines],
        "evidence": {
            "historySpanHours": float(ev.get("historySpanHours", 0.0)),
            "samples": int(ev.get("samples", 0)),
            "firstSample": timestamp(float(ev["firstSample"])) if "firstSample" in ev else None,
            "lastSample": timestamp(float(ev["lastSample"])) if "lastSample" in ev else None,
            "oomKills": int(ev.get("oomKills", 0)),
            "confidenceDays": float(ev.get("confidenceDays", 0.0)),
        },
        "flags": [{"code": f.code, "severity": f.severity, "message": f.message}
                  for f in c.flags],
        "proposal": proposal,
    }


def _gpu(g: GpuReport) -> dict[str, Any]:
    def share(value: float | None) -> float | None:
        return None if value is None else round(value, 4)

    return {
        "namespace": g.namespace,
        "workload": g.workload,
        "container": g.container,
        "replicas": g.replicas,
        "model": g.model,
        "current": {k: int(v) for k, v in sorted(g.current.items())},
        "allocatedGpus": round(g.allocated_gpus, 4),
        "busyGpus": _usage("gpu", g.busy),
        "memoryBytes": _usage("memory", g.memory),
        "deviceMemoryBytes": _num("memory", g.device_memory),
        "dutyCycle": share(g.duty_cycle),
        "idleShare": share(g.idle_share),
        "recommended": {k: int(v) for k, v in sorted(g.recommended.items())},
        "options": [
            {
                "kind": o.kind,
                "resource": o.resource,
                "count": int(o.count),
                "gpus": share(o.gpus),
                "monthlySaving": None if o.monthly_saving is None else round(o.monthly_saving, 2),
                "note": o.note,
            }
            for o in g.options
        ],
    }


def _release(r: GpuRelease) -> dict[str, Any]:
    return {
        "namespace": r.namespace,
        "workload": r.workload,
        "gpusPerReplica": r.gpus_per_replica,
        "replicas": r.replicas,
        "heldGpus": r.held,
        "neededGpusByHour": list(r.needed),
        "busyGpusPeakByHour": [round(v, 4) for v in r.busy_peak],
        "freedGpuHoursPerDay": r.freed_gpu_hours_per_day,
        "suggestedHpa": suggested_hpa(r),
    }


def _savings(s: Savings) -> dict[str, Any]:
    out: dict[str, Any] = {"namespace": s.namespace} if s.namespace else {}
    out.update(s.by_resource)
    out.update({"total": round(s.total, 2), "current": s.current, "recommended": s.recommended})
    return out


def document(report: Report, rounding: Rounding | None = None) -> dict[str, Any]:
    """The report as a JSON-ready dict (see ``docs/reports.md`` and the schema)."""
    rounding = rounding or Rounding()
    history = report.history
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "generatedAt": report.generated_at,
        "source": report.source,
        "strategy": report.strategy,
        "gpuModel": report.gpu_model,
        "tolerancePercent": report.tolerance,
        "history": {
            "firstSample": timestamp(history.get("firstSample")) if history else None,
            "lastSample": timestamp(history.get("lastSample")) if history else None,
            "samples": int(history.get("samples", 0)),
            "oomKills": int(history.get("oomKills", 0)),
        },
        "prices": report.prices.to_dict(),
        "summary": {
            "containers": len(report.containers),
            "byStatus": report.counts(),
            "monthlySaving": round(report.cluster.total, 2),
            "currentMonthlyCost": report.cluster.current,
            "recommendedMonthlyCost": report.cluster.recommended,
        },
        "containers": [_container(c, rounding) for c in report.containers],
        "gpus": [_gpu(g) for g in report.gpus],
        "gpuReleaseSchedule": [_release(r) for r in report.releases],
        "savings": {
            "namespaces": [_savings(s) for s in report.namespaces],
            "cluster": _savings(report.cluster),
        },
        "notes": list(report.notes),
    }


def render(report: Report) -> str:
    return json.dumps(document(report), indent=2, ensure_ascii=False) + "\n"

"""``--format patch``: a shell script of ``kubectl patch --type strategic`` commands that set
the recommended ``resources:``, one per workload with a change. Review it, then pipe it to sh.

Limits follow upstream VPA: kept in proportion to the request (RequestsAndLimits), untouched
for ``controlledValues: RequestsOnly``; GPU devices are set as request == limit, and a device
the recommendation replaces (a whole GPU by a MIG slice) is removed with ``null``.
"""

from __future__ import annotations

import json
from itertools import groupby
from typing import Any

from recommender.quantity import format_quantity
from recommender.report.formats import text as T
from recommender.report.model import NO_REQUEST, OVER, UNDER, ContainerReport, Report

CHANGED = (UNDER, OVER, NO_REQUEST)
_RESOURCE_ARG = {"Deployment": "deployment", "StatefulSet": "statefulset",
                 "DaemonSet": "daemonset", "CronJob": "cronjob"}


def container_patch(c: ContainerReport) -> dict[str, Any] | None:
    """The strategic-merge entry of ``containers:`` for one container, or None."""
    if c.proposal is None or not any(line.status in CHANGED for line in c.lines):
        return None
    p = c.proposal
    requests: dict[str, str | None] = {k: format_quantity(k, v) for k, v in
                                       sorted(p.requests.items())}
    limits: dict[str, str | None] = {k: format_quantity(k, v) for k, v in
                                     sorted(p.limits.items())}
    for name in p.remove:
        requests[name] = None
        limits[name] = None
    resources: dict[str, Any] = {"requests": requests}
    if limits:
        resources["limits"] = limits
    return {"name": c.container, "resources": resources}


def workload_patch(kind: str, containers: list[dict[str, Any]]) -> dict[str, Any]:
    pod = {"spec": {"containers": containers}}
    if kind == "CronJob":
        return {"spec": {"jobTemplate": {"spec": {"template": pod}}}}
    return {"spec": {"template": pod}}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _summary(c: ContainerReport) -> str:
    """The changes the patch makes (a resource an HPA scales on is named as kept)."""
    kept = {f.code.removeprefix("hpa-") for f in c.flags if f.code.startswith("hpa-")}
    changes = [
        f"{line.resource} {T.amount(line, 'request')} -> {T.amount(line, 'target')}"
        for line in c.lines if line.status in CHANGED and line.resource not in kept
    ]
    changes += [f"{resource} kept (an HPA scales on it)" for resource in sorted(kept)]
    return ", ".join(changes)


def render(report: Report) -> str:
    out = [
        "#!/bin/sh",
        f"# Tidal resource patches (strategic merge), generated {report.generated_at}.",
        "# Review, then apply: sh this-file (or pipe it to sh). Each command is idempotent.",
        "set -e",
    ]
    for (ns, workload), group in groupby(report.containers, key=lambda c: (c.namespace,
                                                                           c.workload)):
        members = list(group)
        entries = [(c, e) for c in members if (e := container_patch(c)) is not None]
        if not entries:
            continue
        kind, name = workload.split("/", 1)
        out.append("")
        for c, _ in entries:
            out.append(f"# {ns}/{workload} {c.container}: {_summary(c)}")
        if kind not in _RESOURCE_ARG:
            out.append(f"# skipped: a {kind}'s pod template cannot be changed after creation")
            continue
        body = json.dumps(workload_patch(kind, [e for _, e in entries]), separators=(",", ":"))
        out.append(f"kubectl -n {ns} patch {_RESOURCE_ARG[kind]} {name} --type strategic "
                   f"-p {_quote(body)}")
    return "\n".join(out) + "\n"

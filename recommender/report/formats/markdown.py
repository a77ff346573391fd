"""Markdown: for pull requests, wikis and chat; GitHub-flavoured tables."""

from __future__ import annotations

from recommender.report.formats import text as T
from recommender.report.model import Report
from recommender.report.release import suggested_hpa_yaml

_ICON = {"under": "🔺", "no-request": "🔺", "over": "🔻", "ok": "✅"}


def _esc(text: str) -> str:
    return text.replace("|", "\\|")


def render(report: Report) -> str:
    cur = report.prices.currency
    out = [
        "# Tidal recommendation report",
        "",
        f"Generated {report.generated_at} · strategy `{report.strategy}`"
        + (f" · source {report.source}" if report.source else ""),
        "",
        f"**Estimated monthly saving: {T.money(report.cluster.total, cur)}** "
        f"({T.money(report.cluster.current, cur)} now, "
        f"{T.money(report.cluster.recommended, cur)} recommended; {T.price_list(report.prices)}).",
        "",
        "## Containers",
        "",
        "| Workload | Container | Replicas | Resource | Request | Limit | Target | Bounds "
        "| Δ/pod | Δ×replicas | p50 | p95 | max | Status |",
        "|---|---|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for c in report.containers:
        for i, line in enumerate(c.lines):
            status = f"{_ICON.get(line.status, '')} {T.status(line)}".strip()
            bounds = T.bounds(line)
            out.append("| " + " | ".join(_esc(x) for x in (
                f"{c.namespace}/{c.workload}" if i == 0 else "", c.container if i == 0 else "",
                T.replicas(c) if i == 0 else "", line.resource, T.amount(line, "request"),
                T.amount(line, "limit"), T.amount(line, "target"), bounds, T.diff(line),
                T.diff(line, c.replicas), T.usage(line, "p50"), T.usage(line, "p95"),
                T.usage(line, "max"), status,
            )) + " |")
    flagged = [(c, f) for c in report.containers for f in c.flags]
    if flagged:
        out += ["", "## Flags", ""]
        out += [
            f"- {'⚠️' if f.severity == 'warning' else 'ℹ️'} `{c.namespace}/{c.workload}` "
            f"**{c.container}**: {f.message}"
            for c, f in flagged
        ]
    if report.gpus:
        out += ["", "## GPUs", "",
                "Savings here count GPUs only; a workload's total adds its CPU and memory.", "",
                "| Workload | Model | Current | Duty cycle | Idle | Busy p95 | Memory max "
                "| Options |", "|---|---|---|---:|---:|---:|---:|---|"]
        for g in report.gpus:
            current = ", ".join(f"{int(n)} × `{r}`" for r, n in g.current.items()) or "-"
            options = "; ".join(
                f"{o.kind}: {int(o.count)} × `{o.resource}` "
                f"({T.saving_text(o.monthly_saving, cur)})"
                for o in g.options
            )
            memory = "-" if g.memory is None else T.gigabytes(g.memory.max)
            if g.memory is not None and g.device_memory:
                memory += f" of {T.gigabytes(g.device_memory)}"
            out.append("| " + " | ".join((
                f"{g.namespace}/{g.workload}/{g.container}", g.model or "-", current,
                "-" if g.duty_cycle is None else f"{g.duty_cycle:.0%}",
                "-" if g.idle_share is None else f"{g.idle_share:.0%}",
                "-" if g.busy is None else f"{g.busy.p95:.2f}",
                memory,
                options,
            )) + " |")
    if report.releases:
        out += ["", "## GPU release schedule", "",
                "| Workload | Held | Needed by UTC hour (00-23) | GPU-hours a day to free |",
                "|---|---:|---|---:|"]
        out += [f"| {r.namespace}/{r.workload} | {r.held:g} | "
                f"{' '.join(f'{n:g}' for n in r.needed)} | {r.freed_gpu_hours_per_day:g} |"
                for r in report.releases]
        out += ["", "Suggested HPA (scales on `tidal_forecast`, see docs/forecast.md):", ""]
        for r in report.releases:
            out += ["```yaml", suggested_hpa_yaml(r).rstrip(), "```"]
    out += ["", "## Savings by namespace (monthly, estimated)", "",
            "| Namespace | CPU | Memory | GPU | Now | Recommended | Saving |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for s in [*report.namespaces, report.cluster]:
        name = s.namespace or "**cluster**"
        out.append("| " + " | ".join((
            name, *(T.money(s.by_resource[r], cur) for r in ("cpu", "memory", "gpu")),
            T.money(s.current, cur), T.money(s.recommended, cur), T.money(s.total, cur),
        )) + " |")
    out += [""] + [f"> {note}" for note in report.notes]
    return "\n".join(out) + "\n"

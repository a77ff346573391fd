"""``--format html``: one self-contained page (inline CSS and SVG, no scripts, no network)."""

from __future__ import annotations

from functools import partial
from html import escape
from itertools import groupby

import yaml

from recommender.quantity import format_quantity, human
from recommender.report.formats import svg
from recommender.report.formats import text as T
from recommender.report.formats.patch import container_patch
from recommender.report.model import ContainerReport, Report
from recommender.report.release import TARGET_UTILIZATION, suggested_hpa_yaml

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;
max-width:1180px;padding:0 16px;color:#222;background:#fafafa}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 10px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:18px 0 6px}.meta{color:#666}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{background:#fff;border:1px solid #ddd;border-radius:8px;padding:10px 16px;min-width:150px}
.card b{display:block;font-size:22px}
table{border-collapse:collapse;background:#fff;font-size:13px;margin:6px 0}
th,td{border:1px solid #e3e3e3;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f1f1f1}td.l,th.l{text-align:left}
.under,.no-request{color:#b3261e;font-weight:600}.over{color:#8a5a00;font-weight:600}
.ok{color:#2e7d32}.warning{color:#b3261e}.info{color:#555}
.charts{display:flex;gap:12px;flex-wrap:wrap}.workload{background:#fff;border:1px solid #ddd;
border-radius:8px;padding:8px 14px;margin:12px 0}
pre{background:#f4f4f4;padding:8px;overflow:auto;font-size:12px}
.note{color:#666;font-size:12px}td.wrap{white-space:normal;max-width:420px}
"""


def _cell(text: str, cls: str = "") -> str:
    return f'<td class="{cls}">{escape(text)}</td>' if cls else f"<td>{escape(text)}</td>"


def _resources_yaml(c: ContainerReport) -> str:
    """Goldilocks-style copy-paste ``resources:`` block of the proposal."""
    if c.proposal is None:
        return ""
    doc = {"resources": {
        "requests": {k: format_quantity(k, v) for k, v in sorted(c.proposal.requests.items())},
    }}
    if c.proposal.limits:
        doc["resources"]["limits"] = {
            k: format_quantity(k, v) for k, v in sorted(c.proposal.limits.items())
        }
    return yaml.safe_dump(doc, sort_keys=False)


def _container_rows(c: ContainerReport) -> list[str]:
    rows = []
    for line in c.lines:
        status = T.status(line)
        rows.append("<tr>" + "".join((
            _cell(c.container, "l"), _cell(line.resource, "l"), _cell(T.amount(line, "request")),
            _cell(T.amount(line, "limit")), _cell(T.amount(line, "target")),
            _cell(T.bounds(line)),
            _cell(T.diff(line)), _cell(T.diff(line, c.replicas)), _cell(T.usage(line, "p50")),
            _cell(T.usage(line, "p95")), _cell(T.usage(line, "max")),
            _cell(status, line.status),
        )) + "</tr>")
    return rows


def _charts(c: ContainerReport) -> str:
    charts = []
    for resource, buckets in sorted(c.distributions.items()):
        line = c.line(resource)
        if line is None:
            continue
        hi = max([b.end for b in buckets] + [v for v in (line.request, line.target,
                                                         line.limit) if v])
        charts.append(svg.distribution_chart(
            buckets, line.request, line.target, partial(human, resource),
            f"{c.container} {resource} usage against request and target",
            f"{c.container} · {resource}", limit=line.limit,
            unit=svg.axis_unit(resource, hi * 1.3),
        ))
    return '<div class="charts">' + "".join(charts) + "</div>" if charts else ""


def _workloads(report: Report) -> list[str]:
    out = ["<h2>Workloads</h2>"]
    head = ("Container", "Res", "Request", "Limit", "Target", "Bounds", "Δ/pod", "Δ×replicas",
            "p50", "p95", "max", "Status")
    for (ns, workload), group in groupby(report.containers, key=lambda c: (c.namespace,
                                                                           c.workload)):
        members = list(group)
        first = members[0]
        savings = [s for s in (T.saving(c) for c in members) if s is not None]
        money = ""
        if savings:
            money = " · " + T.saving_text(sum(savings), report.prices.currency)
        out.append(f'<div class="workload"><h3>{escape(ns)}/{escape(workload)}</h3>'
                   f'<div class="meta">{escape(T.pods(first))} · '
                   f'{"VPA" if first.has_vpa else "no VPA"}{escape(money)}</div>')
        out.append("<table><tr>" + "".join(
            f'<th class="{"l" if i < 2 else ""}">{h}</th>' for i, h in enumerate(head)
        ) + "</tr>")
        for c in members:
            out.extend(_container_rows(c))
        out.append("</table>")
        for c in members:
            for f in c.flags:
                out.append(f'<div class="{f.severity}">{"⚠" if f.severity == "warning" else "ℹ"}'
                           f" {escape(c.container)}: {escape(f.message)}</div>")
            out.append(_charts(c))
            snippet = _resources_yaml(c) if container_patch(c) is not None else ""
            if snippet:
                out.append(f"<details><summary>{escape(c.container)}: recommended "
                           f"resources</summary><pre>{escape(snippet)}</pre></details>")
        out.append("</div>")
    return out


def _gpus(report: Report) -> list[str]:
    if not report.gpus:
        return []
    cur = report.prices.currency
    out = ["<h2>GPUs</h2>", "<p>Savings here count GPUs only; a workload's total adds its CPU "
           "and memory.</p>", "<table><tr><th class=l>Workload</th><th class=l>Model</th>"
           "<th>Current</th><th>Duty cycle</th><th>Idle</th><th>Busy p95</th>"
           "<th>Memory max</th><th class=l>What would fit</th></tr>"]
    for g in report.gpus:
        options = "<br>".join(
            f'<span title="{escape(o.note)}">{escape(o.kind)}: '
            f"{escape(T.devices({o.resource: o.count}))} · "
            f"{escape(T.saving_text(o.monthly_saving, cur))}</span>"
            for o in g.options
        )
        memory = "-" if g.memory is None else T.gigabytes(g.memory.max)
        if g.memory is not None and g.device_memory:
            memory += f" of {T.gigabytes(g.device_memory)}"
        out.append("<tr>" + "".join((
            _cell(f"{g.namespace}/{g.workload}/{g.container}", "l"), _cell(g.model or "-", "l"),
            _cell(T.devices(g.current) or "-"),
            _cell("-" if g.duty_cycle is None else f"{g.duty_cycle:.0%}"),
            _cell("-" if g.idle_share is None else f"{g.idle_share:.0%}"),
            _cell("-" if g.busy is None else f"{g.busy.p95:.2f}"), _cell(memory),
        )) + f'<td class="l wrap">{options}</td></tr>')
    out.append("</table>")
    series = [(f"{g.workload.split('/', 1)[-1]}/{g.container}", g.series)
              for g in report.gpus if g.series]
    if series:
        out.append("<h3>GPU utilisation over time (hourly mean of the allocated GPUs)</h3>")
        out.append(svg.line_chart(series, "GPU utilisation over time"))
    return out


def _releases(report: Report) -> list[str]:
    if not report.releases:
        return []
    out = ["<h2>GPU release schedule</h2>",
           f"<p>GPUs held now against the GPUs each hour needs (replicas at "
           f"{TARGET_UTILIZATION:.0%} busy for the hour's busiest moment): an HPA on "
           "<code>tidal_forecast</code> gives the difference back for batch or training "
           "work.</p>"]
    for r in report.releases:
        out.append(f"<h3>{escape(r.namespace)}/{escape(r.workload)}: "
                   f"{r.freed_gpu_hours_per_day:g} GPU-hours a day could be freed</h3>")
        out.append(svg.hourly_chart(r.held, r.needed,
                                    f"{r.namespace}/{r.workload}: GPUs held vs needed"))
        out.append(f"<pre>{escape(suggested_hpa_yaml(r))}</pre>")
    return out


def _savings(report: Report) -> list[str]:
    cur = report.prices.currency
    out = ["<h2>Savings by namespace (monthly, estimated)</h2>"]
    items = [(s.namespace, s.total) for s in report.namespaces]
    if items:
        out.append(svg.bar_chart(items, lambda v: T.money(v, cur), "Savings by namespace"))
    out.append("<table><tr><th class=l>Namespace</th><th>CPU</th><th>Memory</th><th>GPU</th>"
               "<th>Now</th><th>Recommended</th><th>Saving</th></tr>")
    for s in [*report.namespaces, report.cluster]:
        out.append("<tr>" + "".join((
            _cell(s.namespace or "cluster", "l"),
            *(_cell(T.money(s.by_resource[r], cur)) for r in ("cpu", "memory", "gpu")),
            _cell(T.money(s.current, cur)), _cell(T.money(s.recommended, cur)),
            _cell(T.money(s.total, cur)),
        )) + "</tr>")
    out.append("</table>")
    out.append(f'<p class="note">Prices: {escape(T.price_list(report.prices))}.</p>')
    return out


def render(report: Report) -> str:
    cur = report.prices.currency
    counts = report.counts()
    cards = [
        ("Estimated monthly saving", T.money(report.cluster.total, cur)),
        ("Containers", str(len(report.containers))),
        ("Under-provisioned", str(counts["under"] + counts["no-request"])),
        ("Over-provisioned", str(counts["over"])),
        ("GPU workloads", str(len(report.gpus))),
    ]
    body = [
        "<h1>Tidal recommendation report</h1>",
        f'<div class="meta">Generated {escape(report.generated_at)} · strategy '
        f"{escape(report.strategy)}"
        + (f" · {escape(report.source)}" if report.source else "") + "</div>",
        '<div class="cards">' + "".join(
            f'<div class="card">{escape(k)}<b>{escape(v)}</b></div>' for k, v in cards
        ) + "</div>",
    ]
    body += _savings(report)
    body += _gpus(report)
    body += _releases(report)
    body += _workloads(report)
    body += [f'<p class="note">{escape(note)}</p>' for note in report.notes]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Tidal recommendation report</title>"
        f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )

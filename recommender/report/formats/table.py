"""The terminal report: one block per workload, readable at 100 columns; colour on a TTY."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

from recommender.report.formats import text as T
from recommender.report.model import ContainerReport, Report, ResourceLine
from recommender.report.release import TARGET_UTILIZATION, suggested_hpa_yaml

WIDTH = 100
_COLOURS = {"under": "31", "no": "31", "over": "33", "ok": "32"}  # by the status word
HEADER = ("CONTAINER", "RES", "REQUEST", "LIMIT", "TARGET", "BOUNDS", "Δ/POD", "Δ×PODS",
          "P50", "P95", "MAX", "STATUS")
RIGHT = {6, 7, 8, 9, 10}  # numeric columns, right-aligned
P50 = HEADER.index("P50")  # dropped when a table would not fit in WIDTH


class _Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color and text.strip() else text


def _short(amount: str) -> str:
    """Table-width GPU amounts: ``4 gpu`` -> ``4``, ``1 mig-2g.20gb`` -> ``2g.20gb``."""
    return amount.replace(" gpu", "").replace("1 mig-", "").replace(" mig-", "x")


def _cells(c: ContainerReport, line: ResourceLine, first: bool) -> tuple[str, ...]:
    res = {"memory": "mem"}.get(line.resource, line.resource)
    amount = (lambda f: _short(T.amount(line, f))) if line.resource == "gpu" else (
        lambda f: T.amount(line, f)
    )
    low, high = amount("lowerBound"), amount("upperBound")
    bounds = "-" if low == "-" and high == "-" else f"{low}-{high}"
    status = T.status(line)
    return (
        c.container[:16] if first else "", res, amount("request"), amount("limit"),
        amount("target"), bounds, T.diff(line), T.diff(line, c.replicas),
        T.usage(line, "p50"), T.usage(line, "p95"), T.usage(line, "max"), status,
    )


def _block_title(c: ContainerReport, hpa: str) -> str:
    parts = [f"{c.namespace}/{c.workload}", T.pods(c)]
    if hpa:
        parts.append(hpa)
    parts.append("VPA" if c.has_vpa else "no VPA")
    return " · ".join(parts)


def render(report: Report, color: bool = False) -> str:
    style = _Style(color)
    out: list[str] = []
    history = report.history
    span = ""
    if history:
        days = (float(history["lastSample"]) - float(history["firstSample"])) / 86400
        kills = int(history.get("oomKills", 0))
        span = f" · {days:.1f} days, {int(history['samples']):,} samples" + (
            f" and {kills:,} OOM kills" if kills else "")
    out.append(style("1", "Tidal recommendation report") + f" · {report.generated_at}"
               f" · {report.strategy}{span}")
    if report.source:
        out.append(f"Source: {report.source}")
    counts = report.counts()
    out.append(
        "Containers: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        + f" · tolerance ±{report.tolerance:g}%"
    )
    out.append("")
    rows: list[tuple[str, ...] | str] = []
    for (_, _), group in groupby(report.containers, key=lambda c: (c.namespace, c.workload)):
        containers = list(group)
        head = containers[0]
        hpa = next((f.message.split(":")[0] for c in containers for f in c.flags
                    if f.code.startswith("hpa-")), "")
        saving = [s for s in (T.saving(c) for c in containers) if s is not None]
        title = _block_title(head, hpa)
        if saving:
            title += " · " + T.saving_text(sum(saving), report.prices.currency)
        rows.append(title)
        rows.append(HEADER)
        for c in containers:
            for i, line in enumerate(c.lines):
                rows.append(_cells(c, line, i == 0))
            for flag in c.flags:
                mark = "!" if flag.severity == "warning" else "i"
                rows.append(f" {mark} {c.container}: {flag.message}")
        rows.append("")
    out.extend(_layout(rows, style))
    out.extend(_gpus(report))
    out.extend(_releases(report))
    out.extend(_savings(report))
    out.extend(f"Note: {note}" for note in report.notes)
    return "\n".join(line.rstrip() for line in out) + "\n"


def _layout(rows: Sequence[tuple[str, ...] | str], style: _Style) -> list[str]:
    tables = [r for r in rows if isinstance(r, tuple)]
    widths = [max(len(r[i]) for r in tables) for i in range(len(HEADER))] if tables else []
    if sum(widths) + len(widths) - 1 > WIDTH:
        rows = [r if isinstance(r, str) else r[:P50] + r[P50 + 1:] for r in rows]
        widths = widths[:P50] + widths[P50 + 1:]
    right = {i if i < P50 else i - 1 for i in RIGHT} if len(widths) < len(HEADER) else RIGHT
    out = []
    for row in rows:
        if isinstance(row, str):
            out.append(style("1", row) if row and not row.startswith(" ") else row)
            continue
        cells = []
        header = row[0] == HEADER[0]
        for i, (cell, width) in enumerate(zip(row, widths, strict=True)):
            last = i == len(row) - 1
            padded = cell.rjust(width) if i in right else cell if last else cell.ljust(width)
            if not header and last:
                padded = style(_COLOURS.get(cell.split()[0], "2"), padded)
            cells.append(padded)
        line = " ".join(cells)
        out.append(style("2", line) if header else line)
    return out


def _gpus(report: Report) -> list[str]:
    if not report.gpus:
        return []
    currency = report.prices.currency
    out = ["GPUs (savings here count GPUs only; a workload's total above adds CPU and memory)"]
    for g in report.gpus:
        current = T.devices(g.current) or "none requested"
        pods = "?" if g.replicas is None else g.replicas
        out.append(f"  {g.namespace}/{g.workload}/{g.container} · {g.model or 'model unknown'}"
                   f" · {current} per pod x {pods}")
        facts = []
        if g.duty_cycle is not None:
            facts.append(f"duty cycle {g.duty_cycle:.0%}")
        if g.idle_share is not None:
            facts.append(f"idle {g.idle_share:.0%} of the time")
        if g.busy is not None:
            facts.append(f"busy p95 {g.busy.p95:.2f} GPU")
        if g.memory is not None:
            memory = f"memory max {T.gigabytes(g.memory.max)}"
            if g.device_memory:
                memory += f" of {T.gigabytes(g.device_memory)}"
            facts.append(memory)
        out.append("    " + ", ".join(facts))
        for o in g.options:
            saving = "" if o.monthly_saving is None else (
                " · " + T.saving_text(o.monthly_saving, currency))
            what = f"{int(o.count)} {o.resource.removeprefix('nvidia.com/')}"
            out.append(f"    {o.kind:<6} {what:<18}{saving} · {o.note}")
    out.append("")
    return out


def _releases(report: Report) -> list[str]:
    """GPUs held against needed by hour, and the HPA that would release them."""
    if not report.releases:
        return []
    out = [f"GPU release schedule (GPUs needed by UTC hour at {TARGET_UTILIZATION:.0%} busy; "
           "tidal_forecast frees the rest)"]
    for r in report.releases:
        out.append(f"  {r.namespace}/{r.workload} · {r.replicas} x {r.gpus_per_replica:g} "
                   f"GPU = {r.held:g} held · {r.freed_gpu_hours_per_day:g} GPU-hours a day "
                   "could be freed")
        cells = [f"{n:g}" for n in r.needed]
        width = max(2, *(len(c) for c in cells))
        per_line = 24 if 12 + 24 * (width + 1) <= WIDTH else 12
        for lo in range(0, 24, per_line):
            hours = range(lo, lo + per_line)
            out.append("    hour    " + " ".join(f"{h:>{width}d}" for h in hours))
            out.append("    needed  " + " ".join(f"{cells[h]:>{width}}" for h in hours))
        out.append("    suggested HPA:")
        out.extend("      " + line for line in suggested_hpa_yaml(r).splitlines())
    out.append("")
    return out


def _savings(report: Report) -> list[str]:
    p = report.prices
    cur = p.currency
    out = [f"Monthly savings, estimated ({T.price_list(p)})"]
    rows: list[tuple[str, ...]] = [
        ("NAMESPACE", "CPU", "MEMORY", "GPU", "NOW", "RECOMMENDED", "SAVING")
    ]
    for s in [*report.namespaces, report.cluster]:
        rows.append((
            s.namespace or "cluster",
            *(T.money(s.by_resource[r], cur) for r in ("cpu", "memory", "gpu")),
            T.money(s.current, cur), T.money(s.recommended, cur), T.money(s.total, cur),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.append("  " + " ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ))
    out.append("")
    return out

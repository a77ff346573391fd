"""Cell texts shared by the human formats (table, markdown, csv, html)."""

from __future__ import annotations

from datetime import UTC, datetime

from recommender.quantity import human
from recommender.report.model import (
    NO_RECOMMENDATION,
    NO_REQUEST,
    UNKNOWN,
    ContainerReport,
    ResourceLine,
)
from recommender.report.prices import HOURS_PER_MONTH, Prices

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def amount(line: ResourceLine, field: str) -> str:
    """A line's value for display: ``672m``, ``1.4Gi``, ``4 gpu``, ``1 mig-2g.20gb``; ``-``."""
    if line.resource == "gpu":
        found = line.devices.get(field)
        return devices(found) if found else "-"
    value = line.values.get(field)
    return "-" if value is None else human(line.resource, value)


def bounds(line: ResourceLine) -> str:
    """``351m – 1.09``, or ``-`` without a recommendation."""
    low, high = amount(line, "lowerBound"), amount(line, "upperBound")
    return "-" if low == high == "-" else f"{low} – {high}"


def usage(line: ResourceLine, which: str) -> str:
    if line.usage is None:
        return "-"
    return human("gpu" if line.resource == "gpu" else line.resource, getattr(line.usage, which))


def diff(line: ResourceLine, replicas: int | None = 1) -> str:
    """Signed difference, e.g. ``-328m`` or ``+1.4Gi``, times ``replicas``."""
    value = line.diff_per_pod
    if value is None or replicas is None:
        return "-"
    value *= replicas
    if abs(value) < 1e-9:
        return "0"
    sign = "+" if value > 0 else "-"
    resource = "gpu" if line.resource == "gpu" else line.resource
    return sign + human(resource, abs(value))


STATUS_WORDS = {NO_RECOMMENDATION: "n/a", NO_REQUEST: "no request", UNKNOWN: "?"}


def status(line: ResourceLine) -> str:
    """The status words every format prints: ``under 77%``, ``over 43%`` (the size of the
    change, its direction in the word), ``ok``, ``no request``, ``n/a``, ``?``."""
    words = STATUS_WORDS.get(line.status, line.status)
    if line.diff_percent is not None and line.status in ("under", "over"):
        words += f" {abs(line.diff_percent):.0f}%"
    return words


def percent(line: ResourceLine) -> str:
    value = line.diff_percent
    return "-" if value is None else f"{value:+.0f}%"


def money(value: float | None, currency: str, signed: bool = False) -> str:
    if value is None:
        return "-"
    symbol = CURRENCY_SYMBOLS.get(currency, currency + " ")
    sign = "-" if value < 0 else ("+" if signed and value > 0 else "")
    return f"{sign}{symbol}{abs(value):,.2f}"


def devices(found: dict[str, float]) -> str:
    """``4 gpu``, ``1 mig-2g.20gb``: device maps without the vendor prefix."""
    return " + ".join(
        f"{human(r, n)} {r.removeprefix('nvidia.com/')}" for r, n in sorted(found.items())
    )


def saving_text(value: float | None, currency: str) -> str:
    """``saves $4.74/month``, ``costs $7.90/month more``, ``no change``; ``-`` unknown."""
    if value is None:
        return "saving unknown"
    if abs(value) < 0.005:
        return "no change"
    if value > 0:
        return f"saves {money(value, currency)}/month"
    return f"costs {money(-value, currency)}/month more"


def gigabytes(value: float) -> str:
    """GPU memory in GiB, the unit container memory is shown in (``61Gi``; an A100-80GB is
    ``80Gi``): one unit for every memory in a report."""
    return f"{value / 2**30:.1f}".rstrip("0").rstrip(".") + "Gi"


def price(value: float, currency: str) -> str:
    """A unit price with the digits it needs: ``$0.0316``, ``$2.50``."""
    symbol = CURRENCY_SYMBOLS.get(currency, currency + " ")
    text = f"{value:.4f}".rstrip("0")
    if len(text.split(".")[1]) < 2:
        text = f"{value:.2f}"
    return f"{symbol}{text}"


def price_list(prices: Prices) -> str:
    """``$0.0316/core-h, $0.0042/GiB-h, $2.50/GPU-h (A100-80GB $3.67), 730 h``."""
    cur = prices.currency
    gpu = f"{price(prices.gpu, cur)}/GPU-h"
    if prices.gpu_by_model:
        gpu += " (" + ", ".join(f"{m} {price(v, cur)}"
                                for m, v in sorted(prices.gpu_by_model.items())) + ")"
    return (f"{price(prices.cpu, cur)}/core-h, {price(prices.memory, cur)}/GiB-h, {gpu}, "
            f"{HOURS_PER_MONTH:g} h a month")


def saving(container: ContainerReport) -> float | None:
    costs = [line.cost.saving for line in container.lines if line.cost is not None]
    return sum(costs) if costs else None


def timestamp(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def replicas(container: ContainerReport) -> str:
    """``3``, or ``1 (8% of the time)`` for batch workloads; ``?`` when unknown."""
    if container.replicas is None:
        return "?"
    text = str(container.replicas)
    if container.activity < 1.0:
        text += f" ({container.activity:.0%} of the time)"
    return text


def pods(container: ContainerReport) -> str:
    """``3 replicas``, ``1 replica, running 8% of the time``."""
    n = container.replicas
    text = "? replicas" if n is None else f"{n} replica{'' if n == 1 else 's'}"
    if container.activity < 1.0:
        text += f", running {container.activity:.0%} of the time"
    return text

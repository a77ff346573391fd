"""``--fail-on under|over[:PCT]``: the CI gate over a report's lines.

``under[:PCT]`` fails when a request would grow by more than PCT percent (default: the
report's tolerance), or a used resource has no request; ``over[:PCT]`` when a request would
shrink by more than PCT percent. Lines without a recommendation or current value never fail.
"""

from __future__ import annotations

from dataclasses import dataclass

from recommender.report.model import NO_REQUEST, Report

EXIT_FAILED = 1
DIRECTIONS = ("under", "over")


@dataclass(frozen=True)
class Gate:
    direction: str  # under | over
    percent: float | None  # None: the report's tolerance

    def __str__(self) -> str:
        return self.direction + ("" if self.percent is None else f":{self.percent:g}")


def parse_gate(text: str) -> Gate:
    direction, _, pct = text.partition(":")
    if direction not in DIRECTIONS:
        raise ValueError(f"--fail-on {text!r}: expected under, over, under:PCT or over:PCT")
    if not pct:
        return Gate(direction, None)
    try:
        value = float(pct.rstrip("%"))
    except ValueError:
        raise ValueError(f"--fail-on {text!r}: {pct!r} is not a percentage") from None
    if value < 0:
        raise ValueError(f"--fail-on {text!r}: the percentage must not be negative")
    return Gate(direction, value)


def violations(report: Report, gates: list[Gate]) -> list[str]:
    """One message per line that trips a gate."""
    out = []
    for c in report.containers:
        for line in c.lines:
            for gate in gates:
                limit = report.tolerance if gate.percent is None else gate.percent
                change = line.diff_percent
                name = f"{c.namespace}/{c.workload}/{c.container} {line.resource}"
                if gate.direction == "under" and line.status == NO_REQUEST:
                    out.append(f"{name}: no request, recommended {line.target:g}")
                elif change is None:
                    continue
                elif gate.direction == "under" and change > limit:
                    out.append(f"{name}: under-provisioned, the target is {change:.0f}% above "
                               f"the request (fail-on {gate})")
                elif gate.direction == "over" and -change > limit:
                    out.append(f"{name}: over-provisioned, the target is {-change:.0f}% below "
                               f"the request (fail-on {gate})")
    return out

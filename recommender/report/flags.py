"""Flags: the facts behind a container's numbers that change what an operator should do."""

from __future__ import annotations

from recommender.logic.profile import describe
from recommender.quantity import human
from recommender.report.inventory import Autoscaler
from recommender.report.model import Flag, ResourceLine

MIN_SAMPLES = 100  # fewer samples than this: too little to recommend from (as KRR)
MIN_SPAN_HOURS = 24.0
LOW_CONFIDENCE_DAYS = 1.0
GPU_IDLE_FLAG = 0.5  # flag GPUs idle at least half of the time


def history_flags(evidence: dict[str, float | int]) -> list[Flag]:
    samples = int(evidence.get("samples", 0))
    hours = float(evidence.get("historySpanHours", 0.0))
    confidence = float(evidence.get("confidenceDays", 0.0))
    if samples < MIN_SAMPLES or hours < MIN_SPAN_HOURS:
        return [
            Flag(
                "not-enough-data",
                f"not enough data: {hours:.0f}h of history, {samples} samples "
                f"(need {MIN_SPAN_HOURS:.0f}h and {MIN_SAMPLES})",
            )
        ]
    if confidence < LOW_CONFIDENCE_DAYS:
        return [
            Flag(
                "low-confidence",
                f"low confidence ({confidence:.2f} days of samples): bounds are wide",
                "info",
            )
        ]
    return []


def oom_flags(evidence: dict[str, float | int]) -> list[Flag]:
    kills = int(evidence.get("oomKills", 0))
    if not kills:
        return []
    times = "once" if kills == 1 else f"{kills} times"
    return [Flag("oom-killed", f"OOMKilled {times} in window")]


def hpa_flags(hpa: Autoscaler | None, lines: list[ResourceLine]) -> list[Flag]:
    """An HPA scaling on a resource the recommendation changes: the two fight."""
    if hpa is None:
        return []
    out = []
    changed = {line.resource for line in lines if line.target is not None}
    for resource in hpa.resources:
        if resource in changed:
            out.append(
                Flag(
                    f"hpa-{resource}",
                    f"HPA scales on {resource}: keep VPA off {resource}; not in the patch "
                    "or the savings",
                )
            )
    return out


def limit_flags(lines: list[ResourceLine]) -> list[Flag]:
    """A memory limit below the recommendation means OOM kills at that usage."""
    out = []
    for line in lines:
        limit, target = line.values.get("limit"), line.target
        if line.resource == "memory" and limit and target and limit < target:
            out.append(
                Flag(
                    "limit-below-target",
                    f"memory limit {human('memory', limit)} is below the recommended "
                    f"{human('memory', target)}",
                )
            )
    return out


def capped_flags(lines: list[ResourceLine]) -> list[Flag]:
    out = []
    for line in lines:
        raw, target = line.values.get("uncappedTarget"), line.target
        if (
            line.resource != "gpu" and raw is not None and target is not None
            and abs(raw - target) > 1e-9 * max(abs(raw), 1.0)
        ):
            out.append(
                Flag(
                    "capped",
                    f"{line.resource} capped by the VPA policy "
                    f"(uncapped {human(line.resource, raw)})",
                    "info",
                )
            )
    return out


def gpu_idle_flags(idle_share: float | None) -> list[Flag]:
    if idle_share is None or idle_share < GPU_IDLE_FLAG:
        return []
    return [Flag("gpu-idle", f"GPU idle {idle_share:.0%} of the time")]


TIDE_RATIO = 1.25  # a profile whose high is at least this many times its low is worth a line


def tide_flags(lines: list[ResourceLine]) -> list[Flag]:
    """The tide beside a held target: what an in-place VPA would be resized to by hour."""
    out = []
    for line in lines:
        known = [v for v in line.hourly or () if v == v]
        if not known or line.target is None or max(known) < TIDE_RATIO * max(min(known), 1e-9):
            continue
        out.append(Flag("tide", (
            f"in place, {line.resource} by UTC hour: "
            f"{describe(line.resource, line.hourly or ())}; shown: held all day"
        ), "info"))
    return out

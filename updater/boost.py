"""Taking a CPU startup boost back: once the pod has been Ready for ``durationSeconds``.

The webhook boosted the pod at creation and wrote what it did in ``tidal.dev/startup-boost``
(:mod:`webhook.boost`). A container still at its boosted CPU is resized in place to what the
VPA gives it now (its target, with the limit in proportion), or, when the VPA or the
container's policy is ``Off`` or there is no recommendation, back to its own request and
limit. Upstream's rule holds: a failed un-boost never leads to an eviction.
"""

from __future__ import annotations

from collections.abc import Mapping

from recommender.quantity import CPU, QuantityError, parse_quantity
from recommender.vpa import Vpa
from updater.pods import PodView

Resources = dict[str, float]


def _quantity(text: object) -> float | None:
    try:
        return parse_quantity(text)  # type: ignore[arg-type]
    except (QuantityError, TypeError):
        return None


def boosted_containers(
    pod: PodView, entries: Mapping[str, Mapping[str, str]]
) -> dict[str, Mapping[str, str]]:
    """The containers still at their boosted CPU request."""
    still = {}
    for name, entry in entries.items():
        container = pod.container(name)
        boosted = _quantity(entry.get("boosted"))
        if container is None or boosted is None:
            continue
        current = container.requests.get(CPU)
        if current is not None and abs(current - boosted) < 5e-4:
            still[name] = entry
    return still


def remaining_s(pod: PodView, boosted: Mapping[str, Mapping[str, str]], now: float) -> float:
    """Seconds until the boost may end (inf while the pod is not Ready)."""
    if pod.ready_since is None:
        return float("inf")
    duration = max((_quantity(e.get("durationSeconds")) or 0.0) for e in boosted.values())
    return max(pod.ready_since + duration - now, 0.0)


def unboosted(
    pod: PodView,
    vpa: Vpa,
    boosted: Mapping[str, Mapping[str, str]],
    desired: Mapping[str, tuple[Resources, Resources]],
) -> dict[str, tuple[Resources, Resources]]:
    """Container -> (cpu request, cpu limit) to return to; ``desired`` is the VPA's plan."""
    result: dict[str, tuple[Resources, Resources]] = {}
    for name, entry in boosted.items():
        container = pod.container(name)
        if container is None:
            continue
        policy = vpa.policy_for(name)
        follows_vpa = vpa.update_mode != "Off" and not (policy and policy.mode == "Off")
        requests, limits = desired.get(name, ({}, {}))
        request: float | None
        if follows_vpa and CPU in requests:
            request, limit = requests[CPU], limits.get(CPU, container.limits.get(CPU))
        else:
            request = _quantity(entry.get("request"))
            limit = _quantity(entry.get("limit")) if "limit" in entry else container.limits.get(CPU)
            if request is None:
                continue
        result[name] = ({CPU: request}, {CPU: limit} if limit is not None else {})
    return result

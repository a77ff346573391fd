"""CPU startup boost at creation (upstream AEP-7862): more CPU until the pod is Ready.

The base is the CPU the pod would get anyway (the VPA's target as sized, else the container's
own request); ``Factor`` multiplies it, ``Quantity`` adds to it. With ``RequestsAndLimits`` a
CPU limit keeps its ratio to the request; with ``RequestsOnly`` the request stays 1m below an
existing limit, so the QoS class never changes. A LimitRange's CPU max is never exceeded. The
pod carries :data:`BOOST_ANNOTATION` (what was boosted, from what) so that the updater can
take the boost back in place once the pod has been Ready for ``durationSeconds``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from recommender.quantity import CPU
from recommender.vpa import StartupBoost
from webhook.sizing import REQUESTS_ONLY, Sizing, format_value

BOOST_ANNOTATION = "tidal.dev/startup-boost"
MILLI = 0.001


def boost_cpu(
    sizing: Sizing,
    old_request: float | None,
    old_limit: float | None,
    boost: StartupBoost,
    controlled_values: str,
    cpu_max: float | None,
) -> dict[str, str] | None:
    """Raise the CPU of ``sizing`` (in place); returns the annotation entry, None if no boost.

    ``old_request``/``old_limit`` are the container's CPU before the webhook touched it.
    """
    base = sizing.requests.get(CPU, old_request)
    if not base:
        return None  # neither a target nor a request to boost from
    limit = sizing.limits.get(CPU, old_limit)
    boosted = boost.boosted(base)
    new_limit = limit
    if controlled_values == REQUESTS_ONLY:
        if limit is not None:
            boosted = min(boosted, limit - MILLI)
    elif limit is not None:
        new_limit = limit * boosted / base
    if cpu_max is not None:
        boosted = min(boosted, cpu_max)
        new_limit = min(new_limit, cpu_max) if new_limit is not None else None
    if boosted <= base:
        return None
    sizing.requests[CPU] = boosted
    if new_limit is not None and new_limit != limit:
        sizing.limits[CPU] = new_limit
    extra = format_value(CPU, boost.quantity)
    how = f"x{boost.factor:g}" if boost.type == "Factor" else f"+{extra}"
    sizing.notes.append(f"cpu boosted {how} until Ready + {boost.duration_s:g}s")
    entry = {"boosted": format_value(CPU, boosted), "durationSeconds": f"{boost.duration_s:g}"}
    if old_request is not None:
        entry["request"] = format_value(CPU, old_request)
    if old_limit is not None:
        entry["limit"] = format_value(CPU, old_limit)
    return entry


def annotation(entries: Mapping[str, Mapping[str, str]]) -> str:
    """The annotation value: container -> {boosted, request, limit, durationSeconds}."""
    return json.dumps(entries, sort_keys=True, separators=(",", ":"))


def read_annotation(pod: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The boost entries a pod carries (malformed or absent: none)."""
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(BOOST_ANNOTATION)
    try:
        value = json.loads(raw) if isinstance(raw, str) else {}
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, dict)}

"""New requests and limits for one container, from a VPA target and the caps that apply.

Order: the VPA's policy (minAllowed/maxAllowed), then with ``RequestsOnly`` the existing limit,
then the namespace's LimitRange (last, because the apiserver rejects pods outside it). With
``RequestsAndLimits`` an existing limit keeps its ratio to the request. GPUs take whole devices
and requests always equal limits.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from recommender.policy import cap, controlled
from recommender.quantity import (
    CPU,
    QuantityError,
    format_quantity,
    is_gpu_resource,
    parse_decimal,
)
from recommender.vpa import DEFAULT_CONTROLLED_RESOURCES, ContainerPolicy
from webhook.limitrange import MAX_NOTE, MIN_NOTE, RATIO_NOTE, Bounds

REQUESTS_ONLY = "RequestsOnly"
# Quantities from here up are left out as invalid: Kubernetes keeps a quantity in an int64
# (9.2e18 cores or bytes); a float near 1e308 overflows once in millicores or scaled.
MAX_QUANTITY = float(2**63)
LIMIT_NOTE = "capped to container limit"


@dataclass
class Sizing:
    """What a container gets, in base units, and why (``notes`` like "cpu capped to ...")."""

    requests: dict[str, float] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@functools.lru_cache(maxsize=4096)
def _parse_text(text: str) -> Decimal:
    return parse_decimal(text)


def decimal_of(value: Any) -> Decimal:
    """``parse_decimal``, memoised for strings (pods repeat the same few quantities)."""
    return _parse_text(value) if isinstance(value, str) else parse_decimal(value)


@functools.lru_cache(maxsize=4096)
def format_value(resource: str, value: float) -> str:
    """``format_quantity``, memoised."""
    return format_quantity(resource, value)


@functools.lru_cache(maxsize=4096)
def _float_of(value: str) -> float:
    return float(_parse_text(value))


def quantities(raw: Any) -> dict[str, float]:
    """A resource map in base units; invalid entries are left out: unparsable, negative, or
    from :data:`MAX_QUANTITY` up (``1e400``, ``1e306``), which would otherwise scale a limit to
    0 or below zero, or overflow in millicores or a ratio."""
    values: dict[str, float] = {}
    if not raw or not isinstance(raw, dict | Mapping):
        return values
    for name, value in raw.items():
        try:
            number = _float_of(value) if type(value) is str else float(decimal_of(value))
        except (QuantityError, TypeError, OverflowError):
            continue
        if 0.0 <= number < MAX_QUANTITY:
            values[str(name)] = number
    return values


def _whole(value: float) -> float:
    return float(math.ceil(value - 1e-9))


def size_container(
    container: Mapping[str, Any],
    target: Mapping[str, Any],
    policy: ContainerPolicy | None,
    limit_range: Bounds,
) -> Sizing:
    """Size ``container`` for the recommendation ``target`` (a status resource map)."""
    resources = container.get("resources")
    resources = resources if isinstance(resources, Mapping) else {}
    old_requests = quantities(resources.get("requests"))
    old_limits = quantities(resources.get("limits"))
    wanted = controlled(
        quantities(target), policy.controlled_resources if policy else DEFAULT_CONTROLLED_RESOURCES
    )
    requests_only = policy is not None and policy.controlled_values == REQUESTS_ONLY
    sizing = Sizing()
    for resource in sorted(wanted):
        notes: list[str] = []
        request, note = cap(resource, wanted[resource], policy)
        if note:
            notes.append(note)
        gpu = is_gpu_resource(resource)
        if gpu:
            request = _whole(request)
        old_limit = old_limits.get(resource)
        limit: float | None = None
        if requests_only:
            if old_limit is not None and request > old_limit:
                request = old_limit
                notes.append(LIMIT_NOTE)
            if gpu:
                limit = request
        elif old_limit is not None:
            old_request = old_requests.get(resource)
            if gpu or not old_request or old_request == old_limit:
                limit = request
            else:  # never below the request (a request over its limit, or 1e308, is invalid)
                limit = max(old_limit * (request / old_request), request)
                if not math.isfinite(limit):  # a limit near 1e308 scaled past a float: kept
                    limit = None
        elif gpu:
            limit = request
        request, limit = _limit_range(resource, request, limit, limit_range, notes)
        # RequestsOnly keeps the pod's own limit: the ratio binds against that one.
        kept = limit if limit is not None else old_limit if requests_only else None
        request = _within_ratio(resource, request, kept, limit_range, notes)
        if gpu:
            request = _whole(request)
            limit = request
        sizing.requests[resource] = request
        if limit is not None:
            sizing.limits[resource] = limit
        sizing.notes.extend(f"{resource} {n}" for n in dict.fromkeys(notes))
    return sizing


def _limit_range(
    resource: str, request: float, limit: float | None, bounds: Bounds, notes: list[str]
) -> tuple[float, float | None]:
    """Fit request and limit into the container LimitRange, keeping their ratio."""
    high = bounds.max.get(resource)
    top = limit if limit is not None else request
    if high is not None and top > high:
        factor = high / top if top else 1.0
        request *= factor
        limit = high if limit is not None else None
        notes.append(MAX_NOTE)
    low = bounds.min.get(resource)
    if low is not None and request < low:
        if limit is not None:
            limit = limit * (low / request) if request > 0 else low
            if high is not None:
                limit = min(limit, high)
            limit = max(limit, low)
        request = low
        notes.append(MIN_NOTE)
    return request, limit


def _within_ratio(
    resource: str, request: float, limit: float | None, bounds: Bounds, notes: list[str]
) -> float:
    """The request, raised so that ``limit`` (the one the pod will have) is within the
    LimitRange's ``maxLimitRequestRatio``: LimitRanger refuses a pod above it."""
    ratio = bounds.ratio.get(resource)
    if ratio is None or limit is None or request <= 0:
        return request
    floor = _ceil_unit(resource, limit) / ratio
    if request < floor:
        notes.append(RATIO_NOTE)
        return _ceil_unit(resource, floor)
    return request


def _ceil_unit(resource: str, value: float) -> float:
    """Round up to the unit a quantity is written in (as the patch will)."""
    if resource == CPU:
        return math.ceil(value * 1000 - 1e-6) / 1000
    return float(math.ceil(value - 1e-6))


def fit_pod(sizings: Mapping[int, Sizing], others: list[Mapping[str, Any]], pod: Bounds) -> None:
    """Scale the sized containers so that pod totals fit a Pod LimitRange (in place).

    ``others`` are the resource blocks of containers that are not being sized.
    """
    for resource, high in pod.max.items():
        _scale_to(resource, high, sizings, others, shrink=True)
    for resource, low in pod.min.items():
        _scale_to(resource, low, sizings, others, shrink=False)


def _floor_unit(resource: str, value: float) -> float:
    """Round down to the unit a quantity is written in, so the total stays within a max."""
    if resource == CPU:
        return math.floor(value * 1000 + 1e-6) / 1000
    return float(math.floor(value + 1e-6))


def _scale_to(
    resource: str,
    bound: float,
    sizings: Mapping[int, Sizing],
    others: list[Mapping[str, Any]],
    *,
    shrink: bool,
) -> None:
    """Scale requests and limits of ``resource`` by one factor so both totals fit ``bound``."""
    if is_gpu_resource(resource):
        return
    factors = []
    for field_name in ("limits", "requests"):
        fixed = sum(quantities(o.get(field_name)).get(resource, 0.0) for o in others)
        sized = sum(getattr(s, field_name).get(resource, 0.0) for s in sizings.values())
        if sized > 0 and (fixed + sized > bound if shrink else fixed + sized < bound):
            factors.append(max(bound - fixed, 0.0) / sized)
    if not factors:
        return
    factor = min(factors) if shrink else max(factors)
    note = f"{resource} capped to LimitRange pod {'max' if shrink else 'min'}"
    for sizing in sizings.values():
        for values in (sizing.requests, sizing.limits):
            if resource in values:
                scaled = values[resource] * factor
                values[resource] = _floor_unit(resource, scaled) if shrink else scaled
        if resource in sizing.requests and note not in sizing.notes:
            sizing.notes.append(note)

"""The VerticalPodAutoscaler API (autoscaling.k8s.io/v1) as Tidal reads it.

Parsing of VPA objects into typed values, and the spec validation shared by the validating
webhook and the recommender's ``ConfigUnsupported`` condition.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from recommender.quantity import CPU, MEMORY, QuantityError, is_gpu_resource, parse_decimal

GROUP = "autoscaling.k8s.io"
VERSION = "v1"
KIND = "VerticalPodAutoscaler"
PLURAL = "verticalpodautoscalers"
CHECKPOINT_KIND = "VerticalPodAutoscalerCheckpoint"
CHECKPOINT_PLURAL = "verticalpodautoscalercheckpoints"

UPDATE_MODES = ("Off", "Initial", "Recreate", "InPlaceOrRecreate", "InPlace", "Auto")
ACTIVE_UPDATE_MODES = frozenset(UPDATE_MODES) - {"Off"}
IN_PLACE_MODES = frozenset({"InPlace", "InPlaceOrRecreate"})  # running pods resized in place
CONTAINER_MODES = ("Auto", "Off")
CONTROLLED_VALUES = ("RequestsAndLimits", "RequestsOnly")
DEFAULT_CONTROLLED_RESOURCES = (CPU, MEMORY)
DEFAULT_UPDATE_MODE = "Recreate"  # upstream's default (Auto is its deprecated alias)
BOOST_TYPES = ("Factor", "Quantity")
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class TargetRef:
    """``spec.targetRef``: the workload a VPA controls."""

    kind: str
    name: str
    api_version: str = ""

    @property
    def workload(self) -> str:
        """``Kind/name``, the workload form of the history CSV."""
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class StartupBoost:
    """``startupBoost.cpu`` (AEP-7862): more CPU from creation until Ready + ``duration_s``.

    ``Factor``: the base request times ``factor``; ``Quantity``: the base plus ``quantity``
    cores. The base is the VPA's target, else the container's own request.
    """

    type: str
    factor: float = 1.0
    quantity: float = 0.0
    duration_s: float = 0.0

    def boosted(self, base: float) -> float:
        return base * self.factor if self.type == "Factor" else base + self.quantity


@dataclass(frozen=True)
class ContainerPolicy:
    """One entry of ``spec.resourcePolicy.containerPolicies``."""

    container_name: str = "*"
    mode: str = "Auto"
    min_allowed: Mapping[str, float] = field(default_factory=dict)
    max_allowed: Mapping[str, float] = field(default_factory=dict)
    controlled_resources: tuple[str, ...] = DEFAULT_CONTROLLED_RESOURCES
    controlled_values: str = "RequestsAndLimits"
    startup_boost: StartupBoost | None = None
    # AEP-8026 (per-VPA configuration); None: the recommender's global setting.
    oom_bump_up_ratio: float | None = None
    oom_min_bump_up: float | None = None  # bytes
    memory_aggregation_interval_s: float | None = None
    memory_aggregation_interval_count: int | None = None


TARGET_HIGHER, TARGET_LOWER = "TargetHigherThanRequests", "TargetLowerThanRequests"
CHANGE_REQUIREMENTS = (TARGET_HIGHER, TARGET_LOWER)


@dataclass(frozen=True)
class EvictionRequirement:
    """``updatePolicy.evictionRequirements[]``: the updater acts on a pod only when, for some
    of ``resources``, the target is higher (or lower) than the request."""

    resources: tuple[str, ...]
    change: str


@dataclass(frozen=True)
class Vpa:
    """A VerticalPodAutoscaler, reduced to what the recommender and webhook use."""

    namespace: str
    name: str
    target_ref: TargetRef | None
    update_mode: str = DEFAULT_UPDATE_MODE
    container_policies: tuple[ContainerPolicy, ...] = ()
    recommenders: tuple[str, ...] = ()
    creation_timestamp: str = ""
    startup_boost: StartupBoost | None = None
    evict_after_oom_s: float | None = None  # AEP-8026; None: the updater's global threshold
    eviction_requirements: tuple[EvictionRequirement, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def policy_for(self, container: str) -> ContainerPolicy | None:
        """The container's policy by exact name, else the ``*`` policy, else None."""
        return container_policy(self.container_policies, container)

    def boost_for(self, container: str) -> StartupBoost | None:
        """The container policy's startup boost, else the VPA's own (upstream's priority)."""
        policy = self.policy_for(container)
        if policy is not None and policy.startup_boost is not None:
            return policy.startup_boost
        return self.startup_boost

    def served_by(self, recommender_name: str, unnamed: bool = False) -> bool:
        """Upstream semantics: ``default`` also serves VPAs that name no recommender (and so
        does any recommender told to, ``unnamed``)."""
        if not self.recommenders:
            return recommender_name == "default" or unnamed
        return recommender_name in self.recommenders


def container_policy(
    policies: Iterable[ContainerPolicy], container: str
) -> ContainerPolicy | None:
    """Pick the policy for ``container``: exact name wins over ``*``."""
    fallback = None
    for policy in policies:
        if policy.container_name == container:
            return policy
        if policy.container_name == "*":
            fallback = policy
    return fallback


def _resources(raw: Mapping[str, Any] | None) -> dict[str, float]:
    return {name: float(parse_decimal(value)) for name, value in (raw or {}).items()}


def parse_boost(raw: Any) -> StartupBoost | None:
    """``startupBoost`` (already validated) -> its CPU boost, or None."""
    cpu = (raw or {}).get("cpu") if isinstance(raw, Mapping) else None
    if not isinstance(cpu, Mapping) or cpu.get("type") not in BOOST_TYPES:
        return None  # upstream: an unknown type means no boost
    return StartupBoost(
        type=str(cpu["type"]),
        factor=float(cpu.get("factor") or 1),
        quantity=float(parse_decimal(cpu["quantity"])) if cpu.get("quantity") else 0.0,
        duration_s=float(cpu.get("durationSeconds") or 0),
    )


def _ratio(raw: Any) -> float | None:
    """A quantity as upstream's recommender reads a ratio: whole thousandths, rounded up."""
    if raw is None:
        return None
    return math.ceil(parse_decimal(raw) * 1000) / 1000


def _optional(raw: Any) -> float | None:
    return None if raw is None else float(parse_decimal(raw))


def parse_container_policy(raw: Mapping[str, Any]) -> ContainerPolicy:
    """Parse one container policy (quantities must already be valid)."""
    controlled = raw.get("controlledResources")
    interval, count = raw.get("memoryAggregationIntervalSeconds"), raw.get(
        "memoryAggregationIntervalCount")
    return ContainerPolicy(
        container_name=raw.get("containerName") or "*",
        mode=raw.get("mode") or "Auto",
        min_allowed=_resources(raw.get("minAllowed")),
        max_allowed=_resources(raw.get("maxAllowed")),
        # An explicit empty list controls nothing (upstream: only an absent list is the default).
        controlled_resources=DEFAULT_CONTROLLED_RESOURCES if controlled is None
        else tuple(controlled),
        controlled_values=raw.get("controlledValues") or "RequestsAndLimits",
        startup_boost=parse_boost(raw.get("startupBoost")),
        oom_bump_up_ratio=_ratio(raw.get("oomBumpUpRatio")),
        oom_min_bump_up=_optional(raw.get("oomMinBumpUp")),
        memory_aggregation_interval_s=None if interval is None else float(interval),
        memory_aggregation_interval_count=None if count is None else int(count),
    )


def parse_vpa(obj: Mapping[str, Any]) -> Vpa:
    """Parse a VPA object (a dict as the API serves it). Raises ValueError when invalid."""
    errors = validate_vpa(obj)
    if errors:
        raise ValueError("; ".join(errors))
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    ref = spec.get("targetRef")
    policies = (spec.get("resourcePolicy") or {}).get("containerPolicies") or []
    evict_after = (spec.get("updatePolicy") or {}).get("evictAfterOOMSeconds")
    return Vpa(
        namespace=meta.get("namespace") or "default",
        name=meta.get("name", ""),
        target_ref=TargetRef(ref["kind"], ref["name"], ref.get("apiVersion", "")) if ref else None,
        update_mode=(spec.get("updatePolicy") or {}).get("updateMode") or DEFAULT_UPDATE_MODE,
        container_policies=tuple(parse_container_policy(p) for p in policies),
        recommenders=tuple(r.get("name", "") for r in spec.get("recommenders") or []),
        creation_timestamp=str(meta.get("creationTimestamp") or ""),
        startup_boost=parse_boost(spec.get("startupBoost")),
        evict_after_oom_s=None if evict_after is None else float(evict_after),
        eviction_requirements=tuple(
            EvictionRequirement(tuple(r.get("resources") or ()), str(r["changeRequirement"]))
            for r in (spec.get("updatePolicy") or {}).get("evictionRequirements") or []),
        raw=obj,
    )


def _check_quantities(path: str, raw: Any, errors: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if raw is None:
        return values
    if not isinstance(raw, Mapping):
        errors.append(f"{path}: must be a map of resource name to quantity")
        return values
    for name, value in raw.items():
        try:
            values[name] = parse_decimal(value)
        except QuantityError:
            errors.append(f"{path}.{name}: {_shown(value)} is not a valid quantity "
                          "(e.g. 250m, 512Mi)")
            continue
        if values[name] < 0:
            errors.append(f"{path}.{name}: must not be negative")
        elif is_gpu_resource(name) and values[name] != values[name].to_integral_value():
            errors.append(f"{path}.{name}: {value} must be a whole number of devices")
    return values


def _object(path: str, value: Any, errors: list[str]) -> Mapping[str, Any]:
    """``value`` when it is an object (or absent: empty); else an error naming ``path``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        errors.append(f"{path}: must be an object")
        return {}
    return value


def _array(path: str, value: Any, errors: list[str]) -> list[Any]:
    """``value`` when it is a list (or absent: empty); else an error naming ``path``."""
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append(f"{path}: must be a list")
        return []
    return value


def _enum(path: str, value: Any, allowed: tuple[str, ...], errors: list[str]) -> None:
    if value is not None and value not in allowed:
        supported = ", ".join(f'"{a}"' for a in allowed)
        errors.append(f'{path}: Unsupported value: "{value}": supported values: {supported}')


def _check_eviction_requirements(raw: Any, errors: list[str]) -> None:
    """``updatePolicy.evictionRequirements``: as upstream's CRD schema validates it."""
    path = "spec.updatePolicy.evictionRequirements"
    if raw is None:
        return
    if not isinstance(raw, list):
        errors.append(f"{path}: must be a list")
        return
    for i, item in enumerate(raw):
        where = f"{path}[{i}]"
        if not isinstance(item, Mapping):
            errors.append(f"{where}: must be an object")
            continue
        change = item.get("changeRequirement")
        if change is None:
            errors.append(f"{where}.changeRequirement: Required value")
        _enum(f"{where}.changeRequirement", change, CHANGE_REQUIREMENTS, errors)
        resources = item.get("resources")
        if not isinstance(resources, list) or not resources:
            errors.append(f"{where}.resources: Required value: a list of cpu and/or memory")
            continue
        for j, resource in enumerate(resources):
            _enum(f"{where}.resources[{j}]", resource, ("cpu", "memory"), errors)


def _check_boost(path: str, raw: Any, errors: list[str]) -> None:
    """``startupBoost``: as upstream's CRD and AEP-7862 validate it."""
    if raw is None:
        return
    cpu = raw.get("cpu") if isinstance(raw, Mapping) else None
    if not isinstance(cpu, Mapping):
        errors.append(f"{path}.cpu: Required value: the CPU boost (type Factor or Quantity)")
        return
    kind = cpu.get("type")
    _enum(f"{path}.cpu.type", kind, BOOST_TYPES, errors)
    factor, quantity = cpu.get("factor"), cpu.get("quantity")
    if (kind == "Factor") != (factor is not None):
        errors.append(f"{path}.cpu.factor: factor is required when type is Factor and "
                      "forbidden otherwise")  # fmt: skip
    elif factor is not None and (not isinstance(factor, int) or isinstance(factor, bool)
                                 or factor < 1):  # fmt: skip
        errors.append(f"{path}.cpu.factor: must be a whole number of at least 1, got {factor!r}")
    if (kind == "Quantity") != (quantity is not None):
        errors.append(f"{path}.cpu.quantity: quantity is required when type is Quantity and "
                      "forbidden otherwise")  # fmt: skip
    elif quantity is not None:
        try:
            if parse_decimal(quantity) <= 0:
                errors.append(f"{path}.cpu.quantity: must be positive, got {quantity!r}")
        except QuantityError:
            errors.append(f"{path}.cpu.quantity: {quantity!r} is not a valid quantity (e.g. 500m)")
    duration = cpu.get("durationSeconds")
    if duration is not None and (not isinstance(duration, int) or isinstance(duration, bool)
                                 or duration < 0):  # fmt: skip
        errors.append(f"{path}.cpu.durationSeconds: must be a whole number of seconds >= 0")


def _shown(value: Any) -> str:
    """A value as the apiserver quotes it: strings in double quotes, numbers bare; a map or a
    list by its type only (it may be nested a thousand levels deep)."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, Mapping | list):
        return f"a {'map' if isinstance(value, Mapping) else 'list'}"
    return repr(value)


def _check_int(path: str, value: Any, maximum: int, errors: list[str]) -> None:
    """A whole number in [1, ``maximum``] (upstream: ``must be greater than or equal to 1``)."""
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        errors.append(f"{path}: Invalid value: {_shown(value)}: must be a whole number")
    elif value < 1:
        errors.append(f"{path}: Invalid value: {value}: must be greater than or equal to 1")
    elif value > maximum:
        errors.append(f"{path}: Invalid value: {value}: must be at most {maximum}")


def _check_per_vpa(path: str, policy: Mapping[str, Any], errors: list[str]) -> None:
    """AEP-8026's container fields, as upstream's admission controller validates them."""
    # Upstream compares the ratio in thousandths and the bump in bytes, both rounded up.
    for name, minimum, words, scale in (("oomBumpUpRatio", 1, "1.0", 1000),
                                        ("oomMinBumpUp", 0, "0", 1)):  # fmt: skip
        value = policy.get(name)
        if value is None:
            continue
        try:
            amount = parse_decimal(value)
        except QuantityError:
            errors.append(f"{path}.{name}: {_shown(value)} is not a valid quantity "
                          f"(e.g. {'1.5' if minimum else '100Mi'})")  # fmt: skip
            continue
        if math.ceil(amount * scale) < minimum * scale:
            errors.append(f"{path}.{name}: Invalid value: {_shown(value)}: must be greater "
                          f"than or equal to {words}")  # fmt: skip
    _check_int(f"{path}.memoryAggregationIntervalSeconds",
               policy.get("memoryAggregationIntervalSeconds"), INT32_MAX, errors)  # fmt: skip
    _check_int(f"{path}.memoryAggregationIntervalCount",
               policy.get("memoryAggregationIntervalCount"), INT64_MAX, errors)  # fmt: skip


def validate_vpa(obj: Mapping[str, Any]) -> list[str]:
    """Validate a VPA spec as upstream does; returns field-path style messages (empty: valid)."""
    errors: list[str] = []
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        return ["spec: Required value"]
    ref = spec.get("targetRef")
    if not isinstance(ref, Mapping) or not ref.get("kind") or not ref.get("name"):
        errors.append("spec.targetRef: Required value: kind and name of the workload to scale")
    elif not all(isinstance(ref.get(f, ""), str) for f in ("kind", "name", "apiVersion")):
        errors.append("spec.targetRef: kind, name and apiVersion must be strings")
    update = _object("spec.updatePolicy", spec.get("updatePolicy"), errors)
    _enum("spec.updatePolicy.updateMode", update.get("updateMode"), UPDATE_MODES, errors)
    min_replicas = update.get("minReplicas")
    if min_replicas is not None and (not isinstance(min_replicas, int) or min_replicas <= 0):
        errors.append("spec.updatePolicy.minReplicas: minReplicas has to be positive")
    _check_int("spec.updatePolicy.evictAfterOOMSeconds", update.get("evictAfterOOMSeconds"),
               INT32_MAX, errors)  # fmt: skip
    _check_eviction_requirements(update.get("evictionRequirements"), errors)
    _check_boost("spec.startupBoost", spec.get("startupBoost"), errors)
    recommenders = _array("spec.recommenders", spec.get("recommenders"), errors)
    if len(recommenders) > 1:
        errors.append("spec.recommenders: Too many: must have at most 1 item")
    if any(not isinstance(r, Mapping) for r in recommenders):
        errors.append("spec.recommenders: each item must be an object with a name")
    resource_policy = _object("spec.resourcePolicy", spec.get("resourcePolicy"), errors)
    policies = _array("spec.resourcePolicy.containerPolicies",
                      resource_policy.get("containerPolicies"), errors)
    for i, policy in enumerate(policies):
        path = f"spec.resourcePolicy.containerPolicies[{i}]"
        if not isinstance(policy, Mapping):
            errors.append(f"{path}: must be an object")
            continue
        mode = policy.get("mode")
        _enum(f"{path}.mode", mode, CONTAINER_MODES, errors)
        values = policy.get("controlledValues")
        _enum(f"{path}.controlledValues", values, CONTROLLED_VALUES, errors)
        if mode == "Off" and values is not None:
            errors.append(
                f"{path}.controlledValues: controlledValues shouldn't be specified "
                "if container scaling mode is off"
            )
        controlled = _array(f"{path}.controlledResources", policy.get("controlledResources"),
                            errors)
        if any(not isinstance(r, str) for r in controlled):
            errors.append(f"{path}.controlledResources: each item must be a resource name")
        _check_boost(f"{path}.startupBoost", policy.get("startupBoost"), errors)
        _check_per_vpa(path, policy, errors)
        low = _check_quantities(f"{path}.minAllowed", policy.get("minAllowed"), errors)
        high = _check_quantities(f"{path}.maxAllowed", policy.get("maxAllowed"), errors)
        for name in sorted(set(low) & set(high)):
            if high[name] and high[name] < low[name]:
                errors.append(
                    f"{path}.maxAllowed.{name}: max resource for {name} is lower than min"
                )
    return errors

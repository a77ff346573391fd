"""Join current resources, the engine's recommendations and the usage model into a Report."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np

from recommender.history import CPU, GPU, MEMORY, Samples
from recommender.logic.gpu import GpuModel, GpuModels, product_gpu_model
from recommender.logic.profile import Profiles
from recommender.logic.recommend import evidence as row_evidence
from recommender.logic.recommend import vpa_index
from recommender.logic.strategies import Strategy
from recommender.model.state import ContainerKey, UsageModel
from recommender.quantity import Rounding, is_gpu_resource
from recommender.recommendation import ContainerRecommendation
from recommender.report import flags as F
from recommender.report.gpus import device_memory, equivalent, gpu_estimate, gpu_options
from recommender.report.inventory import (
    BATCH_KINDS,
    ContainerResources,
    Inventory,
    WorkloadResources,
)
from recommender.report.model import (
    NO_RECOMMENDATION,
    NO_REQUEST,
    OK,
    OVER,
    UNDER,
    UNKNOWN,
    ContainerReport,
    Cost,
    Flag,
    GpuReport,
    Proposal,
    Report,
    ResourceLine,
    Savings,
)
from recommender.report.prices import Prices
from recommender.report.release import gpu_releases
from recommender.report.usage import distribution, gpu_activity, pod_activity, usage_stats
from recommender.vpa import Vpa

DEFAULT_TOLERANCE = 10.0  # percent: a request within this of the target is "ok"
_MAPS = (
    ("target", "target"), ("lowerBound", "lower_bound"), ("upperBound", "upper_bound"),
    ("uncappedTarget", "uncapped_target"),
)


@dataclass
class ReportInputs:
    """Everything a report is built from; ``samples`` adds batch activity and GPU series."""

    model: UsageModel
    recommendations: Sequence[ContainerRecommendation]
    strategy: Strategy
    inventory: Inventory = field(default_factory=Inventory)
    vpas: Sequence[Vpa] = ()
    samples: Samples | None = None
    gpu: GpuModel | None = None
    gpu_of: GpuModels = field(default_factory=dict)  # by workload, where models differ
    prices: Prices = field(default_factory=Prices)
    rounding: Rounding = field(default_factory=Rounding)
    tolerance: float = DEFAULT_TOLERANCE
    generated_at: str = ""
    source: str = ""
    profiles: Profiles = field(default_factory=dict)  # the tide beside held targets


def status_of(request: float | None, target: float | None, known: bool, tolerance: float) -> str:
    """Line status: compare the current request with the recommended target."""
    if target is None:
        return NO_RECOMMENDATION
    if not known:
        return UNKNOWN
    if not request:
        return NO_REQUEST
    change = 100.0 * (target - request) / request
    if change > tolerance:
        return UNDER
    if change < -tolerance:
        return OVER
    return OK


def _rounded(rounding: Rounding, resource: str, value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return rounding.apply(resource, value)


class _Builder:
    def __init__(self, inputs: ReportInputs) -> None:
        self.i = inputs
        self.recs = {(r.namespace, r.workload, r.container): r for r in inputs.recommendations}
        self.vpas = vpa_index(inputs.vpas)
        self.activity = pod_activity(inputs.samples) if inputs.samples is not None else {}
        self.gpu_reports: list[GpuReport] = []

    def container_keys(self) -> list[ContainerKey]:
        keys = {ContainerKey(*k) for k in self.recs}
        model = self.i.model
        keys.update(model.keys[row] for row in model.rows_with_history().tolist())
        for w in self.i.inventory.workloads.values():
            keys.update(ContainerKey(w.namespace, w.workload, c.name) for c in w.containers)
        return sorted(keys)

    def gpu_model_of(self, key: ContainerKey, workload: WorkloadResources | None
                     ) -> GpuModel | None:
        """The node label of the workload's pods, else dcgm-exporter's model for it, else the
        report's model."""
        fallback = self.i.gpu_of.get((key.namespace, key.workload), self.i.gpu)
        if workload is not None and workload.gpu_product:
            return product_gpu_model(workload.gpu_product) or fallback
        return fallback

    def lines(
        self,
        rec: ContainerRecommendation | None,
        current: ContainerResources | None,
        known: bool,
        row: int | None,
    ) -> list[ResourceLine]:
        i = self.i
        out = []
        for resource in (CPU, MEMORY):  # the history's and Kubernetes' names agree
            values: dict[str, float | None] = {
                "request": current.request(resource) if current else None,
                "limit": current.limits.get(resource) if current else None,
            }
            for name, attr in _MAPS:
                raw = getattr(rec, attr).get(resource) if rec else None
                values[name] = _rounded(i.rounding, resource, raw)
            usage = usage_stats(i.model, row, resource) if row is not None else None
            if all(v is None for v in values.values()) and usage is None:
                continue
            status = status_of(values["request"], values["target"], known, i.tolerance)
            hourly = None
            if rec is not None:
                key = ContainerKey(rec.namespace, rec.workload, rec.container)
                profile = i.profiles.get(key, {}).get(resource)
                hourly = tuple(profile) if profile else None
            out.append(ResourceLine(resource, values, status, usage, hourly=hourly))
        gpu_line = self.gpu_line(rec, current, known, row)
        if gpu_line is not None:
            out.append(gpu_line)
        return out

    def gpu_line(
        self,
        rec: ContainerRecommendation | None,
        current: ContainerResources | None,
        known: bool,
        row: int | None,
    ) -> ResourceLine | None:
        devices: dict[str, dict[str, float]] = {}
        if current is not None:
            for name, source in (("request", current.requests), ("limit", current.limits)):
                found = {r: v for r, v in source.items() if is_gpu_resource(r)}
                if found:
                    devices[name] = found
            if "request" not in devices and "limit" in devices:
                devices["request"] = dict(devices["limit"])  # extended resources default
        if rec is not None:
            for name, attr in _MAPS:
                found = {r: v for r, v in getattr(rec, attr).items() if is_gpu_resource(r)}
                if found:
                    devices[name] = found
        usage = usage_stats(self.i.model, row, GPU) if row is not None else None
        if not devices and usage is None:
            return None
        values: dict[str, float | None] = {
            name: equivalent(devices[name]) if name in devices else None
            for name in ("request", "limit", "target", "lowerBound", "upperBound",
                         "uncappedTarget")
        }
        status = status_of(values["request"], values["target"], known, self.i.tolerance)
        return ResourceLine("gpu", values, status, usage, devices)

    def cost(
        self, line: ResourceLine, pods: float, gpu: GpuModel | None, kept: bool = False
    ) -> Cost | None:
        """Monthly cost now and as recommended; ``kept``: the request stays (an HPA scales
        on the resource), so the recommended cost is the current one."""
        if line.target is None or line.status == UNKNOWN:
            return None
        prices = self.i.prices
        model = gpu.name if gpu else None
        current = prices.monthly(line.resource, (line.request or 0.0) * pods, model)
        if kept:
            return Cost(current, current)
        return Cost(current, prices.monthly(line.resource, line.target * pods, model))

    def proposal(
        self, lines: list[ResourceLine], vpa: Vpa | None, container: str
    ) -> Proposal | None:
        """The resources to set: targets, limits kept in proportion, GPUs request == limit."""
        policy = vpa.policy_for(container) if vpa else None
        requests_only = policy is not None and policy.controlled_values == "RequestsOnly"
        requests: dict[str, float] = {}
        limits: dict[str, float] = {}
        remove: list[str] = []
        for line in lines:
            if line.target is None:
                continue
            if line.resource == "gpu":
                target = line.devices.get("target", {})
                requests.update(target)
                limits.update(target)  # extended resources: request == limit
                old = set(line.devices.get("request", {})) | set(line.devices.get("limit", {}))
                remove.extend(sorted(old - set(target)))
                continue
            requests[line.resource] = line.target
            old_limit, old_request = line.values.get("limit"), line.request
            if old_limit and not requests_only:
                if old_request and old_request != old_limit:
                    # Upstream keeps the limit/request ratio.
                    value = old_limit * line.target / old_request
                    limits[line.resource] = self.i.rounding.apply(line.resource, value)
                else:
                    limits[line.resource] = line.target
        if not requests:
            return None
        return Proposal(requests, limits, tuple(remove))

    def container(self, key: ContainerKey) -> ContainerReport:
        i = self.i
        rec = self.recs.get((key.namespace, key.workload, key.container))
        workload = i.inventory.workload(key.namespace, key.workload)
        current = workload.container(key.container) if workload else None
        row = i.model.find(key)
        if row is not None and i.model.any_count[row] == 0:
            row = None
        vpa = self.vpas.get((key.namespace, key.workload))
        lines = self.lines(rec, current, workload is not None, row)
        if rec is not None:
            evidence = dict(rec.evidence)
        elif row is not None:
            evidence = row_evidence(i.model, np.array([row]))[0]
        else:
            evidence = {}
        activity = 1.0
        if key.workload.split("/", 1)[0] in BATCH_KINDS:
            activity = min(self.activity.get((key.namespace, key.workload), 1.0), 1.0)
        replicas = workload.replicas if workload else None
        pods = (replicas or 0) * activity
        gpu = self.gpu_model_of(key, workload)
        hpa = i.inventory.autoscaler(key.namespace, key.workload)
        # A resource an HPA scales on stays as it is: no patch, no saving (see hpa_flags).
        contested = set(hpa.resources) if hpa else set()
        lines = [replace(ln, cost=self.cost(ln, pods, gpu, ln.resource in contested))
                 for ln in lines]
        flags = []
        if row is None and rec is None:
            flags.append(Flag("no-history", "no usage history: nothing to recommend from"))
        elif evidence:  # recommendations read from VPA status come without evidence
            flags += F.history_flags(evidence)
        flags += F.oom_flags(evidence)
        if rec is None and row is not None:
            policy = vpa.policy_for(key.container) if vpa else None
            if policy is not None and policy.mode == "Off":
                flags.append(Flag("mode-off", "VPA policy mode Off: not recommended", "info"))
        if workload is None:
            flags.append(
                Flag("no-current", "current requests unknown (not in --workloads)", "info")
            )
        flags += F.limit_flags(lines)
        flags += F.hpa_flags(hpa, lines)
        flags += F.capped_flags(lines)
        flags += F.tide_flags(lines)
        gpu_line = next((ln for ln in lines if ln.resource == "gpu"), None)
        if gpu_line is not None and row is not None:
            report = self.gpu_report(key, row, gpu_line, replicas, pods, gpu)
            self.gpu_reports.append(report)
            flags += F.gpu_idle_flags(report.idle_share)
        distributions = {}
        if row is not None:
            for resource in (CPU, MEMORY):
                buckets = distribution(i.model, row, resource)
                if buckets:
                    distributions[resource] = buckets
        proposal = None
        if current is not None and rec is not None:
            proposal = self.proposal(
                [ln for ln in lines if ln.resource not in contested], vpa, key.container
            )
        return ContainerReport(
            namespace=key.namespace,
            workload=key.workload,
            container=key.container,
            replicas=replicas,
            lines=lines,
            evidence=evidence,
            flags=flags,
            has_vpa=vpa is not None,
            activity=round(activity, 4),
            proposal=proposal,
            distributions=distributions,
        )

    def gpu_report(
        self, key: ContainerKey, row: int, line: ResourceLine, replicas: int | None,
        pods: float, gpu: GpuModel | None,
    ) -> GpuReport:
        i = self.i
        current = line.devices.get("request", {})
        allocated = line.request or line.target or 1.0
        activity = None
        if i.samples is not None:
            activity = gpu_activity(i.samples, key, allocated)
        estimate = gpu_estimate(i.model, i.strategy, row)
        busy = usage_stats(i.model, row, GPU)
        options = []
        if estimate is not None:
            options = gpu_options(
                estimate[0], estimate[1], busy.p95 if busy else None, gpu, allocated, pods,
                i.prices,
            )
        return GpuReport(
            namespace=key.namespace,
            workload=key.workload,
            container=key.container,
            replicas=replicas,
            model=gpu.name if gpu else None,
            current=current,
            allocated_gpus=allocated,
            busy=busy,
            memory=usage_stats(i.model, row, "gpu_memory"),
            device_memory=device_memory(current, gpu) if current else None,
            duty_cycle=activity.duty_cycle if activity else None,
            idle_share=activity.idle_share if activity else None,
            recommended=line.devices.get("target", {}),
            options=options,
            series=activity.series if activity else [],
            estimate=estimate,
        )


STALE_AFTER_S = 86400.0  # a history ending longer before the report is said to be old


def stale_history(last_sample: float | int | None, generated_at: str) -> str | None:
    """A warning when the history ends more than a day before the report's time."""
    if last_sample is None or not generated_at:
        return None
    try:
        now = datetime.fromisoformat(generated_at.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    age = now - float(last_sample)
    if age <= STALE_AFTER_S:
        return None
    days = age / 86400.0
    return (f"The history ends {days:.0f} days before this report: the numbers describe usage "
            "then, not now. Refresh it (ingest, --prometheus-url) before acting on them.")


def savings(containers: Sequence[ContainerReport]) -> tuple[list[Savings], Savings]:
    """Monthly savings per namespace and for the cluster."""
    per: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for c in containers:
        for line in c.lines:
            if line.cost is None:
                continue
            bucket = per[c.namespace]
            bucket[line.resource] += line.cost.saving
            bucket["_current"] += line.cost.current
            bucket["_recommended"] += line.cost.recommended

    def make(namespace: str, values: dict[str, float]) -> Savings:
        return Savings(
            namespace,
            {r: round(values.get(r, 0.0), 2) for r in ("cpu", "memory", "gpu")},
            round(values.get("_current", 0.0), 2),
            round(values.get("_recommended", 0.0), 2),
        )

    namespaces = [make(ns, per[ns]) for ns in sorted(per)]
    cluster: dict[str, float] = defaultdict(float)
    for values in per.values():
        for name, value in values.items():
            cluster[name] += value
    return namespaces, make("", cluster)


def build_report(inputs: ReportInputs) -> Report:
    """The report for every container with history or current resources."""
    builder = _Builder(inputs)
    containers = [builder.container(key) for key in builder.container_keys()]
    namespaces, cluster = savings(containers)
    model = inputs.model
    rows = model.rows_with_history()
    history: dict[str, float | int] = {}
    if len(rows):
        history = {
            "firstSample": float(model.any_first[rows].min()),
            "lastSample": float(model.any_last[rows].max()),
            "samples": int(model.any_count[rows].sum()),
            "oomKills": int(model.oom_count[rows].sum()),  # not samples: ingest counts both
        }
    notes = ["Costs are estimates: requests x list prices x 730 h a month, not a bill."]
    if inputs.prices.defaults_used:
        notes.append("Default prices were used: set --price-cpu, --price-memory, --price-gpu.")
    if not inputs.inventory.workloads:
        notes.append("No --workloads given: current requests are unknown, nothing to compare.")
    if stale := stale_history(history.get("lastSample"), inputs.generated_at):
        notes.insert(0, stale)
    return Report(
        generated_at=inputs.generated_at,
        source=inputs.source,
        strategy=inputs.strategy.name,
        gpu_model=inputs.gpu.name if inputs.gpu else None,
        prices=inputs.prices,
        tolerance=inputs.tolerance,
        containers=containers,
        gpus=builder.gpu_reports,
        namespaces=namespaces,
        cluster=cluster,
        history=history,
        notes=notes,
        releases=gpu_releases(inputs.samples, builder.gpu_reports),
    )

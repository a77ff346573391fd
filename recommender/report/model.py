"""The report: per-container lines of current vs recommended, flags, GPU section, savings.

Values are in base units: CPU in cores, memory in bytes; GPU lines in whole-GPU equivalents
(a ``mig-2g.20gb`` device is 2/7), with the device form kept in ``devices``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from recommender.report.prices import Prices
from recommender.report.usage import Bucket, UsageStats

# Line status: how the current request compares with the recommended target.
OK = "ok"
UNDER = "under"  # the request is below the target by more than the tolerance
OVER = "over"  # the request is above the target by more than the tolerance
NO_REQUEST = "no-request"  # usage but no request set (counts as under)
NO_RECOMMENDATION = "no-recommendation"  # not recommended (mode Off, no history)
UNKNOWN = "unknown"  # current resources unknown (workload not in --workloads)
STATUSES = (UNDER, NO_REQUEST, OVER, OK, UNKNOWN, NO_RECOMMENDATION)  # most severe first

REPORT_RESOURCES = ("cpu", "memory", "gpu")
LINE_FIELDS = ("request", "limit", "target", "lowerBound", "upperBound", "uncappedTarget")


@dataclass(frozen=True)
class Flag:
    """Something an operator should know; ``code`` is stable, ``message`` is for people."""

    code: str
    message: str
    severity: str = "warning"  # warning | info


@dataclass(frozen=True)
class Cost:
    """Monthly cost of the current and the recommended requests (an estimate)."""

    current: float
    recommended: float

    @property
    def saving(self) -> float:
        return self.current - self.recommended


@dataclass(frozen=True)
class ResourceLine:
    """One resource of one container: current, recommended, difference and evidence."""

    resource: str  # cpu | memory | gpu
    values: dict[str, float | None]  # LINE_FIELDS -> value (None: not set / not known)
    status: str
    usage: UsageStats | None = None
    devices: dict[str, dict[str, float]] = field(default_factory=dict)  # gpu: field -> devices
    cost: Cost | None = None
    # In place: the next-hours target at each UTC hour of the day (NaN: unknown), if any.
    hourly: tuple[float, ...] | None = None

    @property
    def request(self) -> float | None:
        return self.values.get("request")

    @property
    def target(self) -> float | None:
        return self.values.get("target")

    @property
    def limit(self) -> float | None:
        return self.values.get("limit")

    @property
    def diff_per_pod(self) -> float | None:
        """Recommended minus current request (negative: the request can shrink)."""
        if self.target is None or self.request is None:
            return None
        return self.target - self.request

    @property
    def diff_percent(self) -> float | None:
        """The change of the request in percent of the current request."""
        diff = self.diff_per_pod
        if diff is None or not self.request:
            return None
        return 100.0 * diff / self.request


@dataclass(frozen=True)
class Proposal:
    """The ``resources:`` a container would get (Kubernetes names, base units)."""

    requests: dict[str, float]
    limits: dict[str, float]
    remove: tuple[str, ...] = ()  # resources to delete (a whole GPU replaced by a MIG device)


@dataclass(frozen=True)
class ContainerReport:
    namespace: str
    workload: str  # Kind/name
    container: str
    replicas: int | None  # None: unknown (not in --workloads)
    lines: list[ResourceLine]
    evidence: dict[str, float | int]
    flags: list[Flag]
    has_vpa: bool
    activity: float = 1.0  # share of the month pods run (batch workloads)
    proposal: Proposal | None = None
    distributions: dict[str, list[Bucket]] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.workload.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.workload.split("/", 1)[-1]

    @property
    def status(self) -> str:
        """The most severe line status."""
        statuses = [line.status for line in self.lines] or [NO_RECOMMENDATION]
        return min(statuses, key=STATUSES.index)

    def line(self, resource: str) -> ResourceLine | None:
        return next((line for line in self.lines if line.resource == resource), None)

    def diff_total(self, line: ResourceLine) -> float | None:
        diff = line.diff_per_pod
        if diff is None or self.replicas is None:
            return None
        return diff * self.replicas


@dataclass(frozen=True)
class GpuOption:
    """A way to run a GPU workload: whole GPUs, a MIG profile, or a time-shared GPU."""

    kind: str  # whole | mig | shared
    resource: str
    count: float
    gpus: float | None  # whole-GPU equivalent per pod; None when not known (shared)
    monthly_saving: float | None
    note: str = ""


@dataclass(frozen=True)
class GpuReport:
    namespace: str
    workload: str
    container: str
    replicas: int | None
    model: str | None
    current: dict[str, float]  # current GPU devices per pod
    allocated_gpus: float  # whole-GPU equivalent of ``current`` (or of the usage if unset)
    busy: UsageStats | None  # busy GPUs per pod
    memory: UsageStats | None  # GPU memory bytes per pod
    device_memory: float | None  # memory of the allocated devices per pod (bytes)
    duty_cycle: float | None
    idle_share: float | None
    recommended: dict[str, float]
    options: list[GpuOption]
    series: list[tuple[float, float]] = field(default_factory=list)
    estimate: tuple[float, float] | None = None  # busy GPUs and GPU memory (bytes) targets


@dataclass(frozen=True)
class GpuRelease:
    """One GPU workload's schedule."""

    namespace: str
    workload: str  # Kind/name
    gpus_per_replica: float
    replicas: int  # now (the workload's replicas, else the most pods seen at once)
    needed: tuple[float, ...]  # GPUs needed per UTC hour of the day (24 values)
    busy_peak: tuple[float, ...]  # the busiest summed busy GPUs per UTC hour of the day

    @property
    def held(self) -> float:
        return self.replicas * self.gpus_per_replica

    @property
    def freed_gpu_hours_per_day(self) -> float:
        return float(sum(max(self.held - n, 0.0) for n in self.needed))

    @property
    def min_replicas(self) -> int:
        return max(1, round(min(self.needed) / self.gpus_per_replica))

    @property
    def max_replicas(self) -> int:
        return max(self.replicas, round(max(self.needed) / self.gpus_per_replica))


@dataclass(frozen=True)
class Savings:
    """Monthly savings of one namespace (or the cluster) by resource."""

    namespace: str  # "" for the cluster
    by_resource: dict[str, float]
    current: float
    recommended: float

    @property
    def total(self) -> float:
        return self.current - self.recommended


@dataclass(frozen=True)
class Report:
    generated_at: str
    source: str
    strategy: str
    gpu_model: str | None
    prices: Prices
    tolerance: float
    containers: list[ContainerReport]
    gpus: list[GpuReport]
    namespaces: list[Savings]
    cluster: Savings
    history: dict[str, float | int]  # first/last sample time, samples
    notes: list[str] = field(default_factory=list)
    releases: list[GpuRelease] = field(default_factory=list)  # GPU release schedule

    def counts(self) -> dict[str, int]:
        """Containers by their most severe status."""
        out = dict.fromkeys(STATUSES, 0)
        for container in self.containers:
            out[container.status] += 1
        return out

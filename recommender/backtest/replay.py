"""Replay: walk a history in time order and publish what the recommender would have.

At each step ``t`` (multiples of ``every_s``) the model has ingested exactly the samples with
``timestamp < t``; the recommendation published at ``t`` then holds for ``[t, t + every_s)``.
The model is fed incrementally, one batch per step, as a running recommender would be.

With ``oom_feedback`` a container whose memory use passed its published memory target
(limit = request) during a step is recorded as OOM-killed at the first such sample, with the
target as the memory at the kill, exactly as the running recommender would see it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from recommender.history import MEMORY, OOM, Samples
from recommender.logic.gpu import MIG, SHARED, GpuModel, plan_gpu
from recommender.logic.recommend import BY_UPDATE_MODE, configure_model, recommend
from recommender.logic.strategies import Strategy, prepare_model
from recommender.model.state import ContainerKey, UsageModel
from recommender.quantity import GPU as K8S_GPU
from recommender.quantity import MEMORY as K8S_MEMORY
from recommender.quantity import is_gpu_resource
from recommender.recommendation import ContainerRecommendation
from recommender.vpa import DEFAULT_CONTROLLED_RESOURCES, ContainerPolicy, TargetRef, Vpa

HOUR_S = 3600.0
GPU_MEMORY_ROW = "gpu_memory"  # replay rows: the GPU memory (bytes) a GPU plan reserves
# Workloads no --policy VPA targets are replayed as if their VPA had this updateMode: targets
# applied in place every step (Initial: held targets, as pods sized only at creation carry).
REPLAY_UPDATE_MODE = "InPlaceOrRecreate"
REPLAY_COLUMNS = (
    "timestamp", "namespace", "workload", "container", "resource", "target", "lower_bound",
    "upper_bound",
)


@dataclass
class ReplayTable:
    """Columnar replay output: one row per (step, aggregate, Kubernetes resource)."""

    every_s: float
    steps: np.ndarray  # step start times, ascending
    keys: list[ContainerKey]
    step: list[int] = field(default_factory=list)
    key: list[int] = field(default_factory=list)
    resource: list[str] = field(default_factory=list)
    target: list[float] = field(default_factory=list)
    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.step)

    def rows(self) -> Iterator[tuple[float, str, str, str, str, float, float, float]]:
        """Rows in the replay CSV's column order."""
        for i in range(len(self.step)):
            k = self.keys[self.key[i]]
            yield (float(self.steps[self.step[i]]), k.namespace, k.workload, k.container,
                   self.resource[i], self.target[i], self.lower[i], self.upper[i])

    def matrix(self, resource: str, field_name: str = "target") -> np.ndarray:
        """``(steps, keys)`` values of one resource (NaN where nothing was published)."""
        out = np.full((len(self.steps), len(self.keys)), np.nan)
        values = getattr(self, field_name)
        for s, k, r, v in zip(self.step, self.key, self.resource, values, strict=True):
            if r == resource:
                out[s, k] = v
        return out


def key_index(samples: Samples) -> tuple[list[ContainerKey], np.ndarray]:
    """Distinct aggregates of ``samples`` (first-seen order) and each sample's index."""
    index: dict[tuple[str, str, str], int] = {}
    out = np.empty(len(samples), dtype=np.intp)
    for i, k in enumerate(zip(samples.namespace, samples.workload, samples.container,
                              strict=True)):
        j = index.get(k)
        if j is None:
            j = index[k] = len(index)
        out[i] = j
    return [ContainerKey(*k) for k in index], out


def default_vpas(
    keys: list[ContainerKey], vpas: list[Vpa], controlled: tuple[str, ...],
    update_mode: str = REPLAY_UPDATE_MODE,
) -> list[Vpa]:
    """A VPA controlling ``controlled`` with ``update_mode`` for each workload of ``keys``
    that has none."""
    covered = {(v.namespace, v.target_ref.workload) for v in vpas if v.target_ref}
    out = []
    for namespace, workload in sorted({(k.namespace, k.workload) for k in keys} - covered):
        kind, _, name = workload.partition("/")
        out.append(Vpa(namespace, f"backtest-{name}", TargetRef(kind, name), update_mode,
                       container_policies=(ContainerPolicy(controlled_resources=controlled),)))
    return out


def step_times(first: float, last: float, every_s: float) -> np.ndarray:
    """Step times: multiples of ``every_s`` from the first after ``first`` through the
    first at or after ``last`` (so every sample falls in some step's interval)."""
    start = (np.floor(first / every_s) + 1.0) * every_s
    stop = (np.floor(last / every_s) + 1.0) * every_s
    return np.arange(start, stop + every_s / 2, every_s)


def replay(
    samples: Samples,
    strategy: Strategy,
    every_s: float = HOUR_S,
    vpas: Iterable[Vpa] = (),
    gpu: GpuModel | None = None,
    oom_feedback: bool = True,
    controlled: tuple[str, ...] | None = None,
    lifetime_s: float | None = None,
    update_mode: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    gpu_option: str = MIG,
) -> ReplayTable:
    """Replay ``samples`` (any order) with ``strategy``; see the module docstring.

    Each step publishes what a VPA's ``updateMode`` calls for (next-hours targets in place,
    held ones otherwise). ``controlled``: Kubernetes resources recommended for workloads that
    no VPA in ``vpas`` targets (default: upstream's cpu and memory; add ``nvidia.com/gpu`` to
    size GPUs), with ``update_mode`` (default: ``Initial`` with ``lifetime_s``, else
    :data:`REPLAY_UPDATE_MODE`).
    ``lifetime_s``: actuation at creation (:mod:`recommender.backtest.actuation`): the table
    holds the targets pods carry, recreated every ``lifetime_s``, and OOM kills follow them.
    ``progress(done, total)`` is called after steps (about a hundred times in all).
    GPU recommendations are held as ``gpu_option`` (:func:`~recommender.logic.gpu.plan_gpu`:
    whole GPUs, a MIG profile, or a share of one device) and recorded as two rows: resource
    ``nvidia.com/gpu`` with the devices it counts for (MIG as slices / 7, a share as its
    fraction) and ``gpu_memory`` with the GPU memory it reserves (bytes).
    """
    if every_s <= 0:
        raise ValueError("the replay step must be positive")
    samples = samples.sorted_by_time()
    keys, sample_key = key_index(samples)
    table = ReplayTable(every_s, np.zeros(0), keys)
    if not len(samples):
        return table
    vpas = list(vpas)
    if update_mode is None:
        update_mode = "Initial" if lifetime_s is not None else REPLAY_UPDATE_MODE
    vpas += default_vpas(keys, vpas, controlled or DEFAULT_CONTROLLED_RESOURCES, update_mode)
    table.steps = step_times(float(samples.timestamp[0]), float(samples.timestamp[-1]), every_s)
    ends = np.searchsorted(samples.timestamp, table.steps, side="left")
    position = {k: i for i, k in enumerate(keys)}
    model = prepare_model(configure_model(UsageModel(), vpas), strategy)
    memory_target = np.full(len(keys), np.nan)
    creation = published = None
    if lifetime_s is not None:
        from recommender.backtest.actuation import carried, creation_steps

        creation = creation_steps(table.steps, keys, every_s, lifetime_s)
        published = np.full((len(table.steps), len(keys)), np.nan)
    begin = 0
    for step, end in enumerate(ends.tolist()):
        batch = samples.select(np.arange(begin, end))
        if oom_feedback and end > begin:
            batch = Samples.concat([batch, _ooms(batch, sample_key[begin:end], memory_target)])
        begin = end
        if len(batch):
            model.ingest(batch)
        recs = recommend(model, strategy, vpas, gpu, horizon=BY_UPDATE_MODE)
        _record(table, step, recs, position, memory_target, gpu, gpu_option)
        if progress is not None and (step % max(len(ends) // 100, 1) == 0 or step == len(ends) - 1):
            progress(step + 1, len(ends))
        if creation is not None and published is not None:  # pods keep their creation's target
            published[step] = memory_target
            source = creation[step]
            memory_target = np.where(
                source >= 0, published[np.maximum(source, 0), np.arange(len(keys))], np.nan
            )
    if creation is not None:
        return carried(table, creation)
    return table


def _ooms(batch: Samples, keys: np.ndarray, memory_target: np.ndarray) -> Samples:
    """One OOM sample per pod container whose memory passed its target in ``batch``."""
    target = memory_target[keys]
    over = (batch.resource == MEMORY) & (batch.value > target)  # NaN target: never
    if not over.any():
        return Samples.empty()
    hits = batch.select(over)
    seen: set[tuple[str, str, str, str]] = set()
    first = []
    for i, k in enumerate(zip(hits.namespace, hits.workload, hits.pod, hits.container,
                              strict=True)):
        if k not in seen:
            seen.add(k)
            first.append(i)
    ooms = hits.select(np.array(first, dtype=np.intp))
    return Samples(ooms.timestamp, ooms.namespace, ooms.workload, ooms.pod, ooms.container,
                   np.full(len(ooms), OOM, dtype=object), target[over][first])


def _record(
    table: ReplayTable, step: int, recs: list[ContainerRecommendation],
    position: dict[ContainerKey, int], memory_target: np.ndarray,
    gpu: GpuModel | None = None, gpu_option: str = MIG,
) -> None:
    def row(k: int, resource: str, target: float, lower: float, upper: float) -> None:
        table.step.append(step)
        table.key.append(k)
        table.resource.append(resource)
        table.target.append(target)
        table.lower.append(lower)
        table.upper.append(upper)

    for rec in recs:
        k = position[ContainerKey(rec.namespace, rec.workload, rec.container)]
        gpus = []
        for resource, target in rec.target.items():
            if is_gpu_resource(resource):
                gpus.append(resource)
                continue
            row(k, resource, target, rec.lower_bound.get(resource, np.nan),
                rec.upper_bound.get(resource, np.nan))
        plan = plan_gpu(gpu_option, float(rec.evidence.get("gpuBusy", 0.0)),
                        float(rec.evidence.get("gpuMemory", 0.0)), gpu,
                        float(rec.evidence.get("historySpanHours", 0.0))) if gpus else None
        if plan is not None:
            scale = plan.devices / rec.target[gpus[0]] if plan.option != SHARED else np.nan
            row(k, K8S_GPU, plan.devices, rec.lower_bound.get(gpus[0], np.nan) * scale,
                rec.upper_bound.get(gpus[0], np.nan) * scale)
            row(k, GPU_MEMORY_ROW, plan.reserved_bytes, np.nan, np.nan)
        memory_target[k] = rec.target.get(K8S_MEMORY, np.nan)

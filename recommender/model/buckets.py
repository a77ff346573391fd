"""Exponential histogram bucket schemes (upstream VPA's ``exponentialHistogramOptions``).

Changing a constant here changes checkpoint contents: bump ``CHECKPOINT_VERSION`` beside them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

BUCKET_GROWTH = 0.05  # each bucket 5% larger than the previous
CHECKPOINT_VERSION = "v3"


def go_pow(x: float, n: int) -> float:
    """``x**n`` for a whole ``n >= 0`` as Go's ``math.Pow`` computes it (squaring the
    mantissa), to the last bit: upstream's bucket starts come from it, and C's ``pow`` (numpy,
    ``math.pow``) differs in the last bits, enough to move a whole-byte truncation by one."""
    a1, ae = 1.0, 0
    x1, xe = math.frexp(x)
    i = n
    while i:
        if i & 1:
            a1 *= x1
            ae += xe
        x1 *= x1
        xe <<= 1
        if x1 < 0.5:
            x1 += x1
            xe -= 1
        i >>= 1
    return math.ldexp(a1, ae)


@dataclass(frozen=True)
class BucketScheme:
    """Buckets starting at ``first * (ratio**n - 1) / (ratio - 1)`` up to ``max_value``."""

    first: float
    max_value: float
    ratio: float = 1.0 + BUCKET_GROWTH
    count: int = field(init=False)
    starts: np.ndarray = field(init=False, repr=False, compare=False)
    ends: np.ndarray = field(init=False, repr=False, compare=False)
    _edges: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        growth = self.ratio - 1.0
        count = math.ceil(math.log(self.max_value * growth / self.first + 1) / math.log(self.ratio))
        object.__setattr__(self, "count", count + 1)
        powers = np.array([go_pow(self.ratio, n) for n in range(self.count + 1)])
        starts = self.first * (powers - 1.0) / growth
        object.__setattr__(self, "starts", starts[:-1].copy())
        edges = starts.copy()
        edges[-1] = np.inf  # the last bucket is open-ended
        object.__setattr__(self, "_edges", edges)
        # A percentile answers with the END of its bucket; the last bucket has no end: its start.
        ends = starts[1:].copy()
        ends[-1] = starts[-2]
        object.__setattr__(self, "ends", ends)

    def bucket(self, values: np.ndarray) -> np.ndarray:
        """Bucket index of each value (vectorised), clamped to ``[0, count - 1]``.

        Bucket ``n`` holds ``[start(n), start(n + 1))``: the log formula gives the index, one
        comparison with the bucket edges corrects the last-bit rounding of ``log``.
        """
        values = np.maximum(values, 0.0)
        scaled = np.log(values * (self.ratio - 1.0) / self.first + 1.0)
        index = (scaled / math.log(self.ratio)).astype(np.intp)
        np.clip(index, 0, self.count - 1, out=index)
        index -= values < self._edges[index]
        index += values >= self._edges[index + 1]
        return index

    def bucket_of(self, value: float) -> int:
        """Scalar version of :meth:`bucket`."""
        return int(self.bucket(np.array([value], dtype=np.float64))[0])


CPU_BUCKETS = BucketScheme(first=0.01, max_value=1000.0)  # cores
MEMORY_BUCKETS = BucketScheme(first=1e7, max_value=1e12)  # bytes
GPU_BUCKETS = BucketScheme(first=0.01, max_value=1000.0)  # busy GPUs
GPU_MEMORY_BUCKETS = BucketScheme(first=1e7, max_value=1e12)  # bytes

"""Kubernetes resource quantities: parsing, rounding and canonical formatting.

The one place in Tidal that knows how ``250m``, ``1.5``, ``512Mi`` or ``1e9`` map to numbers.
Values are handled in base units: cores for CPU, bytes for memory, devices for GPUs.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

CPU = "cpu"
MEMORY = "memory"
GPU = "nvidia.com/gpu"
MIG_PREFIX = "nvidia.com/mig-"
GPU_SHARED = "nvidia.com/gpu.shared"

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(
    r"^\s*(?P<num>[+-]?(?:\d+\.?\d*|\.\d+))(?:(?P<exp>[eE][+-]?\d+)|(?P<suffix>[KMGTPE]i|[numkMGTPE])?)\s*$"
)


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


def parse_decimal(value: str | int | float | Decimal) -> Decimal:
    """Parse a quantity exactly, e.g. ``"512Mi"`` -> ``Decimal(536870912)``."""
    if isinstance(value, bool):
        raise QuantityError(f"not a quantity: {value!r}")
    if isinstance(value, dict | list | tuple | set):  # never its text: it may be 1,000 deep
        raise QuantityError(f"not a quantity: a {type(value).__name__}")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise QuantityError(f"not a finite quantity: {value!r}")
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    match = _QUANTITY.match(str(value))
    if not match:
        raise QuantityError(f"not a Kubernetes quantity: {value!r}")
    try:
        number = Decimal(match["num"])
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid numbers
        raise QuantityError(f"not a Kubernetes quantity: {value!r}") from exc
    if match["exp"]:
        return number * Decimal(10) ** int(match["exp"][1:])
    suffix = match["suffix"] or ""
    return number * (_BINARY[suffix] if suffix in _BINARY else _DECIMAL[suffix])


_LOOKALIKE = re.compile(r"^\s*([+-]?[0-9.]+)\s*([kKmMgGtTpPeE])[bB]\s*$")


def unit_hint(text: str) -> str:
    """``"; did you mean 512Mi or 512M?"`` for a byte unit written the way people say it
    (``512Mb``, ``2GB``, ``64kb``); empty otherwise."""
    match = _LOOKALIKE.match(text)
    if not match:
        return ""
    number, prefix = match.groups()
    decimal = "k" if prefix.lower() == "k" else prefix.upper()
    return f"; did you mean {number}{prefix.upper()}i or {number}{decimal}?"


def parse_quantity(value: str | int | float | Decimal) -> float:
    """Parse a quantity into a float in base units (cores, bytes, devices)."""
    return float(parse_decimal(value))


def is_gpu_resource(resource: str) -> bool:
    """True for extended GPU resources, which take whole numbers only."""
    return resource in (GPU, GPU_SHARED) or resource.startswith(MIG_PREFIX)


def round_up(value: float, step: float) -> float:
    """Round ``value`` up to a whole multiple of ``step`` (robust to float noise)."""
    if step <= 0 or not math.isfinite(value):
        return value
    units = value / step
    nearest = round(units)
    return (nearest if abs(units - nearest) < 1e-9 else math.ceil(units)) * step


def to_millicores(cores: float, step_millicores: int = 1) -> int:
    """CPU cores -> whole millicores, rounded up to ``step_millicores``."""
    return int(round_up(cores * 1000.0, step_millicores))


def to_bytes(value: float, step_bytes: int = 1) -> int:
    """Bytes -> whole bytes, rounded up to ``step_bytes``."""
    return int(round_up(value, step_bytes))


_BINARY_DESC = sorted(_BINARY.items(), key=lambda kv: -kv[1])
_DECIMAL_DESC = [("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3)]


def _exact_suffix(number: int, table: list[tuple[str, int]]) -> str | None:
    for suffix, factor in table:
        if number % factor == 0:
            return f"{number // factor}{suffix}"
    return None


def format_cpu(cores: float, step_millicores: int = 1) -> str:
    """Canonical CPU quantity: ``"250m"``, ``"2"``, ``"1500m"``."""
    millis = to_millicores(cores, step_millicores)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def format_bytes(value: float, step_bytes: int = 1) -> str:
    """Canonical byte quantity: binary suffix when exact (``"256Mi"``), else decimal or plain."""
    number = to_bytes(value, step_bytes)
    if number == 0:
        return "0"
    exact = _exact_suffix(number, _BINARY_DESC) or _exact_suffix(number, _DECIMAL_DESC)
    return exact or str(number)


def format_quantity(resource: str, value: float, rounding: Rounding | None = None) -> str:
    """Format a base-unit value for ``resource`` the way the Kubernetes API would store it."""
    rounding = rounding or Rounding()
    if resource == CPU:
        return format_cpu(value, rounding.cpu_millicores)
    if is_gpu_resource(resource):
        return str(math.ceil(round_up(value, 1)))
    return format_bytes(value, rounding.memory_bytes)


def human(resource: str, value: float | None) -> str:
    """Short human form for tables: ``"250m"``, ``"1.5"``, ``"512Mi"``, ``"1.2Gi"``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "?"
    if math.isinf(value):
        return "inf"
    if resource == CPU:  # from whole millicores, as the quantity is written: the same text
        millicores = math.ceil(value * 1000 - 1e-9)  # for a raw value and its rounded one
        if millicores < 1000:
            return f"{millicores}m"
        hundredths = (millicores + 5) // 10  # half up, in integers (1205m -> 1.21, not 1.2)
        return f"{hundredths // 100}.{hundredths % 100:02d}".rstrip("0").rstrip(".")
    if is_gpu_resource(resource) or resource == "gpu":
        return f"{value:.2f}".rstrip("0").rstrip(".")
    for suffix, factor in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if value >= factor:
            scaled = value / factor
            text = f"{scaled:.0f}" if scaled >= 100 or suffix == "Ki" else f"{scaled:.1f}"
            return text.rstrip("0").rstrip(".") + suffix if "." in text else text + suffix
    return f"{value:.0f}"


class Rounding:
    """How recommendations are rounded up: CPU to millicores, memory to bytes."""

    __slots__ = ("cpu_millicores", "memory_bytes")

    def __init__(self, cpu_millicores: int = 1, memory_bytes: int = 1) -> None:
        if cpu_millicores < 1 or memory_bytes < 1:
            raise ValueError("rounding steps must be at least 1")
        self.cpu_millicores = cpu_millicores
        self.memory_bytes = memory_bytes

    def apply(self, resource: str, value: float) -> float:
        """Round ``value`` up for ``resource`` and return it in base units."""
        if not math.isfinite(value):
            return value
        if resource == CPU:
            return to_millicores(value, self.cpu_millicores) / 1000.0
        if is_gpu_resource(resource):
            return float(math.ceil(round_up(value, 1)))
        return float(to_bytes(value, self.memory_bytes))

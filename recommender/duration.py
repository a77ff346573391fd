"""Durations as flags take them: ``90s``, ``5m``, ``1h``, ``8d``, ``1w``, ``1h30m`` or seconds."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str) -> float:
    """Seconds in ``text``; ValueError (with the accepted forms) when it is not a duration."""
    text = str(text).strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {text!r}: use e.g. 30s, 5m, 1h, 8d, 1h30m")
    return sum(float(n) * _UNITS[u] for n, u in parts)

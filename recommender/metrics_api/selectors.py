"""Kubernetes label selectors: ``a=b,c!=d,e in (x,y),f notin (z),g,!h`` parsed and matched."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_REQUIREMENT = re.compile(
    r"\s*(?:(?P<not>!)\s*(?P<absent>[\w./-]+)"
    r"|(?P<key>[\w./-]+)\s*(?:(?P<op>==|!=|=)\s*(?P<value>[\w.-]*)"
    r"|\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?)\s*(?:,|$)"
)


class SelectorError(ValueError):
    """A label selector that does not parse."""


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        if self.op == "exists":
            return value is not None
        if self.op == "!":
            return value is None
        if self.op in ("=", "in"):
            return value is not None and value in self.values
        return value is None or value not in self.values  # "!=", "notin"


def parse_selector(text: str | None) -> tuple[Requirement, ...]:
    """The requirements of ``text`` (empty: everything matches); SelectorError if malformed."""
    text = (text or "").strip()
    requirements: list[Requirement] = []
    pos = 0
    while pos < len(text):
        match = _REQUIREMENT.match(text, pos)
        if match is None or match.end() == pos:
            raise SelectorError(f"invalid label selector {text!r} at position {pos}")
        pos = match.end()
        if match["absent"]:
            requirements.append(Requirement(match["absent"], "!"))
        elif match["op"]:
            op = "!=" if match["op"] == "!=" else "="
            requirements.append(Requirement(match["key"], op, frozenset([match["value"]])))
        elif match["setop"]:
            values = frozenset(v.strip() for v in match["values"].split(",") if v.strip())
            requirements.append(Requirement(match["key"], match["setop"], values))
        else:
            requirements.append(Requirement(match["key"], "exists"))
    return tuple(requirements)


def matches(requirements: tuple[Requirement, ...], labels: Mapping[str, str]) -> bool:
    return all(r.matches(labels) for r in requirements)


def equality_value(requirements: tuple[Requirement, ...], key: str) -> str | None:
    """The one value ``key`` must equal (``key=v`` or ``key in (v)``), for index lookups."""
    for r in requirements:
        if r.key == key and r.op in ("=", "in") and len(r.values) == 1:
            return next(iter(r.values))
    return None

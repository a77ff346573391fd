"""The fields the cluster's VerticalPodAutoscaler CRD (``manifests/crds``) defines, for
``--policy`` files checked as strictly as ``kubectl apply`` checks them (an unknown field such
as ``maxAlowed`` is an error, not silently dropped).

``vpa_fields.json`` is derived from the CRD's ``openAPIV3Schema`` by :func:`field_tree`;
``tests/recommender/test_policy_files.py`` fails when the two drift (and says how to refresh it).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

ANY = "*"  # a map of free keys (resource names, labels) or an object without a schema


def field_tree(schema: Mapping[str, Any]) -> Any:
    """Known field names per object node: ``{"field": subtree}``; arrays give their items'
    tree; free-form maps and scalars give ``"*"`` / None."""
    if schema.get("type") == "array":
        return field_tree(schema.get("items") or {})
    if "properties" in schema:
        return {k: field_tree(v) for k, v in sorted(schema["properties"].items())}
    if schema.get("type") == "object":
        return ANY
    return None


@cache
def vpa_fields() -> Any:
    return json.loads(resources.files("recommender").joinpath("vpa_fields.json").read_text())


def unknown_fields(obj: Any, tree: Any = None, path: str = "") -> list[str]:
    """``path: unknown field "x"`` (with a did-you-mean) for every key the CRD does not
    define."""
    tree = vpa_fields() if tree is None else tree
    out: list[str] = []
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            out += unknown_fields(item, tree, f"{path}[{i}]")
    elif isinstance(obj, Mapping) and isinstance(tree, dict):
        for key, value in obj.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in tree:
                close = difflib.get_close_matches(str(key), list(tree), n=1)
                hint = f' (did you mean "{close[0]}"?)' if close else ""
                out.append(f'{where}: unknown field "{key}"{hint}')
            elif tree[key] is not None and tree[key] != ANY:
                out += unknown_fields(value, tree[key], where)
    return out

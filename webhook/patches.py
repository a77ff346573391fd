"""JSON patch building: the one place that turns an edited object into RFC 6902 operations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import jsonpatch

from webhook.wire import PatchOperation

# The webhook only ever adds or replaces; anything else means a bug, and the caller fails open.
ALLOWED_OPS = frozenset({"add", "replace"})


class PatchError(RuntimeError):
    """The computed patch would remove or move data."""


def build_patch(original: Mapping[str, Any], mutated: Mapping[str, Any]) -> list[PatchOperation]:
    """Minimal patch from ``original`` to ``mutated`` using only ``add``/``replace``.

    Missing parents (``metadata.annotations``, ``resources``, ``requests``, ``limits``) are
    added as whole objects by the parent's ``add``, so every path's parent exists.
    """
    ops = cast(list[PatchOperation], jsonpatch.make_patch(original, mutated).patch)
    for op in ops:
        if op["op"] not in ALLOWED_OPS:
            raise PatchError(f"refusing a {op['op']} operation at {op['path']}")
    return ops


def apply_patch(document: Mapping[str, Any], ops: list[Any]) -> Any:
    """Apply a patch to a copy of ``document`` (what the apiserver does)."""
    return jsonpatch.apply_patch(document, ops, in_place=False)

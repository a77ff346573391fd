"""Patch building agrees with jsonpatch, and refuses to remove anything."""

from __future__ import annotations

import json

import jsonpatch
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook.patches import PatchError, apply_patch, build_patch

keys = st.sampled_from(["cpu", "memory", "nvidia.com/gpu", "a~b", "requests", "limits", "x"])
leaves = st.one_of(
    st.text(max_size=5),
    st.integers(),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
)
documents = st.recursive(leaves, lambda c: st.dictionaries(keys, c, max_size=4), max_leaves=12)


@st.composite
def edits(draw: st.DrawFn) -> tuple[dict, dict]:
    """A document and an edit of it that only adds or changes members."""
    original = draw(st.dictionaries(keys, documents, max_size=4))

    def edit(node: object) -> object:
        if isinstance(node, dict):
            out = {k: edit(v) for k, v in node.items()}
            out.update(
                draw(st.dictionaries(keys.filter(lambda k: k not in node), documents, max_size=2))
            )
            return out
        return draw(st.one_of(st.just(node), leaves))

    return original, edit(original)  # type: ignore[return-value]


@settings(max_examples=150, deadline=None)
@given(edits())
def test_patch_applied_by_jsonpatch_gives_the_edit(pair: tuple[dict, dict]) -> None:
    original, mutated = pair
    ops = build_patch(original, mutated)
    assert all(op["op"] in ("add", "replace") for op in ops)
    assert apply_patch(original, ops) == mutated
    assert jsonpatch.apply_patch(original, jsonpatch.make_patch(original, mutated)) == mutated
    if json.dumps(original, sort_keys=True) == json.dumps(mutated, sort_keys=True):
        assert ops == []  # JSON-equal (Python's 0 == False is not: that one is replaced)


def test_paths_are_escaped_and_rooted() -> None:
    ops = build_patch(
        {"limits": {}}, {"limits": {"nvidia.com/gpu": "1"}}, "/spec/containers/0/resources"
    )
    assert ops == [
        {"op": "add", "path": "/spec/containers/0/resources/limits/nvidia.com~1gpu", "value": "1"}
    ]


def test_removal_is_refused() -> None:
    with pytest.raises(PatchError):
        build_patch({"a": 1, "b": 2}, {"a": 1})

"""The cluster cache: watch threads filling it, owner resolution, the state file."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from recommender.owners import Owner
from webhook import watch
from webhook.owners import controller_chain
from webhook.server import load_state_file
from webhook.state import ClusterState

from . import builders as b


class FakeApi:
    """A list function with ``watch`` semantics as ``kubernetes.watch.Watch`` drives it."""

    def __init__(self, items: list[dict], events: list[list[dict]]) -> None:
        self.items = items
        self.events = events  # one list per watch call; an ERROR 410 event ends a stream
        self.lists = 0

    def __call__(self, **kwargs: Any) -> Any:
        self.lists += 1
        body = {"metadata": {"resourceVersion": "10"}, "items": self.items}
        return SimpleNamespace(data=json.dumps(body).encode())


class FakeWatch:
    api: FakeApi

    def stream(self, func: Any, **kwargs: Any) -> Any:
        if not self.api.events:
            time.sleep(0.05)
            return
        for event in self.api.events.pop(0):
            if event["type"] == "ERROR":
                raise watch_gone()
            yield event


def watch_gone() -> Exception:
    error = RuntimeError("Expired: too old resource version")
    error.status = 410  # type: ignore[attr-defined]
    return error


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_informer_lists_watches_and_relists_after_410(monkeypatch: pytest.MonkeyPatch) -> None:
    first = b.vpa("a", recommendations=[b.rec()])
    api = FakeApi(
        [first],
        [
            [
                {"type": "ADDED", "object": b.vpa("b", target=("Deployment", "api"))},
                {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "12"}}},
                {"type": "DELETED", "object": first},
            ],
            [{"type": "ERROR", "object": {"code": 410}}],
        ],
    )
    FakeWatch.api = api
    import kubernetes.watch

    monkeypatch.setattr(kubernetes.watch, "Watch", FakeWatch)
    state = ClusterState()
    stop = threading.Event()
    informer = watch.Informer("VerticalPodAutoscaler", api, state, stop)
    informer.start()
    try:
        wait_for(lambda: api.lists >= 2)  # listed, watched, 410, listed again
        wait_for(lambda: [e.vpa.name for e in state.vpas("default")] == ["a"])
    finally:
        stop.set()
        informer.join(5)
    assert not state.synced  # only one of the kinds was listed


def test_controller_chain_through_cached_owners() -> None:
    rollout_rs = {
        "kind": "ReplicaSet",
        "metadata": {
            "name": "shop-5f6d",
            "namespace": "default",
            "ownerReferences": [{"kind": "Rollout", "name": "shop", "controller": True}],
        },
    }
    state = ClusterState.from_objects([rollout_rs, b.replica_set()])
    pod = b.pod(owner=("ReplicaSet", "shop-5f6d"), labels={})
    assert controller_chain(pod, "default", state) == [
        Owner("ReplicaSet", "shop-5f6d", "apps"),
        Owner("Rollout", "shop"),
    ]
    assert controller_chain(b.pod(owner=None), "default", state) == []


def _owned(kind: str, name: str, owner: tuple[str, str, str], api: str = "apps/v1") -> dict:
    return {"kind": kind, "apiVersion": api, "metadata": {
        "name": name, "namespace": "default", "ownerReferences": [
            {"apiVersion": owner[0], "kind": owner[1], "name": owner[2], "controller": True}]}}


def test_leaderworkerset_workers_climb_through_their_leader_pod() -> None:
    """LeaderWorkerSet: the leader StatefulSet is the LWS's, each group's worker StatefulSet
    is its leader pod's; the leader pod is fetched (once) when that StatefulSet appears."""
    lws = ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet", "llm")
    leader_sts = _owned("StatefulSet", "llm", lws)
    worker_sts = _owned("StatefulSet", "llm-0", ("v1", "Pod", "llm-0"))
    state = ClusterState.from_objects([leader_sts, worker_sts])
    assert state.take_wanted_pods() == [("default", "llm-0")]
    worker = b.pod(owner=("StatefulSet", "llm-0"), labels={})
    # Until the leader pod is fetched, the chain stops at it.
    assert [str(o) for o in controller_chain(worker, "default", state)] == [
        "StatefulSet/llm-0", "Pod/llm-0"]
    state.upsert("Pod", _owned("Pod", "llm-0", ("apps/v1", "StatefulSet", "llm"), "v1"))
    assert controller_chain(worker, "default", state) == [
        Owner("StatefulSet", "llm-0", "apps"), Owner("Pod", "llm-0"),
        Owner("StatefulSet", "llm", "apps"), Owner("LeaderWorkerSet", "llm",
                                                    "leaderworkerset.x-k8s.io")]
    assert state.take_wanted_pods() == []


def test_invalid_objects_are_skipped_not_fatal() -> None:
    bad = b.vpa("bad")
    bad["spec"]["updatePolicy"] = {"updateMode": "Sometimes"}
    state = ClusterState.from_objects([bad, b.vpa("good")])
    assert [e.vpa.name for e in state.vpas("default")] == ["good"]


def test_state_file_accepts_documents_and_lists(tmp_path: Path) -> None:
    path = tmp_path / "state.yaml"
    path.write_text(
        yaml.safe_dump_all(
            [b.replica_set(), {"apiVersion": "v1", "kind": "List", "items": [b.vpa(), b.hpa_v2()]}]
        )
    )
    state = load_state_file(path)
    assert state.synced
    assert [e.vpa.name for e in state.vpas("default")] == ["web-vpa"]
    assert [h.name for h in state.hpas("default")] == ["web"]
    assert state.controller_of("default", Owner("ReplicaSet", "web-7d9f8b6c5d", "apps")) == \
        Owner("Deployment", "web", "apps")


@pytest.mark.parametrize(("kind", "status"), [("ResourceClaimTemplate", 404), ("Namespace", 403)])
def test_kinds_only_gpu_claims_need_are_empty_when_not_served_or_not_permitted(
    kind: str, status: int
) -> None:
    calls = []

    def refuse(**kwargs: Any) -> Any:
        calls.append(kwargs)
        error = RuntimeError("the server could not find the requested resource")
        error.status = status  # type: ignore[attr-defined]
        raise error

    state = ClusterState()
    stop = threading.Event()
    informer = watch.Informer(kind, refuse, state, stop)
    informer.start()
    try:
        wait_for(lambda: state.is_synced(kind))  # synced, empty: the webhook still gets ready
    finally:
        stop.set()
        informer.join(5)
    assert len(calls) == 1  # looked for again only after ABSENT_RECHECK_SECONDS
    assert state.claim_templates("default") == frozenset()
    assert state.gpu_claims_label("default") == ""


def test_an_owner_pod_not_fetched_yet_is_read_once_at_admission() -> None:
    """Workers created right after their StatefulSet: the leader pod is read then, once."""
    lws = ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet", "llm")
    state = ClusterState.from_objects([_owned("StatefulSet", "llm", lws),
                                       _owned("StatefulSet", "llm-0", ("v1", "Pod", "llm-0"))])
    reads = []

    def read_pod(namespace: str, name: str) -> dict:
        reads.append((namespace, name))
        return _owned("Pod", name, ("apps/v1", "StatefulSet", "llm"), "v1")

    state.read_pod = read_pod
    worker = b.pod(owner=("StatefulSet", "llm-0"), labels={})
    for _ in range(3):
        assert str(controller_chain(worker, "default", state)[-1]) == "LeaderWorkerSet/llm"
    assert reads == [("default", "llm-0")]
    failing = ClusterState.from_objects([_owned("StatefulSet", "x-0", ("v1", "Pod", "x-0"))])

    def down(namespace: str, name: str) -> dict:
        reads.append((namespace, name))
        raise OSError("connection refused")

    failing.read_pod = down
    other = b.pod(owner=("StatefulSet", "x-0"), labels={})
    assert [str(o) for o in controller_chain(other, "default", failing)] == [
        "StatefulSet/x-0", "Pod/x-0"]
    controller_chain(other, "default", failing)  # not read again within the retry time
    assert reads.count(("default", "x-0")) == 1

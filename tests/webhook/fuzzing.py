"""A seeded fuzzer of AdmissionReview bodies against the real webhook over HTTPS.

:class:`Generator` makes, from one seed, pods (random containers, quantities, annotations,
owner references, operations) for ``/mutate`` that the cluster of :func:`cluster_objects`
sizes, HPAs and VPAs for ``/validate``, and mangled bodies (fields of the wrong type or
missing, huge numbers, unicode, deep nesting, duplicate keys, truncated JSON, random bytes),
each sent with a random Content-Type, chunked or with a Content-Length. :func:`run` sends them
from a few kept-alive TLS connections and :func:`check` judges each answer: no 5xx, no hang,
every 200 a valid AdmissionReview for the request's uid whose JSON patch applies to the
request's object and leaves no limit below its request. Used by ``test_fuzz.py`` (a few
thousand bodies) and ``benchmarks/fuzz.py`` (100,000 and more).
"""

from __future__ import annotations

import base64
import copy
import json
import math
import random
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
import orjson

from recommender.quantity import QuantityError, parse_quantity

API_VERSION = "admission.k8s.io/v1"
NAMESPACES = ("default", "limited")
EXAMPLES_PER_KIND = 3
# The Container LimitRange minimum of each namespace of cluster_objects().
LIMIT_RANGE_MIN = {"limited": {"cpu": "10m", "memory": "16Mi"}}


# -- the cluster the webhook serves ------------------------------------------------------------


def _owner(kind: str, name: str, api: str = "apps/v1") -> dict[str, Any]:
    return {
        "apiVersion": api,
        "kind": kind,
        "name": name,
        "uid": f"uid-{name}",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _vpa(
    name: str, namespace: str, target: str, containers: tuple[str, ...], policy: dict[str, Any]
) -> dict[str, Any]:
    recs = [
        {
            "containerName": c,
            "target": {"cpu": "250m", "memory": "256Mi"},
            "lowerBound": {"cpu": "100m", "memory": "128Mi"},
            "upperBound": {"cpu": "1", "memory": "1Gi"},
            "uncappedTarget": {"cpu": "250m", "memory": "256Mi"},
        }
        for c in containers
    ]
    return {
        "apiVersion": "autoscaling.k8s.io/v1",
        "kind": "VerticalPodAutoscaler",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "creationTimestamp": "2026-11-01T00:00:00Z",
        },
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "updatePolicy": {"updateMode": "Recreate"},
            "resourcePolicy": {"containerPolicies": [{"containerName": "*", **policy}]},
        },
        "status": {"recommendation": {"containerRecommendations": recs}},
    }


def cluster_objects() -> list[dict[str, Any]]:
    """Two namespaces: ``default`` (a VPA with RequestsAndLimits for Deployment web) and
    ``limited`` (RequestsOnly with min/max for Deployment api, an HPA on it, and a LimitRange
    with min, max and maxLimitRequestRatio)."""
    replica_sets = [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": rs, "namespace": ns, "ownerReferences": [_owner("Deployment", d)]},
        }
        for rs, ns, d in (("web-7d9f8b6c5d", "default", "web"), ("api-5f6d", "limited", "api"))
    ]
    limit_range = {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "limits", "namespace": "limited"},
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "min": LIMIT_RANGE_MIN["limited"],
                    "max": {"cpu": "4", "memory": "8Gi"},
                    "maxLimitRequestRatio": {"cpu": "4", "memory": "2"},
                }
            ]
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "api", "namespace": "limited"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "memory",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }
    return [
        *replica_sets,
        _vpa("web-vpa", "default", "web", ("app", "proxy", "sidecar"), {}),
        _vpa(
            "api-vpa",
            "limited",
            "api",
            ("app", "proxy"),
            {
                "controlledValues": "RequestsOnly",
                "minAllowed": {"cpu": "50m"},
                "maxAllowed": {"cpu": "2", "memory": "2Gi"},
            },
        ),
        limit_range,
        hpa,
    ]


# -- bodies ------------------------------------------------------------------------------------


@dataclass
class Case:
    """One request: where to, the body, and how it is framed."""

    kind: str  # what the generator meant: pod, hpa, vpa, mangled, ...
    path: str
    body: bytes
    content_type: str | None
    chunked: bool


VALID_QUANTITIES: tuple[Any, ...] = (
    "100m",
    "250m",
    "1",
    "2",
    "0.5",
    "1.5",
    "64Mi",
    "128Mi",
    "1Gi",
    "512M",
    "1e3",
    "1k",
    "100",
    "0",
    "0m",
    "3",
    1,
    2,
    "1500m",
    "300Mi",
)
ODD_QUANTITIES: tuple[Any, ...] = (
    "1e400",
    "-1",
    "-500m",
    "1e308",
    "-1e400",
    "abc",
    "",
    "1.2.3",
    "Infinity",
    "NaN",
    "1Ei",
    "9223372036854775807",
    "0x10",
    " 1",
    "१२३",
    "1e-400",
    "+5",
    ".5",
    "5.",
    "1Mi ",
    True,
    None,
    [],
    {},
    10**30,
    -(10**20),
    1e300,
    0.0001,
    -0.0,
    "∞",
    "1\u00a0Gi",
    "1e18Ei",
)
RESOURCES = (
    "cpu",
    "memory",
    "cpu",
    "memory",
    "nvidia.com/gpu",
    "ephemeral-storage",
    "hugepages-2Mi",
    "example.com/ünïcode",
)
CONTAINER_NAMES = ("app", "proxy", "sidecar", "init", "x" * 70, "ünïcode", "")
CONTENT_TYPES = ("application/json",) * 6 + (
    None,
    "text/plain",
    "application/x-www-form-urlencoded",
    "application/json; charset=utf-16",
    "multipart/form-data; boundary=x",
    "application/yaml",
)
WEIRD_STRINGS = (
    "",
    "a" * 300,
    "ünïcode ✓",
    "\u0000",
    "\ud7ff",
    "\U0001f600",
    "../../x",
    "<script>",
    "%s%n",
    "\\",
    '"',
    "\r\n",
)


class Generator:
    """Bodies from one seed: the same seed gives the same sequence."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.uids = 0

    def uid(self) -> str:
        self.uids += 1
        return f"fuzz-{self.uids:08d}"

    def case(self) -> Case:
        r = self.rng
        roll = r.random()
        if roll < 0.45:
            kind, path, doc = "pod", "/mutate", self.pod_review()
        elif roll < 0.55:
            kind, path, doc = "hpa", "/validate", self.hpa_review()
        elif roll < 0.65:
            kind, path, doc = "vpa", "/validate", self.vpa_review()
        else:
            kind, path, doc = "mangled", r.choice(("/mutate", "/validate")), None
        if r.random() < 0.05:  # the other endpoint gets it too
            path = "/validate" if path == "/mutate" else "/mutate"
        body = self.encode(doc) if doc is not None else self.mangled()
        return Case(kind, path, body, r.choice(CONTENT_TYPES), r.random() < 0.3)

    # -- well-formed reviews ------------------------------------------------------------------

    def quantity(self) -> Any:
        r = self.rng
        return r.choice(VALID_QUANTITIES) if r.random() < 0.8 else r.choice(ODD_QUANTITIES)

    def resource_map(self) -> Any:
        r = self.rng
        if r.random() < 0.03:
            return r.choice((None, [], "1", 5))
        return {r.choice(RESOURCES): self.quantity() for _ in range(r.randint(0, 3))}

    def container(self, name: str) -> dict[str, Any]:
        r = self.rng
        container: dict[str, Any] = {"name": name, "image": "registry.example/app:1.0"}
        roll = r.random()
        if roll < 0.05:
            container["resources"] = None
        elif roll < 0.1:
            pass  # no resources at all
        else:
            resources: dict[str, Any] = {}
            if r.random() < 0.85:
                resources["requests"] = self.resource_map()
            if r.random() < 0.6:
                resources["limits"] = self.resource_map()
            container["resources"] = resources
        return container

    def owner_refs(self, namespace: str) -> list[dict[str, Any]] | None:
        r = self.rng
        roll = r.random()
        if roll < 0.75:
            rs = "web-7d9f8b6c5d" if namespace == "default" else "api-5f6d"
            return [_owner("ReplicaSet", rs)]
        if roll < 0.8:
            return None
        if roll < 0.85:
            return [_owner("Job", "nightly", "batch/v1")]
        if roll < 0.9:
            return [_owner("ReplicaSet", "unknown-rs"), _owner("StatefulSet", "db")]
        odd: tuple[Any, ...] = (
            {},
            {"kind": 5},
            {"kind": "ReplicaSet"},
            [],
            "x",
            {**_owner("ReplicaSet", "web-7d9f8b6c5d"), "controller": "yes"},
        )
        return [r.choice(odd)]

    def annotations(self) -> dict[str, Any] | None:
        r = self.rng
        if r.random() < 0.6:
            return None
        keys = (
            "tidal.dev/startup-boost",
            "vpaUpdates",
            "vpaObservedContainers",
            "kubernetes.io/config.mirror",
            "example.com/note",
            "ünïcode/key",
        )
        values = ("true", "false", "cpu=2x,5m", "", "app", "garbage", "ünïcode ✓")
        return {r.choice(keys): r.choice(values) for _ in range(r.randint(0, 3))}

    def pod_review(self) -> dict[str, Any]:
        r = self.rng
        namespace = r.choice(NAMESPACES)
        names = r.sample(("app", "proxy", "sidecar"), r.randint(1, 3))
        if r.random() < 0.1:
            names.append(r.choice(CONTAINER_NAMES))
        metadata: dict[str, Any] = {
            "generateName": "web-7d9f8b6c5d-",
            "namespace": namespace,
            "labels": {"app": "web", "pod-template-hash": "7d9f8b6c5d"},
        }
        owners = self.owner_refs(namespace)
        if owners is not None:
            metadata["ownerReferences"] = owners
        annotations = self.annotations()
        if annotations is not None:
            metadata["annotations"] = annotations
        spec: dict[str, Any] = {
            "containers": [self.container(n) for n in names],
            "restartPolicy": "Always",
        }
        if r.random() < 0.15:
            spec["initContainers"] = [self.container("init")]
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
        return self.review(pod, "Pod", ("", "v1", "pods"), namespace)

    def hpa_review(self) -> dict[str, Any]:
        r = self.rng
        namespace = r.choice(NAMESPACES)
        version = r.choice(("v2", "v1"))
        metric_name = r.choice(("cpu", "memory", "nvidia.com/gpu", 5, None))
        spec: dict[str, Any] = {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": r.choice(("Deployment", "StatefulSet", "", 3)),
                "name": r.choice(("web", "api", "x")),
            },
            "minReplicas": r.choice((1, 0, -1, 10**20, "2")),
            "maxReplicas": 10,
        }
        if version == "v2":
            spec["metrics"] = r.choice(
                (
                    [],
                    None,
                    "x",
                    [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": metric_name,
                                "target": {
                                    "type": "Utilization",
                                    "averageUtilization": r.choice((70, -5, "x")),
                                },
                            },
                        }
                    ],
                    [
                        {
                            "type": "ContainerResource",
                            "containerResource": {
                                "name": metric_name,
                                "container": r.choice(("app", None)),
                                "target": {"type": "AverageValue", "averageValue": self.quantity()},
                            },
                        }
                    ],
                    [{"type": "External", "external": {"metric": {"name": "tidal_forecast"}}}],
                )
            )
        else:
            spec["targetCPUUtilizationPercentage"] = r.choice((70, None, "x", -1))
        hpa = {
            "apiVersion": f"autoscaling/{version}",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": r.choice(("api", "web", "new")), "namespace": namespace},
            "spec": spec,
        }
        return self.review(
            hpa,
            "HorizontalPodAutoscaler",
            ("autoscaling", version, "horizontalpodautoscalers"),
            namespace,
        )

    def vpa_review(self) -> dict[str, Any]:
        r = self.rng
        namespace = r.choice(NAMESPACES)
        policy: dict[str, Any] = {"containerName": r.choice(("*", "app", "", 5))}
        for key in ("minAllowed", "maxAllowed"):
            if r.random() < 0.5:
                policy[key] = self.resource_map()
        if r.random() < 0.3:
            policy["controlledValues"] = r.choice(("RequestsOnly", "RequestsAndLimits", "x"))
        if r.random() < 0.2:
            policy["controlledResources"] = r.choice((["cpu"], ["memory", "cpu"], ["x"], "cpu"))
        if r.random() < 0.2:
            policy["mode"] = r.choice(("Auto", "Off", "x"))
        spec: dict[str, Any] = {
            "targetRef": r.choice(
                (
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": r.choice(("web", "api", "new")),
                    },
                    {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db"},
                    {"kind": "Deployment"},
                    None,
                    "web",
                    {"apiVersion": 5, "kind": [], "name": {}},
                )
            ),
            "updatePolicy": r.choice(
                (
                    {"updateMode": "Recreate"},
                    {"updateMode": "Off"},
                    {"updateMode": "x"},
                    None,
                    {"minReplicas": -1},
                )
            ),
            "resourcePolicy": {"containerPolicies": [policy]},
        }
        if r.random() < 0.1:
            spec["recommenders"] = r.choice(([{"name": "tidal"}], [{"name": 5}], "x"))
        vpa = {
            "apiVersion": "autoscaling.k8s.io/v1",
            "kind": "VerticalPodAutoscaler",
            "metadata": {
                "name": r.choice(("web-vpa", "new-vpa", "api-vpa")),
                "namespace": namespace,
            },
            "spec": spec,
        }
        return self.review(
            vpa,
            "VerticalPodAutoscaler",
            ("autoscaling.k8s.io", "v1", "verticalpodautoscalers"),
            namespace,
        )

    def review(
        self, obj: dict[str, Any], kind: str, gvr: tuple[str, str, str], namespace: str
    ) -> dict[str, Any]:
        r = self.rng
        group, version, plural = gvr
        operation = r.choices(("CREATE", "UPDATE", "DELETE", "CONNECT"), (85, 10, 4, 1))[0]
        request: dict[str, Any] = {
            "uid": self.uid(),
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": plural},
            "namespace": namespace,
            "operation": operation,
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": obj,
            "oldObject": copy.deepcopy(obj) if operation == "UPDATE" else None,
            "dryRun": r.random() < 0.1,
        }
        if r.random() < 0.03:
            request["subResource"] = r.choice(("status", "resize"))
        return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "request": request}

    # -- mangled bodies -----------------------------------------------------------------------

    def encode(self, doc: Any) -> bytes:
        """JSON text, from orjson or json (either escaping non-ASCII or not)."""
        if self.rng.random() < 0.5:
            try:
                return orjson.dumps(doc)
            except TypeError:  # an integer beyond 64 bits
                pass
        return json.dumps(doc, ensure_ascii=self.rng.random() < 0.5).encode()

    def odd_value(self, depth: int = 0) -> Any:
        r = self.rng
        roll = r.random()
        if roll < 0.15 and depth < 3:
            return {
                r.choice(WEIRD_STRINGS): self.odd_value(depth + 1) for _ in range(r.randint(0, 3))
            }
        if roll < 0.25 and depth < 3:
            return [self.odd_value(depth + 1) for _ in range(r.randint(0, 3))]
        return r.choice(
            (
                None,
                True,
                False,
                0,
                -1,
                2**63,
                -(2**63) - 1,
                1e308,
                -1e-308,
                3.5,
                *WEIRD_STRINGS,
                *ODD_QUANTITIES[:12],
            )
        )

    def _nodes(self, doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Every path into ``doc``, for picking one to mangle."""
        found = [path]
        if isinstance(doc, dict):
            for key, value in doc.items():
                found += self._nodes(value, (*path, key))
        elif isinstance(doc, list):
            for index, value in enumerate(doc):
                found += self._nodes(value, (*path, index))
        return found

    def mangled(self) -> bytes:
        r = self.rng
        doc = r.choice((self.pod_review, self.hpa_review, self.vpa_review))()
        how = r.choices(
            (
                "replace",
                "delete",
                "deep",
                "duplicate",
                "truncate",
                "bytes",
                "huge",
                "top",
                "escape",
            ),
            (30, 15, 15, 8, 12, 5, 8, 4, 10),
        )[0]
        if how in ("replace", "delete", "deep", "huge", "escape"):
            paths = [p for p in self._nodes(doc) if p]
            target = r.choice(paths)
            depth = r.choice((50, 500, 1000, 1023, 1100, 5000))  # orjson stops at 1,024
            if how == "deep" and r.random() < 0.5:  # the fields the fail-open line names
                field_name = r.choice(("name", "generateName", "namespace"))
                target = ("request", "object", "metadata", field_name)
                doc["request"]["object"]["metadata"].setdefault(field_name, "x")
                depth = r.choice((990, 1000, 1015))  # 4 levels in: still parses
            parent = doc
            for key in target[:-1]:
                parent = parent[key]
            if how == "delete":
                del parent[target[-1]]
                return self.encode(doc)
            parent[target[-1]] = "@@MANGLED@@"
            text = self.encode(doc)
            if how == "replace":
                value = self.encode(self.odd_value())
            elif how == "deep":
                opener, closer = r.choice(((b'{"a":', b"}"), (b"[", b"]")))
                value = opener * depth + b"1" + closer * depth
            elif how == "huge":
                value = r.choice(
                    (
                        b"1" * 400,
                        b"1e400",
                        b"-1e400",
                        b"9" * 5000,
                        b"1E999999",
                        b"0." + b"0" * 400 + b"1",
                        b"18446744073709551616",
                    )
                )
            else:  # JSON escapes: lone surrogates, NUL, and a few valid ones
                value = r.choice(
                    (
                        b'"\\ud800"',
                        b'"\\udfff x"',
                        b'"\\u0000"',
                        b'"\\ud83d\\ude00"',
                        b'"\\u00e9\\n\\t"',
                        b'"\\x41"',
                        b'"\\',
                    )
                )
            return text.replace(b'"@@MANGLED@@"', value, 1)
        if how == "duplicate":
            text = self.encode(doc)
            key = r.choice(
                (
                    b'"uid":',
                    b'"request":',
                    b'"object":',
                    b'"kind":',
                    b'"resources":',
                    b'"containers":',
                    b'"namespace":',
                )
            )
            dup = r.choice((b'"other",', b"null,", b"{},", b"5,", b'"fuzz-dup",'))
            return text.replace(key, key + dup + key, r.randint(1, 2))
        if how == "truncate":
            text = self.encode(doc)
            return text[: r.randint(0, len(text) - 1)]
        if how == "bytes":
            return r.randbytes(r.randint(0, 400))
        value = self.odd_value()
        return self.encode(value) if r.random() < 0.8 else b"\xef\xbb\xbf" + self.encode(doc)


# -- judging answers ---------------------------------------------------------------------------


def _uid_sent(body: bytes) -> str | None:
    """The request uid as the server's parser (orjson, last duplicate wins) reads it."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    request = doc.get("request") if isinstance(doc, dict) else None
    uid = request.get("uid") if isinstance(request, dict) else None
    return uid if isinstance(uid, str) else None


def _number(value: Any) -> float | None:
    """A finite, non-negative quantity, or None."""
    try:
        number = parse_quantity(value)
    except (QuantityError, TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _wrote(new: Any, old: Any) -> bool:
    """Whether the patch wrote ``new`` over ``old``: it writes strings only (and comparing a
    1,000-deep value the pod had would recurse)."""
    return isinstance(new, str) and not (isinstance(old, str) and old == new)


def _patched_values(before: dict[str, Any], after: dict[str, Any], namespace: str) -> list[str]:
    """Problems in what the patch wrote into containers' resources: a quantity that does not
    parse, is negative or infinite; a limit it wrote below the request; a request it wrote
    above the limit the pod keeps (unless that limit is under the namespace's LimitRange
    minimum: LimitRanger refuses such a pod with or without the webhook)."""
    problems: list[str] = []
    old_containers = _map(before.get("spec")).get("containers") or []
    for index, container in enumerate(_map(after.get("spec")).get("containers") or []):
        old = old_containers[index] if index < len(old_containers) else {}
        res, old_res = _map(_map(container).get("resources")), _map(_map(old).get("resources"))
        requests, limits = _map(res.get("requests")), _map(res.get("limits"))
        old_requests, old_limits = _map(old_res.get("requests")), _map(old_res.get("limits"))
        for resource in {*requests, *limits}:
            wrote_request = _wrote(requests.get(resource), old_requests.get(resource))
            wrote_limit = _wrote(limits.get(resource), old_limits.get(resource))
            for wrote, values, name in (
                (wrote_request, requests, "requests"),
                (wrote_limit, limits, "limits"),
            ):
                if wrote and resource in values and _number(values[resource]) is None:
                    problems.append(f"container {index} {name}.{resource}={values[resource]!r}")
            request, limit = _number(requests.get(resource)), _number(limits.get(resource))
            if request is None or limit is None or limit >= request:
                continue
            floor = LIMIT_RANGE_MIN.get(namespace, {}).get(resource)
            below_min = floor is not None and limit < parse_quantity(floor)
            if wrote_limit or (wrote_request and not below_min):
                problems.append(f"container {index} {resource} limit {limit} < {request}")
    return problems


def check(case: Case, status: int, body: bytes) -> tuple[str, str]:
    """The outcome (``valid``, ``patched``, ``error answer``) or ``failure``, and why."""
    if status >= 500:
        return "failure", f"HTTP {status}"
    if status != 200:
        try:
            ok = isinstance(orjson.loads(body).get("error"), str)
        except (orjson.JSONDecodeError, AttributeError):
            ok = False
        return ("error answer", "") if ok else ("failure", f"HTTP {status} without a JSON error")
    uid = _uid_sent(case.body)
    if uid is None:
        return "failure", "200 for a body without a request uid"
    try:
        answer = orjson.loads(body)
        response = answer["response"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return "failure", "200 that is not an AdmissionReview"
    if answer.get("apiVersion") != API_VERSION or answer.get("kind") != "AdmissionReview":
        return "failure", "200 without apiVersion/kind"
    if not isinstance(response, dict) or response.get("uid") != uid:
        return "failure", f"response uid {response.get('uid')!r} is not {uid!r}"
    if not isinstance(response.get("allowed"), bool):
        return "failure", "allowed is not a bool"
    warnings = response.get("warnings", [])
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        return "failure", "warnings are not strings"
    if "patch" not in response:
        return "valid", ""
    if case.path != "/mutate" or response.get("patchType") != "JSONPatch":
        return "failure", f"patch from {case.path} with patchType {response.get('patchType')}"
    try:
        patch = json.loads(base64.b64decode(response["patch"], validate=True))
        request = orjson.loads(case.body)["request"]
        # Applied in place to a second parse: a copy of a 1,000-deep object would recurse.
        patched = jsonpatch.apply_patch(
            orjson.loads(case.body)["request"]["object"], patch, in_place=True
        )
    except Exception as exc:  # any reason the patch does not apply
        return "failure", f"patch does not apply: {type(exc).__name__}: {exc}"[:300]
    if not isinstance(patched, dict):
        return "failure", "the patched object is not an object"
    namespace = request.get("namespace") if isinstance(request.get("namespace"), str) else ""
    problems = _patched_values(request["object"], patched, namespace)
    if problems:
        return "failure", "patched pod: " + "; ".join(problems[:3])
    return "patched", ""


# -- sending -----------------------------------------------------------------------------------


def request_bytes(case: Case, rng: random.Random) -> bytes:
    head = [f"POST {case.path}?timeout=10s HTTP/1.1", "Host: tidal-webhook"]
    if case.content_type:
        head.append(f"Content-Type: {case.content_type}")
    if not case.chunked:
        head.append(f"Content-Length: {len(case.body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + case.body
    head.append("Transfer-Encoding: chunked")
    out = [("\r\n".join(head) + "\r\n\r\n").encode()]
    start = 0
    while start < len(case.body):
        size = rng.choice((1, 7, 100, 1000, 65536))
        chunk = case.body[start : start + size]
        out.append(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        start += size
    out.append(b"0\r\n\r\n")
    return b"".join(out)


class Connection:
    """One kept-alive TLS connection speaking just enough HTTP/1.1."""

    def __init__(self, port: int, context: ssl.SSLContext, timeout: float) -> None:
        self.port, self.context, self.timeout = port, context, timeout
        self.sock: ssl.SSLSocket | None = None
        self.buffer = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buffer = None, b""

    def exchange(self, data: bytes) -> tuple[int, bytes, bool]:
        """Send one request; the status, body and whether the server closes after it."""
        if self.sock is None:
            raw = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
            self.sock = self.context.wrap_socket(raw, server_hostname="127.0.0.1")
        self.sock.sendall(data)
        while b"\r\n\r\n" not in self.buffer:
            self._recv()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._recv()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, body, headers.get("connection", "").lower() == "close"

    def _recv(self) -> None:
        assert self.sock is not None
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed by the server mid-response")
        self.buffer += data


@dataclass
class Tally:
    """What was sent and how it was answered."""

    sent: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    by_outcome: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    hangs: int = 0
    failures: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, why: str, case: Case) -> None:
        self.failures += 1
        seen = self.examples.setdefault(why.split(":")[0][:80], [])
        if len(seen) < EXAMPLES_PER_KIND:
            seen.append(
                f"{why} | {case.kind} {case.path} chunked={case.chunked} "
                f"content-type={case.content_type} body={case.body[:300]!r}"
            )


def run(
    port: int,
    cafile: str,
    count: int,
    seed: int = 1,
    connections: int = 4,
    timeout: float = 10.0,
    max_seconds: float = 600.0,
    progress: Callable[[Tally], None] | None = None,
) -> Tally:
    """Send ``count`` generated bodies (or as many as fit in ``max_seconds``) and judge them.

    Bodies come from one generator in order (the seed fixes them); ``connections`` threads
    send them, each on its own kept-alive connection (reopened after a close or a failure).
    """
    context = ssl.create_default_context(cafile=cafile)
    generator = Generator(seed)
    framing = random.Random(seed + 1)
    tally = Tally()
    take = threading.Lock()
    started = time.monotonic()
    deadline = started + max_seconds

    def next_case() -> tuple[Case, bytes] | None:
        with take:
            if tally.sent >= count or time.monotonic() > deadline:
                return None
            tally.sent += 1
            case = generator.case()
            if progress is not None and tally.sent % 10000 == 0:
                progress(tally)
            return case, request_bytes(case, framing)

    def worker() -> None:
        conn = Connection(port, context, timeout)
        while (item := next_case()) is not None:
            case, data = item
            try:
                status, body, closes = conn.exchange(data)
            except TimeoutError:
                conn.close()
                with tally.lock:
                    tally.hangs += 1
                    tally.by_kind[case.kind] += 1
                    tally.fail("hang: no answer within the timeout", case)
                continue
            except (OSError, ValueError, IndexError) as exc:
                conn.close()
                with tally.lock:
                    tally.by_kind[case.kind] += 1
                    tally.fail(f"connection: {type(exc).__name__}: {exc}", case)
                continue
            if closes:
                conn.close()
            try:
                outcome, why = check(case, status, body)
            except Exception as exc:  # the checker's own bug: reported, the thread goes on
                outcome, why = "failure", f"checker: {type(exc).__name__}: {exc}"
            with tally.lock:
                tally.by_kind[case.kind] += 1
                tally.by_status[status] += 1
                tally.by_outcome[outcome] += 1
                if outcome == "failure":
                    tally.fail(why, case)
        conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max_seconds + timeout + 30)
    tally.seconds = time.monotonic() - started
    return tally


def summary(tally: Tally) -> str:
    """The counts, for a test's failure message or the benchmark's output."""
    rate = tally.sent / tally.seconds if tally.seconds else 0.0
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(tally.by_status.items()))
    outcomes = ", ".join(f"{k}: {n}" for k, n in sorted(tally.by_outcome.items()))
    kinds = ", ".join(f"{k}: {n}" for k, n in sorted(tally.by_kind.items()))
    valid_200 = tally.by_outcome["valid"] + tally.by_outcome["patched"]
    lines = [
        f"sent {tally.sent} bodies in {tally.seconds:.1f} s ({rate:.0f}/s)",
        f"by generator: {kinds}",
        f"by status: {statuses}",
        f"by outcome: {outcomes}",
        f"200 valid AdmissionReviews: {valid_200} of {tally.by_status[200]}; "
        f"patches applied: {tally.by_outcome['patched']}",
        f"5xx: {sum(n for code, n in tally.by_status.items() if code >= 500)}; "
        f"hangs: {tally.hangs}; failures: {tally.failures}",
    ]
    for why, examples in sorted(tally.examples.items()):
        lines.append(f"  failure {why}:")
        lines += [f"    {example}" for example in examples]
    return "\n".join(lines)

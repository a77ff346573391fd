"""Least-privilege RBAC: no wildcards, exactly the access each component needs."""

from __future__ import annotations

import itertools

import pytest

from tests.manifests.conftest import NAMESPACE, find, of_kind, render

READ = ("get", "list", "watch")
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


def _rules(objs: tuple[dict, ...], account: str) -> list[tuple[str | None, dict]]:
    """(namespace or None for cluster-wide, rule) for every rule bound to the ServiceAccount."""
    granted = []
    for binding in [*of_kind(objs, "RoleBinding"), *of_kind(objs, "ClusterRoleBinding")]:
        if not any(s["name"] == account for s in binding["subjects"]):
            continue
        role = find(objs, binding["roleRef"]["kind"], binding["roleRef"]["name"])
        scope = binding["metadata"].get("namespace")
        granted += [(scope, rule) for rule in role["rules"]]
    return granted


def _allows(
    rules: list[tuple[str | None, dict]],
    group: str,
    resource: str,
    verb: str,
    *,
    namespace: str | None = None,
    name: str | None = None,
) -> bool:
    for scope, rule in rules:
        if scope is not None and scope != namespace:
            continue
        subresource = resource.partition("/")[2]
        if not ({group, "*"} & set(rule["apiGroups"])) or not (
                {resource, "*", *([f"*/{subresource}"] if subresource else [])}
                & set(rule["resources"])):
            continue
        if verb not in rule["verbs"]:
            continue
        names = rule.get("resourceNames")
        if names and name not in names:
            continue
        return True
    return False


# The one wildcard: the recommender reads any kind's /scale (as upstream's target reader) to
# tell whether a VPA's custom target (a LeaderWorkerSet, a Rollout, ...) exists.
SCALE_READER = {"apiGroups": ["*"], "resources": ["*/scale"], "verbs": ["get"]}


def test_no_wildcards_anywhere(variant: str) -> None:
    roles = of_kind(render(variant), "Role", "ClusterRole")
    assert len(roles) >= 3
    for role in roles:
        for rule in role["rules"]:
            if rule == SCALE_READER and role["metadata"]["name"] == "tidal-recommender":
                continue
            for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
                for value in rule.get(field, []):
                    assert "*" not in value, f"{role['metadata']['name']}: {field} {value}"


RECOMMENDER_NEEDS = [
    *[("", r, v) for r in ("pods", "nodes", "namespaces", "limitranges") for v in READ],
    *[("", "replicationcontrollers", v) for v in READ],
    *[
        ("apps", r, v)
        for r in ("replicasets", "deployments", "statefulsets", "daemonsets")
        for v in READ
    ],
    *[("batch", r, v) for r in ("jobs", "cronjobs") for v in READ],
    *[("autoscaling", "horizontalpodautoscalers", v) for v in READ],
    *[
        ("autoscaling.k8s.io", "verticalpodautoscalers", v)
        for v in (*READ, "create", "update", "patch")
    ],
    *[("autoscaling.k8s.io", "verticalpodautoscalers/status", v) for v in ("update", "patch")],
    *[
        ("autoscaling.k8s.io", "verticalpodautoscalercheckpoints", v)
        for v in (*READ, "create", "update", "patch", "delete")
    ],
    ("metrics.k8s.io", "pods", "get"),
    ("metrics.k8s.io", "nodes", "get"),
    ("", "events", "create"),
    ("leaderworkerset.x-k8s.io", "leaderworkersets/scale", "get"),
    ("argoproj.io", "rollouts/scale", "get"),
]


@pytest.mark.parametrize(("group", "resource", "verb"), RECOMMENDER_NEEDS)
def test_recommender_has_what_it_needs(group: str, resource: str, verb: str) -> None:
    rules = _rules(render("base"), "tidal-recommender")
    assert _allows(rules, group, resource, verb, namespace="any")


def test_recommender_leader_election_lease_is_namespaced() -> None:
    rules = _rules(render("base"), "tidal-recommender")
    for verb in (*READ, "create", "update", "patch", "delete"):
        assert _allows(rules, "coordination.k8s.io", "leases", verb, namespace=NAMESPACE)
        assert not _allows(rules, "coordination.k8s.io", "leases", verb, namespace="default")


WEBHOOK_READS = [
    ("autoscaling.k8s.io", "verticalpodautoscalers"),
    ("autoscaling", "horizontalpodautoscalers"),
    ("", "pods"),
    ("", "limitranges"),
    ("", "replicationcontrollers"),
    *[("apps", r) for r in ("replicasets", "deployments", "statefulsets", "daemonsets")],
    ("batch", "jobs"),
    ("batch", "cronjobs"),
]


def test_webhook_reads_what_it_needs_and_writes_nothing() -> None:
    rules = _rules(render("base"), "tidal-webhook")
    for (group, resource), verb in itertools.product(WEBHOOK_READS, READ):
        assert _allows(rules, group, resource, verb, namespace="any"), (group, resource, verb)
    for scale in ("deployments/scale", "replicasets/scale", "statefulsets/scale"):
        assert _allows(rules, "apps", scale, "get", namespace="any")
    assert _allows(rules, "", "replicationcontrollers/scale", "get", namespace="any")
    for _, rule in rules:
        assert not WRITE_VERBS & set(rule["verbs"]), rule


UPDATER_GRANTS = {
    *[("", r, v) for r in ("pods", "limitranges") for v in READ],
    ("", "pods/resize", "patch"),
    ("", "pods/eviction", "create"),
    *[("apps", r, v) for r in ("replicasets", "statefulsets", "deployments", "daemonsets")
      for v in READ],
    *[("batch", "jobs", v) for v in READ],
    *[("autoscaling.k8s.io", "verticalpodautoscalers", v) for v in READ],
    ("metrics.k8s.io", "pods", "get"),
    ("metrics.k8s.io", "pods", "list"),
    ("", "events", "create"),
}


def test_updater_has_exactly_what_it_needs() -> None:
    """Resize and evict, read what it decides from, Events; never patch or delete a pod."""
    rules = _rules(render("base"), "tidal-updater")
    granted = {
        (group, resource, verb)
        for scope, rule in rules
        if scope is None
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted == UPDATER_GRANTS
    assert not _allows(rules, "", "pods", "patch", namespace="any")
    assert not _allows(rules, "", "pods", "delete", namespace="any")
    for verb in ("get", "create", "update"):
        assert _allows(rules, "coordination.k8s.io", "leases", verb, namespace=NAMESPACE)
        assert not _allows(rules, "coordination.k8s.io", "leases", verb, namespace="default")


@pytest.mark.parametrize("account", ["tidal-webhook", "tidal-recommender", "tidal-updater"])
def test_long_running_components_cannot_read_secrets(account: str) -> None:
    rules = _rules(render("base"), account)
    for verb in READ:
        assert not _allows(rules, "", "secrets", verb, namespace=NAMESPACE)


def test_cert_job_touches_only_tidal_secrets_and_webhook_configurations() -> None:
    rules = _rules(render("base"), "tidal-certs")
    for name in ("tidal-webhook-tls", "tidal-webhook-ca"):
        for verb in ("get", "update", "patch", "delete"):
            assert _allows(rules, "", "secrets", verb, namespace=NAMESPACE, name=name)
    assert _allows(rules, "", "secrets", "create", namespace=NAMESPACE)
    assert not _allows(rules, "", "secrets", "get", namespace=NAMESPACE, name="other")
    assert not _allows(rules, "", "secrets", "list", namespace=NAMESPACE)
    assert not _allows(rules, "", "secrets", "create", namespace="kube-system")
    group = "admissionregistration.k8s.io"
    for resource in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"):
        for verb in ("get", "patch"):
            assert _allows(rules, group, resource, verb, name="tidal-webhook")
        assert not _allows(rules, group, resource, "patch", name="someone-elses")
        assert not _allows(rules, group, resource, "list", name="tidal-webhook")


def test_cert_manager_overlay_drops_the_cert_job_and_its_permissions() -> None:
    objs = render("cert-manager")
    assert not of_kind(objs, "Job", "CronJob")
    assert _rules(objs, "tidal-certs") == []
    assert "tidal-certs" not in {o["metadata"]["name"] for o in of_kind(objs, "ServiceAccount")}

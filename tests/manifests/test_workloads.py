"""Safety settings of the Deployments, the cert Job/CronJob, the Service and the PDB."""

from __future__ import annotations

import shlex

import pytest

from certs.cli import build_parser
from tests.manifests.conftest import NAMESPACE, find, of_kind, pod_specs, render
from updater.cli import build_parser as updater_parser
from updater.cli import settings_from

IMAGE = "ghcr.io/tidal-dev/tidal:0.1.0"
WEBHOOK_LABELS = {"app.kubernetes.io/name": "tidal", "app.kubernetes.io/component": "webhook"}


def _container(pod: dict, name: str) -> dict:
    return next(c for c in pod["containers"] if c["name"] == name)


def _command(container: dict) -> str:
    return shlex.join([*container.get("command", []), *container.get("args", [])])


def _selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


def test_every_namespaced_object_lives_in_tidal_system(variant: str) -> None:
    cluster_scoped = {
        "Namespace",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "APIService",
    }
    # The one exception: reading the request-header CA that kube-system publishes.
    in_kube_system = {("RoleBinding", "tidal-recommender-auth-reader")}
    objs = render(variant)
    find(objs, "Namespace", NAMESPACE)
    for obj in objs:
        namespace = obj["metadata"].get("namespace")
        key = (obj["kind"], obj["metadata"]["name"])
        expected = ("kube-system" if key in in_kube_system
                    else None if obj["kind"] in cluster_scoped else NAMESPACE)
        assert namespace == expected, key


def test_webhook_deployment_is_highly_available() -> None:
    objs = render("base")
    deployment = find(objs, "Deployment", "tidal-webhook")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    labels = spec["template"]["metadata"]["labels"]
    assert labels | WEBHOOK_LABELS == labels

    pdb = find(objs, "PodDisruptionBudget", "tidal-webhook")
    assert _selects(pdb["spec"]["selector"], labels)
    assert pdb["spec"]["maxUnavailable"] == 1  # two of three stay during a drain

    spread = {c["topologyKey"]: c for c in pod["topologySpreadConstraints"]}
    assert spread["kubernetes.io/hostname"]["maxSkew"] == 1
    assert spread["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
    assert "topology.kubernetes.io/zone" in spread
    for constraint in spread.values():
        assert _selects(constraint["labelSelector"], labels)
    anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert anti[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert _selects(anti[0]["podAffinityTerm"]["labelSelector"], labels)


def test_webhook_container_serves_tls_on_8443_with_probes() -> None:
    deployment = find(render("base"), "Deployment", "tidal-webhook")
    pod = deployment["spec"]["template"]["spec"]
    container = _container(pod, "webhook")
    assert pod["serviceAccountName"] == "tidal-webhook"
    assert _command(container) == (
        "tidal-webhook serve --cert /tls/tls.crt --key /tls/tls.key --port 8443"
    )
    assert container["ports"] == [{"name": "https", "containerPort": 8443, "protocol": "TCP"}]
    probes = {kind: container[kind]["httpGet"] for kind in ("readinessProbe", "livenessProbe")}
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/healthz"
    for probe in [*probes.values(), container["startupProbe"]["httpGet"]]:
        assert (probe["port"], probe["scheme"]) == ("https", "HTTPS")
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tls")
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert mount["readOnly"] is True
    assert volume["secret"]["secretName"] == "tidal-webhook-tls"
    assert volume["secret"]["defaultMode"] & 0o007 == 0  # key not world-readable


def test_webhook_service_maps_443_to_the_container_port() -> None:
    objs = render("base")
    service = find(objs, "Service", "tidal-webhook")
    pod_template = find(objs, "Deployment", "tidal-webhook")["spec"]["template"]
    selector = {"matchLabels": service["spec"]["selector"]}
    assert _selects(selector, pod_template["metadata"]["labels"])
    [port] = service["spec"]["ports"]
    assert port["port"] == 443
    ports = {p["name"]: p["containerPort"] for p in pod_template["spec"]["containers"][0]["ports"]}
    assert ports[port["targetPort"]] == 8443


def test_recommender_runs_named_tidal_with_metrics_and_leader_identity() -> None:
    objs = render("base")
    deployment = find(objs, "Deployment", "tidal-recommender")
    pod = deployment["spec"]["template"]["spec"]
    container = _container(pod, "recommender")
    assert pod["serviceAccountName"] == "tidal-recommender"
    assert _command(container) == "tidal-recommender run --name tidal --serve-unnamed=auto"
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http-metrics": 8080}
    for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[kind]["httpGet"] == {"path": "/healthz", "port": "http-metrics"}
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
    assert env == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
    service = find(objs, "Service", "tidal-recommender")
    assert service["spec"]["ports"][0]["targetPort"] == "http-metrics"


def test_updater_runs_with_metrics_leader_identity_and_flags_its_cli_accepts() -> None:
    deployment = find(render("base"), "Deployment", "tidal-updater")
    pod = deployment["spec"]["template"]["spec"]
    container = _container(pod, "updater")
    assert pod["serviceAccountName"] == "tidal-updater"
    command = container["command"] + container.get("args", [])
    assert command[0] == "tidal-updater"
    settings = settings_from(updater_parser().parse_args(command[1:]))
    assert settings.rate_limit == 1.0 and settings.leader_election
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "http-metrics": settings.port
    }
    for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[kind]["httpGet"] == {"path": "/healthz", "port": "http-metrics"}
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
    assert env == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}


def test_every_pod_is_locked_down(variant: str) -> None:
    specs = pod_specs(render(variant))
    assert len(specs) >= 2
    for name, pod in specs:
        pod_security = pod["securityContext"]
        assert pod_security["runAsNonRoot"] is True, name
        assert pod_security["runAsUser"] > 0, name
        assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert not pod.get("hostNetwork") and not pod.get("hostPID"), name
        for container in pod["containers"] + pod.get("initContainers", []):
            security = container["securityContext"]
            where = f"{name}/{container['name']}"
            assert security["runAsNonRoot"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security.get("privileged", False) is False, where
            assert security["capabilities"] == {"drop": ["ALL"]}, where
            assert security["seccompProfile"] == {"type": "RuntimeDefault"}, where


def test_every_container_has_requests_and_limits_and_the_release_image(variant: str) -> None:
    for name, pod in pod_specs(render(variant)):
        for container in pod["containers"]:
            where = f"{name}/{container['name']}"
            resources = container["resources"]
            assert set(resources["requests"]) == {"cpu", "memory"}, where
            assert set(resources["limits"]) == {"cpu", "memory"}, where
            assert container["image"] == IMAGE, where
            assert container["imagePullPolicy"] == "IfNotPresent", where


def test_writable_paths_are_only_size_limited_empty_dirs(variant: str) -> None:
    for name, pod in pod_specs(render(variant)):
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod["containers"]:
            for mount in container.get("volumeMounts", []):
                volume = volumes[mount["name"]]
                if "emptyDir" in volume:
                    assert volume["emptyDir"]["sizeLimit"], f"{name}: {mount['name']}"
                else:
                    assert mount.get("readOnly") is True, f"{name}: {mount['name']}"


@pytest.mark.parametrize(
    ("kind", "name"), [("Job", "tidal-certs"), ("CronJob", "tidal-certs-rotate")]
)
def test_cert_jobs_run_commands_the_cli_accepts(kind: str, name: str) -> None:
    obj = find(render("base"), kind, name)
    pod = dict(pod_specs((obj,)))[f"{kind}/{name}"]
    container = _container(pod, "certs")
    assert pod["serviceAccountName"] == "tidal-certs"
    assert container["command"] == ["tidal-certs"]
    args = [a.replace("$(POD_NAMESPACE)", NAMESPACE) for a in container["args"]]
    parsed = build_parser().parse_args(args)
    assert parsed.namespace == NAMESPACE
    assert (parsed.secret, parsed.webhook_config) == ("tidal-webhook-tls", "tidal-webhook")
    assert parsed.command in {"install", "rotate"}
    if parsed.command == "rotate":
        assert parsed.in_cluster and not parsed.force
    else:
        assert parsed.dir is None  # in-cluster mode: the CA is kept in the cluster
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
    assert env["POD_NAMESPACE"] == "metadata.namespace"


BUILT_IN_ROLES = {"system:auth-delegator", "extension-apiserver-authentication-reader"}


def test_every_service_account_used_exists_and_bindings_point_at_them(variant: str) -> None:
    objs = render(variant)
    accounts = {o["metadata"]["name"] for o in of_kind(objs, "ServiceAccount")}
    used = {pod.get("serviceAccountName") for _, pod in pod_specs(objs)}
    assert used <= accounts
    for binding in of_kind(objs, "RoleBinding", "ClusterRoleBinding"):
        for subject in binding["subjects"]:
            assert subject == {
                "kind": "ServiceAccount",
                "name": subject["name"],
                "namespace": NAMESPACE,
            }
            assert subject["name"] in accounts
        role_kind, role = binding["roleRef"]["kind"], binding["roleRef"]["name"]
        if role in BUILT_IN_ROLES:  # the API server's bootstrap roles
            continue
        find(objs, role_kind, role)

"""The external-metrics overlay: the recommender serves tidal_forecast behind the aggregator."""

from __future__ import annotations

import pytest

from tests.manifests.conftest import NAMESPACE, find, render

APISERVICE = "v1beta1.external.metrics.k8s.io"


def _recommender(objs: tuple[dict, ...]) -> dict:
    deployment = find(objs, "Deployment", "tidal-recommender")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {"container": container, "spec": deployment["spec"]["template"]["spec"]}


@pytest.mark.parametrize("variant", ["external-metrics", "cert-manager-external-metrics"])
def test_apiservice_routes_to_the_recommenders_tls_port(variant: str) -> None:
    objs = render(variant)
    apiservice = find(objs, "APIService", APISERVICE)["spec"]
    assert (apiservice["group"], apiservice["version"]) == ("external.metrics.k8s.io", "v1beta1")
    assert apiservice.get("insecureSkipTLSVerify") is not True
    service = find(objs, "Service", apiservice["service"]["name"])
    assert service["metadata"]["namespace"] == apiservice["service"]["namespace"] == NAMESPACE
    (port,) = [p for p in service["spec"]["ports"] if p["port"] == apiservice["service"]["port"]]
    recommender = _recommender(objs)
    named = {p["name"]: p["containerPort"] for p in recommender["container"]["ports"]}
    assert service["spec"]["selector"] == find(objs, "Deployment", "tidal-recommender")[
        "spec"]["selector"]["matchLabels"]
    args = recommender["container"]["args"]
    assert f"--metrics-api-port={named[port['targetPort']]}" in args


def test_the_serving_certificate_is_mounted_and_issued_for_the_service() -> None:
    objs = render("external-metrics")
    recommender = _recommender(objs)
    mounts = {m["name"]: m["mountPath"] for m in recommender["container"]["volumeMounts"]}
    secrets = {v["name"]: v["secret"]["secretName"] for v in recommender["spec"]["volumes"]
               if "secret" in v}
    assert secrets["metrics-api-tls"] == "tidal-metrics-api-tls"
    assert f"--metrics-api-cert={mounts['metrics-api-tls']}/tls.crt" in recommender[
        "container"]["args"]
    for kind, name, path in (("Job", "tidal-certs", ("spec", "template", "spec")),
                             ("CronJob", "tidal-certs-rotate",
                              ("spec", "jobTemplate", "spec", "template", "spec"))):
        spec = find(objs, kind, name)
        for key in path:
            spec = spec[key]
        (certs,) = [c for c in spec["containers"] if c["name"] == "certs-metrics-api"]
        args = certs["args"]
        for flag, value in (("--service", "tidal-metrics-api"),
                            ("--secret", "tidal-metrics-api-tls"),
                            ("--apiservice", APISERVICE), ("--webhook-config", "")):
            assert args[args.index(flag) + 1] == value, (kind, flag)


def test_with_cert_manager_the_ca_is_injected_from_the_metrics_api_certificate() -> None:
    objs = render("cert-manager-external-metrics")
    apiservice = find(objs, "APIService", APISERVICE)
    namespace, name = apiservice["metadata"]["annotations"][
        "cert-manager.io/inject-ca-from"].split("/")
    certificate = find(objs, "Certificate", name)
    assert namespace == certificate["metadata"]["namespace"] == NAMESPACE
    assert certificate["spec"]["secretName"] == "tidal-metrics-api-tls"
    assert "tidal-metrics-api.tidal-system.svc" in certificate["spec"]["dnsNames"]
    assert not [o for o in objs if o["kind"] in ("Job", "CronJob")]
    recommender = _recommender(objs)
    assert {"name": "metrics-api-tls", "secret": {"secretName": "tidal-metrics-api-tls"}} in \
        recommender["spec"]["volumes"]


def test_delegated_auth_and_certificate_permissions() -> None:
    objs = render("external-metrics")
    delegator = find(objs, "ClusterRoleBinding", "tidal-recommender-auth-delegator")
    assert delegator["roleRef"]["name"] == "system:auth-delegator"
    reader = find(objs, "RoleBinding", "tidal-recommender-auth-reader")
    assert reader["metadata"]["namespace"] == "kube-system"
    assert reader["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                 "name": "extension-apiserver-authentication-reader"}
    rules = find(objs, "ClusterRole", "tidal-certs-apiservice")["rules"]
    assert rules == [{"apiGroups": ["apiregistration.k8s.io"], "resources": ["apiservices"],
                      "resourceNames": [APISERVICE], "verbs": ["get", "patch"]}]


def test_the_default_install_registers_no_apiservice() -> None:
    # One provider owns external.metrics.k8s.io; KEDA users keep theirs.
    for variant in ("base", "no-crds", "cert-manager"):
        assert not [o for o in render(variant) if o["kind"] == "APIService"]

"""The admission webhook configurations: what is sent to Tidal, and what happens on failure."""

from __future__ import annotations

import pytest

from tests.manifests.conftest import NAMESPACE, find, render

MUTATING = "MutatingWebhookConfiguration"
VALIDATING = "ValidatingWebhookConfiguration"


def _webhook(variant: str, kind: str) -> dict:
    [hook] = find(render(variant), kind, "tidal-webhook")["webhooks"]
    return hook


def _matches(selector: dict, labels: dict[str, str]) -> bool:
    """Evaluate a LabelSelector the way the apiserver does (matchLabels and expressions)."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not ok:
            return False
    return True


def _namespace_labels(name: str, **extra: str) -> dict[str, str]:
    return {"kubernetes.io/metadata.name": name, **extra}


def test_mutating_webhook_for_pod_creation_fails_open(variant: str) -> None:
    hook = _webhook(variant, MUTATING)
    assert hook["name"] == "pods.tidal.dev"
    assert hook["rules"] == [
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["CREATE"],
            "resources": ["pods"],
            "scope": "Namespaced",
        }
    ]
    assert hook["failurePolicy"] == "Ignore"
    assert hook["reinvocationPolicy"] == "IfNeeded"
    assert hook["clientConfig"]["service"]["path"] == "/mutate"


def test_validating_webhook_for_autoscalers_fails_closed(variant: str) -> None:
    hook = _webhook(variant, VALIDATING)
    assert hook["name"] == "autoscalers.tidal.dev"
    covered = {
        (group, version, resource)
        for rule in hook["rules"]
        for group in rule["apiGroups"]
        for version in rule["apiVersions"]
        for resource in rule["resources"]
    }
    assert covered == {
        ("autoscaling", "v1", "horizontalpodautoscalers"),
        ("autoscaling", "v2", "horizontalpodautoscalers"),
        ("autoscaling.k8s.io", "v1", "verticalpodautoscalers"),
    }
    for rule in hook["rules"]:
        assert rule["operations"] == ["CREATE", "UPDATE"]
    assert hook["failurePolicy"] == "Fail"
    assert hook["clientConfig"]["service"]["path"] == "/validate"


@pytest.mark.parametrize("kind", [MUTATING, VALIDATING])
def test_common_settings(variant: str, kind: str) -> None:
    hook = _webhook(variant, kind)
    assert hook["sideEffects"] == "None"  # required for dry-run requests
    assert hook["admissionReviewVersions"] == ["v1"]
    assert 2 <= hook["timeoutSeconds"] <= 5
    assert hook["matchPolicy"] == "Equivalent"
    service = hook["clientConfig"]["service"]
    assert (service["name"], service["namespace"], service["port"]) == (
        "tidal-webhook",
        NAMESPACE,
        443,
    )
    find(render(variant), "Service", "tidal-webhook")
    assert "caBundle" not in hook["clientConfig"]  # set by tidal-certs / cert-manager only
    assert "url" not in hook["clientConfig"]


@pytest.mark.parametrize("kind", [MUTATING, VALIDATING])
@pytest.mark.parametrize(
    ("labels", "sent"),
    [
        (_namespace_labels("default"), True),
        (_namespace_labels("shop", team="a"), True),
        (_namespace_labels("kube-system"), False),
        (_namespace_labels("kube-node-lease"), False),
        (_namespace_labels(NAMESPACE), False),
        (_namespace_labels("legacy", **{"tidal.dev/webhook": "disabled"}), False),
        (_namespace_labels("legacy", **{"tidal.dev/webhook": "enabled"}), True),
    ],
)
def test_namespace_selector_exclusions(kind: str, labels: dict, sent: bool) -> None:
    hook = _webhook("base", kind)
    assert _matches(hook["namespaceSelector"], labels) is sent


@pytest.mark.parametrize("kind", [MUTATING, VALIDATING])
def test_objects_can_opt_out_with_a_label(kind: str) -> None:
    hook = _webhook("base", kind)
    assert _matches(hook["objectSelector"], {"app": "web"})
    assert not _matches(hook["objectSelector"], {"tidal.dev/webhook": "disabled"})


def test_own_namespace_is_labelled_out_as_well() -> None:
    namespace = find(render("base"), "Namespace", NAMESPACE)
    assert namespace["metadata"]["labels"]["tidal.dev/webhook"] == "disabled"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"

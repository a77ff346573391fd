"""``scripts/dev.py`` without a cluster: the webhook configurations it registers."""

from __future__ import annotations

import base64

import yaml

from scripts.dev import CONFIGURATIONS, webhook_configurations

CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_only_the_client_config_differs_from_the_manifests() -> None:
    installed = [d for d in yaml.safe_load_all(CONFIGURATIONS.read_text()) if d]
    registered = webhook_configurations(8443, CA)
    assert [c["kind"] for c in registered] == [c["kind"] for c in installed]
    for ours, theirs in zip(registered, installed, strict=True):
        assert ours["metadata"] == theirs["metadata"]
        for hook, original in zip(ours["webhooks"], theirs["webhooks"], strict=True):
            path = original["clientConfig"]["service"]["path"]
            assert hook["clientConfig"] == {
                "url": f"https://127.0.0.1:8443{path}",
                "caBundle": base64.b64encode(CA).decode(),
            }
            assert {k: v for k, v in hook.items() if k != "clientConfig"} == {
                k: v for k, v in original.items() if k != "clientConfig"
            }


def test_a_scoped_stack_renames_and_adds_a_namespace_label() -> None:
    registered = webhook_configurations(1234, CA, name="tidal-e2e-x", namespace_labels={"a": "b"})
    for config in registered:
        assert config["metadata"]["name"] == "tidal-e2e-x"
        for hook in config["webhooks"]:
            assert hook["namespaceSelector"]["matchLabels"] == {"a": "b"}
            assert hook["namespaceSelector"]["matchExpressions"]  # the manifests' exclusions

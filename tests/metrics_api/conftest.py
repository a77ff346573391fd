"""Certificates for the external metrics API's tests: a cluster CA (the server's and a
client's) and a front-proxy CA (the aggregator's client certificates)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.pki import certificate_pem, issue_certificate, make_ca, write_pem


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pki")
    proxy_ca, proxy_key = make_ca("front-proxy-ca")
    cluster_ca, cluster_key = make_ca("cluster-ca")
    files = {"proxy-ca.crt": certificate_pem(proxy_ca),
             "cluster-ca.crt": certificate_pem(cluster_ca)}
    leaves = {
        "server": (cluster_ca, cluster_key, "tidal-metrics", True, ("127.0.0.1",)),
        "proxy": (proxy_ca, proxy_key, "front-proxy-client", False, ()),
        "other-proxy": (proxy_ca, proxy_key, "someone-else", False, ()),
        "admin": (cluster_ca, cluster_key, "admin", False, ()),
    }
    for name, (ca, key, cn, server, ips) in leaves.items():
        cert, leaf_key = issue_certificate(ca, key, cn, server=server, client=not server, ips=ips)
        files[f"{name}.crt"], files[f"{name}.key"] = cert, leaf_key
    stranger_ca, stranger_key = make_ca("stranger")
    files["stranger.crt"], files["stranger.key"] = issue_certificate(
        stranger_ca, stranger_key, "front-proxy-client", client=True)
    for name, data in files.items():
        write_pem(root / name, data, private=name.endswith(".key"))
    return {name: root / name for name in files}

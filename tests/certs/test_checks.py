"""checks.problems: expiry, SAN coverage and CA signature."""

from __future__ import annotations

import datetime as dt

from certs import checks, pki
from tests.certs.conftest import NAMESPACE, SERVICE


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_fresh_certificate_has_no_problems(bundle: pki.Bundle) -> None:
    leaf, ca = pki.load_certificate(bundle.cert), pki.load_certificate(bundle.ca_cert)
    assert checks.problems(leaf, SERVICE, NAMESPACE, ca=ca) == []


def test_expiry_within_min_days_is_a_problem(bundle: pki.Bundle) -> None:
    leaf = pki.load_certificate(bundle.cert)
    soon = leaf.not_valid_after_utc - dt.timedelta(days=29)
    [problem] = checks.problems(leaf, SERVICE, NAMESPACE, min_days=30, now=soon)
    assert problem.startswith("expires in 29.0 days")
    later = leaf.not_valid_after_utc - dt.timedelta(days=31)
    assert checks.problems(leaf, SERVICE, NAMESPACE, min_days=30, now=later) == []


def test_expired_certificate_is_reported_as_expired(bundle: pki.Bundle) -> None:
    leaf = pki.load_certificate(bundle.cert)
    after = leaf.not_valid_after_utc + dt.timedelta(seconds=1)
    [problem] = checks.problems(leaf, SERVICE, NAMESPACE, now=after)
    assert problem.startswith("expired on")


def test_certificate_for_another_namespace_does_not_cover_the_service(bundle) -> None:
    leaf = pki.load_certificate(bundle.cert)
    [problem] = checks.problems(leaf, SERVICE, "prod")
    assert problem == (
        "does not cover tidal-webhook.prod, tidal-webhook.prod.svc, "
        "tidal-webhook.prod.svc.cluster.local"
    )


def test_leaf_of_another_ca_is_reported(bundle: pki.Bundle, tmp_path) -> None:
    other = pki.generate(tmp_path, SERVICE, NAMESPACE)
    leaf = pki.load_certificate(bundle.cert)
    foreign_ca = pki.load_certificate(other.ca_cert)
    [problem] = checks.problems(leaf, SERVICE, NAMESPACE, ca=foreign_ca)
    assert problem.startswith("not signed by the CA")
    assert not checks.signed_by(leaf, foreign_ca)


def test_describe_lists_sans_and_extra_sans_are_those_beyond_the_service(bundle) -> None:
    info = checks.describe(pki.load_certificate(bundle.cert))
    assert info.subject == f"CN={SERVICE}.{NAMESPACE}.svc"
    assert info.issuer == "CN=tidal-webhook-ca"
    assert set(pki.service_dns_names(SERVICE, NAMESPACE)) <= set(info.dns_names)
    assert info.ip_addresses == ("127.0.0.1",)
    assert checks.extra_sans(info, SERVICE, NAMESPACE) == (["127.0.0.1"], ["localhost"])
    assert 364.9 < info.days_left(_now()) <= 365

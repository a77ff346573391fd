"""Who may read the metrics: the aggregator's front-proxy identity, then a SubjectAccessReview.

The API server publishes its request-header settings in the ConfigMap
``kube-system/extension-apiserver-authentication``. A client is *authenticated* only when it
presented, in the TLS handshake, a certificate issued directly by the request-header CA whose
common name is one of the allowed names: then, and only then, the user, groups and extra come
from the request headers (``X-Remote-User``...). Any other client (no certificate, a cluster
client certificate, a bearer token) is refused with 401. Each authenticated request is then
*authorised* by a SubjectAccessReview, cached for ``ttl_s`` seconds per user and attributes.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

AUTH_CONFIGMAP = "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"


class Unauthorized(Exception):
    """The client is not the aggregator (or did not say who the user is)."""


@dataclass(frozen=True)
class RequestHeaderConfig:
    """The request-header part of ``extension-apiserver-authentication``."""

    ca_pem: str
    allowed_names: tuple[str, ...] = ()
    username_headers: tuple[str, ...] = ("X-Remote-User",)
    group_headers: tuple[str, ...] = ("X-Remote-Group",)
    extra_prefixes: tuple[str, ...] = ("X-Remote-Extra-",)
    client_ca_pem: str = ""  # cluster clients: accepted in the handshake, refused with 401

    @classmethod
    def from_configmap(cls, data: Mapping[str, str]) -> RequestHeaderConfig:
        """From the ConfigMap's data (the lists are JSON arrays)."""
        ca = data.get("requestheader-client-ca-file", "")
        if not ca.strip():
            raise ValueError(
                "kube-system/extension-apiserver-authentication has no "
                "requestheader-client-ca-file: the API server runs without "
                "--requestheader-client-ca-file, so no aggregator can reach this API"
            )

        def names(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
            raw = data.get(key)
            return tuple(json.loads(raw)) if raw else default

        return cls(
            ca_pem=ca,
            allowed_names=names("requestheader-allowed-names", ()),
            username_headers=names("requestheader-username-headers", ("X-Remote-User",)),
            group_headers=names("requestheader-group-headers", ("X-Remote-Group",)),
            extra_prefixes=names("requestheader-extra-headers-prefix", ("X-Remote-Extra-",)),
            client_ca_pem=data.get("client-ca-file", ""),
        )

    def trusted_pem(self) -> str:
        """Every CA the TLS handshake accepts client certificates from."""
        return self.ca_pem.strip() + "\n" + self.client_ca_pem.strip() + "\n"


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


class Authenticator:
    """The front-proxy check (see the module docstring)."""

    def __init__(self, config: RequestHeaderConfig) -> None:
        self.config = config
        self.cas = x509.load_pem_x509_certificates(config.ca_pem.encode())
        self.allowed = frozenset(config.allowed_names)
        self._proxies: dict[bytes, str] = {}

    def authenticate(self, peer_der: bytes | None, headers: Any) -> User:
        """The user the aggregator speaks for; ``headers`` has ``get_all(name)``."""
        if not peer_der:
            raise Unauthorized("no client certificate: only the API aggregator may call this "
                               "API (use kubectl get --raw /apis/external.metrics.k8s.io/...)")
        refusal = self._proxies.get(peer_der)
        if refusal is None:  # once per certificate, not per request
            refusal = self._check_proxy(peer_der)
            if len(self._proxies) > 1000:
                self._proxies.clear()
            self._proxies[peer_der] = refusal
        if refusal:
            raise Unauthorized(refusal)
        user = next((v for h in self.config.username_headers
                     for v in (headers.get_all(h) or []) if v), "")
        if not user:
            raise Unauthorized("the front-proxy request names no user")
        groups = tuple(v for h in self.config.group_headers for v in (headers.get_all(h) or []))
        extra: dict[str, list[str]] = {}
        for name in headers:
            for prefix in self.config.extra_prefixes:
                if name.lower().startswith(prefix.lower()):
                    key = urllib.parse.unquote(name[len(prefix):]).lower()
                    extra.setdefault(key, []).extend(headers.get_all(name) or [])
        return User(user, groups, tuple((k, tuple(v)) for k, v in sorted(extra.items())))

    def _check_proxy(self, peer_der: bytes) -> str:
        """Why this certificate is not the front proxy's ("" when it is)."""
        cert = x509.load_der_x509_certificate(peer_der)
        if not any(self._issued_by(cert, ca) for ca in self.cas):
            return ("the client certificate is not a front-proxy (request-header) certificate: "
                    "only the API aggregator may call this API")
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        common_name = str(names[0].value) if names else ""
        if self.allowed and common_name not in self.allowed:
            return (f"front-proxy client {common_name!r} is not one of the "
                    "requestheader-allowed-names")
        return ""

    @staticmethod
    def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):  # issuer or signature mismatch
            return False
        return True


Attributes = tuple[tuple[str, str], ...]  # resourceAttributes or nonResourceAttributes, sorted


def resource_attributes(namespace: str, resource: str, verb: str, group: str,
                        version: str) -> Attributes:
    return (("group", group), ("namespace", namespace), ("resource", resource),
            ("verb", verb), ("version", version))


def path_attributes(path: str, verb: str = "get") -> Attributes:
    return (("path", path), ("verb", verb))


class Authorizer:
    """SubjectAccessReviews through ``create(path, body)``, decisions cached ``ttl_s``."""

    PATH = "/apis/authorization.k8s.io/v1/subjectaccessreviews"

    def __init__(self, create: Callable[[str, Mapping[str, Any]], Mapping[str, Any]],
                 ttl_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.create, self.ttl_s, self.clock = create, ttl_s, clock
        self._cache: dict[tuple[User, Attributes], tuple[float, bool, str]] = {}
        self._lock = threading.Lock()
        self.reviews = 0

    def allowed(self, user: User, attributes: Attributes) -> tuple[bool, str]:
        """(allowed, reason)."""
        key = (user, attributes)
        now = self.clock()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        spec: dict[str, Any] = {"user": user.name, "groups": list(user.groups),
                                "extra": {k: list(v) for k, v in user.extra}}
        field = "nonResourceAttributes" if attributes[0][0] == "path" else "resourceAttributes"
        spec[field] = dict(attributes)
        review = self.create(self.PATH, {"apiVersion": "authorization.k8s.io/v1",
                                         "kind": "SubjectAccessReview", "spec": spec})
        self.reviews += 1
        status = review.get("status") or {}
        decision = (bool(status.get("allowed")) and not status.get("denied"),
                    str(status.get("reason") or ""))
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now + self.ttl_s, *decision)
        return decision

"""A thin, rate-limited JSON client of the Kubernetes API (paged lists, patches, CRUD).

Lists are decoded straight from the raw JSON (no typed models): at 30k pods the official
client's model deserialisation would dominate the loop. Authentication, TLS and the
connection pool are the official ``kubernetes`` client's.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.rest import ApiException

__all__ = ["ApiException", "KubeApi", "RateLimiter", "api_client"]

JSON = dict[str, Any]


class RateLimiter:
    """Token bucket: ``qps`` tokens a second, at most ``burst`` saved (client-go's flowcontrol)."""

    def __init__(self, qps: float, burst: int, clock: Any = time.monotonic) -> None:
        self.qps, self.burst, self.clock = qps, max(burst, 1), clock
        self._tokens = float(self.burst)
        self._last = clock()
        self._lock = threading.Lock()

    def wait(self) -> None:
        if self.qps <= 0:
            return
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.qps)
            self._last = now
            self._tokens -= 1.0
            delay = -self._tokens / self.qps if self._tokens < 0 else 0.0
        if delay > 0:
            time.sleep(delay)


def api_client(kubeconfig: str | None = None) -> client.ApiClient:
    """An ``ApiClient`` from ``kubeconfig``, else in-cluster config, else ``~/.kube/config``."""
    if kubeconfig:
        return config.new_client_from_config(config_file=kubeconfig)
    try:
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)
        return client.ApiClient(configuration)
    except config.ConfigException:
        return config.new_client_from_config()


class KubeApi:
    """JSON in, JSON out, every request through the rate limiter."""

    def __init__(
        self, api: client.ApiClient, qps: float = 50.0, burst: int = 100, timeout_s: float = 60.0
    ) -> None:
        self.api, self.timeout_s = api, timeout_s
        self.limiter = RateLimiter(qps, burst)
        self.requests = 0

    def request(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> JSON:
        """One API call; raises ``ApiException`` on an HTTP error."""
        self.limiter.wait()
        self.requests += 1
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        # The body is plain JSON already: it skips the client's model sanitising walk (a
        # tenth of the CPU of a checkpoint write) and is encoded once by the REST layer.
        method, url, headers, _, post = self.api.param_serialize(
            method,
            path,
            query_params=[(k, v) for k, v in (query or {}).items() if v is not None],
            header_params=headers,
            body=None,
            auth_settings=["BearerToken"],
        )
        try:
            response = self.api.call_api(
                method, url, headers, body, post, _request_timeout=self.timeout_s
            )
        except urllib3.exceptions.HTTPError as exc:  # connection refused, timeouts, TLS
            raise ApiException(status=0, reason=f"{type(exc).__name__}: {exc}") from None
        data = response.read()
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(
                http_resp=response, body=data.decode("utf-8", "replace"), data=None
            )
        return json.loads(data) if data else {}

    def list(self, path: str, page_size: int = 500, **query: Any) -> Iterator[JSON]:
        """Every item of a (paged) list."""
        token: str | None = None
        while True:
            page = self.request("GET", path, {"limit": page_size, "continue": token, **query})
            yield from page.get("items") or []
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return

    def get(self, path: str) -> JSON | None:
        """An object, or None when it does not exist."""
        try:
            return self.request("GET", path)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def create(self, path: str, obj: Mapping[str, Any]) -> JSON:
        return self.request("POST", path, body=obj)

    def replace(self, path: str, obj: Mapping[str, Any]) -> JSON:
        return self.request("PUT", path, body=obj)

    def merge_patch(self, path: str, patch: Mapping[str, Any]) -> JSON:
        return self.request("PATCH", path, body=patch, content_type="application/merge-patch+json")

    def json_patch(self, path: str, ops: Sequence[Mapping[str, Any]]) -> JSON:
        return self.request("PATCH", path, body=ops, content_type="application/json-patch+json")

    def delete(self, path: str) -> None:
        try:
            self.request("DELETE", path)
        except ApiException as exc:
            if exc.status != 404:
                raise

"""``make dev``: Tidal running on this host against the local control plane (``make cluster-up``).

``up`` (idempotent: what already runs is kept):

1. applies the VPA CRDs (``manifests/crds``) and the ``tidal-system`` Namespace (the
   recommender's Lease lives there, as installed by ``manifests/``);
2. generates the webhook's CA and serving certificate with ``tidal-certs`` (IP SAN 127.0.0.1)
   under ``.tidal/dev/certs/``, reused while ``tidal-certs check`` passes;
3. starts ``tidal-webhook serve`` (gunicorn, TLS, on 127.0.0.1) and ``tidal-recommender run``
   in the background, logs in ``.tidal/logs/webhook.log`` and ``recommender.log``;
4. registers the Mutating/ValidatingWebhookConfigurations of
   ``manifests/base/webhook-configurations.yaml`` (same names, rules, failurePolicy,
   namespaceSelector, timeouts) with ``clientConfig.url: https://127.0.0.1:PORT/...`` and the
   ``caBundle`` instead of the in-cluster Service.

``down`` deletes the configurations first (a validating webhook with ``failurePolicy: Fail``
left behind would block every HPA and VPA), then stops both processes. ``status`` shows them.

The tests reuse :class:`DevStack` with their own names and an extra namespace label in the
selectors, so that several stacks share one cluster without seeing each other's namespaces.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from certs import cli as certs_cli
from certs.pki import Bundle
from tests.e2e.cluster import KubeCluster, free_port

REPO = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
WEBHOOK_SERVICE = "tidal-webhook"
SYSTEM_NAMESPACE = "tidal-system"
CONFIGURATIONS = REPO / "manifests" / "base" / "webhook-configurations.yaml"
CRDS = REPO / "manifests" / "crds"
NAMESPACE_MANIFEST = REPO / "manifests" / "base" / "namespace.yaml"
CRD_NAMES = ("verticalpodautoscalers", "verticalpodautoscalercheckpoints")
RECOMMENDER_NAME = "tidal"  # as manifests/base/recommender-deployment.yaml runs it
START_TIMEOUT = 60.0
STOP_TIMEOUT = 25.0  # gunicorn's graceful timeout is 20 s
STATE_FILE = "state.json"
MUTATING_WEBHOOK = "pods.tidal.dev"
VALIDATING_WEBHOOK = "autoscalers.tidal.dev"
# Test and benchmark stacks add this label to their namespaceSelectors (``namespace_labels``).
E2E_LABEL = "tidal.dev/e2e"
WEBHOOK = "webhook"
RECOMMENDER = "recommender"


class DevError(RuntimeError):
    """A step of ``up``/``down`` failed; the message says which and how to look."""


# --------------------------------------------------------------------------- configurations


def webhook_configurations(
    port: int,
    ca_pem: bytes,
    *,
    name: str | None = None,
    namespace_labels: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The webhook configurations of ``manifests/``, pointed at ``https://127.0.0.1:port``.

    Only ``clientConfig`` changes (a URL with the Service's path, and ``caBundle``), plus,
    when given, the objects' ``name`` and extra ``matchLabels`` in every namespaceSelector.
    """
    bundle = base64.b64encode(ca_pem).decode()
    documents = [d for d in yaml.safe_load_all(CONFIGURATIONS.read_text()) if d]
    configurations = []
    for document in documents:
        config = copy.deepcopy(document)
        if name is not None:
            config["metadata"]["name"] = name
        for hook in config["webhooks"]:
            path = hook["clientConfig"]["service"].get("path", "/")
            hook["clientConfig"] = {"url": f"https://{LOOPBACK}:{port}{path}", "caBundle": bundle}
            if namespace_labels:
                selector = hook.setdefault("namespaceSelector", {})
                selector.setdefault("matchLabels", {}).update(namespace_labels)
        configurations.append(config)
    return configurations


def unscoped_tidal_webhooks(cluster: KubeCluster) -> list[str]:
    """Configurations sending every namespace to a Tidal webhook (``make dev``'s, say).

    Stacks scoped by a namespace label (tests, benchmarks) are not listed.
    """
    found = set()
    for kind in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"):
        for config in cluster.get_json(kind)["items"]:
            for hook in config.get("webhooks") or []:
                labels = (hook.get("namespaceSelector") or {}).get("matchLabels") or {}
                if hook["name"] in (MUTATING_WEBHOOK, VALIDATING_WEBHOOK) and not labels:
                    found.add(f"{kind[:-1]}/{config['metadata']['name']}")
    return sorted(found)


# --------------------------------------------------------------------------- processes


def _alive(pid: int, marker: str) -> bool:
    """Whether ``pid`` runs a command line containing ``marker`` (guards against pid reuse)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap our own exited child
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and marker.encode() in cmdline


def stop_process(pid: int, marker: str, timeout: float = STOP_TIMEOUT) -> bool:
    """SIGTERM the process group we started (gunicorn and its workers), SIGKILL on timeout."""
    if not _alive(pid, marker):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid, marker):
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    return True


def _command(script: str, module: str) -> list[str]:
    """The console script installed next to this Python, else ``python -m module``."""
    candidate = Path(sys.executable).parent / script
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return [sys.executable, str(candidate)]
    return [sys.executable, "-m", module]


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------- the stack


@dataclass(frozen=True)
class DevSettings:
    """Where the stack keeps its files, which cluster it uses and how it is named there."""

    kubeconfig: Path
    state_dir: Path
    logs_dir: Path
    config_name: str = WEBHOOK_SERVICE
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    recommender: bool = True
    webhook_workers: int | None = None

    @classmethod
    def for_repo(cls, repo: Path = REPO, **overrides: Any) -> DevSettings:
        """The playground layout: ``.tidal/kubeconfig``, ``.tidal/dev/``, ``.tidal/logs/``."""
        tidal = repo / ".tidal"
        return cls(tidal / "kubeconfig", tidal / "dev", tidal / "logs", **overrides)


class DevStack:
    """The webhook and recommender of one developer (or one test session) on one cluster."""

    def __init__(self, settings: DevSettings) -> None:
        # The processes run in state_dir: every path they get must be absolute.
        self.settings = replace(
            settings,
            kubeconfig=settings.kubeconfig.absolute(),
            state_dir=settings.state_dir.absolute(),
            logs_dir=settings.logs_dir.absolute(),
        )
        self.certs = Bundle.at(self.settings.state_dir / "certs")

    # ----------------------------------------------------------------- state

    @property
    def state_file(self) -> Path:
        return self.settings.state_dir / STATE_FILE

    def read_state(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.state_file.read_text()))
        except (OSError, ValueError):
            return {}

    def _save(self, state: Mapping[str, Any]) -> None:
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.state_file)

    def log(self, component: str) -> Path:
        return self.settings.logs_dir / f"{component}.log"

    def running(self, component: str) -> dict[str, Any] | None:
        """The recorded process of ``component`` if it is alive."""
        entry = self.read_state().get(component)
        if entry and _alive(int(entry["pid"]), entry["marker"]):
            return dict(entry)
        return None

    @property
    def webhook_port(self) -> int | None:
        entry = self.running(WEBHOOK)
        return int(entry["port"]) if entry else None

    # ----------------------------------------------------------------- cluster

    def cluster(self) -> KubeCluster:
        kubeconfig = self.settings.kubeconfig
        if not kubeconfig.is_file():
            raise DevError(f"{kubeconfig} does not exist: start the cluster with `make cluster-up`")
        return KubeCluster.from_kubeconfig(kubeconfig)

    def _kubectl(self, cluster: KubeCluster, *args: str, input: str | None = None) -> str:
        proc = cluster.kubectl(*args, input=input)
        if proc.returncode != 0:
            raise DevError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def apply_crds(self, cluster: KubeCluster) -> None:
        """VPA CRDs (established) and the tidal-system Namespace."""
        self._kubectl(cluster, "apply", "-k", str(CRDS))
        self._kubectl(cluster, "apply", "-f", str(NAMESPACE_MANIFEST))
        crds = [f"crd/{name}.autoscaling.k8s.io" for name in CRD_NAMES]
        self._kubectl(cluster, "wait", "--for=condition=Established", "--timeout=60s", *crds)

    # ----------------------------------------------------------------- certificates

    def ensure_certs(self) -> bool:
        """Generate the PKI with ``tidal-certs`` unless a valid one exists; True if generated."""
        out = self.certs.cert.parent
        service = ["--service", WEBHOOK_SERVICE, "--namespace", SYSTEM_NAMESPACE]
        if self.certs.cert.is_file() and self.certs.ca_cert.is_file():
            with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
                if certs_cli.main(["check", *service, "--dir", str(out)]) == 0:
                    return False
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            code = certs_cli.main(
                ["generate", *service, "--out", str(out), "--ip", LOOPBACK, "--force"]
            )
        if code != 0:
            raise DevError(f"tidal-certs generate failed (exit {code})")
        return True

    # ----------------------------------------------------------------- processes

    def _spawn(
        self, component: str, argv: list[str], marker: str, port: int
    ) -> tuple[dict[str, Any], subprocess.Popen[bytes]]:
        self.settings.logs_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.pop("KUBECONFIG", None)  # every command gets --kubeconfig
        with open(self.log(component), "ab") as out:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            out.write(f"\n==== {stamp} {' '.join(argv)}\n".encode())
            out.flush()
            proc = popen_detached(argv, out, env, cwd=self.settings.state_dir)
        entry = {"pid": proc.pid, "port": port, "marker": marker, "argv": argv}
        state = self.read_state()
        state[component] = entry
        self._save(state)
        return entry, proc

    def start_webhook(self) -> dict[str, Any]:
        """Start ``tidal-webhook serve`` unless it runs; wait until /readyz answers 200."""
        if (entry := self.running(WEBHOOK)) is not None:
            return entry
        port = free_port()
        argv = [
            *_command("tidal-webhook", "webhook"), "serve",
            "--cert", str(self.certs.cert), "--key", str(self.certs.key),
            "--bind", LOOPBACK, "--port", str(port),
            "--kubeconfig", str(self.settings.kubeconfig),
        ]  # fmt: skip
        if self.settings.webhook_workers:
            argv += ["--workers", str(self.settings.webhook_workers)]
        entry, proc = self._spawn(WEBHOOK, argv, "webhook", port)
        self._wait(WEBHOOK, proc, lambda: self._https_status(port, "/readyz") == 200)
        return entry

    def start_recommender(self) -> dict[str, Any]:
        """Start ``tidal-recommender run`` unless it runs; wait until it serves /healthz."""
        if (entry := self.running(RECOMMENDER)) is not None:
            return entry
        port = free_port()
        argv = [
            *_command("tidal-recommender", "recommender"), "run",
            "--name", RECOMMENDER_NAME, "--kubeconfig", str(self.settings.kubeconfig),
            "--lease-namespace", SYSTEM_NAMESPACE, "--port", str(port),
        ]  # fmt: skip
        entry, proc = self._spawn(RECOMMENDER, argv, "recommender", port)
        self._wait(RECOMMENDER, proc, lambda: self._http_answers(port, "/healthz"))
        return entry

    def _wait(
        self, component: str, proc: subprocess.Popen[bytes], ready: Callable[[], bool]
    ) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise DevError(
                    f"{component} exited; last lines of {self.log(component)}:\n"
                    f"{_tail(self.log(component))}"
                )
            if ready():
                return
            time.sleep(0.2)
        raise DevError(f"{component} not ready in {START_TIMEOUT:.0f}s; see {self.log(component)}")

    def _https_status(self, port: int, path: str) -> int | None:
        context = ssl.create_default_context(cafile=str(self.certs.ca_cert))
        return _status(f"https://{LOOPBACK}:{port}{path}", context)

    @staticmethod
    def _http_answers(port: int, path: str) -> bool:
        return _status(f"http://{LOOPBACK}:{port}{path}", None) is not None

    def stop(self, component: str) -> bool:
        """Stop one recorded process; True if it was running."""
        state = self.read_state()
        entry = state.pop(component, None)
        stopped = bool(entry) and stop_process(int(entry["pid"]), entry["marker"])
        if entry is not None:
            self._save(state)
        return stopped

    # ----------------------------------------------------------------- configurations

    def register(self, cluster: KubeCluster, port: int) -> list[dict[str, Any]]:
        """Apply the webhook configurations pointing at ``port``."""
        configs = webhook_configurations(
            port,
            self.certs.ca_cert.read_bytes(),
            name=self.settings.config_name,
            namespace_labels=self.settings.namespace_labels,
        )
        document = {"apiVersion": "v1", "kind": "List", "items": configs}
        self._kubectl(cluster, "apply", "-f", "-", input=json.dumps(document))
        return configs

    def unregister(self, cluster: KubeCluster) -> None:
        """Delete both webhook configurations (absent ones are fine)."""
        for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
            self._kubectl(cluster, "delete", kind, self.settings.config_name, "--ignore-not-found")

    # ----------------------------------------------------------------- up / down

    def up(self, *, verbose: bool = False) -> dict[str, Any]:
        """Bring everything up (keeping what runs); returns the state."""
        say = print if verbose else (lambda *_: None)
        cluster = self.cluster()
        if cluster.kubectl("get", "--raw", "/readyz").returncode != 0:
            raise DevError(f"the cluster of {self.settings.kubeconfig} is not ready")
        self.apply_crds(cluster)
        say("VPA CRDs and namespace tidal-system applied")
        if self.ensure_certs():
            say(f"certificates generated in {self.certs.cert.parent}/ (IP SAN {LOOPBACK})")
        webhook = self.start_webhook()
        say(f"webhook     pid {webhook['pid']:>7}  https://{LOOPBACK}:{webhook['port']}")
        if self.settings.recommender:
            rec = self.start_recommender()
            say(f"recommender pid {rec['pid']:>7}  http://{LOOPBACK}:{rec['port']}/metrics")
        self.register(cluster, int(webhook["port"]))
        say(f"webhook configurations {self.settings.config_name} registered")
        return self.read_state()

    def down(self, *, verbose: bool = False) -> None:
        """Unregister (when the cluster answers), then stop the processes."""
        say = print if verbose else (lambda *_: None)
        kubeconfig = self.settings.kubeconfig
        if kubeconfig.is_file():
            cluster = KubeCluster.from_kubeconfig(kubeconfig)
            if cluster.kubectl("get", "--raw", "/readyz", timeout=10).returncode == 0:
                self.unregister(cluster)
                say(f"webhook configurations {self.settings.config_name} deleted")
        for component in (WEBHOOK, RECOMMENDER):
            if self.stop(component):
                say(f"{component} stopped")
        with contextlib.suppress(FileNotFoundError):
            self.state_file.unlink()


def popen_detached(
    argv: list[str], out: Any, env: dict[str, str], cwd: Path
) -> subprocess.Popen[bytes]:
    """A detached background process (own session: its group is stopped as one)."""
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
        cwd=cwd, start_new_session=True,
    )  # fmt: skip


def _status(url: str, context: ssl.SSLContext | None) -> int | None:
    """HTTP status of a GET, or None when nothing answers."""
    handlers: list[Any] = [urllib.request.ProxyHandler({})]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    try:
        with urllib.request.build_opener(*handlers).open(url, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except (OSError, ssl.SSLError):
        return None


# --------------------------------------------------------------------------- CLI


def _print_status(stack: DevStack) -> int:
    """Pids and ports; exit 1 when the webhook is not running."""
    for component in (WEBHOOK, RECOMMENDER):
        entry = stack.running(component)
        shown = f"pid {entry['pid']:>7}  port {entry['port']}" if entry else "stopped"
        print(f"{component:12} {shown}")
    return 0 if stack.running(WEBHOOK) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """``up`` / ``down`` / ``status`` of the playground's webhook and recommender."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.dev",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--no-recommender", action="store_true", help="run the webhook only")
    args = parser.parse_args(argv)
    stack = DevStack(DevSettings.for_repo(recommender=not args.no_recommender))
    try:
        if args.command == "up":
            stack.up(verbose=True)
            logs = stack.settings.logs_dir
            print(
                f"\nlogs: {logs}/webhook.log, {logs}/recommender.log\n\n"
                "  export KUBECONFIG=.tidal/kubeconfig\n"
                "  .venv/bin/kubectl get mutatingwebhookconfigurations,vpa,hpa -A\n"
                "  # a walkthrough: docs/playground.md, section `make dev`\n\n"
                "Stop with `make dev-down` (`make cluster-down` also does it)."
            )
        elif args.command == "down":
            stack.down(verbose=True)
        else:
            return _print_status(stack)
    except DevError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

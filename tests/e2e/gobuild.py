"""Build the control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
kubemark's hollow node) from ``tests/e2e/controlplane``.

Binaries go to ``~/.cache/tidal/bin/<key>/`` where the key hashes ``go.mod``, ``go.sum`` and
the ``main`` files: a version bump rebuilds, an unchanged tree never does. A file lock makes
concurrent test sessions build once; ``build.json`` beside the binaries records the time taken.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

CONTROLPLANE_SRC = Path(__file__).resolve().parent / "controlplane"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "hollow-node")
BUILD_STAMP = "build.json"
GO_FALLBACKS = ("/usr/local/go/bin/go", "/usr/lib/go/bin/go")  # when `go` is not on PATH


class ToolchainMissing(RuntimeError):
    """The Go toolchain needed to build the control plane is not installed."""


class BuildFailed(RuntimeError):
    """``go build`` of the control plane failed; the message ends with its output."""


def cache_dir() -> Path:
    """Root of Tidal's build cache: ``$TIDAL_CACHE_DIR`` or ``$XDG_CACHE_HOME/tidal``."""
    if env := os.environ.get("TIDAL_CACHE_DIR"):
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "tidal"


def build_key(src: Path = CONTROLPLANE_SRC) -> str:
    """Hash of everything that determines the binaries: go.mod, go.sum, the main files."""
    digest = hashlib.sha256()
    files = [src / "go.mod", src / "go.sum", *sorted(src.glob("cmd/*/*.go"))]
    for path in files:
        digest.update(path.relative_to(src).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def bin_dir(src: Path = CONTROLPLANE_SRC) -> Path:
    """Where the binaries of the current source tree live once built."""
    return cache_dir() / "bin" / build_key(src)


def is_built(src: Path = CONTROLPLANE_SRC) -> bool:
    """True when all binaries of the current source tree are in the cache."""
    target = bin_dir(src)
    return (target / BUILD_STAMP).is_file() and all((target / b).is_file() for b in BINARIES)


def go_binary() -> str:
    """Path of the ``go`` command, or raise ``ToolchainMissing``."""
    go = shutil.which("go") or next((p for p in GO_FALLBACKS if os.access(p, os.X_OK)), None)
    if go is None:
        raise ToolchainMissing("the Go toolchain (`go`) is not installed or not on PATH")
    return go


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock on ``path`` (created if missing) while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_built(src: Path = CONTROLPLANE_SRC, *, verbose: bool = False) -> Path:
    """Build the control-plane binaries unless cached; return their directory.

    Raises ``ToolchainMissing`` without Go and ``BuildFailed`` when ``go build`` fails.
    """
    target = bin_dir(src)
    if is_built(src):
        return target
    go = go_binary()
    with file_lock(cache_dir() / "build.lock"):
        if is_built(src):  # another session finished the build while we waited
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        env = dict(os.environ)
        # Keep the caller's GOFLAGS; add parallelism = cores (the go default, made explicit).
        flags = env.get("GOFLAGS", "")
        if "-p=" not in flags:
            flags = f"{flags} -p={os.cpu_count() or 2}".strip()
        if "-buildvcs" not in flags:
            flags = f"{flags} -buildvcs=false"
        env["GOFLAGS"] = flags
        # go.mod's `go` line selects the toolchain; GOTOOLCHAIN=auto fetches it via the
        # module proxy when the installed Go is older (documented in docs/playground.md).
        env.setdefault("GOTOOLCHAIN", "auto")
        cmd = [go, "build", "-trimpath", "-ldflags=-s -w", "-o", f"{staging}/", "./cmd/..."]
        started = time.monotonic()
        if verbose:
            print(f"building the control plane into {target} (this takes a while) ...", flush=True)
        proc = subprocess.run(cmd, cwd=src, env=env, capture_output=True, text=True)
        seconds = time.monotonic() - started
        if proc.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            output = (proc.stdout + proc.stderr)[-6000:]
            raise BuildFailed(f"`{' '.join(cmd)}` failed in {src} after {seconds:.0f}s:\n{output}")
        version = subprocess.run([go, "version"], env=env, capture_output=True, text=True)
        stamp = {
            "key": target.name,
            "seconds": round(seconds, 1),
            "go": version.stdout.strip(),
            "goflags": flags,
            "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        (staging / BUILD_STAMP).write_text(json.dumps(stamp, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        staging.chmod(0o755)
        staging.rename(target)
        if verbose:
            print(f"built in {seconds:.0f}s", flush=True)
    return target


def build_tool(src: Path, name: str, package: str = ".") -> Path:
    """A Go program built from the module in ``src`` (a benchmark helper's ``main.go``, or
    ``package`` of a pinned dependency, e.g. helm's command), once per version of the module's
    files into the cache; returns the binary."""
    files = sorted(p for p in src.iterdir() if p.suffix in (".mod", ".sum", ".go"))
    digest = hashlib.sha256(b"".join(p.name.encode() + p.read_bytes() for p in files))
    target = cache_dir() / "bin" / f"{name}-{digest.hexdigest()[:16]}" / name
    if target.is_file():
        return target
    with file_lock(target.parent / ".build.lock"):
        if not target.is_file():
            tmp = target.with_suffix(".tmp")
            subprocess.run([go_binary(), "build", "-trimpath", "-ldflags=-s -w", "-o", str(tmp),
                            package], cwd=src, check=True)
            tmp.replace(target)
    return target

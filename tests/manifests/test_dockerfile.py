"""The Dockerfile: slim base, non-root numeric user, no build tools in the final stage."""

from __future__ import annotations

import re
import tomllib

from tests.manifests.conftest import REPO, pod_specs, render


def _stages() -> list[list[str]]:
    """Instructions (continuation lines joined) grouped by FROM."""
    text = (REPO / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_final_stage_is_slim_and_runs_as_a_numeric_non_root_user() -> None:
    stages = _stages()
    assert len(stages) >= 2, "multi-stage: build tools stay in the builder"
    final = stages[-1]
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"ARG PYTHON_IMAGE=python:3\.\d+-slim", text)
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0  # numeric so runAsNonRoot can verify it
    manifest_uids = {pod["securityContext"]["runAsUser"] for _, pod in pod_specs(render("base"))}
    assert manifest_uids == {int(uid)}


def test_final_stage_installs_no_build_tools() -> None:
    final = " ".join(_stages()[-1]).lower()
    for tool in ("gcc", "build-essential", "make ", "apt-get install", "pip install"):
        assert tool not in final
    assert "copy --from=build /opt/tidal /opt/tidal" in final


def test_every_program_the_manifests_run_is_an_installed_entry_point() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    for variant in ("base", "cert-manager"):
        for name, pod in pod_specs(render(variant)):
            for container in pod["containers"]:
                assert container["command"][0] in scripts, name
    assert scripts["tidal-certs"] == "certs.cli:main"

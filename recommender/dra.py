"""Dynamic Resource Allocation names shared by the report and the webhook.

``report --format dra`` writes one ``ResourceClaimTemplate`` per GPU container and option;
the webhook, where a VPA or namespace opts in with :data:`GPU_CLAIMS`, points the pods of
that workload at it by the same name.
"""

from __future__ import annotations

import re

from recommender.logic.gpu import SHARED

# VPA annotation or namespace label: which template the webhook injects instead of the
# container's nvidia.com/gpu (or MIG) requests. "gpu": the recommended one (a MIG profile or
# whole GPUs); "shared": a share of one device (MPS).
GPU_CLAIMS = "tidal.dev/gpu-claims"
RECOMMENDED = "gpu"
CLAIM_OPTIONS = (RECOMMENDED, SHARED)


def dns_label(*parts: str) -> str:
    """A DNS-1123 label from parts (lower case, ``-`` joined, at most 63 characters)."""
    text = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    return text[:63].rstrip("-")


def template_name(workload: str, container: str, option: str) -> str:
    """The claim template of ``container`` in ``workload`` (``Kind/name`` or ``name``) for
    ``option`` (:data:`CLAIM_OPTIONS`): ``<name>-<container>-gpu`` or ``...-shared``."""
    return dns_label(workload.split("/", 1)[-1], container, option)


def claim_name(container: str) -> str:
    """The pod's ``spec.resourceClaims[].name`` for ``container``'s GPUs."""
    return dns_label("gpu", container)

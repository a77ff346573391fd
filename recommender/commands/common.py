"""Options and loaders shared by the recommender's subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from recommender.crd_fields import unknown_fields
from recommender.history import Samples
from recommender.input.csv_history import read_history
from recommender.input.prometheus import PrometheusAuth, check_matchers
from recommender.input.store import DEFAULT_STORE, HistoryStore
from recommender.logic.gpu import GPU_MODELS, GpuModel, GpuModels, gpu_model
from recommender.logic.recommend import HELD, NEXT_HOURS, configure_model
from recommender.logic.strategies import DEFAULT_STRATEGY, STRATEGIES, Strategy, prepare_model
from recommender.model.state import UsageModel
from recommender.quantity import Rounding, parse_quantity, unit_hint
from recommender.vpa import GROUP, KIND, VERSION, Vpa, parse_vpa

VPA_API_VERSION = f"{GROUP}/{VERSION}"


class UsageError(Exception):
    """A user error: printed without a traceback, exit code 2."""


def add_source_args(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--history", type=Path, help="history CSV (optionally .gz)")
    source.add_argument(
        "--store", type=Path, help=f"embedded history store (default {DEFAULT_STORE})"
    )
    source.add_argument(
        "--prometheus-url", help="read history from Prometheus (cAdvisor, kube-state-metrics, "
        "dcgm-exporter); pods are grouped by their owners"
    )
    parser.add_argument("--namespace", help="with --prometheus-url: one namespace only")
    parser.add_argument(
        "--history-length", default="8d", help="with --prometheus-url: history to read (8d)"
    )
    add_prometheus_auth_args(parser)


def add_prometheus_auth_args(parser: argparse.ArgumentParser) -> None:
    """Credentials and TLS for a Prometheus that wants them (secrets are files, re-read at
    every request so rotation needs no restart)."""
    group = parser.add_argument_group("Prometheus credentials")
    group.add_argument("--prometheus-bearer-token-file", metavar="FILE",
                       help="send Authorization: Bearer <the file's content>")
    group.add_argument("--prometheus-username", help="basic auth user")
    group.add_argument("--prometheus-password-file", metavar="FILE",
                       help="basic auth password, read from this file")
    group.add_argument("--prometheus-ca-file", metavar="FILE",
                       help="CA to verify Prometheus's TLS certificate with")
    group.add_argument("--prometheus-cert-file", metavar="FILE",
                       help="TLS client certificate (with --prometheus-key-file)")
    group.add_argument("--prometheus-key-file", metavar="FILE", help="its private key")
    group.add_argument("--prometheus-header", action="append", default=[],
                       metavar="NAME:VALUE",
                       help="extra header, repeatable (e.g. X-Scope-OrgID:tenant-a for Mimir)")
    group.add_argument("--prometheus-selector", default="", metavar="MATCHERS",
                       help='label matchers added to every query, for one cluster of a '
                       'multi-cluster Thanos/Mimir/VictoriaMetrics (e.g. cluster="prod-eu")')


def prometheus_selector(args: argparse.Namespace) -> str:
    try:
        return check_matchers(getattr(args, "prometheus_selector", "") or "")
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def prometheus_auth(args: argparse.Namespace) -> PrometheusAuth:
    """The credentials the Prometheus options name; UsageError for a malformed header."""
    headers = []
    for text in getattr(args, "prometheus_header", []) or []:
        name, sep, value = text.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"--prometheus-header {text!r}: expected NAME:VALUE, "
                             "e.g. X-Scope-OrgID:tenant-a")
        headers.append((name.strip(), value.strip()))
    if getattr(args, "prometheus_password_file", None) and not args.prometheus_username:
        raise UsageError("--prometheus-password-file needs --prometheus-username")
    return PrometheusAuth(
        bearer_token_file=getattr(args, "prometheus_bearer_token_file", None),
        username=getattr(args, "prometheus_username", None),
        password_file=getattr(args, "prometheus_password_file", None),
        ca_file=getattr(args, "prometheus_ca_file", None),
        cert_file=getattr(args, "prometheus_cert_file", None),
        key_file=getattr(args, "prometheus_key_file", None),
        headers=tuple(headers),
    )


def add_engine_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policy", type=Path, action="append", default=[],
        help="VerticalPodAutoscaler YAML (repeatable); each VPA's targetRef selects a workload; "
        "checked as kubectl apply checks it (autoscaling.k8s.io/v1, the CRD's fields only)",
    )
    parser.add_argument(
        "--strategy", default=DEFAULT_STRATEGY,
        help=f"recommendation strategy: {', '.join(STRATEGIES.names())} "
        f"(default {DEFAULT_STRATEGY})",
    )
    parser.add_argument(
        "--gpu-model", help=f"GPU model for device memory and MIG: {', '.join(GPU_MODELS)}"
    )
    parser.add_argument(
        "--horizon", choices=(HELD, NEXT_HOURS), default=HELD,
        help="held: targets that hold for a pod's life, the same whatever hour the command "
        "runs (default); next-hours: the coming hours' targets, as the updater applies them "
        "in place",
    )
    parser.add_argument(
        "--round-cpu-millicores", type=int, default=1, help="round CPU up to this step"
    )
    parser.add_argument(
        "--round-memory-bytes", type=byte_quantity, default=1,
        help="round memory up to this step, in bytes or as a quantity (64Mi)"
    )


def load_samples(args: argparse.Namespace) -> Samples:
    """Samples from ``--history`` or the store (default store when neither is given)."""
    if args.history is not None:
        return read_history(args.history)
    if getattr(args, "prometheus_url", None):
        from recommender.input.offline import prometheus_samples

        return prometheus_samples(args.prometheus_url, args.namespace, args.history_length,
                                  prometheus_auth(args), prometheus_selector(args))
    path = args.store or DEFAULT_STORE
    if not Path(path).exists():
        raise UsageError(
            f"no history store at {path}: run `tidal-recommender ingest FILE.csv` first, "
            "or pass --history FILE.csv"
        )
    with HistoryStore(path) as store:
        return store.load()


def yaml_error(path: Path | str, exc: yaml.YAMLError) -> str:
    """One line: ``file:line:column: invalid YAML: what`` (PyYAML's own message spans four)."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    return f"{where}: invalid YAML: {problem}" + (f" ({context})" if context else "")


def byte_quantity(text: str) -> int:
    """An argparse type: a whole number of bytes, plain or a Kubernetes quantity (``64Mi``)."""
    try:
        value = parse_quantity(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a number of bytes or a Kubernetes quantity: {text!r}{unit_hint(text)}"
        ) from None
    if value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"must be a whole number of bytes of at least 1: {text!r}")
    return int(value)


def load_policies(paths: Sequence[Path]) -> list[Vpa]:
    """VPAs from YAML files (multi-document, or ``kind: List``), checked as strictly as
    ``kubectl apply`` checks them: anything but an ``autoscaling.k8s.io/v1``
    VerticalPodAutoscaler with the CRD's fields is an error naming file, document and field."""
    vpas = []
    for path in paths:
        try:
            docs = list(yaml.safe_load_all(Path(path).read_text()))
        except OSError as exc:
            raise UsageError(f"{path}: cannot read VPA YAML: {exc}") from None
        except yaml.YAMLError as exc:
            raise UsageError(yaml_error(path, exc)) from None
        for number, doc in enumerate(docs, 1):
            if doc is None:
                continue  # an empty document (a trailing ---)
            items = doc.get("items") if isinstance(doc, dict) and doc.get("kind") == "List" \
                else [doc]
            for index, item in enumerate(items or []):
                where = f"{path}: document {number}" + (
                    f" item {index}" if isinstance(doc, dict) and doc.get("kind") == "List"
                    else "")
                vpas.append(_policy(item, where))
    return vpas


def _policy(doc: Any, where: str) -> Vpa:
    if not isinstance(doc, dict):
        raise UsageError(f"{where}: a {type(doc).__name__}, not an object: a --policy file "
                         "holds VerticalPodAutoscaler objects")
    if doc.get("kind") != KIND:
        raise UsageError(f"{where}: kind {doc.get('kind')!r} is not {KIND}: --policy takes "
                         "VerticalPodAutoscalers only")
    name = (doc.get("metadata") or {}).get("name", "?")
    where = f"{where} ({KIND} {name})"
    if doc.get("apiVersion") != VPA_API_VERSION:
        raise UsageError(f"{where}: apiVersion {doc.get('apiVersion')!r}: the cluster serves "
                         f"{VPA_API_VERSION} (v1beta2 was removed); change it to "
                         f"{VPA_API_VERSION}")
    unknown = unknown_fields(doc)
    if unknown:
        raise UsageError(f"{where}: " + "; ".join(unknown))
    try:
        return parse_vpa(doc)
    except ValueError as exc:
        raise UsageError(f"{where}: {exc}") from None


def engine_options(args: argparse.Namespace) -> tuple[Strategy, GpuModel | None, Rounding]:
    try:
        return (
            STRATEGIES.create(args.strategy),
            gpu_model(args.gpu_model or detected_gpu_model(args)),
            Rounding(args.round_cpu_millicores, args.round_memory_bytes),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def detected_gpu_model(args: argparse.Namespace) -> str | None:
    """With ``--prometheus-url`` and no ``--gpu-model``: dcgm-exporter's most common
    ``modelName``, said on stderr (several models are sized as the most common one)."""
    url = getattr(args, "prometheus_url", None)
    if not url:
        return None
    from recommender.input.offline import prometheus_gpu_model

    model, names = prometheus_gpu_model(url, args.history_length, prometheus_auth(args),
                                        prometheus_selector(args))
    if model is not None:
        others = f"; also seen: {', '.join(names[1:])}: each workload is sized for its own" \
            if len(names) > 1 else ""
        print(f"GPU model {model} from dcgm-exporter's modelName {names[0]!r} (--gpu-model "
              f"overrides){others}", file=sys.stderr)
    elif names:
        print(f"GPU model {names[0]!r} is not one Tidal knows: whole GPUs, no MIG; pass "
              "--gpu-model", file=sys.stderr)
    return model


def workload_gpu_models(args: argparse.Namespace) -> GpuModels:
    """With ``--prometheus-url`` and no ``--gpu-model``: each workload's GPU model from
    dcgm-exporter's ``modelName`` (a cluster may have several); empty otherwise."""
    url = getattr(args, "prometheus_url", None)
    if not url or args.gpu_model:
        return {}
    from recommender.input.offline import prometheus_workload_gpu_models

    return prometheus_workload_gpu_models(url, args.history_length, args.namespace,
                                          prometheus_auth(args), prometheus_selector(args))


def minutes_per_sample(args: argparse.Namespace) -> float:
    """The time each loaded sample stands for: Prometheus history is read at its step."""
    if getattr(args, "prometheus_url", None):
        from recommender.input.prometheus import PrometheusSettings

        return PrometheusSettings(url="").resolution_s / 60.0
    return 1.0


def build_model(
    samples: Samples, strategy: Strategy | None = None, minutes: float = 1.0,
    vpas: Sequence[Vpa] = (),
) -> UsageModel:
    """The model of ``samples``, with the ``vpas``' per-VPA memory parameters."""
    model = configure_model(UsageModel(), vpas)
    if strategy is not None:
        prepare_model(model, strategy)
    model.ingest(samples.sorted_by_time(), minutes)
    return model

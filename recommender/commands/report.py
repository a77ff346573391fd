"""``tidal-recommender report``: current vs recommended resources, flags and savings.

Data goes to stdout, logs and progress to stderr; ``--fail-on`` makes the exit code a CI gate.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from recommender.commands.common import (
    UsageError,
    add_engine_args,
    add_source_args,
    build_model,
    engine_options,
    load_policies,
    load_samples,
    minutes_per_sample,
    workload_gpu_models,
)
from recommender.history import Samples
from recommender.input.store import DEFAULT_STORE
from recommender.logic.profile import Profiles, hourly_profiles
from recommender.logic.recommend import recommend
from recommender.model.state import UsageModel
from recommender.report.build import DEFAULT_TOLERANCE, ReportInputs, build_report
from recommender.report.cluster_source import ClusterSource, Lister
from recommender.report.formats import FORMATS
from recommender.report.gate import EXIT_FAILED, parse_gate, violations
from recommender.report.inventory import Inventory
from recommender.report.manifests import ManifestSource
from recommender.report.prices import parse_prices
from recommender.report.progress import Progress
from recommender.report.vpa_status import recommendations_from_status

HELP = "report current vs recommended resources, flags and estimated savings"
EXAMPLES = """examples:
  tidal-recommender report --workloads examples/demo-workloads.yaml --policy examples/demo-vpas.yaml
  tidal-recommender report --from-cluster --format html > report.html
  tidal-recommender report ... --fail-on under --fail-on over:50
"""
REPORT_MEMORY_ROUNDING = 2**20  # reports and patches read better in whole MiB

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    add_source_args(parser)
    add_engine_args(parser)
    parser.set_defaults(round_memory_bytes=REPORT_MEMORY_ROUNDING)
    parser.add_argument(
        "--workloads", type=Path, action="append", default=[], metavar="FILE.yaml",
        help="workload manifests or `kubectl get -o yaml` output giving current requests, "
        "limits and replicas (Deployments, StatefulSets, DaemonSets, CronJobs, Jobs, HPAs; "
        "VPAs found there count as --policy); repeatable",
    )
    parser.add_argument(
        "--from-cluster", action="store_true",
        help="read current workloads, HPAs and VPAs from the API server (besides any "
        "--workloads; --namespace limits it to one namespace)",
    )
    parser.add_argument(
        "--from-vpa-status", action="store_true",
        help="take recommendations from the VPAs' status (from --from-cluster, --workloads or "
        "--policy) instead of computing them from history; no usage evidence then",
    )
    parser.add_argument("--kubeconfig", help="with --from-cluster: kubeconfig (default: "
                        "in-cluster, then ~/.kube/config)")
    parser.add_argument(
        "--format", default="table", choices=FORMATS.names(),
        help="; ".join(f"{n}: {FORMATS.get(n).description}" for n in FORMATS.names()),
    )
    parser.add_argument("--price-cpu", metavar="PRICE", help="price per core-hour")
    parser.add_argument("--price-memory", metavar="PRICE", help="price per GiB-hour")
    parser.add_argument(
        "--price-gpu", metavar="[MODEL=]PRICE", action="append", default=[],
        help="price per GPU-hour, optionally for one GPU model (repeatable)",
    )
    parser.add_argument("--currency", default="USD", help="currency code for prices (USD)")
    parser.add_argument(
        "--tolerance", type=float, default=DEFAULT_TOLERANCE, metavar="PCT",
        help=f"a request within PCT%% of the target is ok (default {DEFAULT_TOLERANCE:g})",
    )
    parser.add_argument(
        "--fail-on", action="append", default=[], metavar="under|over[:PCT]",
        help="exit 1 when a request is below (under) or above (over) its target by more than "
        "PCT%% (default: the tolerance); repeatable",
    )
    parser.add_argument(
        "--generated-at", metavar="TIME",
        help="timestamp to print (ISO 8601); default now, or SOURCE_DATE_EPOCH when set",
    )
    parser.add_argument(
        "--color", choices=("auto", "always", "never"), default="auto",
        help="colour the table: auto = when stdout is a terminal and NO_COLOR is unset",
    )


def generated_at(value: str | None) -> str:
    """The report's timestamp: ``--generated-at``, ``SOURCE_DATE_EPOCH`` or now (UTC)."""
    if value:
        try:
            stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"--generated-at {value!r}: not an ISO 8601 time") from None
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
    elif os.environ.get("SOURCE_DATE_EPOCH"):
        stamp = datetime.fromtimestamp(int(os.environ["SOURCE_DATE_EPOCH"]), UTC)
    else:
        stamp = datetime.now(UTC).replace(microsecond=0)
    return stamp.astimezone(UTC).isoformat().replace("+00:00", "Z")


def use_color(choice: str) -> bool:
    if choice != "auto":
        return choice == "always"
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def cluster_api(kubeconfig: str | None) -> Lister:
    """The API client for --from-cluster (imported lazily: offline reports need no cluster).

    No retries: an unreachable server is one error line, not three urllib3 warnings first."""
    from recommender.cluster.api import KubeApi, api_client

    client = api_client(kubeconfig)
    client.configuration.retries = False
    client.rest_client.pool_manager.connection_pool_kw["retries"] = False
    return KubeApi(client)


def api_error_line(exc: BaseException) -> str:
    """One line for a failed list: the HTTP status and reason, or why the server was not
    reached (the kubernetes client's message spans several lines)."""
    status = getattr(exc, "status", None)
    if status:
        return f"the API server answered {status} {getattr(exc, 'reason', '')}".rstrip()
    text = " ".join(str(getattr(exc, "reason", None) or exc).split())
    errno = re.search(r"\[Errno -?\d+\] [^\"')]+", text)
    host = re.search(r"host='([^']+)', port=(\d+)", text)
    where = f" at {host.group(1)}:{host.group(2)}" if host else ""
    return f"cannot reach the API server{where}: {errno.group(0) if errno else text}"


def load_inventory(args: argparse.Namespace, progress: Progress) -> Inventory:
    """Current resources from --workloads files and, with --from-cluster, the API server."""
    inventory = ManifestSource(args.workloads).load() if args.workloads else Inventory()
    if not args.from_cluster:
        return inventory
    progress.stage("listing workloads")
    try:
        live = ClusterSource(cluster_api(args.kubeconfig), args.namespace,
                             progress.update).load()
    except (OSError, ValueError) as exc:
        raise UsageError(f"--from-cluster: {exc}") from None
    except Exception as exc:  # kubernetes config and API errors: one clean line
        raise UsageError(f"--from-cluster: {api_error_line(exc)}") from None
    inventory.workloads.update(live.workloads)
    inventory.autoscalers.update(live.autoscalers)
    inventory.vpas.extend(live.vpas)
    return inventory


def run(args: argparse.Namespace) -> int:
    strategy, gpu, rounding = engine_options(args)
    try:
        gates = [parse_gate(g) for g in args.fail_on]
        prices = parse_prices(args.price_cpu, args.price_memory, args.price_gpu, args.currency)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.tolerance < 0:
        raise UsageError("--tolerance must not be negative")
    stamp = generated_at(args.generated_at)
    progress = Progress()
    inventory = load_inventory(args, progress)
    vpas = load_policies(args.policy) + inventory.vpas
    gpu_of = {**workload_gpu_models(args), **inventory.gpu_models()}
    samples: Samples | None = None
    if args.from_vpa_status:
        model = UsageModel()
        recs = recommendations_from_status(vpas)
        profiles: Profiles = {}
    else:
        progress.stage("reading history")
        samples = load_samples(args)
        progress.stage(f"building the model from {len(samples):,} samples")
        model = build_model(samples, strategy, minutes_per_sample(args), vpas)
        progress.stage("recommending")
        recs = recommend(model, strategy, vpas, gpu, horizon=args.horizon, gpu_of=gpu_of)
        profiles = hourly_profiles(model, strategy, recs, vpas)
    # File names only: a report is shared, local paths are noise (and break golden files).
    if args.from_vpa_status:
        source = "VerticalPodAutoscaler status"
    elif args.history:
        source = f"history {args.history.name}"
    elif getattr(args, "prometheus_url", None):
        source = f"prometheus {args.prometheus_url}"
    else:
        source = f"store {Path(args.store or DEFAULT_STORE).name}"
    report = build_report(ReportInputs(
        model=model, recommendations=recs, strategy=strategy, inventory=inventory, vpas=vpas,
        samples=samples, gpu=gpu, gpu_of=gpu_of, prices=prices, rounding=rounding,
        tolerance=args.tolerance,
        generated_at=stamp, source=source, profiles=profiles,
    ))
    progress.done(f"{len(report.containers)} containers")
    sys.stdout.write(FORMATS.render(args.format, report, color=use_color(args.color)))
    sys.stdout.flush()
    failures = violations(report, gates)
    for message in failures:
        print(f"tidal-recommender: fail-on: {message}", file=sys.stderr)
    if failures:
        log.debug("%d lines tripped --fail-on", len(failures))
        return EXIT_FAILED
    return 0

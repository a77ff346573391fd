"""``tidal-certs``: generate, check, rotate and install the webhook's TLS certificates.

Exit codes: 0 success, 1 a certificate problem found by ``check``, 2 usage or runtime error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path

from certs import checks, pki
from certs.cluster import ClusterError
from certs.install import InstallSettings, inspect_cluster, install_bundle, sync_in_cluster
from recommender.version import add_version

DEFAULT_DIR = Path("certs/local")
EXIT_PROBLEM = 1
EXIT_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``tidal-certs`` and ``python -m certs``."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except (OSError, ValueError, LookupError, ClusterError) as error:
        print(f"tidal-certs: error: {error}", file=sys.stderr)
        return EXIT_ERROR


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tidal-certs",
        description="Generate, check, rotate and install the TLS certificates of Tidal's "
        "admission webhook. Exit codes: 0 fine, 1 a certificate problem found by `check`, "
        "2 an error.",
    )
    add_version(parser)
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="create a CA and a serving certificate")
    _service_args(gen)
    gen.add_argument("--out", type=Path, default=DEFAULT_DIR,
                     help=f"output directory (default {DEFAULT_DIR})")
    _san_args(gen)
    gen.add_argument("--ca-days", type=int, default=3650, help="CA validity (days)")
    gen.add_argument("--leaf-days", type=int, default=365, help="serving cert validity (days)")
    gen.add_argument("--force", action="store_true", help="replace an existing CA in --out")
    gen.set_defaults(handler=cmd_generate)

    check = commands.add_parser("check", help="print a certificate; fail if it needs renewal")
    _service_args(check)
    check.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="directory with tls.crt")
    check.add_argument("--cert", type=Path, help="certificate file (default DIR/tls.crt)")
    check.add_argument("--ca", type=Path, help="CA to verify against (default DIR/ca.crt)")
    _min_days_arg(check)
    check.add_argument(
        "--in-cluster",
        action="store_true",
        help="check the cluster's serving Secret and the webhooks' caBundle instead of files",
    )
    _cluster_args(check)
    check.set_defaults(handler=cmd_check)

    rotate = commands.add_parser("rotate", help="renew the serving certificate, keep the CA")
    _service_args(rotate)
    rotate.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="directory of the PKI")
    _san_args(rotate)
    rotate.add_argument("--leaf-days", type=int, default=365, help="new cert validity (days)")
    _min_days_arg(rotate)
    rotate.add_argument("--force", action="store_true", help="renew even if still valid")
    rotate.add_argument(
        "--in-cluster",
        action="store_true",
        help="rotate the certificate stored in the cluster's Secrets instead of --dir",
    )
    _cluster_args(rotate)
    rotate.set_defaults(handler=cmd_rotate)

    install = commands.add_parser(
        "install",
        help="create/update the Secrets and patch caBundle into the webhook configurations",
        description="With --dir, upload that PKI. Without it, keep the CA in the cluster: "
        "create it on first run and renew the serving certificate when needed.",
    )
    _service_args(install)
    install.add_argument("--dir", type=Path, help="upload this PKI instead of the cluster's")
    _min_days_arg(install)
    _cluster_args(install)
    install.set_defaults(handler=cmd_install)
    return parser


def _service_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--service", default="tidal-webhook", help="webhook Service name")
    parser.add_argument("--namespace", default="tidal-system", help="webhook namespace")


def _san_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ip", action="append", default=[], help="extra IP SAN (repeatable)")
    parser.add_argument("--dns", action="append", default=[], help="extra DNS SAN (repeatable)")


def _min_days_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--min-days",
        type=float,
        default=checks.DEFAULT_MIN_DAYS,
        help="a certificate expiring within this many days needs renewal (default 30)",
    )


def _cluster_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster or ~/.kube)")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--secret", default="tidal-webhook-tls", help="serving Secret name")
    parser.add_argument("--ca-secret", default="tidal-webhook-ca", help="CA Secret name")
    parser.add_argument(
        "--webhook-config",
        default="tidal-webhook",
        help="name of both webhook configurations (default tidal-webhook)",
    )
    parser.add_argument("--mutating", help="MutatingWebhookConfiguration name ('' skips it)")
    parser.add_argument("--validating", help="ValidatingWebhookConfiguration name ('' skips it)")
    parser.add_argument(
        "--no-store-ca", action="store_true", help="do not keep the CA key in a Secret"
    )
    parser.add_argument(
        "--apiservice", action="append", default=[],
        help="APIService served by this certificate, whose caBundle to set (repeatable; e.g. "
        "v1beta1.external.metrics.k8s.io with --service tidal-metrics-api)",
    )


def install_settings(args: argparse.Namespace) -> InstallSettings:
    """The install settings that the command line names."""
    return InstallSettings(
        namespace=args.namespace,
        service=args.service,
        tls_secret=args.secret,
        ca_secret=args.ca_secret,
        mutating=args.webhook_config if args.mutating is None else args.mutating,
        validating=args.webhook_config if args.validating is None else args.validating,
        store_ca=not args.no_store_ca,
        apiservices=tuple(args.apiservice),
    )


def cmd_generate(args: argparse.Namespace) -> int:
    bundle = pki.Bundle.at(args.out)
    if bundle.ca_cert.exists() and not args.force:
        raise ValueError(f"{bundle.ca_cert} exists: use `rotate` to keep it or --force")
    pki.generate(
        args.out,
        args.service,
        args.namespace,
        ips=args.ip,
        dns=args.dns,
        ca_days=args.ca_days,
        leaf_days=args.leaf_days,
    )
    print(f"wrote {bundle.ca_cert}, {bundle.ca_key}, {bundle.cert}, {bundle.key}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    now = dt.datetime.now(dt.UTC)
    if args.in_cluster:
        from certs.cluster import connect

        cluster = connect(args.kubeconfig, args.context)
        settings = install_settings(args)
        info, found = inspect_cluster(cluster, settings, min_days=args.min_days, now=lambda: now)
        print(f"certificate: secret {settings.namespace}/{settings.tls_secret}")
    else:
        cert_path = args.cert or pki.Bundle.at(args.dir).cert
        ca_path = args.ca or pki.Bundle.at(args.dir).ca_cert
        cert = pki.load_certificate(cert_path)
        ca = pki.load_certificate(ca_path) if ca_path.exists() else None
        info = checks.describe(cert)
        found = checks.problems(
            cert, args.service, args.namespace, min_days=args.min_days, ca=ca, now=now
        )
        print(f"certificate: {cert_path}")
    for line in info.lines(now) if info else []:
        print(line)
    for problem in found:
        print(f"PROBLEM: {problem}")
    if not found:
        print("OK")
    return EXIT_PROBLEM if found else 0


def cmd_rotate(args: argparse.Namespace) -> int:
    if args.in_cluster:
        return _run_in_cluster(args, force_rotate=args.force)
    bundle = pki.Bundle.at(args.dir)
    old = pki.load_certificate(bundle.cert)
    ca = pki.load_certificate(bundle.ca_cert)
    reasons = checks.problems(old, args.service, args.namespace, min_days=args.min_days, ca=ca)
    if not reasons and not args.force:
        print(f"{bundle.cert} is fine; nothing to do (use --force to renew anyway)")
        return 0
    kept_ips, kept_dns = checks.extra_sans(checks.describe(old), args.service, args.namespace)
    pki.renew_leaf(
        args.dir,
        args.service,
        args.namespace,
        ips=_unique(kept_ips + args.ip),
        dns=_unique(kept_dns + args.dns),
        leaf_days=args.leaf_days,
    )
    print(f"renewed {bundle.cert} ({'; '.join(reasons) or 'forced'}); CA kept")
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    if args.dir is None:
        return _run_in_cluster(args, force_rotate=False)
    from certs.cluster import connect

    cluster = connect(args.kubeconfig, args.context)
    for action in install_bundle(cluster, pki.Bundle.at(args.dir), install_settings(args)):
        print(action)
    return 0


def _run_in_cluster(args: argparse.Namespace, *, force_rotate: bool) -> int:
    from certs.cluster import connect

    cluster = connect(args.kubeconfig, args.context)
    settings = install_settings(args)
    for action in sync_in_cluster(
        cluster, settings, min_days=args.min_days, force_rotate=force_rotate
    ):
        print(action)
    return 0


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


if __name__ == "__main__":
    sys.exit(main())

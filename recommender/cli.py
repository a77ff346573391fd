"""``tidal-recommender``: one subcommand per module in :mod:`recommender.commands`."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from recommender.commands.common import UsageError
from recommender.input.csv_history import HistoryError
from recommender.version import add_version

# Subcommand name -> module under recommender.commands (configure(parser), run(args), HELP).
COMMANDS = {
    "demo": "demo",
    "ingest": "ingest",
    "recommend": "recommend",
    "run": "run",
    "report": "report",
    "replay": "replay",
    "backtest": "backtest",
    "forecast": "forecast",
    "import": "import_trace",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tidal-recommender", description="Tidal: VPA-compatible resource recommender",
        epilog="start with:\n  tidal-recommender demo --output h.csv && tidal-recommender "
        "ingest h.csv && tidal-recommender recommend\n\n'tidal-recommender COMMAND --help' "
        "has examples for each command",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging to stderr")
    add_version(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"recommender.commands.{module_name}")
        command = sub.add_parser(
            name, help=module.HELP, description=module.HELP,
            epilog=getattr(module, "EXAMPLES", None),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.configure(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.run(args) or 0)
    except (UsageError, HistoryError, ValueError) as exc:
        print(f"tidal-recommender: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())

"""The installed distribution's version, and the ``--version`` flag of every command."""

from __future__ import annotations

import argparse
from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "tidal"


def tidal_version() -> str:
    """The version of the installed ``tidal`` distribution (``unknown`` when run uninstalled)."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"


def add_version(parser: argparse.ArgumentParser) -> None:
    """``--version``: print ``<prog> <version>`` and exit 0."""
    parser.add_argument("--version", action="version", version=f"%(prog)s {tidal_version()}")

"""``python -m updater``: the same as ``tidal-updater``."""

import sys

from updater.cli import main

sys.exit(main())

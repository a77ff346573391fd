"""``python -m certs``: the same as ``tidal-certs``."""

import sys

from certs.cli import main

sys.exit(main())

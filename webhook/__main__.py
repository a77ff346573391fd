"""``python -m webhook``: the same as ``tidal-webhook``."""

import sys

from webhook.cli import main

sys.exit(main())

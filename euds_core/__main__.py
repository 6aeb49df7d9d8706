"""``python -m euds_core <command>``: see euds_core/cli/__init__.py."""

import sys

from euds_core.cli import main

sys.exit(main())

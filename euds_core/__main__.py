"""``python -m euds_core <command>``: see euds_core/cli/__init__.py.

OpenMP threads that wait sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``, set before torch loads; a user's
own value wins): on 2 cores shared with other processes (load ~12) spinning made one MiniLM training step of
torch's 2 threads 13.4 s instead of 0.65 s (docs/performance.md). The app's background jobs run this module too.
"""

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from euds_core.cli import main  # noqa: E402  (after the OpenMP setting)

sys.exit(main())

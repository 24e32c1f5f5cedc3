"""``python -m arda_ops.drift`` = ``runtime-platform-drift``."""

import sys

from arda_ops.drift.cli import main

sys.exit(main())

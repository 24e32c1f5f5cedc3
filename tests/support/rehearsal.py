"""``make rehearse`` as the tests run it: the rehearsal CLI in a fresh process (moto's recorder reads its file name
once, at import), with no AWS variable of the caller's (the world sets its own), in a test's own directory (the CLI
writes its handler log under ``.rehearsal/`` of its working directory)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_rehearsal(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "arda_ops.rehearsal.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

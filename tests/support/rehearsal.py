"""``make rehearse`` as the tests run it: the rehearsal CLI in a fresh process (moto's recorder reads its file name
once, at import), with no AWS variable of the caller's (the world sets its own)."""

from __future__ import annotations

import os
import subprocess
import sys

from arda_ops.handlers import REPO_ROOT


def run_rehearsal(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "arda_ops.rehearsal.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

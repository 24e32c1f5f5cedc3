"""``make rehearse`` as the tests run it: the rehearsal CLI in a fresh process (moto's recorder reads its file name
once, at import), with no AWS variable of the caller's (the world sets its own), in a test's own directory (the CLI
writes its handler log under ``.rehearsal/`` of its working directory)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


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


def rehearsal_report(*args: str, cwd: Path) -> tuple[dict[str, Any], str]:
    """A ``--json`` run that must pass: its report, and everything it printed (for the token checks)."""
    result = run_rehearsal(*args, "--json", cwd=cwd)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout), result.stdout + result.stderr

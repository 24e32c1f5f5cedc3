"""Run the emulator as a subprocess (``python -m postmark_emulator``) and talk to its control API.

The tokens travel to the child in its environment, never on its command line.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from postmark_emulator.__main__ import ACCOUNTS_ENV


class EmulatorProcess:
    """``with EmulatorProcess({"PostmarkNonProd": token}) as pm: pm.url …``"""

    def __init__(self, accounts: Mapping[str, str], *, port: int = 0, extra_args: Sequence[str] = ()) -> None:
        self._accounts = dict(accounts)
        self._args = ["--port", str(port), *extra_args]
        self._proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.port = 0

    def start(self, timeout_s: float = 10.0) -> EmulatorProcess:
        ops_dir = str(Path(__file__).resolve().parent.parent)  # so `-m postmark_emulator` resolves anywhere
        python_path = os.pathsep.join(p for p in (ops_dir, os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, ACCOUNTS_ENV: json.dumps(self._accounts), "PYTHONPATH": python_path}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "postmark_emulator", *self._args],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout_s)
        line = self._proc.stdout.readline() if ready else ""
        if not line:
            self.stop()
            raise RuntimeError("the Postmark emulator subprocess exited before announcing its URL")
        announced = json.loads(line)
        self.url, self.port = announced["url"], int(announced["port"])
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._proc = None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call ``/__emulator/<path>`` and return the decoded JSON answer."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(  # noqa: S310 - loopback URL built from our own announcement
            f"{self.url}/__emulator/{path.lstrip('/')}", data=data, method=method
        )
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.loads(response.read() or b"null")

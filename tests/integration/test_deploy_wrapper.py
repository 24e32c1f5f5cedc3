"""bin/deploy end to end, as an operator runs it, up to where real AWS would be needed.

A fake ``op`` hands out a token, STS is moto in server mode (so the preflight's account check really runs),
and SAM CLI runs for real in-process with CloudFormation/S3 pointed at a closed loopback port. The run must
fail with SAM's own clear error, and the token must appear nowhere in what the operator sees.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer
from support import secret_scan

from arda_ops.handlers import REPO_ROOT

TOKEN = "deploy-wrapper-token-7c1e0b4a"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def moto_sts():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _env(tmp_path: Path, sts_url: str) -> dict[str, str]:
    secret_scan.register(TOKEN)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "op").write_text(f'#!/bin/sh\n[ "$1" = read ] || exit 9\nprintf %s "{TOKEN}"\n')
    (bin_dir / "aws").write_text("#!/bin/sh\nexit 0\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        '[infrastructure.PlatformRoot]\naccount_id = "210987654321"\nregion = "us-east-1"\n'
        '[infrastructure.Alpha002]\naccount_id = "123456789012"\nregion = "us-east-1"\n'
    )
    closed = f"http://127.0.0.1:{_closed_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env.update(
        PATH=f"{bin_dir}:{os.environ['PATH']}",
        ARDA_MAIL_ACCOUNTS_FILE=str(accounts),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL_STS=sts_url,
        AWS_ENDPOINT_URL_CLOUDFORMATION=closed,
        AWS_ENDPOINT_URL_S3=closed,
        AWS_MAX_ATTEMPTS="1",
        AWS_RETRY_MODE="standard",
        HOME=str(tmp_path),
    )
    return env


def test_deploy_reaches_sam_and_never_shows_the_token(tmp_path, moto_sts):
    result = subprocess.run(
        [str(REPO_ROOT / "bin" / "deploy"), "dev", "--skip-build", "--", "--no-execute-changeset"],
        env=_env(tmp_path, moto_sts),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "deploying dev to account 123456789012 (us-east-1)" in output
    assert "Could not connect to the endpoint URL" in output
    assert TOKEN not in output
    assert not list(tmp_path.rglob("*params*"))


def test_wrong_account_stops_before_op_is_asked(tmp_path, moto_sts):
    env = _env(tmp_path, moto_sts)
    (tmp_path / "accounts.toml").write_text(
        '[infrastructure.PlatformRoot]\naccount_id = "210987654321"\nregion = "us-east-1"\n'
        '[infrastructure.Alpha002]\naccount_id = "444455556666"\nregion = "us-east-1"\n'
    )
    (tmp_path / "bin" / "op").write_text("#!/bin/sh\necho op-was-called >&2\nexit 1\n")
    result = subprocess.run(
        [str(REPO_ROOT / "bin" / "deploy"), "dev", "--skip-build"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "belong to account 123456789012, but dev lives in Alpha002 (444455556666)" in result.stderr
    assert "op-was-called" not in result.stderr

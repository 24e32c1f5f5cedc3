"""bin/deploy end to end, as an operator runs it, up to where real AWS would be needed.

A fake ``op`` hands out a token, STS is moto in server mode (so the preflight's account check really runs),
and SAM CLI runs for real in-process with CloudFormation/S3 pointed at a closed loopback port. The run must
fail with SAM's own clear error, and the token must appear nowhere in what the operator sees. Credentials come
from a named profile in a private ``~/.aws`` (none in the environment), as operators log in: so a run that reaches
SAM's connection error proves both the identity check and SAM used the profile. PATH holds no ``aws`` and no
``sam``: the wrapper must not need them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from support import secret_scan

from arda_ops.handlers import REPO_ROOT
from arda_ops.loopback.accounts import PARTITION_ACCOUNT, PLATFORM_ROOT_ACCOUNT
from arda_ops.loopback.aws import MotoService

TOKEN = "deploy-wrapper-token-7c1e0b4a"
PROFILE = "Alpha002-Admin"
# PARTITION_ACCOUNT is the account moto's STS reports for any key
ACCOUNTS = (
    f'[infrastructure.PlatformRoot]\naccount_id = "{PLATFORM_ROOT_ACCOUNT}"\nregion = "us-east-1"\n'
    '[infrastructure.Alpha001]\naccount_id = "111122223333"\nregion = "us-east-1"\n'
    '[infrastructure.Alpha002]\naccount_id = "{alpha002}"\nregion = "us-east-1"\n'  # filled in per test
    '[mail_root]\nzone_id = "Z0123456789ABCDEFGHIJ"\n'
)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def moto_sts():
    with MotoService() as moto:
        yield moto.url


def _render_samconfig(accounts: Path, out: Path) -> None:
    """What `samconfig --write` renders from these accounts (in a fresh process: the accounts are cached)."""
    env = {**os.environ, "ARDA_MAIL_ACCOUNTS_FILE": str(accounts)}
    subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "python"), "-m", "arda_ops.samconfig", "--write", "--path", str(out)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


def _env(tmp_path: Path, sts_url: str, alpha002: str = PARTITION_ACCOUNT) -> dict[str, str]:
    secret_scan.register(TOKEN)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "op").write_text(f'#!/bin/sh\n[ "$1" = read ] || exit 9\nprintf %s "{TOKEN}"\n')
    (bin_dir / "op").chmod(0o755)
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(ACCOUNTS.format(alpha002=alpha002))
    _render_samconfig(accounts, tmp_path / "samconfig.toml")
    aws_dir = tmp_path / ".aws"
    aws_dir.mkdir(exist_ok=True)
    (aws_dir / "config").write_text(f"[profile {PROFILE}]\nregion = us-east-1\n")
    (aws_dir / "credentials").write_text(f"[{PROFILE}]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    closed = f"http://127.0.0.1:{_closed_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        PATH=f"{bin_dir}:/usr/bin:/bin",
        ARDA_MAIL_ACCOUNTS_FILE=str(accounts),
        ARDA_MAIL_SAMCONFIG=str(tmp_path / "samconfig.toml"),
        AWS_CONFIG_FILE=str(aws_dir / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(aws_dir / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_ENDPOINT_URL_STS=sts_url,
        AWS_ENDPOINT_URL_CLOUDFORMATION=closed,
        AWS_ENDPOINT_URL_S3=closed,
        AWS_MAX_ATTEMPTS="1",
        AWS_RETRY_MODE="standard",
        HOME=str(tmp_path),
    )
    assert shutil.which("aws", path=env["PATH"]) is None
    assert shutil.which("sam", path=env["PATH"]) is None
    return env


def _run(env: dict[str, str], *args: str, timeout: int = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO_ROOT / "bin" / "deploy"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize("how", ["--profile", "AWS_PROFILE"])
def test_deploy_reaches_sam_with_the_profile_and_never_shows_the_token(tmp_path, moto_sts, how):
    env = _env(tmp_path, moto_sts)
    args = ["dev", "--skip-build", "--reconcile", "--", "--no-execute-changeset"]
    if how == "--profile":
        args[1:1] = ["--profile", PROFILE]
    else:
        env["AWS_PROFILE"] = PROFILE
    result = _run(env, *args)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"deploying dev to account {PARTITION_ACCOUNT} (us-east-1) with profile {PROFILE}" in output
    assert "reconcile: Reconcile=" in output
    # SAM got as far as calling CloudFormation/S3: it found credentials, and only the profile holds any.
    assert "Could not connect to the endpoint URL" in output
    assert "Unable to locate credentials" not in output
    assert TOKEN not in output
    assert not list(tmp_path.rglob("*params*"))


def test_take_over_existing_is_passed_only_when_asked_and_never_with_adopt(tmp_path, moto_sts):
    """Finishing a failed adoption's deploy: the flag reaches the deploy; a plain deploy says false (unit-tested)."""
    env = _env(tmp_path, moto_sts)
    result = _run(env, "dev", "--profile", PROFILE, "--skip-build", "--take-over-existing")
    assert "take-over: TakeOverExistingPostmarkDomain=true" in result.stdout
    assert TOKEN not in result.stdout + result.stderr
    plain = _run(env, "dev", "--profile", PROFILE, "--skip-build")
    assert "take-over:" not in plain.stdout
    both = _run(env, "dev", "--adopt", "--take-over-existing", timeout=60)
    assert both.returncode == 2
    assert "--adopt already lets the deploy take the existing domain over" in both.stderr


def test_without_a_profile_there_are_no_credentials_and_op_is_not_asked(tmp_path, moto_sts):
    env = _env(tmp_path, moto_sts)
    (tmp_path / "bin" / "op").write_text("#!/bin/sh\necho op-was-called >&2\nexit 1\n")
    result = _run(env, "dev", "--skip-build", timeout=60)
    assert result.returncode == 2
    assert "cannot tell which AWS account these credentials belong to: Unable to locate credentials" in result.stderr
    assert "op-was-called" not in result.stderr


def test_wrong_account_stops_before_op_is_asked(tmp_path, moto_sts):
    env = _env(tmp_path, moto_sts, alpha002="444455556666")
    (tmp_path / "bin" / "op").write_text("#!/bin/sh\necho op-was-called >&2\nexit 1\n")
    result = _run(env, "dev", "--profile", PROFILE, "--skip-build", timeout=60)
    assert result.returncode == 2
    assert (
        f"the credentials of profile {PROFILE} belong to account {PARTITION_ACCOUNT}, but dev lives in Alpha002 (444455556666)"
        in result.stderr
    )
    assert "op-was-called" not in result.stderr


def test_stale_samconfig_stops_with_the_command_that_regenerates_it(tmp_path, moto_sts):
    env = _env(tmp_path, moto_sts)
    env.pop("ARDA_MAIL_SAMCONFIG")  # the repository's checked-in samconfig, rendered from the placeholders
    result = _run(env, "dev", "--profile", PROFILE, "--skip-build", timeout=60)
    assert result.returncode == 2
    assert "samconfig.toml is stale for dev" in result.stderr
    assert "regenerate it with `.venv/bin/python -m arda_ops.samconfig --write`" in result.stderr

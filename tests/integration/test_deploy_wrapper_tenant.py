"""bin/deploy --tenant end to end, as an operator runs it, up to where real AWS would be needed.

STS is moto in server mode (the preflight's account check really runs), SAM CLI runs for real in-process with
CloudFormation pointed at a closed loopback port: the run must get as far as SAM's own connection error, with the
tenant's stack name and no ``op``/``make`` on PATH (a tenant stack needs neither a token nor a build).
"""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from arda_mail.placement import tenant_placement
from arda_ops.handlers import REPO_ROOT
from arda_ops.loopback.accounts import CORPORATE_ACCOUNT, PARTITION_ACCOUNT, PLATFORM_ROOT_ACCOUNT
from arda_ops.loopback.aws import MotoService

PROFILE = "Alpha002-Admin"
# PARTITION_ACCOUNT is the account moto's STS reports for any key
ACCOUNTS = (
    "".join(
        f'[infrastructure.{name}]\naccount_id = "{acct}"\nregion = "us-east-1"\n'
        for name, acct in (
            ("PlatformRoot", PLATFORM_ROOT_ACCOUNT),
            ("Corporate", CORPORATE_ACCOUNT),
            ("Alpha001", "111122223333"),
            ("Alpha002", PARTITION_ACCOUNT),
        )
    )
    + '[mail_root]\nzone_id = "Z0123456789ABCDEFGHIJ"\n'
)


@pytest.fixture
def env(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(ACCOUNTS)
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    python = str(REPO_ROOT / ".venv" / "bin" / "python")
    samconfig_file = str(tmp_path / "samconfig.toml")
    subprocess.run(
        [python, "-m", "arda_ops.samconfig", "--write", "--path", samconfig_file],
        env={**base, "ARDA_MAIL_ACCOUNTS_FILE": str(accounts)},
        check=True,
        capture_output=True,
        timeout=120,
    )
    aws_dir = tmp_path / ".aws"
    aws_dir.mkdir()
    (aws_dir / "config").write_text(f"[profile {PROFILE}]\nregion = us-east-1\n")
    (aws_dir / "credentials").write_text(f"[{PROFILE}]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    with MotoService() as moto:
        yield {
            **base,
            "PATH": f"{empty_bin}:/usr/bin:/bin",
            "ARDA_MAIL_ACCOUNTS_FILE": str(accounts),
            "ARDA_MAIL_SAMCONFIG": str(tmp_path / "samconfig.toml"),
            "AWS_CONFIG_FILE": str(aws_dir / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(aws_dir / "credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL_STS": moto.url,
            "AWS_ENDPOINT_URL_CLOUDFORMATION": closed,
            "AWS_ENDPOINT_URL_S3": closed,
            "AWS_MAX_ATTEMPTS": "1",
            "HOME": str(tmp_path),
        }


def _run(env, *args):
    return subprocess.run(
        [str(REPO_ROOT / "bin" / "deploy"), *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )


@pytest.mark.parametrize("delete", [False, True])
def test_tenant_deploy_and_delete_reach_sam_with_the_tenant_stack(env, delete):
    tenant = tenant_placement("dev", "acme")
    result = _run(env, "dev", "--tenant", "acme", "--profile", PROFILE, *(["--delete"] if delete else []))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    verb = "deleting" if delete else "deploying"
    assert f"{verb} {tenant.stack_name} ({tenant.mail.mail_domain}) " in output
    assert f"account {PARTITION_ACCOUNT} (us-east-1)" in output
    # SAM got as far as calling CloudFormation with the profile's credentials.
    assert "Could not connect to the endpoint URL" in output
    assert "Unable to locate credentials" not in output


def test_a_reserved_slug_stops_before_aws(env):
    result = _run(env, "dev", "--tenant", "stage", "--profile", PROFILE)
    assert result.returncode == 2
    assert "preflight: tenant slug 'stage' is reserved" in result.stderr

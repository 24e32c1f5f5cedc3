"""bin/deploy's preflight and argument assembly (the SAM run itself is exercised in the integration test)."""

from __future__ import annotations

import pytest

from arda_mail.accounts import ACCOUNTS_FILE_ENV, load_accounts
from arda_ops import deploy
from arda_ops.deploy import PreflightError

REAL = "123456789012"


@pytest.fixture
def real_accounts(tmp_path, monkeypatch):
    f = tmp_path / "accounts.toml"
    f.write_text(
        "\n".join(
            f'[infrastructure.{name}]\naccount_id = "{acct}"\nregion = "eu-west-1"'
            for name, acct in [("PlatformRoot", "210987654321"), ("Alpha001", "111122223333"), ("Alpha002", REAL)]
        )
    )
    monkeypatch.setenv(ACCOUNTS_FILE_ENV, str(f))
    load_accounts.cache_clear()
    yield f
    load_accounts.cache_clear()


@pytest.fixture
def tools(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sam", "aws", "op"):
        exe = bin_dir / tool
        exe.write_text("#!/bin/sh\nexit 0\n")
        exe.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


def test_unknown_and_suspended_partitions():
    with pytest.raises(PreflightError, match="unknown partition 'qa'"):
        deploy.preflight("qa", identity=lambda region: REAL)
    with pytest.raises(PreflightError, match="suspended"):
        deploy.preflight("kyle", identity=lambda region: REAL)


def test_placeholder_accounts_are_refused():
    load_accounts.cache_clear()
    with pytest.raises(PreflightError, match=r"placeholder account ID 000000000002 for Alpha002"):
        deploy.preflight("dev", identity=lambda region: REAL)


def test_missing_tools_are_named(real_accounts, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PreflightError, match="sam, aws, op"):
        deploy.preflight("dev", identity=lambda region: REAL, tools_path=str(empty))


def test_wrong_account_says_which(real_accounts, tools):
    with pytest.raises(
        PreflightError, match=r"belong to account 999999999999, but dev lives in Alpha002 \(123456789012\)"
    ):
        deploy.preflight("dev", identity=lambda region: "999999999999")


def test_preflight_passes(real_accounts, tools):
    plan = deploy.preflight("dev", identity=lambda region: REAL)
    assert (plan.account_id, plan.region) == (REAL, "eu-west-1")


def test_deploy_passes_samconfig_overrides_and_the_token_in_process(real_accounts, tools):
    calls = []
    rc = deploy.deploy(
        "dev",
        identity=lambda region: REAL,
        token_reader=lambda partition: "tok-" + partition,
        build=lambda: calls.append("build"),
        sam=lambda args: calls.append(list(args)) or 0,
        extra_sam_args=["--no-execute-changeset"],
    )
    assert rc == 0
    assert calls[0] == "build"
    assert calls[1] == [
        "deploy",
        "--config-env",
        "dev",
        "--parameter-overrides",
        *deploy.sam_parameter_overrides("dev"),
        "PostmarkAccountToken=tok-dev",
        "--no-execute-changeset",
    ]
    assert calls[1][4] == "Partition=dev"


@pytest.mark.parametrize("bad", ["--debug", "--guided", "--parameter-overrides", "--parameter-overrides=X=1"])
def test_args_that_would_leak_or_drop_the_token_are_refused(real_accounts, tools, bad):
    with pytest.raises(PreflightError, match="not allowed"):
        deploy.deploy(
            "dev",
            extra_sam_args=[bad],
            identity=lambda region: REAL,
            token_reader=lambda p: "t",
            build=lambda: None,
            sam=lambda a: 0,
        )


def test_samconfig_overrides_for_every_partition():
    for partition in ("dev", "stage", "demo", "prod"):
        overrides = deploy.sam_parameter_overrides(partition)
        assert overrides[0] == f"Partition={partition}"
        assert not any(o.startswith("PostmarkAccountToken") for o in overrides)

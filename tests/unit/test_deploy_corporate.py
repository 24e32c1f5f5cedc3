"""``bin/deploy corporate``: the Corporate mail stack through the same wrapper as a partition.

Same preflight (accounts, samconfig env, tools, identity), its own account (``[infrastructure.Corporate]``), its own
1Password reference, its own build (``make build-corporate``, corporate/template.yaml into its own folder) and
``sam deploy --config-env corporate``. SAM itself is replaced by a recorder here; the SAM run is exercised by the
partition's integration test.
"""

from __future__ import annotations

import tomllib

import pytest
from support.deploy_env import ALPHA002, CORPORATE, ROOT, ZONE, use_accounts, use_tools, write_accounts

from arda_mail.placement import CORPORATE_ONEPASSWORD_VAULT, corporate_placement
from arda_ops import deploy
from arda_ops.accounts import load_accounts
from arda_ops.deploy import PreflightError
from arda_ops.handlers import REPO_ROOT


@pytest.fixture
def accounts(tmp_path, monkeypatch):
    yield use_accounts(tmp_path, monkeypatch)
    load_accounts.cache_clear()


@pytest.fixture
def tools(tmp_path, monkeypatch):
    return use_tools(tmp_path, monkeypatch)


def corporate_caller(region, profile):
    return CORPORATE


def test_preflight_resolves_corporates_own_account_and_region(accounts, tools):
    plan = deploy.preflight("corporate", identity=corporate_caller)
    assert (plan.partition, plan.account_id, plan.region) == ("corporate", CORPORATE, "eu-west-1")


def test_credentials_of_a_partition_account_are_refused_for_corporate(accounts, tools):
    with pytest.raises(PreflightError, match=rf"belong to account {ALPHA002}, but corporate lives in Corporate"):
        deploy.preflight("corporate", identity=lambda region, profile: ALPHA002)


def test_the_checked_in_placeholder_is_refused():
    load_accounts.cache_clear()
    with pytest.raises(PreflightError, match=r"placeholder account ID 000000000004 for Corporate"):
        deploy.preflight("corporate", identity=corporate_caller)


def test_an_accounts_file_without_corporate_names_the_missing_entry(accounts, tools):
    write_accounts(accounts, corporate=None)
    with pytest.raises(PreflightError, match=r"no \[infrastructure.Corporate\] entry"):
        deploy.preflight("corporate", identity=corporate_caller)


def test_a_stale_corporate_env_is_refused(accounts, tools, monkeypatch):
    config = accounts.parent / "samconfig.toml"
    config.write_text(config.read_text().replace('stack_name = "Corporate-Email"', 'stack_name = "Other"'))
    with pytest.raises(PreflightError, match=r"stale for corporate \(stack_name differ"):
        deploy.preflight("corporate", identity=corporate_caller)


def test_deploy_builds_corporate_and_deploys_its_env_with_its_own_token(accounts, tools):
    read, sam_args = [], []
    rc = deploy.deploy(
        "corporate",
        identity=corporate_caller,
        token_reader=lambda name: read.append(name) or "tok-corporate",
        sam=lambda args: sam_args.append(list(args)) or 0,
    )
    assert rc == 0
    assert read == ["corporate"]
    assert tools.read_text().split() == ["build-corporate"]  # the real run_build, through make on PATH
    assert sam_args == [
        [
            "deploy",
            "--config-file",
            str(accounts.parent / "samconfig.toml"),
            "--config-env",
            "corporate",
            "--parameter-overrides",
            f"DelegationRoleArn=arn:aws:iam::{ROOT}:role/ArdaMailsNsDelegationRole",
            f"ParentZoneId={ZONE}",
            "TakeOverExistingPostmarkDomain=false",
            "PostmarkAccountToken=tok-corporate",
        ]
    ]


def test_the_token_reference_is_corporates_vault():
    assert deploy.token_reference("corporate") == f"op://{CORPORATE_ONEPASSWORD_VAULT}/Postmark/credential"
    assert deploy.token_reference("corporate") == corporate_placement().postmark_token_reference
    assert deploy.token_reference("dev") == "op://Arda-DevOAM/Postmark/credential"


def test_the_corporate_build_writes_where_the_corporate_deploy_reads():
    """make build-corporate builds with samconfig's corporate build env; its deploy env reads that build's output."""
    env = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text())["corporate"]
    build, deploy_env = env["build"]["parameters"], env["deploy"]["parameters"]
    assert build["template_file"] == "corporate/template.yaml"
    assert deploy_env["template_file"] == f"{build['build_dir']}/template.yaml"
    assert env["validate"]["parameters"]["template_file"] == "corporate/template.yaml"
    makefile = (REPO_ROOT / "Makefile").read_text()
    recipe = makefile.split("\nbuild-corporate:", 1)[1].split("\n\n", 1)[0]
    assert "--config-env corporate" in recipe
    assert "samconfig.toml" in recipe
    assert deploy.build_target("dev") == "build"

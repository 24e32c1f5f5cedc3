"""bin/deploy's preflight and argument assembly (the SAM run itself is exercised in the integration test)."""

from __future__ import annotations

import re

import pytest
from support.deploy_env import ALPHA002, ZONE, use_accounts, use_tools, write_accounts

from arda_ops import deploy
from arda_ops.accounts import load_accounts
from arda_ops.deploy import SAMCONFIG_ENV, PreflightError

REAL = ALPHA002
REGENERATE = "`.venv/bin/python -m arda_ops.samconfig --write`"


def me(region, profile):
    return REAL


@pytest.fixture
def real_accounts(tmp_path, monkeypatch):
    """Real-looking accounts, and a samconfig rendered from them (what `samconfig --write` would produce)."""
    yield use_accounts(tmp_path, monkeypatch)
    load_accounts.cache_clear()


@pytest.fixture
def tools(tmp_path, monkeypatch):
    """Exactly the tools bin/deploy calls: op and make (no aws, no sam: SAM runs in-process)."""
    return use_tools(tmp_path, monkeypatch)


def test_unknown_and_suspended_partitions():
    with pytest.raises(PreflightError, match="unknown partition 'qa'"):
        deploy.preflight("qa", identity=me)
    with pytest.raises(PreflightError, match="suspended"):
        deploy.preflight("kyle", identity=me)


def test_placeholder_accounts_are_refused():
    load_accounts.cache_clear()
    with pytest.raises(PreflightError, match=r"placeholder account ID 000000000002 for Alpha002"):
        deploy.preflight("dev", identity=me)


def test_placeholder_parent_zone_is_refused(real_accounts, tools):
    write_accounts(real_accounts, zone_id="ZPLACEHOLDER0000000000")
    with pytest.raises(PreflightError, match=r"placeholder \[mail_root\] zone_id ZPLACEHOLDER0000000000.*--write"):
        deploy.preflight("dev", identity=me)


def test_the_checked_in_placeholder_samconfig_is_stale_once_accounts_are_real(real_accounts, tools, monkeypatch):
    """The operator filled in accounts.toml but did not regenerate samconfig: the deploy would go to the
    placeholder delegation role and parent zone (and another region)."""
    monkeypatch.delenv(SAMCONFIG_ENV)
    with pytest.raises(PreflightError) as caught:
        deploy.preflight("dev", identity=me)
    message = str(caught.value)
    assert "samconfig.toml is stale for dev (parameter_overrides, region differ" in message
    assert f"regenerate it with {REGENERATE}" in message


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda text: text.replace('region = "eu-west-1"', 'region = "us-east-1"', 1), "region"),
        (lambda text: text.replace(f"ParentZoneId={ZONE}", "ParentZoneId=ZOTHER", 1), "parameter_overrides"),
        (
            lambda text: text.replace("arn:aws:iam::210987654321:", "arn:aws:iam::999999999999:", 1),
            "parameter_overrides",
        ),
        (lambda text: text.replace('stack_name = "Alpha002-dev-Email"', 'stack_name = "x"', 1), "stack_name"),
    ],
)
def test_a_hand_edited_env_is_refused_and_named(real_accounts, tools, edit, key):
    config = real_accounts.parent / "samconfig.toml"
    config.write_text(edit(config.read_text()))
    with pytest.raises(PreflightError, match=re.escape(f"stale for dev ({key} differ")):
        deploy.preflight("dev", identity=me)


def test_another_partitions_stale_env_does_not_block(real_accounts, tools):
    config = real_accounts.parent / "samconfig.toml"
    config.write_text(config.read_text().replace('stack_name = "Alpha001-prod-Email"', 'stack_name = "x"'))
    assert deploy.preflight("dev", identity=me).account_id == REAL


def test_missing_tools_are_named(real_accounts, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PreflightError, match=r"not on PATH: op, make \("):
        deploy.preflight("dev", identity=me, tools_path=str(empty))
    with pytest.raises(PreflightError, match=r"not on PATH: op \("):
        deploy.preflight("dev", identity=me, tools_path=str(empty), skip_build=True)


def test_no_tool_it_does_not_call_is_required(real_accounts, tools):
    assert deploy.required_tools(skip_build=False) == ("op", "make")
    assert deploy.preflight("dev", identity=me).account_id == REAL  # PATH holds op and make only


def test_wrong_account_says_which(real_accounts, tools):
    with pytest.raises(
        PreflightError, match=r"belong to account 999999999999, but dev lives in Alpha002 \(123456789012\)"
    ):
        deploy.preflight("dev", identity=lambda region, profile: "999999999999")
    with pytest.raises(
        PreflightError, match=r"^the credentials of profile Admin-Alpha1 belong to account 999999999999"
    ):
        deploy.preflight("dev", profile="Admin-Alpha1", identity=lambda region, profile: "999999999999")


def test_the_identity_check_uses_the_profile_and_region(real_accounts, tools):
    seen = []
    plan = deploy.preflight("dev", profile="Alpha002-Admin", identity=lambda r, p: seen.append((r, p)) or REAL)
    assert seen == [("eu-west-1", "Alpha002-Admin")]
    assert (plan.account_id, plan.region, plan.profile) == (REAL, "eu-west-1", "Alpha002-Admin")


def test_profile_comes_from_the_option_else_aws_profile(monkeypatch):
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    assert deploy.resolve_profile(None) is None
    monkeypatch.setenv("AWS_PROFILE", "Alpha002-Admin")
    assert deploy.resolve_profile(None) == "Alpha002-Admin"
    assert deploy.resolve_profile("Admin-Alpha1") == "Admin-Alpha1"


def run_deploy(**kw):
    calls = []
    rc = deploy.deploy(
        "dev",
        identity=me,
        token_reader=lambda partition: "tok-" + partition,
        build=lambda: calls.append("build"),
        sam=lambda args: calls.append(list(args)) or 0,
        **kw,
    )
    assert rc == 0
    return calls


def test_deploy_passes_samconfig_overrides_profile_and_the_token_in_process(real_accounts, tools):
    calls = run_deploy(extra_sam_args=["--no-execute-changeset"], profile="Alpha002-Admin")
    assert calls[0] == "build"
    config = str(real_accounts.parent / "samconfig.toml")
    assert calls[1] == [
        "deploy",
        "--config-file",
        config,
        "--config-env",
        "dev",
        "--profile",
        "Alpha002-Admin",
        "--parameter-overrides",
        "Partition=dev",
        "DelegationRoleArn=arn:aws:iam::210987654321:role/ArdaMailsNsDelegationRole",
        f"ParentZoneId={ZONE}",
        "TakeOverExistingPostmarkDomain=false",
        "PostmarkAccountToken=tok-dev",
        "--no-execute-changeset",
    ]


def test_every_deploy_but_an_adoption_says_take_over_false(real_accounts, tools):
    """An adoption's "true" must not stay in the stack: SAM CLI would send UsePreviousValue for it."""
    (_, args) = run_deploy()
    assert args.count("TakeOverExistingPostmarkDomain=false") == 1
    (_, args) = run_deploy(extra_overrides=["TakeOverExistingPostmarkDomain=true"])
    assert "TakeOverExistingPostmarkDomain=true" in args
    assert "TakeOverExistingPostmarkDomain=false" not in args


def test_without_reconcile_the_stack_keeps_its_previous_reconcile_value(real_accounts, tools):
    (_, args) = run_deploy()
    assert not any(a.startswith("Reconcile=") for a in args)
    assert "--profile" not in args


def test_reconcile_sets_a_fresh_utc_stamp_the_template_accepts(real_accounts, tools):
    from arda_ops.handlers import REPO_ROOT
    from arda_ops.sam_translate import load_sam

    pattern = load_sam(REPO_ROOT / "template.yaml")["Parameters"]["Reconcile"]["AllowedPattern"]
    (_, args) = run_deploy(reconcile=True, stamp=lambda: "20261201T221500Z")
    assert "Reconcile=20261201T221500Z" in args
    assert args.index("Reconcile=20261201T221500Z") < args.index("PostmarkAccountToken=tok-dev")
    assert re.fullmatch(r"\d{8}T\d{6}Z", deploy.utc_stamp())
    assert re.fullmatch(pattern, deploy.utc_stamp())


def test_dkim_key_rotation_becomes_the_stack_parameter(real_accounts, tools):
    (_, args) = run_deploy(dkim_key_rotation="2026-12")
    assert "DkimKeyRotation=2026-12" in args
    assert args.index("DkimKeyRotation=2026-12") < args.index("PostmarkAccountToken=tok-dev")
    (_, args) = run_deploy()
    assert not any(a.startswith("DkimKeyRotation=") for a in args), "the stack keeps its value"
    with pytest.raises(PreflightError, match="--dkim-key-rotation 'December' must be YYYY-MM"):
        run_deploy(dkim_key_rotation="December")
    # A typo far ahead would rotate once and then block every real later value: refused before anything runs.
    with pytest.raises(PreflightError, match="--dkim-key-rotation '2062-12' is more than a year in the future"):
        run_deploy(dkim_key_rotation="2062-12")


@pytest.mark.parametrize(
    "bad", ["--debug", "--guided", "--parameter-overrides", "--parameter-overrides=X=1", "--profile", "--config-file"]
)
def test_args_that_would_leak_or_drop_the_token_are_refused(real_accounts, tools, bad):
    with pytest.raises(PreflightError, match="not allowed"):
        deploy.deploy(
            "dev",
            extra_sam_args=[bad],
            identity=me,
            token_reader=lambda p: "t",
            build=lambda: None,
            sam=lambda a: 0,
        )


def test_samconfig_overrides_for_every_partition():
    for partition in ("dev", "stage", "demo", "prod"):
        overrides = deploy.sam_parameter_overrides(partition)
        assert [o.split("=", 1)[0] for o in overrides] == ["Partition", "DelegationRoleArn", "ParentZoneId"]
        assert overrides[0] == f"Partition={partition}"


@pytest.mark.parametrize(
    "option",
    [
        "--stack-name=Alpha002-stage-Email",
        "--region=eu-west-1",
        "--template-file=tenant/template.yaml",
        "--tags=x=y",
        "--config-env=prod",
        "--parameter-overrides=PostmarkAccountToken=tok-secret-value",
    ],
)
def test_options_that_change_what_the_preflight_checked_are_refused_by_name(real_accounts, tools, option):
    """After `--`, sam options that would deploy elsewhere than the preflight checked (or print the token) are refused
    before anything runs, and only their name is shown."""
    calls = []
    with pytest.raises(PreflightError) as caught:
        deploy.deploy("dev", identity=me, token_reader=lambda p: "tok", sam=calls.append, extra_sam_args=[option])
    assert option.split("=", 1)[0] in str(caught.value)
    assert option.split("=", 1)[1] not in str(caught.value)
    assert calls == []

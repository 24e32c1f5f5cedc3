"""bin/deploy --tenant: the slug and the partition's preflight first, then the SAM command (run in-process).

SAM itself is replaced by a recorder here (the test asserts on the argument list it would run); the real SAM run
up to its first AWS call is in tests/integration/test_deploy_wrapper_tenant.py.
"""

from __future__ import annotations

import pytest

from arda_mail.partitions import all_partition_names
from arda_mail.placement import CORPORATE_LABEL, tenant_placement
from arda_ops import deploy_tenant, samconfig
from arda_ops.accounts import ACCOUNTS_FILE_ENV, load_accounts
from arda_ops.deploy import SAMCONFIG_ENV, PreflightError, main

REAL = "123456789012"


@pytest.fixture
def accounts(tmp_path, monkeypatch):
    """Real-looking accounts and the samconfig rendered from them; an empty PATH (no op, no make needed)."""
    f = tmp_path / "accounts.toml"
    tables = [
        f'[infrastructure.{name}]\naccount_id = "{acct}"\nregion = "eu-west-1"'
        for name, acct in [
            ("PlatformRoot", "210987654321"),
            ("Corporate", "310987654321"),
            ("Alpha001", "111122223333"),
            ("Alpha002", REAL),
        ]
    ]
    f.write_text("\n".join([*tables, '[mail_root]\nzone_id = "Z0123456789ABCDEFGHIJ"']) + "\n")
    monkeypatch.setenv(ACCOUNTS_FILE_ENV, str(f))
    load_accounts.cache_clear()
    config = tmp_path / "samconfig.toml"
    config.write_text(samconfig.render())
    monkeypatch.setenv(SAMCONFIG_ENV, str(config))
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    yield f
    load_accounts.cache_clear()


class Recorder:
    def __init__(self) -> None:
        self.identity_calls: list[tuple[str, str | None]] = []
        self.sam_calls: list[list[str]] = []

    def identity(self, region, profile):
        self.identity_calls.append((region, profile))
        return REAL

    def sam(self, args):
        self.sam_calls.append(list(args))
        return 0


def _option(args, name, count=1):
    i = args.index(name)
    return args[i + 1 : i + 1 + count]


def test_deploy_builds_the_sam_command_from_placement_and_the_partitions_env(accounts):
    rec = Recorder()
    code = deploy_tenant.deploy_tenant(
        "dev", "acme", profile="Alpha002-Admin", identity=rec.identity, sam=rec.sam, stamp=lambda: "20261202T000000Z"
    )
    assert code == 0
    assert rec.identity_calls == [("eu-west-1", "Alpha002-Admin")]
    (args,) = rec.sam_calls
    tenant = tenant_placement("dev", "acme")
    assert args[0] == "deploy"
    assert _option(args, "--template-file") == [str(deploy_tenant.TENANT_TEMPLATE)]
    assert _option(args, "--stack-name") == [tenant.stack_name]
    assert _option(args, "--region") == ["eu-west-1"]
    assert _option(args, "--profile") == ["Alpha002-Admin"]
    assert _option(args, "--parameter-overrides", 2) == ["Partition=dev", "TenantSlug=acme"]
    tags = _option(args, "--tags", 4)
    assert tags == ["arda:partition=dev", "arda:fqn=Alpha002-dev", "arda:component=partition-mail", "arda:tenant=acme"]
    assert "--config-env" not in args
    assert "--capabilities" not in args  # no IAM resource in the tenant template


def test_reconcile_and_delete(accounts):
    rec = Recorder()
    deploy_tenant.deploy_tenant(
        "stage", "acme", reconcile=True, identity=rec.identity, sam=rec.sam, stamp=lambda: "20261202T000000Z"
    )
    assert "Reconcile=20261202T000000Z" in rec.sam_calls[0]
    assert "--profile" not in rec.sam_calls[0]  # the default credential chain
    deploy_tenant.deploy_tenant("stage", "acme", delete=True, identity=rec.identity, sam=rec.sam)
    stack = tenant_placement("stage", "acme").stack_name
    assert rec.sam_calls[1] == ["delete", "--stack-name", stack, "--region", "eu-west-1", "--no-prompts"]


@pytest.mark.parametrize("slug", [CORPORATE_LABEL, *all_partition_names(), "-acme", "Acme", "a_b", "t" * 64])
def test_a_bad_slug_stops_before_aws_is_asked(accounts, slug):
    rec = Recorder()
    with pytest.raises(PreflightError, match=r"tenant slug .* (is reserved|must|may|is 64)"):
        deploy_tenant.deploy_tenant("dev", slug, identity=rec.identity, sam=rec.sam)
    assert rec.identity_calls == []
    assert rec.sam_calls == []


def test_the_partitions_preflight_applies(accounts):
    rec = Recorder()
    with pytest.raises(PreflightError, match="suspended"):
        deploy_tenant.deploy_tenant("kyle", "acme", identity=rec.identity, sam=rec.sam)
    with pytest.raises(PreflightError, match="belong to account 999999999999"):
        deploy_tenant.deploy_tenant("dev", "acme", identity=lambda region, profile: "999999999999", sam=rec.sam)
    assert rec.sam_calls == []


def test_forbidden_sam_options(accounts):
    rec = Recorder()
    with pytest.raises(PreflightError, match="parameter-overrides"):
        deploy_tenant.deploy_tenant(
            "dev", "acme", extra_sam_args=["--parameter-overrides", "TenantSlug=x"], identity=rec.identity, sam=rec.sam
        )
    assert rec.sam_calls == []


def test_the_command_line_refuses_what_a_tenant_stack_has_no_use_for(accounts, capsys):
    with pytest.raises(SystemExit):
        main(["dev", "--delete"])
    assert "--tenant SLUG --delete" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["dev", "--tenant", "acme", "--skip-build"])
    assert main(["dev", "--tenant", "kyle"]) == 2
    assert "tenant slug 'kyle' is reserved" in capsys.readouterr().err


def test_the_readmes_plain_sam_command_is_the_wrappers(accounts):
    """The README prints the plain ``sam deploy`` for operators who prefer it: it must be what bin/deploy runs."""
    from arda_ops.handlers import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(".venv-sam/bin/sam deploy --template-file tenant/template.yaml")
    lines = []
    for line in readme[start:].splitlines():
        lines.append(line.rstrip("\\").strip())
        if not line.endswith("\\"):
            break
    documented = " ".join(lines).replace("<dev's region>", "eu-west-1").split()
    rec = Recorder()
    deploy_tenant.deploy_tenant("dev", "acme", profile="Alpha002-Admin", identity=rec.identity, sam=rec.sam)
    (args,) = rec.sam_calls
    args = [a.replace(str(REPO_ROOT) + "/", "") for a in args]
    assert documented == [".venv-sam/bin/sam", *args]


@pytest.mark.parametrize(
    "extra",
    [
        ["--stack-name", "Alpha002-dev-Email"],  # the tenant template onto the partition's own stack
        ["--stack-name=Alpha002-dev-Email-Tenant-other"],  # onto another tenant's stack
        ["--template-file", "template.yaml"],
        ["-t", "template.yaml"],
        ["--template", "template.yaml"],
        ["--region", "us-west-2"],
        ["--tags", "arda:tenant=other"],
        ["--config-env", "prod"],
    ],
)
def test_sam_options_that_would_retarget_the_tenant_stack_are_refused(accounts, extra):
    """Options after ``--`` reach ``sam deploy`` last, and SAM takes the last value of an option: these would put the
    tenant template on another stack (the partition's, whose resources CloudFormation would then delete), in another
    region, or under other tags than the placement function's."""
    rec = Recorder()
    with pytest.raises(PreflightError, match="not allowed through bin/deploy"):
        deploy_tenant.deploy_tenant("dev", "acme", extra_sam_args=extra, identity=rec.identity, sam=rec.sam)
    assert rec.identity_calls == []
    assert rec.sam_calls == []


@pytest.fixture
def no_aws(monkeypatch):
    """Should anything reach AWS, it fails fast on loopback instead of leaving the machine."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")


@pytest.mark.parametrize(
    "option",
    [["--dry-run"], ["--yes"], ["--take-over-existing"], ["--dkim-key-rotation", "2027-01"], ["--adopt"]],
)
def test_partition_only_options_with_a_tenant_are_refused_before_anything_runs(accounts, no_aws, capsys, option):
    """``--dry-run`` with ``--tenant`` used to be ignored, so the "dry run" deployed for real."""
    with pytest.raises(SystemExit) as exit_info:
        main(["dev", "--tenant", "acme", *option])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert option[0] in err
    assert "--tenant" in err


@pytest.mark.parametrize("slug", ["", "pm-bounces", "xn--80ak6aa92e", "\u0430cme", "a" * 64, "ac me", "acme;rm -rf ~"])
def test_bin_deploy_refuses_a_bad_slug_before_anything_runs(accounts, no_aws, capsys, slug):
    assert main(["dev", "--tenant", slug]) == 2
    err = capsys.readouterr().err
    assert err.startswith("preflight: tenant slug ")


@pytest.mark.parametrize("tenant", [[], ["--tenant", "acme"]])
def test_a_refused_sam_option_never_echoes_its_value(accounts, no_aws, capsys, tenant):
    """An operator who pastes the token as ``--parameter-overrides=PostmarkAccountToken=…`` after ``--`` is refused;
    the refusal names the option, never the value (stderr ends up in terminals, CI logs and scrollback)."""
    secret = "pm-token-d0e5-NOT-TO-BE-SHOWN"
    assert main(["dev", *tenant, "--", f"--parameter-overrides=PostmarkAccountToken={secret}"]) == 2
    captured = capsys.readouterr()
    assert "--parameter-overrides" in captured.err
    assert secret not in captured.err + captured.out


@pytest.mark.parametrize("scope", ["corporate", "kyle", "nope"])
def test_a_tenant_of_corporate_or_of_no_active_partition_is_refused_before_aws(accounts, no_aws, capsys, scope):
    """Tenants live below a partition's mail domain only: Corporate has none (its Free Kanban Tool's domain is the
    stack's own), and a suspended or unknown partition has no stack to import from."""
    assert main([scope, "--tenant", "acme"]) == 2
    assert capsys.readouterr().err.startswith("preflight: ")

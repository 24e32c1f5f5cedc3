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

"""``bin/deploy <partition>``: preflight, token from 1Password, ``sam build``, ``sam deploy --config-env``.

Why a wrapper at all: the Postmark account token must reach CloudFormation as the NoEcho parameter without
ever touching shell history, another user's process listing, a log or a file. So the token is read with
``op read`` into this process's memory and SAM CLI is run *in this process* (its Click entry point), with the
token among the arguments of that in-process call only: it never appears in ``/proc/<pid>/cmdline``, and SAM
prints NoEcho parameters masked. ``--parameter-overrides`` replaces samconfig's list rather than merging, so
the env's own overrides are read from ``samconfig.toml`` and passed along with the token.

Before any of that, the preflight refuses a deployment that would go wrong: a suspended or unknown partition,
placeholder account IDs, a ``samconfig.toml`` that is not what ``arda_ops.samconfig`` renders from the accounts
file and the registry (it would deploy with another region, delegation role or parent zone), a missing tool, or
credentials of another account. The AWS profile (``--profile``, else ``AWS_PROFILE``) is used for the identity
check AND handed to ``sam deploy``, so both talk to the same account.

``--reconcile`` sets the stack parameter ``Reconcile`` to a fresh UTC timestamp: every custom resource then gets
an Update and re-asserts what it owns (a deploy without changes runs none of them).

Runs under the SAM CLI's virtual environment (``.venv-sam``), which ``bin/deploy`` selects.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from arda_mail import log_redaction
from arda_mail.partitions import SuspendedPartitionError, UnknownPartitionError, get_partition, postmark_token_reference
from arda_mail.placement import CORPORATE_INFRASTRUCTURE, CORPORATE_SCOPE, corporate_placement
from arda_ops import samconfig
from arda_ops.accounts import (
    AccountsConfigError,
    account_for,
    is_placeholder_zone_id,
    mail_root_zone_id,
    platform_root_account,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Another samconfig file to check and deploy with (tests, or an operator's scratch copy); default the repo's.
SAMCONFIG_ENV = "ARDA_MAIL_SAMCONFIG"
REGENERATE_SAMCONFIG = ".venv/bin/python -m arda_ops.samconfig --write"
TOKEN_PARAMETER = "PostmarkAccountToken"  # noqa: S105 - the parameter name, not a value
RECONCILE_PARAMETER = "Reconcile"
#: Set to "true" only by ``--adopt``; every other deploy sends "false" (see :func:`deploy`).
TAKE_OVER_PARAMETER = "TakeOverExistingPostmarkDomain"
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9-]+$")
#: SAM options that would print the parameter overrides (the token) in clear, or that bin/deploy sets itself.
#: ``sam deploy`` options refused after ``--``: they would print or replace the token (``--debug``,
#: ``--guided``, ``--parameter-overrides``), or change what the preflight checked (the profile, the config file and
#: env, the stack, the template, the region, the tags the drift check finds stacks by).
FORBIDDEN_SAM_ARGS = frozenset(
    {
        "--debug",
        "--guided",
        "-g",
        "--parameter-overrides",
        "--profile",
        "--config-file",
        "--config-env",
        "--stack-name",
        "--template-file",
        "--template",
        "-t",
        "--region",
        "--tags",
    }
)


def refused_sam_args(extra_sam_args: Sequence[str], refused: frozenset[str] = FORBIDDEN_SAM_ARGS) -> list[str]:
    """The refused options among ``extra_sam_args``, by name only: an ``=value`` may be the token itself."""
    return sorted({a.split("=", 1)[0] for a in extra_sam_args if a.split("=", 1)[0] in refused})


Identity = Callable[[str, str | None], str]


class PreflightError(RuntimeError):
    """The deployment must not start; the message says what to fix."""


@dataclass(frozen=True)
class DeployPlan:
    partition: str
    account_id: str
    region: str
    profile: str | None
    samconfig: Path


def samconfig_path() -> Path:
    override = os.environ.get(SAMCONFIG_ENV)
    return Path(override) if override else REPO_ROOT / "samconfig.toml"


def sam_parameter_overrides(partition: str, samconfig_file: Path | None = None) -> list[str]:
    """The env's own ``parameter_overrides`` from samconfig.toml (a list or a space-separated string)."""
    config = tomllib.loads((samconfig_file or samconfig_path()).read_text(encoding="utf-8"))
    try:
        value = config[partition]["deploy"]["parameters"]["parameter_overrides"]
    except KeyError:
        raise PreflightError(f"samconfig.toml has no [{partition}.deploy.parameters] parameter_overrides") from None
    return list(value) if isinstance(value, list) else str(value).split()


def _env_sections(config: dict[str, Any], partition: str) -> dict[str, Any]:
    env = config.get(partition, {})
    return {
        "region": env.get("global", {}).get("parameters", {}).get("region"),
        **env.get("deploy", {}).get("parameters", {}),
    }


def check_samconfig(partition: str, path: Path) -> None:
    """Refuse a samconfig whose env for ``partition`` differs from what the accounts file and registry render."""
    try:
        expected = _env_sections(tomllib.loads(samconfig.render()), partition)
    except AccountsConfigError as exc:
        raise PreflightError(str(exc)) from exc
    try:
        current = _env_sections(tomllib.loads(path.read_text(encoding="utf-8")), partition)
    except FileNotFoundError:
        current = {}
    except tomllib.TOMLDecodeError as exc:
        raise PreflightError(f"{path} is not valid TOML ({exc}); regenerate it: `{REGENERATE_SAMCONFIG}`") from exc
    stale = sorted(key for key in expected.keys() | current.keys() if expected.get(key) != current.get(key))
    if stale:
        raise PreflightError(
            f"{path} is stale for {partition} ({', '.join(stale)} differ from config/accounts.toml and the "
            f"registry); regenerate it with `{REGENERATE_SAMCONFIG}` and commit it"
        )


def required_tools(*, skip_build: bool) -> tuple[str, ...]:
    """Only what this run calls: ``op`` for the token, ``make`` for the build (SAM runs in-process)."""
    return ("op",) if skip_build else ("op", "make")


def missing_tools(tools: Sequence[str], path: str | None = None) -> list[str]:
    return [tool for tool in tools if shutil.which(tool, path=path) is None]


def resolve_profile(cli_profile: str | None) -> str | None:
    """``--profile`` wins; else ``AWS_PROFILE``; else the default credential chain (None)."""
    return cli_profile or os.environ.get("AWS_PROFILE") or None


def caller_account_id(region: str, profile: str | None) -> str:
    """The AWS account of the profile's credentials (``sts:GetCallerIdentity`` in the partition's region)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        return str(session.client("sts").get_caller_identity()["Account"])
    except (BotoCoreError, ClientError) as exc:
        login = f"aws sso login --profile {profile}" if profile else "--profile NAME or AWS_PROFILE"
        raise PreflightError(f"cannot tell which AWS account these credentials belong to: {exc} ({login})") from exc


def preflight(
    partition: str,
    *,
    profile: str | None = None,
    identity: Identity = caller_account_id,
    skip_build: bool = False,
    tools_path: str | None = None,
    samconfig_file: Path | None = None,
    tools: Sequence[str] | None = None,
) -> DeployPlan:
    """Every check that must pass before anything is read from 1Password or sent to AWS (``tools``: the ones the
    run calls, default :func:`required_tools`; a tenant stack needs neither ``op`` nor ``make``)."""
    try:
        infrastructure = stack_infrastructure(partition)
    except (UnknownPartitionError, SuspendedPartitionError) as exc:
        raise PreflightError(str(exc)) from exc
    try:
        account = account_for(infrastructure)
        root = platform_root_account()
        zone_id = mail_root_zone_id()
    except AccountsConfigError as exc:
        raise PreflightError(str(exc)) from exc
    for acct in (account, root):
        if acct.is_placeholder:
            raise PreflightError(
                f"config/accounts.toml still holds the placeholder account ID {acct.account_id} for "
                f"{acct.infrastructure}; fill in the real ID and run `{REGENERATE_SAMCONFIG}`"
            )
    if is_placeholder_zone_id(zone_id):
        raise PreflightError(
            f"config/accounts.toml still holds the placeholder [mail_root] zone_id {zone_id}; fill in the hosted zone "
            f"ID of the parent zone and run `{REGENERATE_SAMCONFIG}`"
        )
    config_file = samconfig_file or samconfig_path()
    check_samconfig(partition, config_file)
    missing = missing_tools(required_tools(skip_build=skip_build) if tools is None else tools, tools_path)
    if missing:
        raise PreflightError(f"required tool(s) not on PATH: {', '.join(missing)} (install them, then retry)")
    caller = identity(account.region, profile)
    if caller != account.account_id:
        used = f"the credentials of profile {profile}" if profile else "these AWS credentials"
        raise PreflightError(
            f"{used} belong to account {caller}, but {partition} lives in {infrastructure} "
            f"({account.account_id}); pass the profile of that account (--profile NAME or AWS_PROFILE)"
        )
    return DeployPlan(partition, account.account_id, account.region, profile, config_file)


def stack_infrastructure(name: str) -> str:
    """The infrastructure (``config/accounts.toml`` entry) of a stack bin/deploy deploys: an active partition's,
    or, for ``corporate``, the Corporate mail stack's. Raises for unknown and suspended partitions."""
    if name == CORPORATE_SCOPE:
        return CORPORATE_INFRASTRUCTURE
    return get_partition(name).infrastructure


def token_reference(name: str) -> str:
    """The 1Password reference of the stack's Postmark account token (Corporate's vault is its own)."""
    if name == CORPORATE_SCOPE:
        return corporate_placement().postmark_token_reference
    return postmark_token_reference(name)


def build_target(name: str) -> str:
    """The make target that builds the stack's template (Corporate's builds into its own folder)."""
    return "build-corporate" if name == CORPORATE_SCOPE else "build"


def read_token_with_op(partition: str) -> str:
    """``op read op://…`` into memory; the reference is in argv, the token only in the pipe."""
    reference = token_reference(partition)
    result = subprocess.run(["op", "read", "--no-newline", reference], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        # op's stderr names the reference and the problem, never the secret.
        raise PreflightError(
            f"`op read {reference}` failed: {result.stderr.strip() or 'exit ' + str(result.returncode)}"
        )
    token = result.stdout.strip()
    if not _TOKEN_SHAPE.match(token):
        raise PreflightError(f"the value at {reference} does not look like a Postmark account token")
    return token


def run_build(name: str = "") -> None:
    subprocess.run(["make", build_target(name)], cwd=REPO_ROOT, check=True)


def utc_stamp() -> str:
    """A fresh value for ``Reconcile`` (letters and digits only, as the template's AllowedPattern requires)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def run_sam_in_process(args: Sequence[str]) -> int:
    """Run SAM CLI's Click command in this process (no child process, so no argv for others to read)."""
    from samcli.cli.main import cli

    os.environ.setdefault("SAM_CLI_TELEMETRY", "0")
    # SAM_DEBUG makes SAM log the parsed parameter overrides (the token among them) at DEBUG.
    os.environ.pop("SAM_DEBUG", None)
    try:
        cli.main(args=list(args), prog_name="sam", standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0)
    except Exception as exc:
        message = str(exc)
        print(f"sam deploy failed: {message}", file=sys.stderr)
        return 1
    return 0


def deploy(
    partition: str,
    *,
    extra_sam_args: Sequence[str] = (),
    skip_build: bool = False,
    profile: str | None = None,
    reconcile: bool = False,
    identity: Identity = caller_account_id,
    token_reader: Callable[[str], str] = read_token_with_op,
    build: Callable[[], None] | None = None,
    sam: Callable[[Sequence[str]], int] = run_sam_in_process,
    stamp: Callable[[], str] = utc_stamp,
    extra_overrides: Sequence[str] = (),
    dkim_key_rotation: str | None = None,
) -> int:
    forbidden = refused_sam_args(extra_sam_args)
    if forbidden:
        raise PreflightError(
            f"not allowed through bin/deploy (they would print or replace the token, or bin/deploy sets them): "
            f"{forbidden}; use bin/deploy's own --profile"
        )
    plan = preflight(partition, profile=profile, identity=identity, skip_build=skip_build)
    overrides = [*sam_parameter_overrides(partition, plan.samconfig), *extra_overrides]
    if dkim_key_rotation is not None:
        # The stack keeps the value afterwards (later deploys send UsePreviousValue): README, "Rotating a DKIM key".
        from arda_mail.postmark.dkim_rotation import future_problem, rotation_problem

        problem = rotation_problem(dkim_key_rotation) or future_problem(dkim_key_rotation)
        if problem:
            raise PreflightError(f"--dkim-key-rotation {dkim_key_rotation[:20]!r} {problem}")
        overrides.append(f"DkimKeyRotation={dkim_key_rotation}")
    if not any(o.startswith(f"{TAKE_OVER_PARAMETER}=") for o in overrides):
        # Taking over an existing Postmark domain is the one-time act of `--adopt`. Said explicitly here, or the stack
        # would keep the adoption's "true" for good (SAM CLI sends UsePreviousValue for every parameter it is not
        # given), and a later replacement could take over a same-named domain it should have refused.
        overrides.append(f"{TAKE_OVER_PARAMETER}=false")
    if reconcile:
        overrides.append(f"{RECONCILE_PARAMETER}={stamp()}")
    token = token_reader(partition)
    log_redaction.install()  # SAM CLI runs in this process: its (and botocore's) DEBUG lines never print the token
    log_redaction.register_value(token)
    if not skip_build:
        (build or (lambda: run_build(partition)))()
    args = ["deploy", "--config-file", str(plan.samconfig), "--config-env", partition]
    if plan.profile:
        args += ["--profile", plan.profile]
    args += ["--parameter-overrides", *overrides, f"{TOKEN_PARAMETER}={token}", *extra_sam_args]
    via = f" with profile {plan.profile}" if plan.profile else ""
    print(f"deploying {partition} to account {plan.account_id} ({plan.region}){via}; token from 1Password (hidden)")
    if f"{TAKE_OVER_PARAMETER}=true" in overrides:
        print(f"take-over: {TAKE_OVER_PARAMETER}=true lets Custom::PostmarkDomain take the existing domain over")
    if reconcile:
        print(f"reconcile: {overrides[-1]} makes CloudFormation send every custom resource an Update")
    return sam(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bin/deploy", description="Deploy one partition's mail stack.")
    parser.add_argument("partition", help="dev, stage, demo or prod; or corporate (the Corporate mail stack)")
    parser.add_argument("--profile", help="AWS profile of the partition's account (default: $AWS_PROFILE)")
    parser.add_argument("--skip-build", action="store_true", help="deploy the existing .aws-sam/build")
    parser.add_argument(
        "--reconcile",
        action="store_true",
        help="send every custom resource an Update so each re-asserts its state (repairs out-of-band changes)",
    )
    parser.add_argument(
        "--adopt",
        action="store_true",
        help="move an existing deployment onto the stack: resource import, then deploy (README, Adopting)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="with --adopt: show the plan, write the documents, send nothing"
    )
    parser.add_argument("--yes", action="store_true", help="with --adopt: do not ask for confirmation")
    parser.add_argument(
        "--take-over-existing",
        action="store_true",
        help="finish an adoption whose deploy failed: Custom::PostmarkDomain may take the existing domain over "
        "(every other deploy says TakeOverExistingPostmarkDomain=false; README, Adopting, step 3)",
    )
    parser.add_argument(
        "--dkim-key-rotation",
        metavar="YYYY-MM[-DD]",
        help="rotate the domain's DKIM key once for this value (later than the last one; README, Rotating a DKIM key)",
    )
    parser.add_argument("--tenant", metavar="SLUG", help="deploy the tenant's own sending-domain stack instead")
    parser.add_argument("--delete", action="store_true", help="with --tenant: delete the tenant's stack")
    parser.epilog = (
        "Options after -- go to sam deploy unchanged, except those that would print the token or deploy elsewhere "
        f"than the preflight checked: {', '.join(sorted(FORBIDDEN_SAM_ARGS))}."
    )
    raw = list(sys.argv[1:] if argv is None else argv)
    own, extra = (raw[: raw.index("--")], raw[raw.index("--") + 1 :]) if "--" in raw else (raw, [])
    args = parser.parse_args(own)
    if args.tenant is not None or args.delete:
        from arda_ops.deploy_tenant import tenant_main

        return tenant_main(parser, args, extra)
    if (args.dry_run or args.yes) and not args.adopt:
        parser.error("--dry-run and --yes go with --adopt")
    if args.adopt and args.take_over_existing:
        parser.error("--adopt already lets the deploy take the existing domain over")
    if args.adopt and args.reconcile:
        parser.error(
            "--adopt and --reconcile do not go together (the adoption's deploy already runs every custom resource)"
        )
    if args.adopt:
        return _adopt(args, extra)
    try:
        return deploy(
            args.partition,
            extra_sam_args=extra,
            skip_build=args.skip_build,
            profile=resolve_profile(args.profile),
            reconcile=args.reconcile,
            dkim_key_rotation=args.dkim_key_rotation,
            extra_overrides=[f"{TAKE_OVER_PARAMETER}=true"] if args.take_over_existing else (),
        )
    except PreflightError as exc:
        print(f"preflight: {exc}", file=sys.stderr)
        return 2


def _adopt(args: argparse.Namespace, extra: list[str]) -> int:
    """``--adopt``: see :mod:`arda_ops.adopt`; its refusals exit 2 like the preflight's."""
    from arda_ops.adopt import AdoptionRefusedError, adopt

    try:
        return adopt(
            args.partition,
            profile=resolve_profile(args.profile),
            dry_run=args.dry_run,
            yes=args.yes,
            skip_build=args.skip_build,
            extra_sam_args=extra,
        )
    except (PreflightError, AdoptionRefusedError) as exc:
        print(f"{'preflight' if isinstance(exc, PreflightError) else 'adopt'}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

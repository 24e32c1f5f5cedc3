"""``bin/deploy <partition>``: preflight, token from 1Password, ``sam build``, ``sam deploy --config-env``.

Why a wrapper at all: the Postmark account token must reach CloudFormation as the NoEcho parameter without
ever touching shell history, another user's process listing, a log or a file. So the token is read with
``op read`` into this process's memory and SAM CLI is run *in this process* (its Click entry point), with the
token among the arguments of that in-process call only: it never appears in ``/proc/<pid>/cmdline``, and SAM
prints NoEcho parameters masked. ``--parameter-overrides`` replaces samconfig's list rather than merging, so
the env's own overrides are read from ``samconfig.toml`` and passed along with the token.

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
from pathlib import Path

from arda_mail.accounts import AccountsConfigError, partition_account, platform_root_account
from arda_mail.partitions import SuspendedPartitionError, UnknownPartitionError, get_partition, postmark_token_reference

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMCONFIG = REPO_ROOT / "samconfig.toml"
REQUIRED_TOOLS = ("sam", "aws", "op")
TOKEN_PARAMETER = "PostmarkAccountToken"  # noqa: S105 - the parameter name, not a value
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9-]+$")
#: SAM options that would print the parameter overrides (the token) in clear.
_FORBIDDEN_SAM_ARGS = frozenset({"--debug", "--guided", "-g", "--parameter-overrides"})


class PreflightError(RuntimeError):
    """The deployment must not start; the message says what to fix."""


@dataclass(frozen=True)
class DeployPlan:
    partition: str
    account_id: str
    region: str
    sam_args: tuple[str, ...]


def sam_parameter_overrides(partition: str, samconfig: Path = SAMCONFIG) -> list[str]:
    """The env's own ``parameter_overrides`` from samconfig.toml (a list or a space-separated string)."""
    config = tomllib.loads(samconfig.read_text(encoding="utf-8"))
    try:
        value = config[partition]["deploy"]["parameters"]["parameter_overrides"]
    except KeyError:
        raise PreflightError(f"samconfig.toml has no [{partition}.deploy.parameters] parameter_overrides") from None
    return list(value) if isinstance(value, list) else str(value).split()


def missing_tools(path: str | None = None) -> list[str]:
    return [tool for tool in REQUIRED_TOOLS if shutil.which(tool, path=path) is None]


def caller_account_id(region: str) -> str:
    """The AWS account of the current credentials (``sts:GetCallerIdentity`` in the partition's region)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return str(boto3.client("sts", region_name=region).get_caller_identity()["Account"])
    except (BotoCoreError, ClientError) as exc:
        raise PreflightError(f"cannot tell which AWS account these credentials belong to: {exc}") from exc


def preflight(
    partition: str,
    *,
    identity: Callable[[str], str] = caller_account_id,
    tools_path: str | None = None,
) -> DeployPlan:
    """Every check that must pass before anything is read from 1Password or sent to AWS."""
    try:
        part = get_partition(partition)
    except (UnknownPartitionError, SuspendedPartitionError) as exc:
        raise PreflightError(str(exc)) from exc
    try:
        account = partition_account(part)
        root = platform_root_account()
    except AccountsConfigError as exc:
        raise PreflightError(str(exc)) from exc
    for acct in (account, root):
        if acct.is_placeholder:
            raise PreflightError(
                f"config/accounts.toml still holds the placeholder account ID {acct.account_id} for "
                f"{acct.infrastructure}; fill in the real ID and run `python -m arda_ops.samconfig --write`"
            )
    missing = missing_tools(tools_path)
    if missing:
        raise PreflightError(f"required tool(s) not on PATH: {', '.join(missing)} (install them, then retry)")
    caller = identity(account.region)
    if caller != account.account_id:
        raise PreflightError(
            f"these AWS credentials belong to account {caller}, but {partition} lives in "
            f"{part.infrastructure} ({account.account_id}); log in to the right account (e.g. aws sso login)"
        )
    return DeployPlan(partition, account.account_id, account.region, ())


def read_token_with_op(partition: str) -> str:
    """``op read op://…`` into memory; the reference is in argv, the token only in the pipe."""
    reference = postmark_token_reference(partition)
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


def run_build() -> None:
    subprocess.run(["make", "build"], cwd=REPO_ROOT, check=True)


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
    identity: Callable[[str], str] = caller_account_id,
    token_reader: Callable[[str], str] = read_token_with_op,
    build: Callable[[], None] = run_build,
    sam: Callable[[Sequence[str]], int] = run_sam_in_process,
) -> int:
    forbidden = sorted({a for a in extra_sam_args if a.split("=", 1)[0] in _FORBIDDEN_SAM_ARGS})
    if forbidden:
        raise PreflightError(f"not allowed through bin/deploy (they would print or replace the token): {forbidden}")
    plan = preflight(partition, identity=identity)
    overrides = sam_parameter_overrides(partition)
    token = token_reader(partition)
    if not skip_build:
        build()
    args = [
        "deploy",
        "--config-env",
        partition,
        "--parameter-overrides",
        *overrides,
        f"{TOKEN_PARAMETER}={token}",
        *extra_sam_args,
    ]
    print(f"deploying {partition} to account {plan.account_id} ({plan.region}); token from 1Password (hidden)")
    return sam(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bin/deploy", description="Deploy one partition's mail stack.")
    parser.add_argument("partition", help="dev, stage, demo or prod")
    parser.add_argument("--skip-build", action="store_true", help="deploy the existing .aws-sam/build")
    parser.epilog = "Options after -- go to sam deploy unchanged (not --debug, --guided or --parameter-overrides)."
    raw = list(sys.argv[1:] if argv is None else argv)
    own, extra = (raw[: raw.index("--")], raw[raw.index("--") + 1 :]) if "--" in raw else (raw, [])
    args = parser.parse_args(own)
    try:
        return deploy(args.partition, extra_sam_args=extra, skip_build=args.skip_build)
    except PreflightError as exc:
        print(f"preflight: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""``runtime-platform-drift``: do Postmark, DNS and the deployed stacks still agree with the placement function?

Exit codes: 0 clean, 1 drift, 2 could not probe (the report names the probe). See ``docs/drift.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from arda_ops.drift.probes import DEFAULT_TIMEOUT_S, Endpoint

if TYPE_CHECKING:
    from arda_ops.drift.probes import TokenProvider

TOKEN_SOURCES = ("secret", "op", "env")
EXIT_USAGE = 2


def _endpoint(text: str) -> Endpoint:
    try:
        return Endpoint.parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not HOST[:PORT]: {text!r}") from None


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runtime-platform-drift",
        description=(
            "Check that Postmark, DNS and the deployed stacks still agree with the placement function for every "
            "active partition. Exit 0 clean, 1 drift, 2 could not probe."
        ),
    )
    parser.add_argument(
        "--partition",
        action="append",
        default=[],
        metavar="NAME",
        help="a partition to check (repeatable; default: every active partition)",
    )
    parser.add_argument("--corporate", action="store_true", help="also check Corporate's mail domain")
    parser.add_argument(
        "--tenants", action="store_true", help="also check every tenant stack of the partitions (tenant/template.yaml)"
    )
    parser.add_argument(
        "--tenant",
        action="append",
        default=[],
        metavar="SLUG",
        help="check only this tenant's stack and domain on each --partition given (repeatable; needs --partition)",
    )
    parser.add_argument("--corporate-only", action="store_true", help="check Corporate's mail domain and no partition")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the report as Markdown to FILE")
    parser.add_argument(
        "--dns-server",
        type=_endpoint,
        metavar="HOST[:PORT]",
        help="the DNS server record lookups go to (default: the system's resolvers)",
    )
    parser.add_argument(
        "--parent-dns-server",
        type=_endpoint,
        metavar="HOST[:PORT]",
        help="where to read the parent zone's NS delegation (default: the parent zone's own name servers)",
    )
    parser.add_argument("--postmark-api-url", metavar="URL", help="Postmark's API (default: the public API)")
    parser.add_argument(
        "--token-source",
        choices=TOKEN_SOURCES,
        default="secret",
        help=(
            "where Postmark account tokens come from: secret = each partition's account-token secret in "
            "Secrets Manager; op = `op read` of the partition's 1Password reference; env = "
            "ARDA_DRIFT_TOKEN_<POSTMARK ACCOUNT> variables (default: secret)"
        ),
    )
    parser.add_argument("--aws-endpoint-url", metavar="URL", help="endpoint for every AWS client (moto server)")
    parser.add_argument(
        "--timeout",
        type=_positive,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"timeout of each probe (default: {DEFAULT_TIMEOUT_S:g})",
    )
    parser.add_argument("--list-checks", action="store_true", help="list the registered checks and exit")
    parser.add_argument(
        "--github-matrix",
        action="store_true",
        help="print the workflow's job matrix (one entry per AWS account with active partitions) and exit",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log probe details to stderr")
    return parser


def github_matrix(
    partitions: Sequence[str] = (), corporate: bool = False, accounts_file: Path | None = None
) -> dict[str, list[dict[str, str]]]:
    """The workflow's job matrix: one entry per infrastructure (AWS account) to probe, from the registry.

    Each entry names the partitions its job checks (``partitions``, space-separated; all active ones unless
    ``partitions`` narrows them), the repository variable holding the role ARN to assume there
    (``role_variable``), its region (``config/accounts.toml``), and whether the job also checks Corporate
    (``corporate``: the job of Corporate's own account, where its stack and account-token secret live).
    """
    from arda_mail.partitions import active_partitions, get_partition
    from arda_ops.accounts import AccountsConfigError, account_for
    from arda_ops.drift.mail_checks import corporate_target

    wanted = {get_partition(name).name for name in partitions}
    corporate_infrastructure = corporate_target(accounts_file=accounts_file).facts.get("infrastructure")
    entries: dict[str, dict[str, str]] = {}
    for partition in active_partitions():
        selected = not wanted or partition.name in wanted
        hosts_corporate = corporate and partition.infrastructure == corporate_infrastructure
        if not selected and not hosts_corporate:
            continue
        entry = entries.get(partition.infrastructure)
        if entry is None:
            try:
                region = account_for(partition.infrastructure, accounts_file).region
            except AccountsConfigError:
                region = ""
            entry = {
                "infrastructure": partition.infrastructure,
                "region": region,
                "partitions": "",
                "corporate": "true" if hosts_corporate else "false",
                "role_variable": "DRIFT_ROLE_ARN_" + partition.infrastructure.upper(),
            }
            entries[partition.infrastructure] = entry
        if selected:
            entry["partitions"] = " ".join(filter(None, [entry["partitions"], partition.name]))
    if corporate and corporate_infrastructure and str(corporate_infrastructure) not in entries:
        # Corporate's stack has an account of its own: a job of its own, with that account's role.
        infrastructure = str(corporate_infrastructure)
        entries[infrastructure] = {
            "infrastructure": infrastructure,
            "region": str(corporate_target(accounts_file=accounts_file).facts.get("region") or ""),
            "partitions": "",
            "corporate": "true",
            "role_variable": "DRIFT_ROLE_ARN_" + infrastructure.upper(),
        }
    return {"include": list(entries.values())}


def _tenant_arguments_error(args: argparse.Namespace) -> str | None:
    """Why ``--tenant``/``--tenants`` cannot run as given (a slug the registry's validator refuses, no partition)."""
    from arda_mail.tenants import InvalidTenantSlugError, validate_tenant_slug

    if args.tenant and not args.partition:
        return "--tenant needs --partition (a slug names a tenant on one partition: the same slug elsewhere is another)"
    if (args.tenant or args.tenants) and args.corporate_only:
        return "--tenant and --tenants check partitions' tenants: not with --corporate-only"
    for slug in args.tenant:
        try:
            validate_tenant_slug(slug)
        except InvalidTenantSlugError as exc:
            return str(exc)
    return None


def _token_provider(source: str, timeout: float) -> TokenProvider | None:
    from arda_ops.drift.probes import EnvTokens, OpTokens

    if source == "op":
        return OpTokens(timeout)
    if source == "env":
        return EnvTokens()
    return None  # the runner's default: the account-token secret


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # botocore logs request and response bodies at DEBUG (GetSecretValue's among them): never below INFO
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.INFO if args.verbose else logging.WARNING)

    from arda_mail.partitions import SuspendedPartitionError, UnknownPartitionError

    if args.github_matrix:
        try:
            matrix = github_matrix(args.partition, args.corporate or args.corporate_only)
        except (UnknownPartitionError, SuspendedPartitionError) as exc:
            print(f"runtime-platform-drift: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(json.dumps(matrix, separators=(",", ":")))
        return 0
    from arda_mail.postmark.client import DEFAULT_API_URL
    from arda_ops.drift.checks import REGISTRY, description_of
    from arda_ops.drift.runner import DriftConfig, run_drift

    if args.list_checks:
        import arda_ops.drift.mail_checks  # noqa: F401  (registers the mail checks)

        for check in REGISTRY:
            kinds = ",".join(sorted(check.target_kinds))
            print(f"{check.name:32} [{kinds}] {description_of(check)}")
        return 0

    tenant_error = _tenant_arguments_error(args)
    if tenant_error:
        print(f"runtime-platform-drift: {tenant_error}", file=sys.stderr)
        return EXIT_USAGE
    config = DriftConfig(
        tenants=tuple(args.tenant) if args.tenant else (() if args.tenants else None),
        tenants_only=bool(args.tenant),
        partitions=() if args.corporate_only else (tuple(args.partition) or None),
        corporate=args.corporate or args.corporate_only,
        dns_server=args.dns_server,
        parent_dns_server=args.parent_dns_server,
        postmark_api_url=args.postmark_api_url or DEFAULT_API_URL,
        tokens=_token_provider(args.token_source, args.timeout),
        aws_endpoint_url=args.aws_endpoint_url,
        timeout=args.timeout,
    )
    try:
        report = run_drift(config)
    except (UnknownPartitionError, SuspendedPartitionError) as exc:
        print(f"runtime-platform-drift: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.markdown:
        args.markdown.write_text(report.render_markdown(), encoding="utf-8")
    if args.json:
        print(report.to_json())
    else:
        print(report.render_table(), end="")
    return report.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

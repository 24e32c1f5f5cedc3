"""``bin/deploy <partition> --tenant <slug> [--delete]``: a tenant's own sending-domain stack.

The stack (``tenant/template.yaml``) holds no secret and no code: it imports the partition stack's exports and runs
on the partition's own custom-resource functions. So, unlike a partition deploy, nothing is read from 1Password and
nothing is built; SAM CLI runs in this process with the template, the stack name from the placement function, the
partition's region and profile (the same preflight as the partition's: registry, accounts file, samconfig, the
profile's account), and the partition's stack tags plus ``arda:tenant=<slug>`` (how the drift check finds it).
``--delete`` runs ``sam delete`` on that stack: CloudFormation removes the tenant's Postmark domain and exactly the
two records the stack created.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from arda_mail.partitions import SuspendedPartitionError, UnknownPartitionError
from arda_mail.placement import TenantPlacement, tenant_placement
from arda_mail.tenants import InvalidTenantSlugError
from arda_ops.deploy import (
    RECONCILE_PARAMETER,
    REPO_ROOT,
    DeployPlan,
    Identity,
    PreflightError,
    caller_account_id,
    preflight,
    refused_sam_args,
    resolve_profile,
    run_sam_in_process,
    utc_stamp,
)

TENANT_TEMPLATE = REPO_ROOT / "tenant" / "template.yaml"
#: ``bin/deploy`` options of a partition deploy that a tenant stack has no use for: refused rather than ignored (an
#: ignored ``--dry-run`` would deploy for real).
_PARTITION_ONLY_OPTIONS = {
    "adopt": "--adopt",
    "skip_build": "--skip-build",
    "dry_run": "--dry-run",
    "yes": "--yes",
    "take_over_existing": "--take-over-existing",
    "dkim_key_rotation": "--dkim-key-rotation",
}


@dataclass(frozen=True)
class TenantPlan:
    tenant: TenantPlacement
    plan: DeployPlan
    tags: tuple[str, ...]


def partition_tags(partition: str, samconfig_file: Path) -> list[str]:
    """The partition stack's ``tags`` (``key=value`` items) from its samconfig env, which the preflight checked."""
    config = tomllib.loads(samconfig_file.read_text(encoding="utf-8"))
    value = config.get(partition, {}).get("deploy", {}).get("parameters", {}).get("tags", "")
    return list(value) if isinstance(value, list) else str(value).split()


def tenant_preflight(
    partition: str, slug: str, *, profile: str | None = None, identity: Identity = caller_account_id
) -> TenantPlan:
    """The slug (the registry's validator) and the partition's own preflight, without ``op`` or ``make``."""
    try:
        tenant = tenant_placement(partition, slug)
    except (UnknownPartitionError, SuspendedPartitionError, InvalidTenantSlugError) as exc:
        raise PreflightError(str(exc)) from exc
    plan = preflight(partition, profile=profile, identity=identity, tools=())
    own = [f"{key}={value}" for key, value in tenant.tags.items()]
    tags = [t for t in partition_tags(partition, plan.samconfig) if t.split("=", 1)[0] not in tenant.tags]
    return TenantPlan(tenant, plan, (*tags, *own))


def sam_deploy_args(tp: TenantPlan, *, reconcile: str | None = None, extra: Sequence[str] = ()) -> list[str]:
    """The ``sam deploy`` arguments; the README prints the same command for operators who run SAM themselves."""
    tenant, plan = tp.tenant, tp.plan
    overrides = [f"Partition={plan.partition}", f"TenantSlug={tenant.slug}"]
    if reconcile:
        overrides.append(f"{RECONCILE_PARAMETER}={reconcile}")
    args = ["deploy", "--template-file", str(TENANT_TEMPLATE), "--stack-name", tenant.stack_name]
    args += ["--region", plan.region, *(["--profile", plan.profile] if plan.profile else [])]
    args += ["--parameter-overrides", *overrides, "--tags", *tp.tags]
    return [*args, "--no-confirm-changeset", "--no-fail-on-empty-changeset", *extra]


def sam_delete_args(tp: TenantPlan) -> list[str]:
    profile = ["--profile", tp.plan.profile] if tp.plan.profile else []
    return ["delete", "--stack-name", tp.tenant.stack_name, "--region", tp.plan.region, *profile, "--no-prompts"]


def deploy_tenant(
    partition: str,
    slug: str,
    *,
    delete: bool = False,
    reconcile: bool = False,
    profile: str | None = None,
    extra_sam_args: Sequence[str] = (),
    identity: Identity = caller_account_id,
    sam: Callable[[Sequence[str]], int] = run_sam_in_process,
    stamp: Callable[[], str] = utc_stamp,
) -> int:
    forbidden = refused_sam_args(extra_sam_args)
    if forbidden:
        raise PreflightError(f"not allowed through bin/deploy (bin/deploy sets them): {forbidden}")
    tp = tenant_preflight(partition, slug, profile=profile, identity=identity)
    where = f"account {tp.plan.account_id} ({tp.plan.region})"
    if delete:
        if reconcile or extra_sam_args:
            raise PreflightError("--delete takes no --reconcile and no sam options")
        print(f"deleting {tp.tenant.stack_name} ({tp.tenant.mail.mail_domain}) in {where}")
        return sam(sam_delete_args(tp))
    print(f"deploying {tp.tenant.stack_name} ({tp.tenant.mail.mail_domain}) to {where}")
    return sam(sam_deploy_args(tp, reconcile=stamp() if reconcile else None, extra=extra_sam_args))


def tenant_main(parser: argparse.ArgumentParser, args: argparse.Namespace, extra: list[str]) -> int:
    """``bin/deploy``'s ``--tenant`` branch (options that make no sense for a tenant stack are refused)."""
    if args.tenant is None:
        parser.error("--delete removes a tenant stack: bin/deploy <partition> --tenant SLUG --delete")
    given = [flag for attr, flag in _PARTITION_ONLY_OPTIONS.items() if getattr(args, attr, None) not in (None, False)]
    if given:
        parser.error(
            f"--tenant deploys a template without code, token or adoption: {', '.join(given)} "
            "cannot go with --tenant (a tenant stack's options: --delete, --reconcile, --profile)"
        )
    try:
        return deploy_tenant(
            args.partition,
            args.tenant,
            delete=args.delete,
            reconcile=args.reconcile,
            profile=resolve_profile(args.profile),
            extra_sam_args=extra,
        )
    except PreflightError as exc:
        print(f"preflight: {exc}", file=sys.stderr)
        return 2

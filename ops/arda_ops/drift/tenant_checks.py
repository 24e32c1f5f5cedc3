"""Tenant sending domains in the drift check: find every tenant stack of a partition, check each tenant's domain.

A tenant stack (``tenant/template.yaml``) is found by its name, which the placement function composes
(``{partition stack}-Tenant-{slug}``): one ``DescribeStacks`` listing per account and region (without a stack name,
which needs ``ListStacks`` too and both on every stack: :data:`DISCOVERY_PERMISSIONS`). Each tenant becomes a target
of kind ``tenant-mail`` named ``<partition>/<slug>``, which the Postmark, DKIM/Return-Path and DMARC checks of
:mod:`arda_ops.drift.mail_checks` run on like a partition's (same rows, same verdicts, same exit codes), plus
:func:`tenant_stack`. The zone, delegation and SPF are the partition's and are checked on the partition's target;
the DMARC record is the tenant domain's own (a receiver never falls back to the partition's DMARC record:
RFC 7489 section 6.6.3), and so is the report domain's authorization of reports about it (section 7.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from arda_mail.placement import tenant_placement, tenant_slug_of_stack
from arda_ops.drift.checks import CheckContext, CheckResult, Target, Verdict, register_check
from arda_ops.drift.mail_checks import (
    PARTITION_MAIL,
    POSTMARK_DOMAIN_ID_OUTPUT,
    TENANT_MAIL,
    _row,
    error_row,
    expecting,
)
from arda_ops.drift.probes import ProbeError, Probes, StackInfo

DISCOVERY_CHECK = "tenant.discovery"
#: What the listing needs: ``DescribeStacks`` without a stack name requires ``ListStacks`` and ``DescribeStacks``,
#: on every stack of the account, not only the partition stack's ARN
#: (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html, parameter StackName).
DISCOVERY_PERMISSIONS = 'cloudformation:ListStacks and cloudformation:DescribeStacks with Resource "*"'
_HEALTHY = ("_COMPLETE", "_IN_PROGRESS")
_BROKEN = frozenset({"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED", "CREATE_FAILED"})


def tenant_target(partition: Target, slug: str, stack: StackInfo | None) -> Target:
    """The target of one tenant of ``partition`` (its token, account and region are the partition's)."""
    tenant = tenant_placement(partition.name, slug)
    facts = {
        **partition.facts,
        "mail": tenant.mail,
        "tenant": tenant,
        "tenant_stack": stack,
        "reconcile_command": f"bin/deploy {partition.name} --tenant {slug} --reconcile",
    }
    return Target(name=f"{partition.name}/{slug}", kind=TENANT_MAIL, facts=facts)


def discover_tenants(
    targets: Sequence[Target], probes: Probes, slugs: Sequence[str] = ()
) -> tuple[list[Target], list[CheckResult]]:
    """The tenant targets of every partition target: all its tenant stacks, or only ``slugs`` (each expected to
    exist: a missing one is a drift row of :func:`tenant_stack`). A listing that fails is an ``error`` row."""
    found: list[Target] = []
    errors: list[CheckResult] = []
    for partition in (t for t in targets if t.kind == PARTITION_MAIL):
        prefix = partition.facts["placement"].tenant_stack_prefix
        try:
            with expecting(f"the tenant stacks {prefix}*"):
                stacks = probes.stacks_named(partition, prefix)
        except Exception as exc:  # a probe failure, or an answer botocore cannot parse: an error row, never a crash
            row = error_row(partition.name, DISCOVERY_CHECK, exc)
            if isinstance(exc.__cause__, ProbeError) or isinstance(exc, ProbeError):
                needs = f"listing the tenant stacks (DescribeStacks without a name) needs {DISCOVERY_PERMISSIONS}"
                row = replace(row, fix=f"{row.fix}; {needs}")
            errors.append(row)
            continue
        by_slug = {slug: info for name, info in stacks.items() if (slug := tenant_slug_of_stack(partition.name, name))}
        strays = sorted(name for name in stacks if tenant_slug_of_stack(partition.name, name) is None)
        if strays:
            errors.append(_stray_stacks_row(partition, prefix, strays))
        for slug in slugs or sorted(by_slug):
            found.append(tenant_target(partition, slug, by_slug.get(slug)))
    return found, errors


def _stray_stacks_row(partition: Target, prefix: str, names: Sequence[str]) -> CheckResult:
    """Stacks named like tenant stacks whose slug the registry refuses (made by hand, or by plain ``sam deploy`` with
    another ``--stack-name``): they may hold records in the partition zone through the partition's function, and no
    tenant target can check them, so they are drift, never left out of the run in silence."""
    return CheckResult(
        partition.name,
        DISCOVERY_CHECK,
        f"every stack named {prefix}* is a tenant stack with a valid slug",
        f"not a valid tenant stack: {', '.join(names)}",
        Verdict.DRIFT,
        f"delete each (its domain and records go with it) and deploy the tenant again with a valid slug: "
        f"`bin/deploy {partition.name} --tenant <slug>`",
    )


@register_check("tenant.stack", kinds=(TENANT_MAIL,))
def tenant_stack(ctx: CheckContext) -> list[CheckResult]:
    """The tenant's stack exists, is settled, and records the domain ID Postmark has for the tenant's name."""
    tenant = ctx.target.facts["tenant"]
    stack: StackInfo | None = ctx.target.facts["tenant_stack"]
    partition = tenant.partition.partition.name
    expected = f"{tenant.stack_name} in a *_COMPLETE state, recording the Postmark domain {tenant.mail.mail_domain}"
    deploy = f"`bin/deploy {partition} --tenant {tenant.slug}`"
    if stack is None:
        return _row(ctx, "tenant.stack", expected, f"no stack {tenant.stack_name}", False, f"deploy it: {deploy}")
    if stack.status in _BROKEN or not stack.status.endswith(_HEALTHY):
        fix = (
            f"the stack is {stack.status}: read its events in the CloudFormation console, fix the cause and run "
            f"{deploy} again (a ROLLBACK_COMPLETE stack must be deleted first: {deploy} --delete)"
        )
        return _row(ctx, "tenant.stack", expected, stack.status, False, fix)
    with expecting(expected):
        domain = ctx.probes.postmark_domain(ctx.target)
    recorded = stack.outputs.get(POSTMARK_DOMAIN_ID_OUTPUT, "")
    if domain is None or str(domain.id) == recorded:
        # A domain missing on Postmark is postmark.domain's row (with its fix); the stack itself is fine.
        return _row(ctx, "tenant.stack", expected, f"{stack.status}, PostmarkDomainId {recorded or '(none)'}", True)
    return _row(
        ctx,
        "tenant.stack",
        expected,
        f"{stack.status}, PostmarkDomainId {recorded or '(none)'}; Postmark: {tenant.mail.mail_domain} is {domain.id}",
        False,
        f"the stack does not hold the domain Postmark has under the tenant's name (re-created outside CloudFormation, "
        f"or registered by the runtime: see the README's collision rule); if the stack should hold it, "
        f"`{ctx.target.facts['reconcile_command']}`, else remove the stack ({deploy} --delete)",
    )

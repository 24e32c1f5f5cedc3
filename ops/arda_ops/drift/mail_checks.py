"""The mail checks: Postmark, live DNS and the stack's exports, per partition (and Corporate when asked).

Every expected value comes from the placement function (:mod:`arda_mail.placement`) or, where Postmark picks
it (the DKIM selector and key, the Return-Path CNAME target), from Postmark itself; nothing here composes a
mail name. Each check returns one row; a row whose prerequisite already drifted is ``skipped`` (the other
row says what to fix), and a row whose probe failed is ``error``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from arda_mail.dns_names import relative
from arda_mail.placement import CORPORATE_POSTMARK_ACCOUNT as _CORPORATE_ACCOUNT
from arda_ops.drift.checks import CheckContext, CheckResult, Target, Verdict, register_check
from arda_ops.drift.probes import (
    RECORDED_ID_NOT_OWNED,
    RECORDED_ID_VISIBLE,
    DomainLookup,
    HostedZone,
    ProbeError,
)

if TYPE_CHECKING:
    from arda_mail.placement import MailDomainPlacement, PartitionPlacement
    from arda_mail.postmark.models import PostmarkDomain

PARTITION_MAIL = "partition-mail"
CORPORATE_MAIL = "corporate-mail"
MAIL_KINDS = (PARTITION_MAIL, CORPORATE_MAIL)
#: A tenant's own sending domain (tenant/template.yaml; targets from :mod:`arda_ops.drift.tenant_checks`).
TENANT_MAIL = "tenant-mail"
#: The checks of a Postmark domain and its DKIM, Return-Path and DMARC records: a tenant's domain has these and
#: nothing else of its own (its zone, delegation and SPF are the partition's). Its DMARC record is its own because a
#: receiver reads the policy at the From domain's DMARC host and then only at the Organizational Domain's, never at a
#: parent in between (RFC 7489 section 6.6.3, https://www.rfc-editor.org/rfc/rfc7489#section-6.6.3).
DOMAIN_KINDS = (*MAIL_KINDS, TENANT_MAIL)
#: The Postmark account Corporate's domain lives on (the placement function's Corporate part).
CORPORATE_POSTMARK_ACCOUNT = _CORPORATE_ACCOUNT.value
#: RFC 6376's fixed label between a DKIM selector and the signing domain.
DKIM_LABEL = "_domainkey"
_NONE = "(none)"
#: The stack's Output with the Postmark domain ID ``Custom::PostmarkDomain`` registered (``template.yaml``).
POSTMARK_DOMAIN_ID_OUTPUT = "PostmarkDomainId"


# -- targets ---------------------------------------------------------------------------------------------------


def partition_target(name: str, *, accounts_file: Any = None) -> Target:
    """The mail target of an active partition, with everything its checks need from the registry."""
    from arda_mail.partitions import postmark_token_reference
    from arda_mail.placement import partition_placement
    from arda_ops.accounts import AccountsConfigError, partition_account

    placement = partition_placement(name)
    try:
        region: str | None = partition_account(placement.partition, accounts_file).region
    except AccountsConfigError:
        region = None  # the AWS probes then use the ambient region
    return Target(
        name=name,
        kind=PARTITION_MAIL,
        facts={
            "placement": placement,
            "mail": placement.mail,
            "postmark_account": placement.partition.postmark_account.value,
            "infrastructure": placement.partition.infrastructure,
            "region": region,
            "token_secret_name": placement.account_token_secret_name,
            "op_reference": postmark_token_reference(name),
        },
    )


def corporate_target(*, accounts_file: Any = None) -> Target:
    """Corporate's mail stack (corporate/template.yaml) in its own account: the same facts as a partition's, every
    name from the placement function, the token from its own account-token secret (or its own 1Password item)."""
    from arda_mail.placement import CORPORATE_SCOPE, corporate_placement
    from arda_ops.accounts import AccountsConfigError, account_for

    placement = corporate_placement()
    try:
        region: str | None = account_for(placement.infrastructure, accounts_file).region
    except AccountsConfigError:
        region = None  # the AWS probes then use the ambient region
    facts: dict[str, Any] = {
        "placement": placement,
        "mail": placement.mail,
        "postmark_account": placement.postmark_account.value,
        "infrastructure": placement.infrastructure,
        "region": region,
        "token_secret_name": placement.account_token_secret_name,
        "op_reference": placement.postmark_token_reference,
    }
    return Target(name=CORPORATE_SCOPE, kind=CORPORATE_MAIL, facts=facts)


def _has_stack(ctx: CheckContext) -> bool:
    """A partition's or Corporate's target: a stack of ours owns the zone, the records and the custom resources."""
    return ctx.target.kind in (PARTITION_MAIL, CORPORATE_MAIL) and "placement" in ctx.target.facts


def _stack_name(ctx: CheckContext) -> str:
    return str(ctx.target.facts["placement"].stack_name)


def _zone_id_export(ctx: CheckContext) -> str:
    """The export that names the stack's mail zone by ID (a partition's contract export, or Corporate's own)."""
    placement = ctx.target.facts["placement"]
    if ctx.target.kind == CORPORATE_MAIL:
        return str(placement.mail_zone_id_export)
    return str(placement.exports.partition_mail_zone_id)


def _mail(ctx: CheckContext) -> MailDomainPlacement:
    mail: MailDomainPlacement = ctx.target.facts["mail"]
    return mail


def _placement(ctx: CheckContext) -> PartitionPlacement:
    placement: PartitionPlacement = ctx.target.facts["placement"]
    return placement


# -- row helpers -----------------------------------------------------------------------------------------------


def _row(  # noqa: PLR0917 - one row, positionally like the table
    ctx: CheckContext, check: str, expected: str, observed: str, ok: bool, fix: str = ""
) -> list[CheckResult]:
    verdict = Verdict.OK if ok else Verdict.DRIFT
    return [CheckResult(ctx.target.name, check, expected, observed, verdict, "" if ok else fix)]


def _skipped(ctx: CheckContext, check: str, expected: str, because: str) -> list[CheckResult]:
    return [CheckResult(ctx.target.name, check, expected, f"not checked: {because}", Verdict.SKIPPED)]


class _ExpectingError(Exception):
    """Internal: a probe failure plus the row's expected value."""

    def __init__(self, error: ProbeError, expected: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.expected = expected


@contextmanager
def expecting(expected: str) -> Iterator[None]:
    """Attach the row's expected value to a probe failure inside the block (the runner builds the row)."""
    try:
        yield
    except ProbeError as exc:
        raise _ExpectingError(exc, expected) from exc


def error_row(target: str, check: str, exc: BaseException) -> CheckResult:
    """The ``error`` row for a check that could not probe (used by the runner)."""
    expected = ""
    if isinstance(exc, _ExpectingError):
        expected, exc = exc.expected, exc.error
    if isinstance(exc, ProbeError):
        fix = exc.fix or _probe_fix(exc.probe)
        return CheckResult(target, check, expected, f"could not probe: {exc.detail}", Verdict.ERROR, fix, exc.probe)
    detail = " ".join(str(exc).split())[:300] or type(exc).__name__
    return CheckResult(
        target,
        check,
        expected,
        f"check failed: {type(exc).__name__}: {detail}",
        Verdict.ERROR,
        "a bug in the check itself: run it again with --verbose and report the traceback",
        f"check {check}",
    )


def _probe_fix(probe: str) -> str:
    if probe.startswith("dns parent"):
        return (
            "make the parent zone's name servers reachable from the runner (or point --parent-dns-server at one), "
            "then run the check again"
        )
    if probe.startswith("dns"):
        return "make the DNS server reachable from the runner (--dns-server HOST[:PORT]), then run the check again"
    if probe.startswith("postmark"):
        return "check that Postmark's API is reachable (--postmark-api-url) and the account token is valid"
    if probe.startswith("token"):
        return (
            "make the Postmark account token readable: the account-token secret (--token-source secret), "
            "`op` signed in (--token-source op), or the ARDA_DRIFT_TOKEN_<ACCOUNT> variable (--token-source env)"
        )
    if probe.startswith("aws"):
        return (
            "check the AWS credentials for this account: the drift role needs cloudformation:ListExports, "
            "cloudformation:DescribeStacks, route53:ListHostedZonesByName, route53:GetHostedZone and "
            "secretsmanager:GetSecretValue on the account-token secret"
        )
    return "make the probe reachable and run the check again"


def _domain(ctx: CheckContext, expected: str) -> PostmarkDomain | None:
    with expecting(expected):
        return ctx.probes.postmark_domain(ctx.target)


def _names(values: list[str] | tuple[str, ...]) -> str:
    return ", ".join(values) if values else _NONE


def _ellipsis(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit // 2 - 1] + "…" + text[-(limit // 2 - 1) :]


def _dkim_tags(value: str) -> dict[str, str]:
    """DKIM key tags with all whitespace removed (``k=rsa; p=…`` and ``k=rsa;p=…`` are the same key)."""
    tags: dict[str, str] = {}
    for part in value.split(";"):
        key, sep, val = part.partition("=")
        if sep:
            tags[key.strip().lower()] = "".join(val.split())
    return tags


# -- Postmark --------------------------------------------------------------------------------------------------

_NO_DOMAIN = "the domain is not on Postmark (see postmark.domain)"
#: Record sets the stack owns: CloudFormation does not repair an out-of-band edit on a deploy without changes.
_STACK_RECORD = (
    "the stack owns this record set, and a deploy without changes does not repair an edit made outside "
    "CloudFormation: change it back in the partition's hosted zone (CloudFormation drift detection then shows it "
    "IN_SYNC)"
)


def _reconcile(ctx: CheckContext) -> str:
    """The command that makes every custom resource of the target's stack re-assert what it owns."""
    return f"`{ctx.target.facts.get('reconcile_command') or f'bin/deploy {ctx.target.name} --reconcile'}`"


@register_check("postmark.domain", kinds=DOMAIN_KINDS)
def postmark_domain(ctx: CheckContext) -> list[CheckResult]:
    """The domain exists on the target's Postmark account under the placement function's name.

    When the account the token opens does not list the domain, the row tells apart a deleted domain from a
    token of the other Postmark account (the domain then still exists, where this token cannot see it): see
    :func:`_not_on_account`.
    """
    mail = _mail(ctx)
    account = ctx.target.facts["postmark_account"]
    expected = f"{mail.postmark_domain_name} on {account}"
    with expecting(expected):
        lookup = ctx.probes.postmark_lookup(ctx.target)
    domain = lookup.domain
    if domain is None:
        return _not_on_account(ctx, expected, lookup)
    ok = domain.name.lower() == mail.postmark_domain_name
    return _row(
        ctx,
        "postmark.domain",
        expected,
        f"{domain.name} (ID {domain.id})",
        ok,
        f"Postmark's domain is named {domain.name!r}: register {mail.postmark_domain_name} instead",
    )


def _registry_domains() -> dict[str, str]:
    """Postmark domain name → the Postmark account the registry puts it on (active partitions and Corporate)."""
    from arda_mail.partitions import active_partition_names
    from arda_mail.placement import corporate_mail_placement, partition_placement

    names = {corporate_mail_placement().postmark_domain_name: CORPORATE_POSTMARK_ACCOUNT}
    for name in active_partition_names():
        placement = partition_placement(name)
        names[placement.mail.postmark_domain_name] = placement.partition.postmark_account.value
    return names


def _recorded_domain_id(ctx: CheckContext) -> int | None:
    """The domain ID the stack recorded (its Output ``PostmarkDomainId``), when it can be read."""
    if not _has_stack(ctx):
        return None
    try:
        info = ctx.probes.stack(ctx.target, _stack_name(ctx))
    except ProbeError:
        return None  # stack.status reports an unreadable stack; this row goes on without the ID
    value = info.outputs.get(POSTMARK_DOMAIN_ID_OUTPUT, "") if info else ""
    return int(value) if value.isdigit() else None


def _not_on_account(ctx: CheckContext, expected: str, lookup: DomainLookup) -> list[CheckResult]:
    """The domain is not on the account the token opens: deleted there, or the token is another account's.

    Postmark cannot say which account a token belongs to, but two answers can: ``GET /domains/{id}`` of the
    domain the stack recorded (ErrorCode 513 means the domain exists on another account; 510 and 404 mean
    "deleted or another account's"), and the other domains the token lists (domains the registry puts on the
    other Postmark account prove the token is that account's; domains it puts on this account prove the token
    is right). Re-registering the domain with another account's token would put it on the wrong account, so
    only proof of the right token leads to the re-registration fix; otherwise the token source comes first.
    """
    mail = _mail(ctx)
    account = str(ctx.target.facts["postmark_account"])
    name = mail.postmark_domain_name
    observed = f"no domain {name} on the account the token opens"
    registry = _registry_domains()
    listed = set(lookup.account_domains) - {name}
    others = sorted(n for n in listed if registry.get(n) not in (None, account))
    siblings = sorted(n for n in listed if registry.get(n) == account)
    recorded = _recorded_domain_id(ctx)
    with expecting(expected):
        answer = ctx.probes.postmark_recorded_id(ctx.target, recorded) if recorded is not None else ""
    source = ctx.probes.token_source(ctx.target)
    right_token = ctx.probes.token_reference(ctx.target)
    evidence = []
    if answer == RECORDED_ID_NOT_OWNED:
        evidence.append(f"Postmark answers ErrorCode 513 (owned by another account) for the stack's domain {recorded}")
    if others:
        holders = ", ".join(sorted({registry[n] for n in others}))
        evidence.append(f"the token's account holds {', '.join(others)}, which the registry puts on {holders}")
    if evidence and not siblings:
        return _row(
            ctx,
            "postmark.domain",
            expected,
            f"{observed}: the token is another Postmark account's",
            False,
            f"{source} holds a token of another Postmark account, not {account}'s ({'; '.join(evidence)}). Do not "
            f"re-create the domain: with this token it would be registered on the wrong account. Put {account}'s "
            f"token back ({_token_repair(ctx, right_token)}), then run the check again",
        )
    if siblings or answer == RECORDED_ID_VISIBLE:
        seen = f" (the same token sees {', '.join(siblings)} on {account})" if siblings else ""
        return _row(
            ctx,
            "postmark.domain",
            expected,
            f"no domain {name} on {account}",
            False,
            f"the Postmark domain was deleted on {account}{seen}; a deploy without changes does not notice: "
            + _re_register(ctx),
        )
    asked = f" (GET /domains/{recorded}, the stack's domain: not found)" if recorded is not None else ""
    return _row(
        ctx,
        "postmark.domain",
        expected,
        observed,
        False,
        f"Postmark does not show {name} to the token from {source}{asked}. The likely cause is that token: one of "
        f"another Postmark account. Compare it with {account}'s token ({right_token}); if they differ, put "
        f"{account}'s token back ({_token_repair(ctx, right_token)}) and run the check again. Only if the token is "
        f"{account}'s was the domain deleted on Postmark: then " + _re_register(ctx),
    )


def _token_repair(ctx: CheckContext, right_token: str) -> str:
    if _has_stack(ctx):
        return f"`bin/deploy {ctx.target.name}` writes the token from {right_token} into the account-token secret"
    return f"use a token of {ctx.target.facts['postmark_account']}"


def _re_register(ctx: CheckContext) -> str:
    if ctx.target.kind in (PARTITION_MAIL, TENANT_MAIL) or _has_stack(ctx):
        return (
            f"{_reconcile(ctx)} makes Custom::PostmarkDomain register it again (a new domain ID and DKIM key, "
            "which its DKIM record set then takes)"
        )
    return "register it again on that account (Postmark's console), then publish its DKIM key"


@register_check("postmark.dkim-host", kinds=DOMAIN_KINDS)
def postmark_dkim_host(ctx: CheckContext) -> list[CheckResult]:
    """Postmark's DKIM host (active, else pending) is a selector below the domain's ``_domainkey``."""
    mail = _mail(ctx)
    suffix = f".{DKIM_LABEL}.{mail.mail_domain}"
    expected = f"<selector>{suffix}"
    domain = _domain(ctx, expected)
    if domain is None:
        return _skipped(ctx, "postmark.dkim-host", expected, _NO_DOMAIN)
    host = domain.dkim_record_host
    ok = bool(host) and host.lower().endswith(suffix) and len(host) > len(suffix)
    return _row(
        ctx,
        "postmark.dkim-host",
        expected,
        host or _NONE,
        ok,
        f"Postmark's DKIM host {host or '(empty)'} is not below {DKIM_LABEL}.{mail.mail_domain}: the domain has no "
        "usable key: rotate its DKIM key (POST /domains/{id}/rotatedkim) and publish the new one (see dns.dkim)",
    )


@register_check("postmark.return-path", kinds=DOMAIN_KINDS)
def postmark_return_path(ctx: CheckContext) -> list[CheckResult]:
    """Postmark's Return-Path domain equals the placement function's Return-Path host."""
    mail = _mail(ctx)
    expected = mail.return_path_host
    domain = _domain(ctx, expected)
    if domain is None:
        return _skipped(ctx, "postmark.return-path", expected, _NO_DOMAIN)
    observed = domain.return_path_domain
    return _row(
        ctx,
        "postmark.return-path",
        expected,
        observed or _NONE,
        observed.lower() == expected,
        f"set the domain's Return-Path back to {expected} (PUT /domains/{domain.id} with ReturnPathDomain, or "
        "Postmark's console), then verify it; the stack's Custom::PostmarkDomain does the same when it next updates",
    )


@register_check("postmark.dkim-verified", kinds=DOMAIN_KINDS)
def postmark_dkim_verified(ctx: CheckContext) -> list[CheckResult]:
    """Postmark reports DKIM verified."""
    expected = "verified"
    domain = _domain(ctx, expected)
    if domain is None:
        return _skipped(ctx, "postmark.dkim-verified", expected, _NO_DOMAIN)
    status = f" (DKIMUpdateStatus {domain.dkim_update_status})" if domain.dkim_update_status else ""
    return _row(
        ctx,
        "postmark.dkim-verified",
        expected,
        ("verified" if domain.dkim_verified else "not verified") + status,
        domain.dkim_verified,
        f"Postmark has not verified DKIM: publish the TXT record at {domain.dkim_record_host or 'the DKIM host'} "
        f"with Postmark's value (see dns.dkim), then verify it (PUT /domains/{domain.id}/verifyDkim, the "
        "'Verify' button in Postmark, or an update of the stack that re-runs Custom::PostmarkDomainVerification)",
    )


@register_check("postmark.return-path-verified", kinds=DOMAIN_KINDS)
def postmark_return_path_verified(ctx: CheckContext) -> list[CheckResult]:
    """Postmark reports the custom Return-Path verified."""
    mail = _mail(ctx)
    expected = "verified"
    domain = _domain(ctx, expected)
    if domain is None:
        return _skipped(ctx, "postmark.return-path-verified", expected, _NO_DOMAIN)
    return _row(
        ctx,
        "postmark.return-path-verified",
        expected,
        "verified" if domain.return_path_domain_verified else "not verified",
        domain.return_path_domain_verified,
        f"Postmark has not verified the Return-Path: make {mail.return_path_host} a CNAME to "
        f"{domain.return_path_cname_value or mail.return_path_target} (see dns.return-path), then verify it "
        f"(PUT /domains/{domain.id}/verifyReturnPath or the 'Verify' button in Postmark)",
    )


@register_check("postmark.dkim-rotation", kinds=DOMAIN_KINDS)
def postmark_dkim_rotation(ctx: CheckContext) -> list[CheckResult]:
    """No DKIM rotation is pending (a new key waiting for verification while the old one is active)."""
    expected = "no rotation pending"
    domain = _domain(ctx, expected)
    if domain is None:
        return _skipped(ctx, "postmark.dkim-rotation", expected, _NO_DOMAIN)
    if not domain.rotation_pending:
        first = " (the first key is still pending: see postmark.dkim-verified)" if not domain.dkim_host else ""
        return _row(ctx, "postmark.dkim-rotation", expected, "none" + first, True)
    host = domain.dkim_pending_host
    with expecting(expected):
        published = any(
            _dkim_tags(v) == _dkim_tags(domain.dkim_pending_text_value) for v in ctx.probes.txt(host.lower())
        )
    if _has_stack(ctx):
        # Custom::PostmarkDkim owns the stack's DKIM records: the stack operation publishes and verifies the new key.
        fix = (
            f"{_reconcile(ctx)}: Custom::PostmarkDkim "
            + ("asks Postmark to verify the new key" if published else "publishes the new key beside the active one")
            + " and continues the rotation (phase pending-verification; see stack.dkim-rotation)"
        )
    elif published:
        fix = f"the new key is published at {host}: verify DKIM (PUT /domains/{domain.id}/verifyDkim) to finish it"
    else:
        fix = (
            f"publish a second TXT record at {host} with Postmark's DKIMPendingTextValue (keep the active key's "
            f"record), then verify DKIM (PUT /domains/{domain.id}/verifyDkim)"
        )
    state = "published" if published else "not in DNS"
    return _row(ctx, "postmark.dkim-rotation", expected, f"pending key at {host} ({state})", False, fix)


@register_check("postmark.revoked-key", kinds=DOMAIN_KINDS)
def postmark_revoked_key(ctx: CheckContext) -> list[CheckResult]:
    """A DKIM key Postmark revoked after a rotation is no longer published once it is safe to remove."""
    expected = "no revoked key in DNS"
    domain = _domain(ctx, expected)
    if domain is None:
        return _skipped(ctx, "postmark.revoked-key", expected, _NO_DOMAIN)
    host = domain.dkim_revoked_host
    if not host:
        return _row(ctx, "postmark.revoked-key", expected, "none", True)
    with expecting(expected):
        published = bool(ctx.probes.txt(host.lower()))
    if not published:
        return _row(ctx, "postmark.revoked-key", expected, f"revoked key at {host} removed from DNS", True)
    if not domain.safe_to_remove_revoked_key:
        observed = f"revoked key at {host} still published; Postmark: not yet safe to remove"
        if _has_stack(ctx):
            observed += f" (phase revoked-key-published: once Postmark says it is safe, {_reconcile(ctx)} removes it)"
        return _row(ctx, "postmark.revoked-key", expected, observed, True)
    fix = f"delete the TXT record at {host}: Postmark revoked that key and reports it safe to remove from DNS"
    if _has_stack(ctx):
        fix = f"{_reconcile(ctx)}: Custom::PostmarkDkim removes it (Postmark reports it safe to remove), or {fix}"
    return _row(ctx, "postmark.revoked-key", expected, f"revoked key still published at {host}", False, fix)


#: The stack output Custom::PostmarkDkim's phase is published as (template.yaml), and what each phase asks for.
DKIM_ROTATION_PHASE_OUTPUT = "DkimRotationPhase"
_SETTLED_PHASES = {
    "idle": "no rotation requested",
    "complete": "the last rotation is complete",
    "revoked-key-published": "new key active; the old key stays published until Postmark says it is safe to remove",
}


@register_check("stack.dkim-rotation", kinds=MAIL_KINDS)
def stack_dkim_rotation(ctx: CheckContext) -> list[CheckResult]:
    """The stack's DKIM key rotation (``DkimKeyRotation``) is not stuck half-way: its Output ``DkimRotationPhase``."""
    expected = "no DKIM rotation waiting for a deploy"
    if not _has_stack(ctx):
        return _skipped(ctx, "stack.dkim-rotation", expected, "no stack of ours")
    with expecting(expected):
        info = ctx.probes.stack(ctx.target, _stack_name(ctx))
    phase = info.outputs.get(DKIM_ROTATION_PHASE_OUTPUT, "") if info else ""
    if not phase:
        return _skipped(ctx, "stack.dkim-rotation", expected, f"the stack has no {DKIM_ROTATION_PHASE_OUTPUT} output")
    if phase in _SETTLED_PHASES:
        return _row(ctx, "stack.dkim-rotation", expected, f"{phase}: {_SETTLED_PHASES[phase]}", True)
    if phase == "pending-verification":
        fix = (
            f"{_reconcile(ctx)}: Postmark had not verified the new key when the stack last deployed; the reconcile "
            "asks again and the stack's DKIM outputs follow the new key once Postmark signs with it"
        )
    elif phase == "waiting-for-previous":
        fix = (
            f"{_reconcile(ctx)} until the previous rotation is complete (see postmark.dkim-rotation and "
            "postmark.revoked-key); the newly requested DkimKeyRotation value then starts its rotation"
        )
    else:
        fix = f"unknown phase {phase!r}: read the stack's events and Custom::PostmarkDkim's log, then {_reconcile(ctx)}"
    return _row(ctx, "stack.dkim-rotation", expected, phase, False, fix)


# -- DNS -------------------------------------------------------------------------------------------------------


@register_check("dns.delegation", kinds=MAIL_KINDS)
def dns_delegation(ctx: CheckContext) -> list[CheckResult]:
    """The parent zone's NS delegation equals the sub-zone's name servers.

    The sub-zone's name servers are those Route 53 assigned to its hosted zone (read in the stack's account: the
    partition's, or Corporate's); for a target without a stack of ours they are the NS set at the zone's apex.
    The delegation is read from the parent zone's authoritative servers with recursion off.
    """
    mail = _mail(ctx)
    expected_label = f"the name servers of zone {mail.mail_domain}"
    with expecting(expected_label):
        if _has_stack(ctx):
            zone, stale = _mail_zones(ctx, expected_label)
            if zone is None and not stale:
                return _row(
                    ctx,
                    "dns.delegation",
                    expected_label,
                    f"no hosted zone {mail.mail_domain} in {ctx.target.facts.get('infrastructure')}",
                    False,
                    f"the mail sub-zone is missing: deploy the stack ({_stack_name(ctx)})",
                )
            if zone is None:  # several zones of the name, and no stack export says which is the stack's
                ids = ", ".join(z.id for z in stale)
                return _row(
                    ctx,
                    "dns.delegation",
                    expected_label,
                    f"{len(stale)} public hosted zones named {mail.mail_domain}: {ids}",
                    False,
                    f"{len(stale)} public hosted zones named {mail.mail_domain} exist ({ids}) and no stack export "
                    "says which is the mail zone: keep the one the partition's stack created (its MailZone "
                    "resource), delete the others, and make the parent's delegation name the kept zone's servers",
                )
            servers = list(zone.name_servers)
            source = f"Route 53, zone {zone.id}"
        else:
            servers = ctx.probes.ns(mail.mail_domain)
            source = "zone apex"
        expected = f"{_names(servers)} ({source})"
        delegated = ctx.probes.delegation(mail.mail_domain, mail.parent_zone_name)
    owner = (
        f"Custom::NsDelegation owns that record: {_reconcile(ctx)} makes it write the record again (a deploy "
        "without changes does not), or "
        if _has_stack(ctx)
        else ""
    )
    if not delegated:
        fix = (
            f"the parent zone {mail.parent_zone_name} has no NS record for {mail.mail_domain}, so nothing below it "
            f"resolves: {owner}create it with the sub-zone's name servers ({_names(servers)}) in the Platform Root "
            "account"
        )
        return _row(ctx, "dns.delegation", expected, f"no delegation in {mail.parent_zone_name}", False, fix)
    ok = sorted(delegated) == sorted(servers)
    return _row(
        ctx,
        "dns.delegation",
        expected,
        f"{_names(delegated)} (in {mail.parent_zone_name})",
        ok,
        f"the parent zone {mail.parent_zone_name} delegates {mail.mail_domain} to other name servers (an old zone's?): "
        f"{owner}UPSERT its NS record to {_names(servers)} in the Platform Root account; if a stale duplicate hosted "
        "zone exists, delete it (see stack.zone)",
    )


def _mail_zones(ctx: CheckContext, expected: str) -> tuple[HostedZone | None, list[HostedZone]]:
    """The partition's mail zone and any stale public zone of the same name.

    With one zone of the name, that is the zone. With several, the stack's is the one its
    ``PartitionMailZoneId`` export names (the others are stale: a leftover of an earlier stack, or one created
    by hand); when the export cannot tell, the live zone is None and every zone is listed.
    """
    mail = _mail(ctx)
    zones = ctx.probes.hosted_zones(ctx.target, mail.mail_domain)
    if len(zones) <= 1:
        return (zones[0] if zones else None), []
    exported = _stack_exports(ctx, expected) or {}
    exported_id = exported.get(_zone_id_export(ctx), "").rsplit("/", 1)[-1]
    live = next((z for z in zones if z.id == exported_id), None)
    return live, [z for z in zones if z is not live]


def _txt_check(  # noqa: PLR0917
    ctx: CheckContext, check: str, host: str, expected: str, prefix: str, what: str
) -> list[CheckResult]:
    with expecting(expected):
        records = ctx.probes.txt(host)
    matching = [r for r in records if r.lower().startswith(prefix)]
    ok = matching == [expected]
    if not matching:
        observed, fix = (
            f"no {what} record at {host}",
            f"publish the TXT record {expected!r} at {host}; {_STACK_RECORD}",
        )
    elif len(matching) > 1:
        observed = f"{len(matching)} {what} records: " + " | ".join(matching)
        fix = f"keep exactly one {what} record at {host}, {expected!r}, and delete the others"
    else:
        observed = matching[0]
        fix = f"set the {what} TXT record at {host} back to {expected!r}; {_STACK_RECORD}"
    return _row(ctx, check, expected, observed, ok, fix)


@register_check("dns.spf", kinds=MAIL_KINDS)
def dns_spf(ctx: CheckContext) -> list[CheckResult]:
    """Exactly one SPF record at the apex, equal to the placement function's value."""
    mail = _mail(ctx)
    return _txt_check(ctx, "dns.spf", mail.spf_host, mail.spf_value, "v=spf1", "SPF")


@register_check("dns.dmarc", kinds=DOMAIN_KINDS)
def dmarc_record(ctx: CheckContext) -> list[CheckResult]:
    """Exactly one DMARC record at the DMARC host, equal to the placement function's value."""
    mail = _mail(ctx)
    return _txt_check(ctx, "dns.dmarc", mail.dmarc_host, mail.dmarc_value, "v=dmarc1", "DMARC")


@register_check("dns.dmarc-report-authorization", kinds=DOMAIN_KINDS)
def dmarc_report_authorization(ctx: CheckContext) -> list[CheckResult]:
    """The report domain authorizes DMARC reports about the mail domain (RFC 7489 section 7.1).

    The DMARC record sends aggregate reports to a mailbox of another domain; a receiver sends them only after
    finding a TXT record starting ``v=DMARC1`` at the name :func:`dmarc_report_authorization_host` gives (other TXT
    records there are ignored). Without it the reports are silently dropped. A wildcard record for every domain
    answers the same query (DNS wildcard synthesis), so either form passes.
    See https://www.rfc-editor.org/rfc/rfc7489#section-7.1.
    """
    from arda_mail.placement import (
        DMARC_REPORT_AUTHORIZATION_VALUE,
        DMARC_REPORT_DOMAIN,
        dmarc_report_authorization_host,
    )

    mail = _mail(ctx)
    host = dmarc_report_authorization_host(mail.mail_domain)
    expected = f'{host} TXT "{DMARC_REPORT_AUTHORIZATION_VALUE}"'
    with expecting(expected):
        records = ctx.probes.txt(host)
    prefix = DMARC_REPORT_AUTHORIZATION_VALUE.lower()
    authorizing = [r for r in records if r.replace(" ", "").lower().split(";")[0] == prefix]
    if authorizing:
        return _row(ctx, "dns.dmarc-report-authorization", expected, f"{host} TXT {authorizing[0]}", True)
    observed = f"no {DMARC_REPORT_AUTHORIZATION_VALUE} record at {host}"
    if records:
        observed += " (other TXT: " + " | ".join(_ellipsis(r, 40) for r in records) + ")"
    return _row(
        ctx,
        "dns.dmarc-report-authorization",
        expected,
        observed,
        False,
        f'publish the TXT record "{DMARC_REPORT_AUTHORIZATION_VALUE}" at {host} in the zone of '
        f"{DMARC_REPORT_DOMAIN} (its DNS, not the partition's hosted zone), or once for every domain at "
        f"{dmarc_report_authorization_host('*')}: {mail.dmarc_host} sends aggregate reports to "
        f"{DMARC_REPORT_DOMAIN}, and receivers drop reports for {mail.mail_domain} until {DMARC_REPORT_DOMAIN} "
        "authorizes them (RFC 7489 section 7.1)",
    )


@register_check("dns.dkim", kinds=DOMAIN_KINDS)
def dns_dkim(ctx: CheckContext) -> list[CheckResult]:
    """The DKIM TXT record at Postmark's DKIM host carries Postmark's key (strings joined, spaces ignored)."""
    domain = _domain(ctx, "Postmark's DKIM key")
    if domain is None:
        return _skipped(ctx, "dns.dkim", "Postmark's DKIM key", _NO_DOMAIN)
    host, value = domain.dkim_record_host.lower(), domain.dkim_record_text
    if not host or not value:
        return _skipped(ctx, "dns.dkim", "Postmark's DKIM key", "Postmark shows no DKIM key (see postmark.dkim-host)")
    expected = f"{host} TXT {_ellipsis(value)}"
    with expecting(expected):
        records = ctx.probes.txt(host)
    wanted = _dkim_tags(value)
    matching = [r for r in records if _dkim_tags(r) == wanted]
    if not records:
        return _row(
            ctx,
            "dns.dkim",
            expected,
            f"no TXT record at {host}",
            False,
            (
                f"{_reconcile(ctx)}: Custom::PostmarkDkim publishes Postmark's key at {host}; until then mail from "
                "the domain is not DKIM-signed"
            )
            if _has_stack(ctx)
            else f"publish the DKIM TXT record at {host} with Postmark's key (the expected value); until then mail "
            f"from the domain is not DKIM-signed; {_STACK_RECORD}",
        )
    if matching and len(records) == 1:
        return _row(ctx, "dns.dkim", expected, f"{host} TXT {_ellipsis(records[0])}", True)
    if matching:
        return _row(
            ctx,
            "dns.dkim",
            expected,
            f"{len(records)} TXT records at {host}, one of them Postmark's",
            False,
            f"delete the extra TXT records at {host}: keep only Postmark's key",
        )
    return _row(
        ctx,
        "dns.dkim",
        expected,
        f"{host} TXT " + " | ".join(_ellipsis(r) for r in records),
        False,
        f"the TXT record at {host} is not Postmark's key (an old or truncated key): it must carry Postmark's "
        "DkimTextValue; Custom::PostmarkDkim never overwrites a record it did not write: delete or correct the record "
        f"by hand, then {_reconcile(ctx)} publishes the key",
    )


@register_check("dns.return-path", kinds=DOMAIN_KINDS)
def dns_return_path(ctx: CheckContext) -> list[CheckResult]:
    """The Return-Path host is a CNAME to Postmark's ReturnPathDomainCNAMEValue."""
    mail = _mail(ctx)
    host = mail.return_path_host
    domain = _domain(ctx, f"{host} CNAME {mail.return_path_target}")
    target = (domain.return_path_cname_value if domain else "") or mail.return_path_target
    expected = f"{host} CNAME {target}"
    with expecting(expected):
        observed = ctx.probes.cname(host)
    if observed is None:
        return _row(
            ctx,
            "dns.return-path",
            expected,
            f"no CNAME at {host}",
            False,
            f"publish the CNAME {host} → {target}; {_STACK_RECORD}",
        )
    return _row(
        ctx,
        "dns.return-path",
        expected,
        f"{host} CNAME {observed}",
        observed == relative(target),
        f"point the CNAME {host} at {target} (Postmark's ReturnPathDomainCNAMEValue), not {observed}; {_STACK_RECORD}",
    )


# -- cross-seam: the stack -------------------------------------------------------------------------------------

_HEALTHY_SUFFIXES = ("_COMPLETE",)
_BROKEN_STATES = frozenset({"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_COMPLETE"})


@register_check("stack.status", kinds=(PARTITION_MAIL, CORPORATE_MAIL))
def stack_status(ctx: CheckContext) -> list[CheckResult]:
    """The partition's (or Corporate's) stack exists and is in a settled, usable state."""
    stack_name = _stack_name(ctx)
    expected = f"{stack_name} in a *_COMPLETE state"
    with expecting(expected):
        status = ctx.probes.stack_status(ctx.target, stack_name)
    where = " ".join(str(ctx.target.facts.get(k) or "") for k in ("infrastructure", "region")).strip()
    if status is None:
        return _row(
            ctx,
            "stack.status",
            expected,
            f"no stack {stack_name} in {where}",
            False,
            f"deploy it: sam deploy --config-env {ctx.target.name} (the first deploy: bin/deploy {ctx.target.name})",
        )
    if status.endswith("_IN_PROGRESS"):
        return _row(ctx, "stack.status", expected, f"{status} (an operation is running)", True)
    ok = status.endswith(_HEALTHY_SUFFIXES) and status not in _BROKEN_STATES
    return _row(
        ctx,
        "stack.status",
        expected,
        status,
        ok,
        f"the stack is {status}: read its events in the CloudFormation console, fix the cause and re-deploy "
        f"(sam deploy --config-env {ctx.target.name}); a ROLLBACK_COMPLETE stack must be deleted first",
    )


def _stack_exports(ctx: CheckContext, expected: str) -> dict[str, str] | None:
    """Name → value of the exports the stack (a partition's or Corporate's) publishes; None when it does not exist."""
    stack_name = _stack_name(ctx)
    with expecting(expected):
        if ctx.probes.stack_status(ctx.target, stack_name) is None:
            return None
        exports = ctx.probes.exports(ctx.target)
    marker = f":stack/{stack_name}/"
    return {e["Name"]: e["Value"] for e in exports if marker in e.get("ExportingStackId", "")}


@register_check("stack.exports", kinds=(PARTITION_MAIL,))
def stack_exports(ctx: CheckContext) -> list[CheckResult]:
    """The stack exports exactly the placement function's six export names (the Helm chart's contract)."""
    placement = _placement(ctx)
    wanted = placement.exports.as_dict()
    expected = f"{len(wanted)} exports: " + ", ".join(sorted(wanted.values()))
    exported = _stack_exports(ctx, expected)
    if exported is None:
        return _skipped(ctx, "stack.exports", expected, "the stack does not exist (see stack.status)")
    missing = {key: name for key, name in wanted.items() if name not in exported}
    # The -I- exports of the partition's functions (tenant stacks' ServiceToken) are the project's own, not drift.
    extra = sorted(set(exported) - set(wanted.values()) - set(placement.intra_platform_exports))
    if not missing and not extra:
        return _row(ctx, "stack.exports", expected, f"{len(wanted)} exports, all present", True)
    parts = []
    if missing:
        parts.append("missing " + ", ".join(sorted(missing.values())))
    if extra:
        parts.append("unexpected " + ", ".join(extra))
    outputs = ", ".join(f"Output {key} → Export {name}" for key, name in sorted(missing.items()))
    fix = (
        f"restore the export names the runtime's Helm chart imports ({outputs}): make template.yaml's Outputs "
        "publish the placement function's names and re-deploy"
    )
    if extra:
        fix += f"; {', '.join(extra)} is not part of the contract (a renamed export?)"
    return _row(ctx, "stack.exports", expected, "; ".join(parts), False, fix)


@register_check("stack.zone", kinds=(PARTITION_MAIL,))
def stack_zone(ctx: CheckContext) -> list[CheckResult]:
    """The zone exports name the placement function's mail zone and the hosted zone Route 53 holds for it."""
    placement = _placement(ctx)
    names = placement.exports
    mail = placement.mail
    expected_head = f"{names.partition_mail_zone_name} = {mail.mail_domain}"
    exported = _stack_exports(ctx, expected_head)
    if exported is None:
        return _skipped(ctx, "stack.zone", expected_head, "the stack does not exist (see stack.status)")
    with expecting(expected_head):
        zone, stale = _mail_zones(ctx, expected_head)
    if stale:
        return _duplicate_zones(ctx, expected_head, zone, stale)
    zone_id = zone.id if zone else "(no such hosted zone)"
    expected = f"{expected_head}, {names.partition_mail_zone_id} = {zone_id}"
    got_name = exported.get(names.partition_mail_zone_name)
    got_id = exported.get(names.partition_mail_zone_id)
    if got_name is None or got_id is None:
        return _skipped(ctx, "stack.zone", expected, "a zone export is missing (see stack.exports)")
    observed = f"{got_name} / {got_id}"
    name_ok = relative(got_name) == mail.mail_domain
    id_ok = zone is not None and got_id.rsplit("/", 1)[-1] == zone.id
    fix = (
        f"the stack's zone exports ({observed}) do not match the mail zone {mail.mail_domain} "
        f"({zone_id}): the stack manages another zone than the one DNS and Postmark use; re-deploy it, and "
        "delete a stale duplicate hosted zone"
    )
    return _row(ctx, "stack.zone", expected, observed, name_ok and id_ok, fix)


def _duplicate_zones(
    ctx: CheckContext, expected_head: str, live: HostedZone | None, stale: list[HostedZone]
) -> list[CheckResult]:
    """Two public hosted zones of the mail domain's name: drift whose fix names the stale one by its ID.

    Route 53 deletes a hosted zone only once it holds nothing but its default SOA and NS record sets
    (https://docs.aws.amazon.com/Route53/latest/APIReference/API_DeleteHostedZone.html), hence "move the
    records first".
    """
    mail = _mail(ctx)
    placement = _placement(ctx)
    where = ctx.target.facts.get("infrastructure") or "the partition's account"
    export = placement.exports.partition_mail_zone_id
    every = ([live] if live else []) + stale
    labels = [f"{z.id} (the stack's)" if z is live else z.id for z in every]
    observed = f"{len(every)} public hosted zones named {mail.mail_domain}: " + ", ".join(labels)
    stale_ids = ", ".join(z.id for z in stale)
    if live is None:
        fix = (
            f"{len(every)} public hosted zones named {mail.mail_domain} exist in {where} ({stale_ids}) and the export "
            f"{export} names none of them: find the stack's zone (its MailZone resource), then delete the others"
        )
    else:
        fix = (
            f"delete the stale hosted zone {stale_ids} in {where}: the stack's zone is {live.id} (its export "
            f"{export}), and only that zone's name servers belong in the parent's delegation. Move any record the "
            f"runtime wrote into {stale_ids} first (aws route53 list-resource-record-sets --hosted-zone-id "
            f"{stale[0].id}); a hosted zone is deleted once it holds only its NS and SOA records "
            f"(aws route53 delete-hosted-zone --id {stale[0].id})"
        )
    return _row(ctx, "stack.zone", f"{expected_head}, one public hosted zone of that name", observed, False, fix)


# Corporate's own checks (its zone outputs, the Free Kanban Tool's DMARC record) use the helpers above and register
# themselves when imported, so importing this module registers every mail check.
import arda_ops.drift.corporate_checks  # noqa: E402, F401

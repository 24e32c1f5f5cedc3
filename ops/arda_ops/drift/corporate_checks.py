"""The checks only Corporate's mail stack has: its zone outputs and the Free Kanban Tool's DMARC record.

Everything else Corporate shares with a partition (Postmark, delegation, SPF, DMARC, DKIM, Return-Path, stack
status) runs through the same check units in :mod:`arda_ops.drift.mail_checks`. Expected values come from
:func:`arda_mail.placement.corporate_placement`; the Output keys are corporate/template.yaml's
(:mod:`arda_ops.corporate_stack`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from arda_mail.dns_names import relative
from arda_ops.corporate_stack import ZONE_ID_OUTPUT, ZONE_NAME_OUTPUT
from arda_ops.drift.checks import CheckContext, CheckResult, register_check
from arda_ops.drift.mail_checks import (
    CORPORATE_MAIL,
    _mail_zones,
    _row,
    _skipped,
    _stack_exports,
    _txt_check,
    expecting,
)

if TYPE_CHECKING:
    from arda_mail.placement import CorporatePlacement


def _corporate(ctx: CheckContext) -> CorporatePlacement:
    placement: CorporatePlacement = ctx.target.facts["placement"]
    return placement


@register_check("stack.corporate-zone", kinds=(CORPORATE_MAIL,))
def corporate_zone(ctx: CheckContext) -> list[CheckResult]:
    """The Corporate stack's zone Outputs and its zone-ID export name the placement function's mail zone and the
    hosted zone Route 53 holds for it in Corporate's account."""
    c = _corporate(ctx)
    mail = c.mail
    head = f"Output {ZONE_NAME_OUTPUT} = {mail.mail_domain}"
    exported = _stack_exports(ctx, head)
    if exported is None:
        return _skipped(ctx, "stack.corporate-zone", head, "the stack does not exist (see stack.status)")
    with expecting(head):
        info = ctx.probes.stack(ctx.target, c.stack_name)
        zone, stale = _mail_zones(ctx, head)
    zone_id = zone.id if zone else "(no such hosted zone)"
    expected = f"{head}, Output {ZONE_ID_OUTPUT} = Export {c.mail_zone_id_export} = {zone_id}"
    outputs = info.outputs if info else {}
    got_name, got_id = outputs.get(ZONE_NAME_OUTPUT), outputs.get(ZONE_ID_OUTPUT)
    got_export = exported.get(c.mail_zone_id_export)
    observed = f"{got_name} / {got_id} / export {got_export}"
    ok = (
        not stale
        and got_name is not None
        and relative(got_name) == mail.mail_domain
        and zone is not None
        and got_id == zone.id
        and got_export is not None
        and got_export.rsplit("/", 1)[-1] == zone.id
    )
    fix = (
        f"the Corporate stack's zone Outputs and export ({observed}) must name {mail.mail_domain} and its hosted "
        f"zone {zone_id}: the export {c.mail_zone_id_export} is what Corporate's other stacks import; re-deploy "
        f"with `sam deploy --config-env {ctx.target.name}`"
    )
    if stale:
        fix += f", and delete the stale hosted zone(s) {', '.join(z.id for z in stale)} named {mail.mail_domain}"
    return _row(ctx, "stack.corporate-zone", expected, observed, ok, fix)


@register_check("dns.free-kanban-dmarc", kinds=(CORPORATE_MAIL,))
def free_kanban_policy(ctx: CheckContext) -> list[CheckResult]:
    """Exactly one DMARC record at the Free Kanban Tool's sending domain (its policy is looked up there, then at
    the organizational domain, never at Corporate's domain), equal to the placement function's value."""
    fkt = _corporate(ctx).free_kanban
    return _txt_check(ctx, "dns.free-kanban-dmarc", fkt.dmarc_host, fkt.dmarc_value, "v=dmarc1", "DMARC")

"""Render the ``Mappings`` of ``template.yaml`` and ``corporate/template.yaml`` from the registry and placement.

The template looks every partition-specific name up with ``!FindInMap [Partitions, !Ref Partition, …]``
instead of composing it with ``!Sub``, and the mapping itself is generated here, so the template cannot
drift from :mod:`arda_mail.placement`. ``--check`` (run by the tests) fails when the block in the template
differs from what this module renders; ``--write`` rewrites it. The Corporate template gets a ``Corporate``
mapping with one entry (``corporate``) and the same keys for everything the shared mail-domain block looks up
(:mod:`arda_ops.template_blocks`), so the block reads the same names in both stacks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from arda_mail.partitions import active_partitions
from arda_mail.placement import CORPORATE_SCOPE, MailDomainPlacement, corporate_placement, partition_placement
from arda_mail.txt_records import route53_txt_value

BEGIN = "  # BEGIN GENERATED partition mappings (python -m arda_ops.template_mappings --write)"
END = "  # END GENERATED partition mappings"
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
CORPORATE_BEGIN = "  # BEGIN GENERATED corporate mappings (python -m arda_ops.template_mappings --write)"
CORPORATE_END = "  # END GENERATED corporate mappings"
CORPORATE_TEMPLATE = TEMPLATE.parent / "corporate" / "template.yaml"


def _mail_domain_entry(mail: MailDomainPlacement) -> dict[str, str]:
    """The keys of the shared mail-domain block that depend only on the mail domain."""
    return {
        "MailDomain": mail.mail_domain,
        "ParentZoneName": mail.parent_zone_name,
        "ReturnPathHost": mail.return_path_host,
        "DmarcHost": mail.dmarc_host,
        "SpfRecordValue": route53_txt_value(mail.spf_value),
        "DmarcRecordValue": route53_txt_value(mail.dmarc_value),
    }


def partition_mappings() -> dict[str, dict[str, str]]:
    """The ``Partitions`` mapping: one entry per active partition, every value from placement."""
    mappings: dict[str, dict[str, str]] = {}
    for partition in active_partitions():
        p = partition_placement(partition.name)
        entry = {
            "Fqn": p.fqn,
            "PostmarkAccount": partition.postmark_account.value,
            **_mail_domain_entry(p.mail),
            "AccountTokenSecretName": p.account_token_secret_name,
            "EncryptionKeySecretName": p.encryption_key_secret_name,
            "DnsProvisioningRoleName": p.dns_provisioning_role_name,
            "EncryptionKeyFallbackRoleName": p.encryption_key_fallback_role_name,
            "NsDelegationFunctionRoleName": p.ns_delegation_function_role_name,
            "RuntimeRoleNamePattern": p.runtime_role_name_pattern,
        }
        entry.update({f"Export{key}": name for key, name in p.exports.as_dict().items()})
        mappings[partition.name] = entry
    return mappings


def corporate_mappings() -> dict[str, dict[str, str]]:
    """The ``Corporate`` mapping: the shared block's keys for Corporate, plus the Free Kanban Tool's DMARC record
    and the zone-ID export, every value from placement."""
    c = corporate_placement()
    fkt = c.free_kanban
    entry = {
        "Fqn": c.fqn,
        "PostmarkAccount": c.postmark_account.value,
        **_mail_domain_entry(c.mail),
        "AccountTokenSecretName": c.account_token_secret_name,
        "NsDelegationFunctionRoleName": c.ns_delegation_function_role_name,
        "FreeKanbanDomain": fkt.mail_domain,
        "FreeKanbanDmarcHost": fkt.dmarc_host,
        "FreeKanbanDmarcRecordValue": route53_txt_value(fkt.dmarc_value),
        "ExportMailZoneId": c.mail_zone_id_export,
    }
    return {CORPORATE_SCOPE: entry}


def _quote(value: str) -> str:
    """A YAML single-quoted scalar (safe for the quotes inside TXT values)."""
    return "'" + value.replace("'", "''") + "'"


def _render(begin: str, end: str, mapping: str, entries: dict[str, dict[str, str]]) -> str:
    lines = [begin, f"  {mapping}:"]
    for name, entry in entries.items():
        lines.append(f"    {name}:")
        lines.extend(f"      {key}: {_quote(value)}" for key, value in entry.items())
    lines.append(end)
    return "\n".join(lines)


def render_block() -> str:
    return _render(BEGIN, END, "Partitions", partition_mappings())


def render_corporate_block() -> str:
    return _render(CORPORATE_BEGIN, CORPORATE_END, "Corporate", corporate_mappings())


def current_block(text: str, begin: str = BEGIN, end: str = END) -> str:
    start, stop = text.index(begin), text.index(end) + len(end)
    return text[start:stop]


def _sync(template: Path, block: str, begin: str, end: str, *, write: bool) -> bool:
    """True when ``template`` holds ``block`` (after rewriting it, with ``write``)."""
    text = template.read_text(encoding="utf-8")
    if current_block(text, begin, end) == block:
        print(f"{template}: generated mappings are up to date")
        return True
    if not write:
        print(f"{template}: generated mappings are out of date; run python -m arda_ops.template_mappings --write")
        return False
    template.write_text(text.replace(current_block(text, begin, end), block), encoding="utf-8")
    print(f"{template}: generated mappings rewritten")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="fail if a template is out of date")
    mode.add_argument("--write", action="store_true", help="rewrite the generated blocks")
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    parser.add_argument("--corporate-template", type=Path, default=CORPORATE_TEMPLATE)
    args = parser.parse_args(argv)
    partition_ok = _sync(args.template, render_block(), BEGIN, END, write=args.write)
    corporate_ok = _sync(
        args.corporate_template, render_corporate_block(), CORPORATE_BEGIN, CORPORATE_END, write=args.write
    )
    return 0 if partition_ok and corporate_ok else 1


if __name__ == "__main__":
    sys.exit(main())

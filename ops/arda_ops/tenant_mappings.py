"""Render the ``Mappings`` of ``tenant/template.yaml`` from the registry and the placement function.

A tenant stack repeats nothing about its partition: it imports the partition stack's exports, and the only thing it
must know to do so is their names, which this module writes into the template's generated block (the partition's
Postmark account too, so a registry move reaches the tenant domains at their next deploy, and the partition's DMARC
value, which the tenant domain's own DMARC record repeats). ``--check`` (run by the tests) fails when the block
differs from what this module renders; ``--write`` rewrites it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from arda_mail.partitions import active_partitions
from arda_mail.placement import partition_placement
from arda_mail.txt_records import route53_txt_value

BEGIN = "  # BEGIN GENERATED tenant mappings (python -m arda_ops.tenant_mappings --write)"
END = "  # END GENERATED tenant mappings"
TEMPLATE = Path(__file__).resolve().parents[2] / "tenant" / "template.yaml"


def tenant_mappings() -> dict[str, dict[str, str]]:
    """One entry per active partition: the names of the exports a tenant stack imports, and the Postmark account."""
    mappings: dict[str, dict[str, str]] = {}
    for partition in active_partitions():
        p = partition_placement(partition.name)
        mappings[partition.name] = {
            "PostmarkAccount": partition.postmark_account.value,
            "ExportPartitionMailZoneId": p.exports.partition_mail_zone_id,
            "ExportPartitionMailZoneName": p.exports.partition_mail_zone_name,
            "ExportEmailPostmarkAccountTokenArn": p.exports.email_postmark_account_token_arn,
            "ExportPostmarkDomainFunctionArn": p.postmark_domain_function_export,
            "ExportPostmarkDomainVerificationFunctionArn": p.postmark_domain_verification_function_export,
            # The tenant domain's DMARC record carries the partition's policy (a receiver never reads the
            # partition's own DMARC record for a name below it: RFC 7489 section 6.6.3).
            "DmarcRecordValue": route53_txt_value(p.mail.dmarc_value),
        }
    return mappings


def render_block() -> str:
    lines = [BEGIN, "  Partitions:"]
    for name, entry in tenant_mappings().items():
        lines.append(f"    {name}:")
        lines.extend(f"      {key}: '{value}'" for key, value in entry.items())
    lines.append(END)
    return "\n".join(lines)


def current_block(text: str) -> str:
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[start:end]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="fail if tenant/template.yaml is out of date")
    mode.add_argument("--write", action="store_true", help="rewrite the generated block in tenant/template.yaml")
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    args = parser.parse_args(argv)
    text = args.template.read_text(encoding="utf-8")
    block = render_block()
    if current_block(text) == block:
        print(f"{args.template}: tenant mappings are up to date")
        return 0
    if args.check:
        print(f"{args.template}: tenant mappings are out of date; run python -m arda_ops.tenant_mappings --write")
        return 1
    args.template.write_text(text.replace(current_block(text), block), encoding="utf-8")
    print(f"{args.template}: tenant mappings rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())

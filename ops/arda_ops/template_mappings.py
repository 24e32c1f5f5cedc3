"""Render the partition ``Mappings`` of ``template.yaml`` from the registry and the placement function.

The template looks every partition-specific name up with ``!FindInMap [Partitions, !Ref Partition, …]``
instead of composing it with ``!Sub``, and the mapping itself is generated here, so the template cannot
drift from :mod:`arda_mail.placement`. ``--check`` (run by the tests) fails when the block in the template
differs from what this module renders; ``--write`` rewrites it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from arda_mail.partitions import active_partitions
from arda_mail.placement import partition_placement
from arda_mail.txt_records import route53_txt_value

BEGIN = "  # BEGIN GENERATED partition mappings (python -m arda_ops.template_mappings --write)"
END = "  # END GENERATED partition mappings"
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def partition_mappings() -> dict[str, dict[str, str]]:
    """The ``Partitions`` mapping: one entry per active partition, every value from placement."""
    mappings: dict[str, dict[str, str]] = {}
    for partition in active_partitions():
        p = partition_placement(partition.name)
        entry = {
            "Fqn": p.fqn,
            "PostmarkAccount": partition.postmark_account.value,
            "MailDomain": p.mail.mail_domain,
            "ParentZoneName": p.mail.parent_zone_name,
            "ReturnPathHost": p.mail.return_path_host,
            "DmarcHost": p.mail.dmarc_host,
            "SpfRecordValue": route53_txt_value(p.mail.spf_value),
            "DmarcRecordValue": route53_txt_value(p.mail.dmarc_value),
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


def _quote(value: str) -> str:
    """A YAML single-quoted scalar (safe for the quotes inside TXT values)."""
    return "'" + value.replace("'", "''") + "'"


def render_block() -> str:
    lines = [BEGIN, "  Partitions:"]
    for name, entry in partition_mappings().items():
        lines.append(f"    {name}:")
        lines.extend(f"      {key}: {_quote(value)}" for key, value in entry.items())
    lines.append(END)
    return "\n".join(lines)


def current_block(text: str) -> str:
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[start:end]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="fail if template.yaml is out of date")
    mode.add_argument("--write", action="store_true", help="rewrite the generated block in template.yaml")
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    args = parser.parse_args(argv)
    text = args.template.read_text(encoding="utf-8")
    block = render_block()
    if current_block(text) == block:
        print(f"{args.template}: partition mappings are up to date")
        return 0
    if args.check:
        print(f"{args.template}: partition mappings are out of date; run python -m arda_ops.template_mappings --write")
        return 1
    args.template.write_text(text.replace(current_block(text), block), encoding="utf-8")
    print(f"{args.template}: partition mappings rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())

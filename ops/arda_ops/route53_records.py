"""Route 53 record-set changes as CloudFormation would make them, for the rehearsal, the benchmark and tests.

One place for the change-batch shape and for the records a healthy partition mail zone holds, so the worlds
that stand in for a deployed stack cannot disagree about them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from arda_mail.placement import (
    DMARC_REPORT_AUTHORIZATION_VALUE,
    MailDomainPlacement,
    dmarc_report_authorization_host,
)
from arda_mail.txt_records import route53_txt_value

#: ``(name, type, values)``: one record set, values in Route 53's form.
Record = tuple[str, str, list[str]]


def change_record_sets(client: Any, zone_id: str, action: str, records: Sequence[Record], ttl: int) -> None:
    """One ``ChangeResourceRecordSets`` call applying ``action`` to every record set."""
    changes = [
        {
            "Action": action,
            "ResourceRecordSet": {
                "Name": name,
                "Type": rtype,
                "TTL": ttl,
                "ResourceRecords": [{"Value": v} for v in values],
            },
        }
        for name, rtype, values in records
    ]
    client.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})


def mail_zone_records(mail: MailDomainPlacement, postmark_domain: Mapping[str, Any]) -> list[Record]:
    """SPF, DMARC, DKIM (Postmark's host and key) and the Return-Path CNAME of a healthy mail zone.

    ``postmark_domain`` is the emulator's domain details (``DKIMHost``, ``DKIMTextValue``,
    ``ReturnPathDomainCNAMEValue``) of a verified domain.
    """
    return [
        (mail.spf_host, "TXT", [route53_txt_value(mail.spf_value)]),
        (mail.dmarc_host, "TXT", [route53_txt_value(mail.dmarc_value)]),
        (postmark_domain["DKIMHost"], "TXT", [route53_txt_value(postmark_domain["DKIMTextValue"])]),
        (mail.return_path_host, "CNAME", [postmark_domain["ReturnPathDomainCNAMEValue"]]),
    ]


def report_authorization_records(mail_domains: Sequence[str]) -> list[Record]:
    """The DMARC report domain's authorization of reports about each mail domain (RFC 7489 section 7.1).

    These live in the report domain's own zone (not in any partition's): worlds that stand in for the
    deployed platform publish them so the drift check's ``dns.dmarc-report-authorization`` row is clean.
    """
    value = route53_txt_value(DMARC_REPORT_AUTHORIZATION_VALUE)
    return [(dmarc_report_authorization_host(domain), "TXT", [value]) for domain in mail_domains]

"""What CloudFormation does for a tenant stack (``tenant/template.yaml``), played on loopback.

The tests, the rehearsal and the drift world stand a tenant stack up the way CloudFormation would: the two custom
resources get the properties the template renders (a unit test compares :func:`domain_properties` and
:func:`verification_properties` with the template rendered for every partition), and the three record sets are
created in the partition's zone after ``Custom::PostmarkDomain`` (the DKIM and Return-Path records from its
attributes, the DMARC record from placement: :func:`dmarc_record`, compared with the rendered template too), and
deleted with the stack. The names all come from :mod:`arda_mail.placement`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from arda_mail.placement import TenantPlacement
from arda_mail.txt_records import route53_txt_value
from arda_ops.route53_records import Record, change_record_sets

DOMAIN_TYPE = "Custom::PostmarkDomain"
VERIFICATION_TYPE = "Custom::PostmarkDomainVerification"
DOMAIN_LOGICAL_ID = "PostmarkDomain"
VERIFICATION_LOGICAL_ID = "PostmarkDomainVerification"
#: The template's TTL of its records.
RECORD_TTL = 3600


@dataclass(frozen=True, slots=True)
class PartitionImports:
    """The partition stack's exports a tenant stack imports (values as the partition stack published them)."""

    zone_id: str
    zone_name: str
    token_secret_arn: str

    @classmethod
    def from_exports(cls, tenant: TenantPlacement, exports: Mapping[str, str]) -> PartitionImports:
        """Pick the values out of ``exports`` (name → value, e.g. CloudFormation's ListExports); a missing one
        raises KeyError naming the export, as CloudFormation refuses a stack whose import does not exist."""
        names = tenant.partition.exports
        return cls(
            zone_id=exports[names.partition_mail_zone_id].rsplit("/", 1)[-1],
            zone_name=exports[names.partition_mail_zone_name],
            token_secret_arn=exports[names.email_postmark_account_token_arn],
        )


def domain_properties(tenant: TenantPlacement, imports: PartitionImports, api_url: str) -> dict[str, str]:
    """``Custom::PostmarkDomain``'s properties as tenant/template.yaml renders them (``Reconcile`` left empty)."""
    return {
        "TenantSlug": tenant.slug,
        "DomainName": tenant.mail.postmark_domain_name,
        "AccountTokenSecretArn": imports.token_secret_arn,
        "PostmarkAccount": tenant.partition.partition.postmark_account.value,
        "ApiUrl": api_url,
    }


def verification_properties(
    imports: PartitionImports, domain_id: str, api_url: str, *, max_wait_s: int = 180
) -> dict[str, str]:
    """``Custom::PostmarkDomainVerification``'s properties as the template renders them."""
    return {
        "DomainId": domain_id,
        "AccountTokenSecretArn": imports.token_secret_arn,
        "ApiUrl": api_url,
        "MaxWaitSeconds": str(max_wait_s),
        "FailIfUnverified": "false",
    }


def dmarc_record(tenant: TenantPlacement) -> Record:
    """``DmarcRecord`` as the template renders it: the partition's DMARC value at the tenant domain's DMARC host.

    A receiver reads the policy at the From domain's DMARC host and then only at the Organizational Domain's (RFC 7489
    section 6.6.3), so the partition's own record never covers a tenant's domain: the tenant stack publishes one.
    """
    return (tenant.mail.dmarc_host, "TXT", [route53_txt_value(tenant.partition.mail.dmarc_value)])


def tenant_records(tenant: TenantPlacement, attributes: Mapping[str, Any]) -> list[Record]:
    """``DkimRecord`` and ``ReturnPathRecord`` as the template builds them from the domain's attributes, and
    ``DmarcRecord``."""
    return [
        (str(attributes["DkimHostName"]), "TXT", [str(attributes["DkimRecordValue"])]),
        (str(attributes["ReturnPathHostName"]), "CNAME", [str(attributes["ReturnPathCnameTarget"])]),
        dmarc_record(tenant),
    ]


def create_records(
    route53: Any, tenant: TenantPlacement, imports: PartitionImports, attributes: Mapping[str, Any]
) -> list[Record]:
    """Create the three records in the partition zone (one ``CREATE`` batch, after the domain: the template's
    ``DmarcRecord`` depends on it like the two others) and return them."""
    records = tenant_records(tenant, attributes)
    change_record_sets(route53, imports.zone_id, "CREATE", records, RECORD_TTL)
    return records


def delete_records(route53: Any, imports: PartitionImports, records: list[Record]) -> None:
    """Delete exactly the records the stack created (Route 53 wants their current values, as given)."""
    change_record_sets(route53, imports.zone_id, "DELETE", records, RECORD_TTL)


def publish_tenant_stack(cloudformation: Any, tenant: TenantPlacement, domain_id: str) -> None:
    """A stack of the tenant's name and tags whose Output ``PostmarkDomainId`` is the domain's ID, as the deployed
    tenant stack has (what the drift check discovers and reads)."""
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"Marker": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {"PostmarkDomainId": {"Value": domain_id}},
    }
    tags = [{"Key": key, "Value": value} for key, value in tenant.tags.items()]
    with warnings.catch_warnings():  # moto warns that it does not model the marker resource; nothing to model
        warnings.simplefilter("ignore")
        cloudformation.create_stack(StackName=tenant.stack_name, TemplateBody=json.dumps(template), Tags=tags)

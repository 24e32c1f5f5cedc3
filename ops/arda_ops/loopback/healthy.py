"""A healthy deployed platform in a loopback world: what the drift tests break and the benchmark times.

For each mail target: the mail zone (partition account) with SPF, DMARC, DKIM and the Return-Path CNAME; a
verified domain on its Postmark account in the emulator; the NS delegation in the parent zone (Platform Root
account); and, for a partition, its two secrets and a stack publishing the six exports as template.yaml does;
for Corporate, the same in Corporate's own account, with the Free Kanban Tool's DMARC record, the account-token
secret and a stack publishing corporate/template.yaml's Outputs.
The DMARC report domain's zone (Corporate's account) gets its mail exchanger and the authorization of every
mail domain. Built once here, so the drift tests and the benchmark check the same world.
"""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from arda_mail.placement import (
    DMARC_REPORT_DOMAIN,
    CorporatePlacement,
    MailDomainPlacement,
    PartitionPlacement,
    corporate_placement,
)
from arda_mail.txt_records import route53_txt_value
from arda_ops.loopback.accounts import CORPORATE_ACCOUNT, PARTITION_ACCOUNT, PLATFORM_ROOT_ACCOUNT, REGION
from arda_ops.loopback.corporate import create_corporate_stack
from arda_ops.loopback.world import LoopbackWorld
from arda_ops.route53_records import change_record_sets, mail_zone_records, report_authorization_records

#: The report domain's mail exchanger (checkdmarc asks for it: a report address needs one).
REPORT_DOMAIN_MX = f"10 mx.{DMARC_REPORT_DOMAIN}"
#: Route 53's usual TTL for an NS delegation (two days).
DELEGATION_TTL = 172800
RECORD_TTL = 300


@dataclass(frozen=True)
class MailTarget:
    """One mail domain to build: a partition's (with its stack) or Corporate's (with its stack, in its account)."""

    name: str
    mail: MailDomainPlacement
    postmark_account: str
    partition: PartitionPlacement | None = None
    corporate: CorporatePlacement | None = None

    @property
    def account(self) -> str:
        """The loopback account of the target's zone, secret and stack."""
        return CORPORATE_ACCOUNT if self.corporate is not None else PARTITION_ACCOUNT


def partition_mail_target(placement: PartitionPlacement) -> MailTarget:
    account = placement.partition.postmark_account.value
    return MailTarget(placement.partition.name, placement.mail, account, placement)


def corporate_mail_target(postmark_account: str) -> MailTarget:
    corporate = corporate_placement()
    return MailTarget("corporate", corporate.mail, postmark_account, corporate=corporate)


@dataclass
class HealthyWorld:
    """The IDs of what :func:`build_healthy_world` created."""

    zone_ids: dict[str, str] = field(default_factory=dict)
    parent_zone_ids: dict[str, str] = field(default_factory=dict)
    domain_ids: dict[str, int] = field(default_factory=dict)
    report_zone_id: str = ""


def build_healthy_world(world: LoopbackWorld, targets: Sequence[MailTarget]) -> HealthyWorld:
    """Build every target healthy in ``world`` (which needs its emulator); moto and the emulator start empty."""
    built = HealthyWorld()
    root_r53 = world.client("route53", PLATFORM_ROOT_ACCOUNT)
    built.report_zone_id = create_report_domain(world, [t.mail.mail_domain for t in targets])
    for target in targets:
        mail = target.mail
        r53 = world.client("route53", target.account)
        if mail.parent_zone_name not in built.parent_zone_ids:
            parent = root_r53.create_hosted_zone(Name=mail.parent_zone_name, CallerReference=uuid.uuid4().hex)
            built.parent_zone_ids[mail.parent_zone_name] = parent["HostedZone"]["Id"]
        created = r53.create_hosted_zone(Name=mail.mail_domain, CallerReference=uuid.uuid4().hex)
        zone_id = created["HostedZone"]["Id"].rsplit("/", 1)[-1]
        built.zone_ids[target.name] = zone_id
        domain = world.postmark.add_domain(
            target.postmark_account,
            mail.postmark_domain_name,
            mail.return_path_host,
            dkim_verified=True,
            return_path_verified=True,
        )
        built.domain_ids[target.name] = int(domain["ID"])
        change_record_sets(r53, zone_id, "UPSERT", mail_zone_records(mail, domain), RECORD_TTL)
        servers = list(created["DelegationSet"]["NameServers"])
        delegate(world, built.parent_zone_ids[mail.parent_zone_name], mail.mail_domain, servers)
        if target.partition is not None:
            secrets = world.client("secretsmanager")
            placement = target.partition
            token = world.tokens[target.postmark_account]
            secrets.create_secret(Name=placement.account_token_secret_name, SecretString=token)
            secrets.create_secret(Name=placement.encryption_key_secret_name, SecretString="k" * 64)
            create_partition_stack(world, placement, zone_id, int(domain["ID"]))
        if target.corporate is not None:
            fkt = target.corporate.free_kanban
            dmarc = [(fkt.dmarc_host, "TXT", [route53_txt_value(fkt.dmarc_value)])]
            change_record_sets(r53, zone_id, "UPSERT", dmarc, RECORD_TTL)
            secrets = world.client("secretsmanager", CORPORATE_ACCOUNT)
            token = world.tokens[target.postmark_account]
            secrets.create_secret(Name=target.corporate.account_token_secret_name, SecretString=token)
            create_corporate_stack(world.moto, target.corporate, zone_id, int(domain["ID"]))
    return built


def delegate(world: LoopbackWorld, parent_zone_id: str, name: str, servers: Sequence[str]) -> None:
    """UPSERT the NS delegation of ``name`` in the Platform Root's parent zone."""
    root_r53 = world.client("route53", PLATFORM_ROOT_ACCOUNT)
    change_record_sets(root_r53, parent_zone_id, "UPSERT", [(name, "NS", list(servers))], DELEGATION_TTL)


def create_report_domain(world: LoopbackWorld, mail_domains: Sequence[str]) -> str:
    """The DMARC report domain's zone (Corporate's account): its MX and the authorization of every mail domain."""
    r53 = world.client("route53", CORPORATE_ACCOUNT)
    zone_id = str(
        r53.create_hosted_zone(Name=DMARC_REPORT_DOMAIN, CallerReference=uuid.uuid4().hex)["HostedZone"]["Id"]
    )
    records = [(DMARC_REPORT_DOMAIN, "MX", [REPORT_DOMAIN_MX]), *report_authorization_records(mail_domains)]
    change_record_sets(r53, zone_id, "UPSERT", records, RECORD_TTL)
    return zone_id


def create_partition_stack(
    world: LoopbackWorld,
    placement: PartitionPlacement,
    zone_id: str,
    domain_id: int,
    rename: Mapping[str, str] | None = None,
) -> None:
    """A stack that publishes the six exports like template.yaml does, and its Output ``PostmarkDomainId``.

    Export values come from the world's resources (the secrets by name, the two roles created by the stack);
    ``rename`` changes some export names (``{output key: new name}``) to stand for a drifted deployment.
    """
    secrets = world.client("secretsmanager")
    token_arn = secrets.describe_secret(SecretId=placement.account_token_secret_name)["ARN"]
    key_arn = secrets.describe_secret(SecretId=placement.encryption_key_secret_name)["ARN"]
    trust = {"Version": "2012-10-17", "Statement": []}
    # The Output keys come from the placement function (in its order: zone ID, zone name, token secret, encryption
    # key, DNS-provisioning role, fallback role); only their values are the world's.
    exported: list[Any] = [
        zone_id,
        placement.mail.mail_domain,
        token_arn,
        key_arn,
        {"Fn::GetAtt": ["DnsProvisioningRole", "Arn"]},
        {"Fn::GetAtt": ["FallbackRole", "Arn"]},
    ]
    values = dict(zip(placement.exports.as_dict(), exported, strict=True))
    renamed = dict(rename or {})
    template = {
        "Resources": {
            "DnsProvisioningRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {"RoleName": placement.dns_provisioning_role_name, "AssumeRolePolicyDocument": trust},
            },
            "FallbackRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": placement.encryption_key_fallback_role_name,
                    "AssumeRolePolicyDocument": trust,
                },
            },
        },
        "Outputs": {
            **{
                key: {"Value": values[key], "Export": {"Name": renamed.get(key, name)}}
                for key, name in placement.exports.as_dict().items()
            },
            "PostmarkDomainId": {"Value": str(domain_id)},
            # Custom::PostmarkDkim's phase (template.yaml's Output): no rotation requested.
            "DkimRotationPhase": {"Value": "idle"},
            # template.yaml's two -I- exports (the tenant stacks' ServiceToken): the partition's function ARNs.
            **{
                f"IntraPlatformExport{index}": {
                    "Value": f"arn:aws:lambda:{REGION}:{PARTITION_ACCOUNT}:function:{placement.stack_name}-{index}",
                    "Export": {"Name": name},
                }
                for index, name in enumerate(placement.intra_platform_exports)
            },
        },
    }
    with warnings.catch_warnings():  # moto may warn about what it does not model; the stack is only the exports
        warnings.simplefilter("ignore")
        world.client("cloudformation").create_stack(StackName=placement.stack_name, TemplateBody=json.dumps(template))

"""Drift-check timings for ``make bench``: the 4 active partitions, then N synthetic ones, all on loopback.

Each run builds a healthy world (moto zones, records, secrets and export stacks; verified Postmark domains in
the emulator; NS delegations in a parent zone of a second moto account; two authoritative DNS servers reading
moto), then times :func:`arda_ops.drift.runner.run_drift` alone. Synthetic partitions are tenant-shaped mail
domains below the dev partition's zone (names from the placement function), so every check really runs.
"""

from __future__ import annotations

import json
import os
import time
import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from arda_mail.partitions import active_partition_names, get_partition
from arda_mail.placement import DMARC_REPORT_DOMAIN, PartitionPlacement, mail_domain_placement, partition_placement
from arda_ops.dns_server import AuthoritativeDnsServer, RecordsDnsView, Route53Records
from arda_ops.drift.checks import Target
from arda_ops.drift.mail_checks import PARTITION_MAIL, partition_target
from arda_ops.drift.probes import Endpoint
from arda_ops.drift.runner import DriftConfig, run_drift
from arda_ops.moto_world import MotoServer
from arda_ops.route53_records import change_record_sets, mail_zone_records, report_authorization_records
from postmark_emulator import PostmarkEmulator

ROOT_ACCOUNT = "210987654321"
CORPORATE_ACCOUNT = "310987654321"  # the DMARC report domain's zone
ACCOUNT = "123456789012"
_ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "AKIABENCHDRIFT",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def synthetic_placement(index: int) -> PartitionPlacement:
    """A made-up active partition whose mail domain is a tenant-shaped name below dev's zone."""
    dev = get_partition("dev")
    partition = replace(dev, name=f"bench{index:03d}")
    return PartitionPlacement(partition=partition, mail=mail_domain_placement("dev", tenant=f"bench{index:03d}"))


def _target(placement: PartitionPlacement) -> Target:
    facts = dict(partition_target("dev").facts)
    facts.update(
        placement=placement,
        mail=placement.mail,
        token_secret_name=placement.account_token_secret_name,
    )
    return Target(name=placement.partition.name, kind=PARTITION_MAIL, facts=facts)


class _World:
    def __init__(self, moto: MotoServer, emulator: PostmarkEmulator) -> None:
        self.moto, self.emulator = moto, emulator
        self.r53 = moto.client("route53")
        self.root_r53 = moto.client("route53", credentials=moto.account_credentials(ROOT_ACCOUNT))
        self.corporate_r53 = moto.client("route53", credentials=moto.account_credentials(CORPORATE_ACCOUNT))
        report_zone = self.corporate_r53.create_hosted_zone(Name=DMARC_REPORT_DOMAIN, CallerReference=uuid.uuid4().hex)
        self.report_zone_id = report_zone["HostedZone"]["Id"]
        self.secrets = moto.client("secretsmanager")
        self.cfn = moto.client("cloudformation")
        self.parents: dict[str, str] = {}

    def add(self, placement: PartitionPlacement) -> None:
        mail = placement.mail
        parent = mail.parent_zone_name
        if parent not in self.parents:
            zone = self.root_r53.create_hosted_zone(Name=parent, CallerReference=uuid.uuid4().hex)
            self.parents[parent] = zone["HostedZone"]["Id"]
        created = self.r53.create_hosted_zone(Name=mail.mail_domain, CallerReference=uuid.uuid4().hex)
        zone_id = created["HostedZone"]["Id"].rsplit("/", 1)[-1]
        account = placement.partition.postmark_account.value
        domain = self.emulator.add_domain(
            account, mail.postmark_domain_name, mail.return_path_host, dkim_verified=True, return_path_verified=True
        )
        change_record_sets(self.r53, zone_id, "UPSERT", mail_zone_records(mail, domain), 300)
        records = report_authorization_records([mail.mail_domain])
        change_record_sets(self.corporate_r53, self.report_zone_id, "UPSERT", records, 300)
        servers = list(created["DelegationSet"]["NameServers"])
        change_record_sets(self.root_r53, self.parents[parent], "UPSERT", [(mail.mail_domain, "NS", servers)], 172800)
        token_arn = self.secrets.create_secret(
            Name=placement.account_token_secret_name, SecretString=self.emulator.token_for(account)
        )["ARN"]
        key_arn = self.secrets.create_secret(Name=placement.encryption_key_secret_name, SecretString="k" * 64)["ARN"]
        values = placement.export_values(
            zone_id=zone_id, token_secret_arn=token_arn, key_secret_arn=key_arn, account_id=ACCOUNT
        )
        names = {name: key for key, name in placement.exports.as_dict().items()}
        template = {
            "Resources": {"Marker": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": {names[n]: {"Value": v, "Export": {"Name": n}} for n, v in values.items()},
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.cfn.create_stack(StackName=placement.stack_name, TemplateBody=json.dumps(template))


def _timed(placements: Sequence[PartitionPlacement], registry_targets: bool) -> dict[str, Any]:
    tokens = {"PostmarkNonProd": f"bench-{uuid.uuid4().hex}", "PostmarkProd": f"bench-{uuid.uuid4().hex}"}
    with _environment(_ENV), MotoServer() as moto:
        moto.reset()  # moto's backends are process-wide
        with PostmarkEmulator(tokens, dns_view=RecordsDnsView(Route53Records(moto.client("route53")))) as emulator:
            world = _World(moto, emulator)
            for placement in placements:
                world.add(placement)
            zone_records = Route53Records(world.r53, world.corporate_r53)
            parent_records = Route53Records(world.root_r53)
            with AuthoritativeDnsServer(zone_records) as zone_dns, AuthoritativeDnsServer(parent_records) as parent_dns:
                config = DriftConfig(
                    partitions=None if registry_targets else (),
                    mail_targets=registry_targets,
                    extra_targets=() if registry_targets else tuple(_target(p) for p in placements),
                    dns_server=Endpoint(*zone_dns.address),
                    parent_dns_server=Endpoint(*parent_dns.address),
                    postmark_api_url=emulator.url,
                    aws_endpoint_url=moto.url,
                    timeout=10.0,
                )
                started = time.perf_counter()
                report = run_drift(config)
                seconds = time.perf_counter() - started
    return {
        "targets": len(placements),
        "seconds": seconds,
        "checks": len(report.results),
        "exit_code": report.exit_code,
    }


def time_drift(synthetic: int) -> dict[str, Any]:
    active = [partition_placement(name) for name in active_partition_names()]
    runs = [_timed(active, registry_targets=True)]
    if synthetic:
        runs.append(_timed([synthetic_placement(i) for i in range(synthetic)], registry_targets=False))
    return {"runs": runs}

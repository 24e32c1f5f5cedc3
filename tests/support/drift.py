"""A healthy mail world for the drift check, and the means to break it one piece at a time.

Everything runs on loopback and speaks the real protocols, in the one loopback world
(:class:`arda_ops.loopback.world.LoopbackWorld`) the rehearsal and the benchmark use too: moto's server with
the partition account's zones, secrets and stacks, the Platform Root's parent zone with the NS delegations
and Corporate's DMARC report domain zone; the Postmark emulator with the partitions' domains, verified; two
authoritative DNS servers reading moto's Route 53 live. :func:`build_world` builds it healthy through
:func:`arda_ops.loopback.healthy.build_healthy_world`, the same builder the benchmark times the check on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from arda_mail.placement import partition_placement
from arda_ops.dns_server import AuthoritativeDnsServer
from arda_ops.drift.mail_checks import CORPORATE_POSTMARK_ACCOUNT
from arda_ops.drift.probes import Endpoint, EnvTokens
from arda_ops.drift.report import DriftReport
from arda_ops.drift.runner import DriftConfig, run_drift
from arda_ops.loopback.accounts import CORPORATE_ACCOUNT, PLATFORM_ROOT_ACCOUNT
from arda_ops.loopback.corporate import LoopbackClients
from arda_ops.loopback.healthy import (
    build_healthy_world,
    corporate_mail_target,
    create_partition_stack,
    delegate,
    partition_mail_target,
)
from arda_ops.loopback.world import LoopbackWorld
from arda_ops.route53_records import change_record_sets, report_authorization_records
from postmark_emulator import PostmarkEmulator

#: Probe timeout in the tests. Every probe answers in milliseconds on loopback, so this is only a hang guard:
#: with moto, the emulator, two DNS servers and the check's threads in one process on a busy 2-core machine, a
#: thread can wait seconds for the GIL: with 1 s, tests/integration/test_drift.py failed in 5 runs of 5 beside two
#: CPU-bound processes (1 to 3 tests each run); with 10 s, 5 runs of 5 passed.
TEST_TIMEOUT_S = 10.0


@dataclass
class DriftWorld:
    """One healthy world for ``partitions`` (built by :func:`build_world`) plus mutations that break it."""

    loopback: LoopbackWorld
    partitions: tuple[str, ...]
    zone_ids: dict[str, str] = field(default_factory=dict)
    parent_zone_id: str = ""
    report_zone_id: str = ""
    corporate: bool = False

    @property
    def zone_dns(self) -> AuthoritativeDnsServer:
        return self.loopback.zone_dns

    @property
    def parent_dns(self) -> AuthoritativeDnsServer:
        return self.loopback.parent_dns

    @property
    def emulator(self) -> PostmarkEmulator:
        return self.loopback.postmark

    # -- running the check -----------------------------------------------------------------------------------

    def config(self, **overrides: Any) -> DriftConfig:
        settings: dict[str, Any] = {
            "partitions": self.partitions,
            "corporate": self.corporate,
            "dns_server": Endpoint("127.0.0.1", self.zone_dns.port),
            "parent_dns_server": Endpoint("127.0.0.1", self.parent_dns.port),
            "postmark_api_url": self.emulator.url,
            "aws_endpoint_url": self.loopback.moto.url,
            "timeout": TEST_TIMEOUT_S,
        }
        if self.corporate:  # Corporate's stack lives in its own account: each target reads its own account
            settings["aws_clients"] = LoopbackClients(self.loopback.moto)
        settings.update(overrides)
        return DriftConfig(**settings)

    def run(self, **overrides: Any) -> DriftReport:
        return run_drift(self.config(**overrides))

    def cli_args(self, *extra: str) -> list[str]:
        args = []
        for name in self.partitions:
            args += ["--partition", name]
        if self.corporate:
            args.append("--corporate")
        return [
            *args,
            "--dns-server",
            self.zone_dns.endpoint,
            "--parent-dns-server",
            self.parent_dns.endpoint,
            "--postmark-api-url",
            self.emulator.url,
            "--aws-endpoint-url",
            self.loopback.moto.url,
            "--timeout",
            str(TEST_TIMEOUT_S),
            *extra,
        ]

    def token_env(self) -> dict[str, str]:
        """``--token-source env``'s variables."""
        return {EnvTokens.variable_for(account): token for account, token in self.loopback.tokens.items()}

    # -- reading and breaking the world ----------------------------------------------------------------------

    @property
    def r53(self) -> Any:
        return self.loopback.client("route53")

    def client(self, service: str) -> Any:
        """A client in the partition account."""
        return self.loopback.client(service)

    def root_client(self, service: str) -> Any:
        """A client in the Platform Root account."""
        return self.loopback.client(service, PLATFORM_ROOT_ACCOUNT)

    def postmark_domain(self, partition: str) -> dict[str, Any]:
        placement = partition_placement(partition)
        account = placement.partition.postmark_account.value
        found = self.emulator.find(account, placement.mail.postmark_domain_name)
        assert found is not None, f"no Postmark domain for {partition}"
        return dict(found)

    def change(  # noqa: PLR0917
        self, partition: str, action: str, name: str, rtype: str, values: Sequence[str], ttl: int = 300
    ) -> None:
        change = {"Action": action, "ResourceRecordSet": {"Name": name, "Type": rtype, "TTL": ttl}}
        change["ResourceRecordSet"]["ResourceRecords"] = [{"Value": v} for v in values]
        self.r53.change_resource_record_sets(HostedZoneId=self.zone_ids[partition], ChangeBatch={"Changes": [change]})

    def delete_record(self, partition: str, name: str, rtype: str) -> None:
        """DELETE with the current values (moto wants them, as Route 53 does)."""
        zone_id = self.zone_ids[partition]
        for rrset in self.r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]:
            if rrset["Name"].rstrip(".") == name and rrset["Type"] == rtype:
                self.r53.change_resource_record_sets(
                    HostedZoneId=zone_id,
                    ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": rrset}]},
                )
                return
        raise AssertionError(f"no {rtype} record {name}")

    def delete_report_authorization(self, mail_domain: str) -> None:
        """Remove the report domain's authorization of reports about ``mail_domain``."""
        ((name, rtype, values),) = report_authorization_records([mail_domain])
        corporate_r53 = self.loopback.client("route53", CORPORATE_ACCOUNT)
        change_record_sets(corporate_r53, self.report_zone_id, "DELETE", [(name, rtype, values)], 300)

    def set_delegation(self, partition: str, servers: Sequence[str]) -> None:
        delegate(self.loopback, self.parent_zone_id, partition_placement(partition).mail.mail_domain, servers)

    def redeploy_stack(self, partition: str, rename: dict[str, str] | None = None) -> None:
        """Delete and re-create the partition's stack, with some export names changed (``{key: new name}``).

        (moto's UpdateStack does not update exports, so the test re-creates the stack.)
        """
        placement = partition_placement(partition)
        self.client("cloudformation").delete_stack(StackName=placement.stack_name)
        domain_id = int(self.postmark_domain(partition)["ID"])
        create_partition_stack(self.loopback, placement, self.zone_ids[partition], domain_id, rename or {})


def build_world(loopback: LoopbackWorld, partitions: Sequence[str], *, corporate: bool = False) -> DriftWorld:
    """Reset moto and the emulator, then build every partition healthy (and Corporate, if asked)."""
    loopback.reset()
    targets = [partition_mail_target(partition_placement(name)) for name in partitions]
    if corporate:
        targets.append(corporate_mail_target(CORPORATE_POSTMARK_ACCOUNT))
    built = build_healthy_world(loopback, targets)
    world = DriftWorld(loopback, tuple(partitions), corporate=corporate)
    world.zone_ids = built.zone_ids
    world.parent_zone_id = built.parent_zone_ids[partition_placement(partitions[0]).mail.parent_zone_name]
    world.report_zone_id = built.report_zone_id
    return world


@contextmanager
def loopback_services(tokens: Mapping[str, str]) -> Iterator[LoopbackWorld]:
    """moto's server, the Postmark emulator and the two DNS servers, for the duration of the block; botocore,
    boto3 and urllib3 kept at INFO meanwhile (their DEBUG records carry request bodies: noise, not evidence)."""
    quiet = {name: logging.getLogger(name) for name in ("botocore", "boto3", "urllib3")}
    levels = {name: logger.level for name, logger in quiet.items()}
    for logger in quiet.values():
        logger.setLevel(logging.INFO)
    try:
        with LoopbackWorld(tokens=tokens, dns=True) as loopback:
            yield loopback
    finally:
        for name, logger in quiet.items():
            logger.setLevel(levels[name])

"""A healthy mail world for the drift check, and the means to break it one piece at a time.

Everything runs on loopback and speaks the real protocols:

- AWS is a moto server: the partition account (moto's default account, the ambient test credentials) holds
  each partition's hosted zone and records, its account-token secret and a CloudFormation stack exporting
  the six names; the Platform Root account (reached through ``sts:AssumeRole``) holds the parent zone with
  the NS delegations;
- Postmark is the emulator, with the partitions' domains on their Postmark accounts, verified;
- DNS is two :class:`~arda_ops.dns_server.AuthoritativeDnsServer` instances reading moto's Route 53 live:
  one for the partition account's zones and the DMARC report domain's zone (the record lookups; the report
  domain lives in a third, Corporate account) and one for the Platform Root's parent zone (the delegation), as
  with Route 53, where a child zone never shares the parent's name servers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import requests

from arda_mail.placement import DMARC_REPORT_DOMAIN, corporate_mail_placement, partition_placement
from arda_ops.dns_server import AuthoritativeDnsServer, RecordsDnsView, Route53Records
from arda_ops.drift.mail_checks import CORPORATE_POSTMARK_ACCOUNT
from arda_ops.drift.probes import Endpoint, EnvTokens
from arda_ops.drift.report import DriftReport
from arda_ops.drift.runner import DriftConfig, run_drift
from arda_ops.route53_records import change_record_sets, mail_zone_records, report_authorization_records

ROOT_ACCOUNT_ID = "111111111111"
#: The account holding the DMARC report domain's zone (Corporate's DNS; no partition account holds it).
CORPORATE_ACCOUNT_ID = "222222222222"
REGION = "us-east-1"
#: Probe timeout in the tests. Every probe answers in milliseconds on loopback, so this is only a hang guard:
#: with moto, the emulator, two DNS servers and the check's threads in one process on a busy 2-core machine, a
#: thread can wait seconds for the GIL: with 1 s, tests/integration/test_drift.py failed in 5 runs of 5 beside two
#: CPU-bound processes (1 to 3 tests each run); with 10 s, 5 runs of 5 passed.
TEST_TIMEOUT_S = 10.0
#: The report domain's mail exchanger (checkdmarc asks for it: a report address needs one).
REPORT_DOMAIN_MX = f"10 mx.{DMARC_REPORT_DOMAIN}"


@dataclass
class Services:
    """The long-lived loopback services (one set per test module)."""

    moto_url: str
    emulator: Any
    tokens: dict[str, str]

    def client(self, service: str, **credentials: str) -> Any:
        return boto3.client(service, endpoint_url=self.moto_url, region_name=REGION, **credentials)

    def root_client(self, service: str) -> Any:
        """A client in the Platform Root account (moto's ``x-moto-account-id`` header: survives a reset)."""
        return self.account_client(service, ROOT_ACCOUNT_ID)

    def corporate_client(self, service: str) -> Any:
        """A client in the account holding the DMARC report domain's zone."""
        return self.account_client(service, CORPORATE_ACCOUNT_ID)

    def account_client(self, service: str, account_id: str) -> Any:
        client = self.client(service)

        def to_account(request: Any, **_: Any) -> None:
            request.headers["x-moto-account-id"] = account_id

        client.meta.events.register("before-sign.*.*", to_account)
        return client

    def reset(self) -> None:
        requests.post(f"{self.moto_url}/moto-api/reset", timeout=10).raise_for_status()
        self.emulator.reset()


@dataclass
class DriftWorld:
    """One healthy world for ``partitions`` (built by :func:`build_world`) plus mutations that break it."""

    services: Services
    partitions: tuple[str, ...]
    zone_dns: AuthoritativeDnsServer
    parent_dns: AuthoritativeDnsServer
    zone_ids: dict[str, str] = field(default_factory=dict)
    parent_zone_id: str = ""
    report_zone_id: str = ""
    corporate: bool = False

    # -- running the check -----------------------------------------------------------------------------------

    def config(self, **overrides: Any) -> DriftConfig:
        settings: dict[str, Any] = {
            "partitions": self.partitions,
            "corporate": self.corporate,
            "dns_server": Endpoint("127.0.0.1", self.zone_dns.port),
            "parent_dns_server": Endpoint("127.0.0.1", self.parent_dns.port),
            "postmark_api_url": self.services.emulator.url,
            "aws_endpoint_url": self.services.moto_url,
            "timeout": TEST_TIMEOUT_S,
        }
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
            self.services.emulator.url,
            "--aws-endpoint-url",
            self.services.moto_url,
            "--timeout",
            str(TEST_TIMEOUT_S),
            *extra,
        ]

    def token_env(self) -> dict[str, str]:
        """``--token-source env``'s variables."""
        return {EnvTokens.variable_for(account): token for account, token in self.services.tokens.items()}

    # -- reading and breaking the world ----------------------------------------------------------------------

    @property
    def r53(self) -> Any:
        return self.services.client("route53")

    def postmark_domain(self, partition: str) -> dict[str, Any]:
        placement = partition_placement(partition)
        account = placement.partition.postmark_account.value
        found = self.services.emulator.find(account, placement.mail.postmark_domain_name)
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
        change_record_sets(
            self.services.corporate_client("route53"), self.report_zone_id, "DELETE", [(name, rtype, values)], 300
        )

    def set_delegation(self, partition: str, servers: Sequence[str]) -> None:
        mail = partition_placement(partition).mail
        _delegate(self.services.root_client("route53"), self.parent_zone_id, mail.mail_domain, servers)

    def redeploy_stack(self, partition: str, rename: dict[str, str] | None = None) -> None:
        """Delete and re-create the partition's stack, with some export names changed (``{key: new name}``).

        (moto's UpdateStack does not update exports, so the test re-creates the stack.)
        """
        placement = partition_placement(partition)
        cfn = self.services.client("cloudformation")
        cfn.delete_stack(StackName=placement.stack_name)
        domain_id = int(self.postmark_domain(partition)["ID"])
        _create_stack(self.services, partition, self.zone_ids[partition], domain_id, rename or {})


def _secret_arn(services: Services, name: str, value: str) -> str:
    return str(services.client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"])


def _create_stack(services: Services, partition: str, zone_id: str, domain_id: int, rename: dict[str, str]) -> None:
    """A stack that publishes the six exports like template.yaml does (values from the world's resources), and
    its Output ``PostmarkDomainId`` (the Postmark domain ``Custom::PostmarkDomain`` registered)."""
    placement = partition_placement(partition)
    sm = services.client("secretsmanager")
    token_arn = sm.describe_secret(SecretId=placement.account_token_secret_name)["ARN"]
    key_arn = sm.describe_secret(SecretId=placement.encryption_key_secret_name)["ARN"]
    trust = {"Version": "2012-10-17", "Statement": []}
    values: dict[str, Any] = {
        "PartitionMailZoneId": zone_id,
        "PartitionMailZoneName": placement.mail.mail_domain,
        "EmailPostmarkAccountTokenArn": token_arn,
        "EmailEncryptionKeyArn": key_arn,
        "EmailDnsProvisioningRoleArn": {"Fn::GetAtt": ["DnsProvisioningRole", "Arn"]},
        "EmailEncryptionKeyFallbackRoleArn": {"Fn::GetAtt": ["FallbackRole", "Arn"]},
    }
    exports = placement.exports.as_dict()
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
            **{key: {"Value": values[key], "Export": {"Name": rename.get(key, name)}} for key, name in exports.items()},
            "PostmarkDomainId": {"Value": str(domain_id)},
        },
    }
    services.client("cloudformation").create_stack(StackName=placement.stack_name, TemplateBody=json.dumps(template))


def build_world(
    services: Services,
    partitions: Sequence[str],
    zone_dns: AuthoritativeDnsServer,
    parent_dns: AuthoritativeDnsServer,
    *,
    corporate: bool = False,
) -> DriftWorld:
    """Reset moto and the emulator, then build every partition healthy (and Corporate, if asked)."""
    services.reset()
    world = DriftWorld(services, tuple(partitions), zone_dns, parent_dns, corporate=corporate)
    root_r53 = services.root_client("route53")
    parent = partition_placement(partitions[0]).mail.parent_zone_name
    world.parent_zone_id = root_r53.create_hosted_zone(Name=parent, CallerReference="parent")["HostedZone"]["Id"]
    r53 = world.r53
    mails = [(name, partition_placement(name).mail) for name in partitions]
    if corporate:
        mails.append(("corporate", corporate_mail_placement()))
    world.report_zone_id = _report_domain(services, [mail.mail_domain for _, mail in mails])
    for name, mail in mails:
        created = r53.create_hosted_zone(Name=mail.mail_domain, CallerReference=f"zone-{name}")
        zone_id = created["HostedZone"]["Id"].rsplit("/", 1)[-1]
        world.zone_ids[name] = zone_id
        account = (
            CORPORATE_POSTMARK_ACCOUNT
            if name == "corporate"
            else partition_placement(name).partition.postmark_account.value
        )
        domain = services.emulator.add_domain(
            account, mail.postmark_domain_name, mail.return_path_host, dkim_verified=True, return_path_verified=True
        )
        change_record_sets(r53, zone_id, "UPSERT", mail_zone_records(mail, domain), 300)
        _delegate(root_r53, world.parent_zone_id, mail.mail_domain, created["DelegationSet"]["NameServers"])
        if name == "corporate":
            continue
        placement = partition_placement(name)
        _secret_arn(services, placement.account_token_secret_name, services.tokens[account])
        _secret_arn(services, placement.encryption_key_secret_name, "k" * 64)
        _create_stack(services, name, zone_id, int(domain["ID"]), {})
    return world


def _report_domain(services: Services, mail_domains: Sequence[str]) -> str:
    """The DMARC report domain's zone (Corporate's account): its MX and the authorization of every mail domain."""
    r53 = services.corporate_client("route53")
    zone_id = str(r53.create_hosted_zone(Name=DMARC_REPORT_DOMAIN, CallerReference="report")["HostedZone"]["Id"])
    records = [(DMARC_REPORT_DOMAIN, "MX", [REPORT_DOMAIN_MX]), *report_authorization_records(mail_domains)]
    change_record_sets(r53, zone_id, "UPSERT", records, 300)
    return zone_id


def _delegate(root_r53: Any, parent_zone_id: str, name: str, servers: Sequence[str]) -> None:
    change_record_sets(root_r53, parent_zone_id, "UPSERT", [(name, "NS", list(servers))], 172800)


@contextmanager
def loopback_services(
    tokens: dict[str, str],
) -> Iterator[tuple[Services, AuthoritativeDnsServer, AuthoritativeDnsServer]]:
    """moto server, the Postmark emulator and the two DNS servers, for the duration of the block."""
    from moto.server import ThreadedMotoServer

    from postmark_emulator import PostmarkEmulator

    moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto_server.start()
    host, port = moto_server.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    partition_r53 = boto3.client("route53", endpoint_url=moto_url, region_name=REGION)
    try:
        # Postmark's verifier reads the same (moto) Route 53 records the DNS server serves
        with PostmarkEmulator(tokens, dns_view=RecordsDnsView(Route53Records(partition_r53))) as emulator:
            services = Services(moto_url, emulator, tokens)
            zone_records = Route53Records(partition_r53, services.corporate_client("route53"))
            parent_records = Route53Records(services.root_client("route53"))
            with AuthoritativeDnsServer(zone_records) as zone_dns, AuthoritativeDnsServer(parent_records) as parent_dns:
                yield services, zone_dns, parent_dns
    finally:
        moto_server.stop()

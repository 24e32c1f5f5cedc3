"""The rehearsal's stand-ins for AWS, Postmark, DNS and CloudFormation's response URL, all on loopback.

:class:`World` starts them, sets the process environment the in-process handlers read (endpoint, region,
credentials), and does what CloudFormation itself would do between custom-resource calls: create the hosted
zone and the secrets, write record sets from the custom resources' attributes, and publish the exports.
Everything it starts, it stops; the previous environment is restored.
"""

from __future__ import annotations

import json
import os
import uuid
import warnings
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from arda_mail.placement import DMARC_REPORT_DOMAIN, ROOT_DELEGATION_ROLE_NAME, PartitionPlacement
from arda_mail.txt_records import route53_txt_value
from arda_ops.cfn_protocol import EventFactory, ResponseReceiver
from arda_ops.dns_server import AuthoritativeDnsServer, RecordsDnsView, Route53Records
from arda_ops.moto_world import MotoServer
from arda_ops.route53_records import change_record_sets, report_authorization_records
from postmark_emulator import PostmarkEmulator

PARTITION_ACCOUNT = "123456789012"
ROOT_ACCOUNT = "210987654321"
#: Corporate's account: it holds the DMARC report domain's zone (outside every partition stack).
CORPORATE_ACCOUNT = "310987654321"
REGION = "us-east-1"
HANDLER_KEY = "AKIAREHEARSALHANDLER"
ALL_POSTMARK_ACCOUNTS = ("PostmarkNonProd", "PostmarkProd")


@dataclass
class World:
    """Loopback AWS (moto), Postmark (emulator), DNS (two authoritative servers) and a response receiver."""

    placement: PartitionPlacement
    moto: MotoServer = field(default_factory=MotoServer)
    _stack: ExitStack = field(default_factory=ExitStack)
    _saved_env: dict[str, str | None] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    parent_zone_id: str = ""
    mail_zone_id: str = ""
    name_servers: list[str] = field(default_factory=list)
    secret_arns: dict[str, str] = field(default_factory=dict)

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> World:
        self._set_env(
            AWS_ENDPOINT_URL=None,
            AWS_REGION=REGION,
            AWS_DEFAULT_REGION=REGION,
            AWS_ACCESS_KEY_ID=HANDLER_KEY,
            AWS_SECRET_ACCESS_KEY="rehearsal",
            AWS_SESSION_TOKEN=None,
            AWS_PROFILE=None,
            AWS_EC2_METADATA_DISABLED="true",
            POWERTOOLS_SERVICE_NAME="partition-mail",
            POWERTOOLS_LOG_LEVEL="WARNING",
        )
        self._stack.enter_context(self.moto)
        self.moto.reset()  # moto's backends are process-wide: start from nothing even after an earlier run
        os.environ["AWS_ENDPOINT_URL"] = self.moto.url
        root_creds = self.moto.account_credentials(ROOT_ACCOUNT)
        self.root_route53 = self.moto.client("route53", credentials=root_creds)
        self.route53 = self.moto.client("route53")
        self.secrets = self.moto.client("secretsmanager")
        self.cloudformation = self.moto.client("cloudformation")
        self.parent_dns = self._stack.enter_context(AuthoritativeDnsServer(Route53Records(self.root_route53)))
        # the record lookups also reach the DMARC report domain's zone, as a resolver would
        self.corporate_route53 = self.moto.client(
            "route53", credentials=self.moto.account_credentials(CORPORATE_ACCOUNT)
        )
        self.child_dns = self._stack.enter_context(
            AuthoritativeDnsServer(Route53Records(self.route53, self.corporate_route53))
        )
        view = RecordsDnsView(Route53Records(self.route53))
        self.tokens = {name: f"rehearsal-{name.lower()}-{uuid.uuid4().hex}" for name in ALL_POSTMARK_ACCOUNTS}
        self.postmark = self._stack.enter_context(PostmarkEmulator(self.tokens, dns_view=view))
        self.receiver = self._stack.enter_context(ResponseReceiver())
        self.events = EventFactory(
            self.receiver,
            stack_name=self.placement.stack_name,
            region=REGION,
            account=PARTITION_ACCOUNT,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._stack.close()
        finally:
            for key, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def _set_env(self, **values: str | None) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    # -- what exists before the partition stack ------------------------------------------------------
    @property
    def delegation_role_arn(self) -> str:
        return f"arn:aws:iam::{ROOT_ACCOUNT}:role/{ROOT_DELEGATION_ROLE_NAME}"

    def create_platform_root(self) -> None:
        """The parent zone in the Platform Root account (root/template.yaml's role is moto-trusted)."""
        zone = self.root_route53.create_hosted_zone(
            Name=self.placement.mail.parent_zone_name, CallerReference=uuid.uuid4().hex
        )
        self.parent_zone_id = zone["HostedZone"]["Id"].split("/")[-1]
        self.create_report_domain()

    def create_report_domain(self) -> None:
        """The DMARC report domain's zone in Corporate's account, authorizing reports about the mail domain."""
        zone = self.corporate_route53.create_hosted_zone(Name=DMARC_REPORT_DOMAIN, CallerReference=uuid.uuid4().hex)
        records = report_authorization_records([self.placement.mail.mail_domain])
        change_record_sets(self.corporate_route53, zone["HostedZone"]["Id"], "UPSERT", records, 3600)

    # -- what CloudFormation does itself --------------------------------------------------------------
    def create_zone_and_secrets(self, token_account: str) -> None:
        mail = self.placement.mail
        zone = self.route53.create_hosted_zone(Name=mail.mail_domain, CallerReference=uuid.uuid4().hex)
        self.mail_zone_id = zone["HostedZone"]["Id"].split("/")[-1]
        self.name_servers = list(zone["DelegationSet"]["NameServers"])
        self.put_secret("account-token", self.placement.account_token_secret_name, self.tokens[token_account])
        self.put_secret("encryption-key", self.placement.encryption_key_secret_name, uuid.uuid4().hex * 2)
        self.upsert(mail.spf_host, "TXT", [route53_txt_value(mail.spf_value)])
        self.upsert(mail.dmarc_host, "TXT", [route53_txt_value(mail.dmarc_value)])

    def put_secret(self, key: str, name: str, value: str) -> str:
        arn = str(self.secrets.create_secret(Name=name, SecretString=value)["ARN"])
        self.secret_arns[key] = arn
        return arn

    def put_secret_value(self, key: str, value: str) -> None:
        """A new current value for an existing secret, as an operator's ``put-secret-value`` gives it: the value
        it held until now stays readable as ``AWSPREVIOUS``; the ARN does not change."""
        self.secrets.put_secret_value(SecretId=self.secret_arns[key], SecretString=value)

    def upsert(self, name: str, rtype: str, values: list[str], ttl: int = 3600) -> None:
        self._change("UPSERT", name, rtype, values, ttl)

    def delete_record(self, name: str, rtype: str, values: list[str], ttl: int = 3600) -> None:
        self._change("DELETE", name, rtype, values, ttl)

    def _change(self, action: str, name: str, rtype: str, values: list[str], ttl: int) -> None:
        change_record_sets(self.route53, self.mail_zone_id, action, [(name, rtype, values)], ttl)

    def publish_exports(self, values: dict[str, str]) -> dict[str, str]:
        """Create a stack of the partition's name whose Outputs carry the exports (name → value)."""
        names = {name: key for key, name in self.placement.exports.as_dict().items()}
        outputs = {names[name]: {"Value": value, "Export": {"Name": name}} for name, value in values.items()}
        template = {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Resources": {"Marker": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": outputs,
        }
        with warnings.catch_warnings():  # moto warns that it does not model the marker resource; nothing to model
            warnings.simplefilter("ignore")
            self.cloudformation.create_stack(StackName=self.placement.stack_name, TemplateBody=json.dumps(template))
        return {e["Name"]: e["Value"] for e in self.cloudformation.list_exports()["Exports"]}

    # -- inspection -------------------------------------------------------------------------------
    def mail_records(self) -> list[dict[str, Any]]:
        pages = self.route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=self.mail_zone_id)
        return [r for page in pages for r in page["ResourceRecordSets"]]

    def parent_ns_record(self) -> list[str] | None:
        name = self.placement.mail.mail_domain + "."
        records = self.root_route53.list_resource_record_sets(
            HostedZoneId=self.parent_zone_id, StartRecordName=name, StartRecordType="NS", MaxItems="1"
        )["ResourceRecordSets"]
        if records and records[0]["Name"] == name and records[0]["Type"] == "NS":
            return sorted(r["Value"] for r in records[0]["ResourceRecords"])
        return None

    def postmark_domains(self) -> dict[str, list[str]]:
        return {account: [d["Name"] for d in self.postmark.domains(account)] for account in ALL_POSTMARK_ACCOUNTS}

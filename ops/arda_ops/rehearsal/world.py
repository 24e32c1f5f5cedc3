"""The rehearsal's world: the loopback world (moto recording its calls, the Postmark emulator, two DNS servers,
an HTTPS response receiver) plus what CloudFormation itself does between custom-resource calls.

:class:`World` starts the loopback world, sets the process environment the in-process handlers read
(endpoint, region, credentials), and plays CloudFormation: create the hosted zone and the secrets, write
record sets from the custom resources' attributes, and publish the exports. Everything it starts, it stops;
the previous environment is restored.
"""

from __future__ import annotations

import json
import os
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Any

from arda_mail.placement import ROOT_DELEGATION_ROLE_NAME, CorporatePlacement, PartitionPlacement
from arda_mail.txt_records import route53_txt_value
from arda_ops.cfn_protocol import EventFactory, ResponseReceiver
from arda_ops.dns_server import AuthoritativeDnsServer
from arda_ops.loopback.accounts import CORPORATE_ACCOUNT, PARTITION_ACCOUNT, PLATFORM_ROOT_ACCOUNT, REGION
from arda_ops.loopback.aws import MotoService
from arda_ops.loopback.calls import CallRecorder
from arda_ops.loopback.corporate import create_corporate_stack, role_credentials
from arda_ops.loopback.healthy import create_report_domain
from arda_ops.loopback.world import LoopbackWorld
from arda_ops.route53_records import change_record_sets
from postmark_emulator import PostmarkEmulator

#: The handlers' access key: every call signed with it (or with credentials it assumed) counts as the handler's.
HANDLER_KEY = "AKIAREHEARSALHANDLER"
ALL_POSTMARK_ACCOUNTS = ("PostmarkNonProd", "PostmarkProd")


@dataclass
class World:
    """The loopback world of one rehearsal, and CloudFormation's own work in it."""

    #: The stack rehearsed: a partition's, or Corporate's (which lives in Corporate's own account).
    placement: PartitionPlacement | CorporatePlacement
    tokens: dict[str, str] = field(
        default_factory=lambda: {name: f"rehearsal-{name.lower()}-{uuid.uuid4().hex}" for name in ALL_POSTMARK_ACCOUNTS}
    )
    _saved_env: dict[str, str | None] = field(default_factory=dict)
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
        self.loopback = LoopbackWorld(tokens=self.tokens, dns=True, receiver=True, record_calls=True)
        try:
            self.loopback.__enter__()
        except BaseException:
            self._restore_env()
            raise
        os.environ["AWS_ENDPOINT_URL"] = self.moto.url
        self.root_route53 = self.loopback.client("route53", PLATFORM_ROOT_ACCOUNT)
        self.route53 = self.loopback.client("route53", self.account)
        self.secrets = self.loopback.client("secretsmanager", self.account)
        self.cloudformation = self.loopback.client("cloudformation", self.account)
        self.events = EventFactory(
            self.receiver,
            stack_name=self.placement.stack_name,
            region=REGION,
            account=self.account,
        )
        if isinstance(self.placement, CorporatePlacement):
            # Corporate's functions run in Corporate's account: their handlers get session credentials of a role
            # there, as the Lambda runtime gives a function its execution role's (the drift step runs with them too).
            role = self.placement.ns_delegation_function_role_name
            self._set_env(**role_credentials(self.moto, self.account, role, self.placement.stack_name))
        return self

    def function_arn(self, function: str) -> str:
        """The ARN of one of the stack's functions, as Lambda's context gives it: in the stack's own account."""
        return f"arn:aws:lambda:{REGION}:{self.account}:function:{self.placement.stack_name}-{function}"

    @property
    def account(self) -> str:
        """The loopback account of the rehearsed stack (its zone, secrets and functions)."""
        return CORPORATE_ACCOUNT if isinstance(self.placement, CorporatePlacement) else PARTITION_ACCOUNT

    def __exit__(self, *exc: object) -> None:
        try:
            self.loopback.__exit__(*exc)
        finally:
            self._restore_env()

    def _set_env(self, **values: str | None) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def _restore_env(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    # -- the loopback parts ------------------------------------------------------------------------
    @property
    def moto(self) -> MotoService:
        return self.loopback.moto

    @property
    def calls(self) -> CallRecorder:
        """moto's recording of every AWS call, classified by caller (the handlers' or CloudFormation's)."""
        assert self.moto.recorder is not None  # the world is built with record_calls=True
        return self.moto.recorder

    @property
    def postmark(self) -> PostmarkEmulator:
        return self.loopback.postmark

    @property
    def receiver(self) -> ResponseReceiver:
        return self.loopback.receiver

    @property
    def parent_dns(self) -> AuthoritativeDnsServer:
        return self.loopback.parent_dns

    @property
    def child_dns(self) -> AuthoritativeDnsServer:
        return self.loopback.zone_dns

    # -- what exists before the partition stack ------------------------------------------------------
    @property
    def delegation_role_arn(self) -> str:
        return f"arn:aws:iam::{PLATFORM_ROOT_ACCOUNT}:role/{ROOT_DELEGATION_ROLE_NAME}"

    def create_platform_root(self) -> None:
        """The parent zone in the Platform Root account (root/template.yaml's role is moto-trusted)."""
        zone = self.root_route53.create_hosted_zone(
            Name=self.placement.mail.parent_zone_name, CallerReference=uuid.uuid4().hex
        )
        self.parent_zone_id = zone["HostedZone"]["Id"].split("/")[-1]
        self.create_report_domain()

    def create_report_domain(self) -> None:
        """The DMARC report domain's zone in Corporate's account, authorizing reports about the mail domain."""
        create_report_domain(self.loopback, [self.placement.mail.mail_domain])

    # -- what CloudFormation does itself --------------------------------------------------------------
    def create_zone_and_secrets(self, token_account: str) -> None:
        mail = self.placement.mail
        zone = self.route53.create_hosted_zone(Name=mail.mail_domain, CallerReference=uuid.uuid4().hex)
        self.mail_zone_id = zone["HostedZone"]["Id"].split("/")[-1]
        self.name_servers = list(zone["DelegationSet"]["NameServers"])
        self.put_secret("account-token", self.placement.account_token_secret_name, self.tokens[token_account])
        if isinstance(self.placement, PartitionPlacement):
            self.put_secret("encryption-key", self.placement.encryption_key_secret_name, uuid.uuid4().hex * 2)
        self.upsert(mail.spf_host, "TXT", [route53_txt_value(mail.spf_value)])
        self.upsert(mail.dmarc_host, "TXT", [route53_txt_value(mail.dmarc_value)])
        if isinstance(self.placement, CorporatePlacement):  # corporate/template.yaml's FreeKanbanDmarcRecord
            fkt = self.placement.free_kanban
            self.upsert(fkt.dmarc_host, "TXT", [route53_txt_value(fkt.dmarc_value)])

    def publish_corporate_outputs(self, domain_id: str) -> dict[str, str]:
        """Create Corporate's stack with corporate/template.yaml's Outputs; returns the exports it publishes."""
        assert isinstance(self.placement, CorporatePlacement)
        create_corporate_stack(self.moto, self.placement, self.mail_zone_id, int(domain_id))
        return {e["Name"]: e["Value"] for e in self.cloudformation.list_exports()["Exports"]}

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

    def publish_exports(self, values: dict[str, str], outputs: dict[str, str] | None = None) -> dict[str, str]:
        """Create a stack of the partition's name whose Outputs carry the exports (name → value) and, as plain
        Outputs, ``outputs`` (such as ``DkimRotationPhase``, which the drift check reads)."""
        assert isinstance(self.placement, PartitionPlacement)  # Corporate's: publish_corporate_outputs
        names = {name: key for key, name in self.placement.exports.as_dict().items()}
        stack_outputs: dict[str, Any] = {key: {"Value": value} for key, value in (outputs or {}).items()}
        stack_outputs.update({names[n]: {"Value": v, "Export": {"Name": n}} for n, v in values.items()})
        template = {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Resources": {"Marker": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": stack_outputs,
        }
        with warnings.catch_warnings():  # moto warns that it does not model the marker resource; nothing to model
            warnings.simplefilter("ignore")
            self.cloudformation.create_stack(StackName=self.placement.stack_name, TemplateBody=json.dumps(template))
        return {e["Name"]: e["Value"] for e in self.cloudformation.list_exports()["Exports"]}

    # -- inspection -------------------------------------------------------------------------------
    def mail_records(self) -> list[dict[str, Any]]:
        pages = self.route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=self.mail_zone_id)
        return [r for page in pages for r in page["ResourceRecordSets"]]

    def records_snapshot(self) -> list[dict[str, str]]:
        """The mail zone's records (SOA left out) for the report."""
        return [
            {
                "Type": rec["Type"],
                "Name": rec["Name"].rstrip("."),
                "Value": " ".join(v["Value"] for v in rec["ResourceRecords"]),
            }
            for rec in self.mail_records()
            if rec["Type"] != "SOA"
        ]

    def resolve_txt(self, name: str) -> list[str]:
        """The TXT records at ``name`` as the mail zone's loopback DNS server answers them (strings joined)."""
        from dnslib import QTYPE, DNSRecord

        query = DNSRecord.question(name, "TXT")
        reply = DNSRecord.parse(query.send("127.0.0.1", self.child_dns.port, tcp=True, timeout=10))
        return ["".join(part.decode() for part in rr.rdata.data) for rr in reply.rr if rr.rtype == QTYPE.TXT]

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

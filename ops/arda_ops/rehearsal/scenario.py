"""The rehearsal's steps, in the order CloudFormation runs them for one partition stack.

Each step either plays CloudFormation itself (zones, records, secrets, exports) or sends one custom-resource
request to a real handler and checks the answer against what CloudFormation requires: a response always
arrives, with the expected status, a PhysicalResourceId that is kept or changed as the contract says, and the
attributes the template reads.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from arda_mail.placement import PartitionPlacement, mail_domain_placement
from arda_mail.txt_records import route53_txt_value
from arda_ops.cfn_protocol import CfnResponse, invoke
from arda_ops.handlers import load_function_module
from arda_ops.rehearsal.world import ALL_POSTMARK_ACCOUNTS, World

LAMBDA_TIMEOUT_MS = 300_000
DOMAIN = "Custom::PostmarkDomain"
VERIFICATION = "Custom::PostmarkDomainVerification"
DELEGATION = "Custom::NsDelegation"


class StepFailedError(AssertionError):
    """A step did not behave as CloudFormation requires."""


@dataclass
class StepResult:
    number: int
    kind: str
    title: str
    ok: bool = True
    status: str = ""
    physical_id: str = ""
    details: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    postmark_calls: list[str] = field(default_factory=list)
    aws_calls: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.number,
            "kind": self.kind,
            "title": self.title,
            "ok": self.ok,
            "status": self.status,
            "physical_id": self.physical_id,
            "attributes": self.attributes,
            "details": self.details,
            "postmark_calls": self.postmark_calls,
            "aws_calls": dict(sorted(self.aws_calls.items())),
            "seconds": round(self.seconds, 4),
            "error": self.error,
        }


@dataclass
class Rehearsal:
    """Runs the steps against a :class:`World` and collects their results."""

    world: World
    placement: PartitionPlacement
    on_step: Callable[[StepResult], None] = lambda result: None
    #: Where the handlers' own output (Powertools JSON logs, crhelper) goes, so the progress stays readable.
    handler_log: TextIO | None = None
    results: list[StepResult] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    postmark_account: str = ""
    other_account: str = ""
    drift: Callable[[World], tuple[bool, list[str]]] | None = None

    # -- plumbing ---------------------------------------------------------------------------------
    def step(self, kind: str, title: str, action: Callable[[StepResult], None]) -> StepResult:
        result = StepResult(len(self.results) + 1, kind, title)
        pm_mark = len(self.world.postmark.requests)
        aws_mark = self.world.calls.mark()
        started = time.perf_counter()
        try:
            action(result)
        except (StepFailedError, TimeoutError) as exc:
            result.ok, result.error = False, str(exc)
        result.seconds = time.perf_counter() - started
        result.postmark_calls = [f"{r['method']} {r['path']}" for r in self.world.postmark.requests[pm_mark:]]
        result.aws_calls = self.world.calls.since(aws_mark, "handler")
        self.results.append(result)
        self.on_step(result)
        return result

    def send(
        self,
        result: StepResult,
        function: str,
        event: dict[str, Any],
        *,
        expect: str = "SUCCESS",
    ) -> CfnResponse:
        with contextlib.redirect_stdout(self.handler_log or sys.stdout):
            handler = load_function_module(function).handler
            response = invoke(handler, event, self.world.receiver, timeout_ms=LAMBDA_TIMEOUT_MS, wait_s=30)
        result.status, result.physical_id = response.status, response.physical_id
        result.attributes = response.data
        if response.status == "FAILED":
            result.details.append(f"Reason: {response.reason}")
        if response.status != expect:
            raise StepFailedError(f"expected {expect}, got {response.status}: {response.reason}")
        if not response.physical_id:
            raise StepFailedError("the response has no PhysicalResourceId")
        return response

    @staticmethod
    def require(condition: bool, message: str) -> None:
        if not condition:
            raise StepFailedError(message)

    # -- properties the template would send -----------------------------------------------------------
    def domain_props(self, secret_key: str = "account-token", postmark_account: str | None = None) -> dict[str, Any]:
        """What the template sends: ``PostmarkAccount`` is the partition's account from the registry (after the
        move, the other one)."""
        mail = self.placement.mail
        return {
            "DomainName": mail.postmark_domain_name,
            "ReturnPathDomain": mail.return_path_host,
            "AccountTokenSecretArn": self.world.secret_arns[secret_key],
            "ApiUrl": self.world.postmark.url,
            "PostmarkAccount": postmark_account or self.state.get("domain_account", self.postmark_account),
        }

    def delegation_props(self) -> dict[str, Any]:
        return {
            "DelegatedZoneName": self.placement.mail.mail_domain,
            "NameServers": self.world.name_servers,
            "ParentZoneName": self.placement.mail.parent_zone_name,
            "DelegationRoleArn": self.world.delegation_role_arn,
            "Ttl": "172800",
        }

    def verification_props(self, domain_id: str, secret_key: str = "account-token") -> dict[str, Any]:
        return {
            "DomainId": domain_id,
            "AccountTokenSecretArn": self.world.secret_arns[secret_key],
            "ApiUrl": self.world.postmark.url,
            "MaxWaitSeconds": "20",
            "PollIntervalSeconds": "1",
            "FailIfUnverified": "false",
        }

    # -- the steps --------------------------------------------------------------------------------
    def run(self, postmark_account: str, drift: Callable[[World], tuple[bool, list[str]]] | None) -> bool:
        """Run every step in CloudFormation's order; True when all behaved as CloudFormation requires."""
        self.postmark_account = postmark_account
        self.other_account = next(a for a in ALL_POSTMARK_ACCOUNTS if a != postmark_account)
        self.drift = drift
        plan: list[tuple[str, str, Callable[[StepResult], None]]] = [
            ("setup", "Platform Root: parent zone and delegation role", self._platform_root),
            ("cfn", "CloudFormation: mail zone, secrets, SPF and DMARC", self._zone_and_secrets),
            ("Create", "Custom::PostmarkDomain", self._create_domain),
            ("cfn", "CloudFormation: DKIM TXT and Return-Path CNAME from the attributes", self._dkim_records),
            ("Create", "Custom::NsDelegation (assumes the Platform Root role)", self._create_delegation),
            ("Create", "Custom::PostmarkDomainVerification", self._verify),
            ("cfn", "CloudFormation: outputs and the six exports", self._exports),
            ("check", "runtime-platform-drift against the deployed partition", self._drift_check),
            ("Update", f"Custom::PostmarkDomain onto {self.other_account} (replacement)", self._replace_domain),
            ("cfn", "CloudFormation: DKIM record for the new domain", self._replace_dkim_record),
            ("Update", "Custom::PostmarkDomainVerification (new domain)", lambda r: self._verify(r, "Update")),
            ("Delete", "Custom::PostmarkDomain cleanup of the replaced domain", self._cleanup_old_domain),
            ("Create", "Custom::PostmarkDomain with a revoked token (fails)", self._failed_create),
            ("Delete", "Custom::PostmarkDomain rollback of the failed create", self._rollback_delete),
            ("Delete", "Custom::PostmarkDomainVerification", self._delete_verification),
            ("Delete", "Custom::NsDelegation", self._delete_delegation),
            ("cfn", "CloudFormation: records deleted", self._delete_records),
            ("Delete", "Custom::PostmarkDomain", self._delete_domain),
            ("check", "nothing orphaned", self._nothing_left),
        ]
        for kind, title, action in plan:
            result = self.step(kind, title, action)
            if not result.ok and kind in {"setup", "cfn"}:
                break  # later steps depend on what CloudFormation would have built
        return all(r.ok for r in self.results) and len(self.results) == len(plan)

    # -- the steps --------------------------------------------------------------------------------
    def _platform_root(self, r: StepResult) -> None:
        self.world.create_platform_root()
        r.details.append(
            f"parent zone {self.placement.mail.parent_zone_name} ({self.world.parent_zone_id}) in Platform Root"
        )
        r.details.append(
            f"delegation role {self.world.delegation_role_arn} (its policy is checked by the root template tests)"
        )

    def _zone_and_secrets(self, r: StepResult) -> None:
        self.world.create_zone_and_secrets(self.postmark_account)
        r.details.append(
            f"MailZone {self.placement.mail.mail_domain} ({self.world.mail_zone_id}), "
            f"NS {', '.join(self.world.name_servers)}"
        )
        r.details.append("PostmarkAccountTokenSecret, EncryptionKeySecret, SpfRecord, DmarcRecord")

    def _create_domain(self, r: StepResult) -> None:
        props = self.domain_props()
        response = self.send(r, "postmark_domain", self.world.events.create(DOMAIN, "PostmarkDomain", props))
        self.require(response.physical_id.isdigit(), "PhysicalResourceId must be Postmark's domain ID")
        for key in ("DomainId", "DkimHostName", "DkimRecordValue", "ReturnPathHostName", "ReturnPathCnameTarget"):
            self.require(bool(response.data.get(key)), f"attribute {key} missing")
        self.state.update(domain_id=response.physical_id, domain=response.data, domain_props=props)

    def _dkim_records(self, r: StepResult) -> None:
        data = self.state["domain"]
        self.world.upsert(data["DkimHostName"], "TXT", [data["DkimRecordValue"]])
        self.world.upsert(data["ReturnPathHostName"], "CNAME", [data["ReturnPathCnameTarget"]])
        r.details.append(f"DkimRecord TXT {data['DkimHostName']}")
        r.details.append(f"ReturnPathRecord CNAME {data['ReturnPathHostName']} -> {data['ReturnPathCnameTarget']}")

    def _create_delegation(self, r: StepResult) -> None:
        props = self.delegation_props()
        response = self.send(r, "ns_delegation", self.world.events.create(DELEGATION, "NsDelegation", props))
        self.require(
            self.world.parent_ns_record() == sorted(ns.rstrip(".") + "." for ns in self.world.name_servers)
            or self.world.parent_ns_record() == sorted(self.world.name_servers),
            "the parent zone has no matching NS record",
        )
        r.details.append(
            f"NS {self.placement.mail.mail_domain} in {self.placement.mail.parent_zone_name}: "
            f"{', '.join(self.world.parent_ns_record() or [])}"
        )
        self.state.update(delegation_id=response.physical_id, delegation_props=props)

    def _verify(self, r: StepResult, request: str = "Create") -> None:
        props = self.verification_props(self.state["domain_id"])
        if request == "Create":
            event = self.world.events.create(VERIFICATION, "PostmarkDomainVerification", props)
        else:
            event = self.world.events.update(
                VERIFICATION,
                "PostmarkDomainVerification",
                self.state["verification_id"],
                props,
                self.state["verification_props"],
            )
        response = self.send(r, "postmark_domain_verification", event)
        self.require(
            response.data.get("DkimVerified") == "true" and response.data.get("ReturnPathVerified") == "true",
            f"expected DKIM and Return-Path verified, got {response.data}",
        )
        self.state.update(verification_id=response.physical_id, verification_props=props)

    def _exports(self, r: StepResult) -> None:
        values = self.placement.export_values(
            zone_id=self.world.mail_zone_id,
            token_secret_arn=self.world.secret_arns["account-token"],
            key_secret_arn=self.world.secret_arns["encryption-key"],
            account_id=self.world.events.account,
        )
        published = self.world.publish_exports(values)
        self.state["records_snapshot"] = [
            {
                "Type": rec["Type"],
                "Name": rec["Name"].rstrip("."),
                "Value": " ".join(v["Value"] for v in rec["ResourceRecords"]),
            }
            for rec in self.world.mail_records()
            if rec["Type"] != "SOA"
        ]
        self.state["exports"] = published
        self.require(set(published) == set(self.placement.exports.as_dict().values()), "export names differ")
        r.details.append(f"{len(published)} exports published by stack {self.placement.stack_name}")

    def _replace_domain(self, r: StepResult) -> None:
        # The move as an operator makes it: the other account's token goes into the same secret (its ARN, the
        # AccountTokenSecretArn property, does not change; the old token stays readable as AWSPREVIOUS), and the
        # registry change alters PostmarkAccount, so CloudFormation sends an Update.
        self.world.put_secret_value("account-token", self.world.tokens[self.other_account])
        old_props = self.state["domain_props"]
        props = self.domain_props(postmark_account=self.other_account)
        self.require(
            props["AccountTokenSecretArn"] == old_props["AccountTokenSecretArn"], "the secret's ARN must not change"
        )
        event = self.world.events.update(DOMAIN, "PostmarkDomain", self.state["domain_id"], props, old_props)
        response = self.send(r, "postmark_domain", event)
        self.require(
            response.physical_id != self.state["domain_id"], "replacement must return a new PhysicalResourceId"
        )
        self.require(
            self.placement.mail.postmark_domain_name in self.world.postmark_domains()[self.other_account],
            f"the new domain is not on {self.other_account}",
        )
        r.details.append(
            f"token of {self.other_account} put into the same secret; PostmarkAccount "
            f"{old_props['PostmarkAccount']} -> {props['PostmarkAccount']}"
        )
        r.details.append(
            f"domain moved to {self.other_account}: "
            f"PhysicalResourceId {self.state['domain_id']} -> {response.physical_id}"
        )
        self.state.update(
            old_domain_id=self.state["domain_id"],
            old_domain=self.state["domain"],
            old_domain_props=old_props,
            domain_id=response.physical_id,
            domain=response.data,
            domain_props=props,
            domain_account=self.other_account,
        )

    def _replace_dkim_record(self, r: StepResult) -> None:
        old, new = self.state["old_domain"], self.state["domain"]
        self.world.upsert(new["DkimHostName"], "TXT", [new["DkimRecordValue"]])
        if old["DkimHostName"] != new["DkimHostName"]:
            self.world.delete_record(old["DkimHostName"], "TXT", [old["DkimRecordValue"]])
            r.details.append(f"DkimRecord replaced: {old['DkimHostName']} -> {new['DkimHostName']}")
        else:
            r.details.append("DkimRecord updated in place")

    def _cleanup_old_domain(self, r: StepResult) -> None:
        event = self.world.events.delete(
            DOMAIN, "PostmarkDomain", self.state["old_domain_id"], self.state["old_domain_props"]
        )
        mark = len(self.world.postmark.requests)
        self.send(r, "postmark_domain", event)
        deletes = [(q["account"], q["status"]) for q in self.world.postmark.requests[mark:]]
        self.require(
            deletes == [(self.other_account, 422), (self.postmark_account, 200)],
            f"expected a DELETE with the current token (510), then one with the previous token; got {deletes}",
        )
        left = self.world.postmark_domains()[self.postmark_account]
        self.require(
            self.placement.mail.postmark_domain_name not in left, f"old domain still on {self.postmark_account}"
        )
        self.require(
            self.placement.mail.postmark_domain_name in self.world.postmark_domains()[self.other_account],
            f"the new domain on {self.other_account} must stay",
        )
        r.details.append(
            f"old domain {self.state['old_domain_id']} removed from {self.postmark_account} "
            "(the current token does not see it: deleted with the secret's previous token, AWSPREVIOUS)"
        )

    def _drift_check(self, r: StepResult) -> None:
        if self.drift is None:
            r.details.append("skipped (--no-drift)")
            return
        clean, lines = self.drift(self.world)
        r.details.extend(lines)
        r.status = "clean" if clean else "DRIFT"
        self.require(clean, "the drift check found drift in a freshly deployed stack")

    def _failed_create(self, r: StepResult) -> None:
        self.world.put_secret(
            "revoked-token", self.placement.account_token_secret_name + "-revoked", "revoked-token-0000"
        )
        props = self.domain_props("revoked-token")
        # A second sender domain (a tenant-shaped name) so the failed create cannot touch the real one.
        other = mail_domain_placement(self.placement.partition.name, tenant="rollback")
        props["DomainName"], props["ReturnPathDomain"] = other.postmark_domain_name, other.return_path_host
        response = self.send(
            r, "postmark_domain", self.world.events.create(DOMAIN, "PostmarkDomainRetry", props), expect="FAILED"
        )
        self.require("revoked-token-0000" not in response.raw, "the token leaked into the response")
        self.state.update(failed_id=response.physical_id, failed_props=props)

    def _rollback_delete(self, r: StepResult) -> None:
        event = self.world.events.delete(
            DOMAIN, "PostmarkDomainRetry", self.state["failed_id"], self.state["failed_props"]
        )
        self.send(r, "postmark_domain", event)
        r.details.append(f"PhysicalResourceId {self.state['failed_id']!r} is no Postmark ID: nothing to delete")

    def _delete_verification(self, r: StepResult) -> None:
        event = self.world.events.delete(
            VERIFICATION,
            "PostmarkDomainVerification",
            self.state["verification_id"],
            self.state["verification_props"],
        )
        self.send(r, "postmark_domain_verification", event)
        self.require(not r.postmark_calls, "verification Delete must not call Postmark")

    def _delete_delegation(self, r: StepResult) -> None:
        event = self.world.events.delete(
            DELEGATION, "NsDelegation", self.state["delegation_id"], self.state["delegation_props"]
        )
        self.send(r, "ns_delegation", event)
        self.require(self.world.parent_ns_record() is None, "the NS delegation is still in the parent zone")

    def _delete_records(self, r: StepResult) -> None:
        data = self.state["domain"]
        self.world.delete_record(data["DkimHostName"], "TXT", [data["DkimRecordValue"]])
        self.world.delete_record(data["ReturnPathHostName"], "CNAME", [data["ReturnPathCnameTarget"]])
        self.world.delete_record(
            self.placement.mail.spf_host, "TXT", [route53_txt_value(self.placement.mail.spf_value)]
        )
        self.world.delete_record(
            self.placement.mail.dmarc_host, "TXT", [route53_txt_value(self.placement.mail.dmarc_value)]
        )
        r.details.append("DkimRecord, ReturnPathRecord, SpfRecord, DmarcRecord deleted; MailZone and secrets retained")

    def _delete_domain(self, r: StepResult) -> None:
        event = self.world.events.delete(DOMAIN, "PostmarkDomain", self.state["domain_id"], self.state["domain_props"])
        self.send(r, "postmark_domain", event)

    def _nothing_left(self, r: StepResult) -> None:
        domains = self.world.postmark_domains()
        r.details.append("Postmark: " + ", ".join(f"{a}: {len(d)} domain(s)" for a, d in domains.items()))
        self.require(not any(domains.values()), f"orphaned Postmark domains: {domains}")
        self.require(self.world.parent_ns_record() is None, "stale NS record in the parent zone")
        r.details.append(
            f"parent zone {self.placement.mail.parent_zone_name}: no NS record for {self.placement.mail.mail_domain}"
        )

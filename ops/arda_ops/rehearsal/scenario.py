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

from arda_mail.placement import CorporatePlacement, PartitionPlacement, mail_domain_placement
from arda_mail.secrets import forget_tokens
from arda_mail.txt_records import route53_txt_value
from arda_ops.cfn_protocol import CfnResponse, invoke
from arda_ops.handlers import load_function_module
from arda_ops.rehearsal.world import ALL_POSTMARK_ACCOUNTS, World

LAMBDA_TIMEOUT_MS = 300_000
DOMAIN = "Custom::PostmarkDomain"
VERIFICATION = "Custom::PostmarkDomainVerification"
DELEGATION = "Custom::NsDelegation"
DKIM = "Custom::PostmarkDkim"
#: The rotation ``--rotate`` requests (any value later than none).
ROTATION = "2026-12"


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
    #: A partition's stack, or Corporate's (corporate/template.yaml: no encryption key, Outputs instead of the six
    #: exports, the Free Kanban Tool's DMARC record).
    placement: PartitionPlacement | CorporatePlacement
    on_step: Callable[[StepResult], None] = lambda result: None
    #: Where the handlers' own output (Powertools JSON logs, crhelper) goes, so the progress stays readable.
    handler_log: TextIO | None = None
    results: list[StepResult] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    postmark_account: str = ""
    other_account: str = ""
    drift: Callable[[World], tuple[bool, list[str]]] | None = None
    #: ``--rotate``: the steps of a full DKIM key rotation while the stack is up.
    rotate: bool = False
    #: The function the previous step invoked (see :meth:`send`).
    last_function: str = ""

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
        if function != self.last_function:
            # In Lambda each function is its own execution environment: none uses a token another one read. (An
            # upper bound: a function invoked again after another one reads its token again, even if still warm.)
            forget_tokens()
            self.last_function = function
        with contextlib.redirect_stdout(self.handler_log or sys.stdout):
            handler = load_function_module(function).handler
            response = invoke(
                handler,
                event,
                self.world.receiver,
                timeout_ms=LAMBDA_TIMEOUT_MS,
                wait_s=30,
                function_arn=self.world.function_arn(function),
            )
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

    def dkim_props(self, domain_id: str, rotation: str = "", reconcile: str = "") -> dict[str, Any]:
        return {
            "DomainId": domain_id,
            "DomainName": self.placement.mail.postmark_domain_name,
            "AccountTokenSecretArn": self.world.secret_arns["account-token"],
            "HostedZoneId": self.world.mail_zone_id,
            "ApiUrl": self.world.postmark.url,
            "Rotation": rotation,
            "MaxWaitSeconds": "20",
            "PollIntervalSeconds": "1",
            "Reconcile": reconcile,
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
    def plan(self) -> list[tuple[str, str, Callable[[StepResult], None]]]:
        """The steps, in CloudFormation's order (with ``rotate``, a DKIM key rotation while the stack is up)."""
        rotation: list[tuple[str, str, Callable[[StepResult], None]]] = [
            ("Update", f"Custom::PostmarkDkim DkimKeyRotation {ROTATION} (rotates)", self._rotate),
            ("setup", "Postmark: the revoked key is safe to remove (Postmark says so later)", self._revoked_safe),
            ("Update", "Custom::PostmarkDkim bin/deploy --reconcile (completes the rotation)", self._complete_rotation),
        ]
        return [
            ("setup", "Platform Root: parent zone and delegation role", self._platform_root),
            ("cfn", "CloudFormation: mail zone, secrets, SPF and DMARC", self._zone_and_secrets),
            ("Create", "Custom::PostmarkDomain", self._create_domain),
            ("cfn", "CloudFormation: Return-Path CNAME from the attributes", self._dkim_records),
            ("Create", "Custom::PostmarkDkim (publishes the DKIM key)", self._create_dkim),
            ("Create", "Custom::NsDelegation (assumes the Platform Root role)", self._create_delegation),
            ("Create", "Custom::PostmarkDomainVerification", self._verify),
            ("cfn", self._outputs_title(), self._exports),
            ("check", f"runtime-platform-drift against the deployed {self._what()}", self._drift_check),
            *(rotation if self.rotate else []),
            ("Update", f"Custom::PostmarkDomain onto {self.other_account} (replacement)", self._replace_domain),
            ("Update", "Custom::PostmarkDkim (new domain: replacement)", self._replace_dkim),
            ("Update", "Custom::PostmarkDomainVerification (new domain)", lambda r: self._verify(r, "Update")),
            ("Delete", "Custom::PostmarkDkim cleanup of the replaced domain's records", self._cleanup_old_dkim),
            ("Delete", "Custom::PostmarkDomain cleanup of the replaced domain", self._cleanup_old_domain),
            ("Create", "Custom::PostmarkDomain with a revoked token (fails)", self._failed_create),
            ("Delete", "Custom::PostmarkDomain rollback of the failed create", self._rollback_delete),
            ("Delete", "Custom::PostmarkDomainVerification", self._delete_verification),
            ("Delete", "Custom::NsDelegation", self._delete_delegation),
            ("Delete", "Custom::PostmarkDkim", self._delete_dkim),
            ("cfn", "CloudFormation: records deleted", self._delete_records),
            ("Delete", "Custom::PostmarkDomain", self._delete_domain),
            ("check", "nothing orphaned", self._nothing_left),
        ]

    def _what(self) -> str:
        return "Corporate stack" if isinstance(self.placement, CorporatePlacement) else "partition"

    def _outputs_title(self) -> str:
        if isinstance(self.placement, CorporatePlacement):
            return "CloudFormation: outputs and Corporate's zone export"
        return "CloudFormation: outputs and the six exports"

    def run(self, postmark_account: str, drift: Callable[[World], tuple[bool, list[str]]] | None) -> bool:
        """Run every step in CloudFormation's order; True when all behaved as CloudFormation requires."""
        self.postmark_account = postmark_account
        self.other_account = next(a for a in ALL_POSTMARK_ACCOUNTS if a != postmark_account)
        self.drift = drift
        plan = self.plan()
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
        if isinstance(self.placement, CorporatePlacement):
            r.details.append("PostmarkAccountTokenSecret, SpfRecord, DmarcRecord, FreeKanbanDmarcRecord")
        else:
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
        self.world.upsert(data["ReturnPathHostName"], "CNAME", [data["ReturnPathCnameTarget"]])
        r.details.append(f"ReturnPathRecord CNAME {data['ReturnPathHostName']} -> {data['ReturnPathCnameTarget']}")

    # -- Custom::PostmarkDkim -----------------------------------------------------------------------
    def _dkim_published(self, r: StepResult, host: str, text: str) -> None:
        """The rule of every DKIM step: the key Postmark signs with (or will, on a new domain) is in DNS, read back
        through the loopback DNS server as a resolver would."""
        published = self.world.resolve_txt(host)
        wanted = text.replace("; ", ";")
        self.require(any(p.replace("; ", ";") == wanted for p in published), f"no DKIM key published at {host}")
        r.details.append(f"DNS: TXT {host} holds Postmark's key")

    def _send_dkim(self, r: StepResult, event: dict[str, Any]) -> CfnResponse:
        response = self.send(r, "postmark_dkim", event)
        data = response.data
        self._dkim_published(r, data["DkimHostName"], data["DkimTextValue"])
        if data.get("PendingDkimHostName"):
            r.details.append(f"pending key published beside it: {data['PendingDkimHostName']}")
        self.state.update(dkim_id=response.physical_id, dkim=data)
        return response

    def _create_dkim(self, r: StepResult) -> None:
        props = self.dkim_props(self.state["domain_id"])
        response = self._send_dkim(r, self.world.events.create(DKIM, "PostmarkDkim", props))
        self.require(
            response.data["DkimHostName"] == self.state["domain"]["DkimHostName"], "DKIM host differs from Postmark's"
        )
        self.state.update(dkim_props=props)

    def _update_dkim(self, r: StepResult, props: dict[str, Any]) -> CfnResponse:
        event = self.world.events.update(DKIM, "PostmarkDkim", self.state["dkim_id"], props, self.state["dkim_props"])
        response = self._send_dkim(r, event)
        self.state.update(dkim_props=props)
        return response

    def _rotate(self, r: StepResult) -> None:
        before = self.state["dkim"]["DkimHostName"]
        rotations = self._rotations()
        response = self._update_dkim(r, self.dkim_props(self.state["domain_id"], ROTATION))
        data = response.data
        self.require(self._rotations() == rotations + 1, "expected exactly one rotatedkim call")
        self.require(data["DkimRotationPhase"] == "revoked-key-published", f"phase {data['DkimRotationPhase']}")
        self.require(data["DkimHostName"] != before, "Postmark still signs with the old key")
        self.require(data["RevokedDkimHostName"] == before, "the old key is not the revoked one")
        self.require(bool(self.world.resolve_txt(before)), "the revoked key must stay published until it is safe")
        r.details.append(f"new key {data['DkimHostName']} active; revoked key {before} still published")
        self.state["revoked_host"] = before

    def _rotations(self) -> int:
        return self.world.postmark.calls().count(f"POST /domains/{self.state['domain_id']}/rotatedkim")

    def _revoked_safe(self, r: StepResult) -> None:
        self.world.postmark.api.mark_revoked_key_safe(int(self.state["domain_id"]))
        r.details.append("SafeToRemoveRevokedKeyFromDNS = true (emulator control API)")

    def _complete_rotation(self, r: StepResult) -> None:
        rotations = self._rotations()
        response = self._update_dkim(r, self.dkim_props(self.state["domain_id"], ROTATION, "20261202T010000Z"))
        self.require(response.data["DkimRotationPhase"] == "complete", f"phase {response.data['DkimRotationPhase']}")
        self.require(self._rotations() == rotations, "a second rotation for the same value")
        self.require(not self.world.resolve_txt(self.state["revoked_host"]), "the revoked key is still published")
        r.details.append(f"revoked key {self.state['revoked_host']} removed; rotation {ROTATION} complete")
        # The records table shows the stack after the rotation.
        self.state["records_snapshot"] = self.world.records_snapshot()

    def _replace_dkim(self, r: StepResult) -> None:
        old_id = self.state["dkim_id"]
        props = self.dkim_props(self.state["domain_id"], self.state["dkim_props"]["Rotation"])
        response = self._update_dkim(r, props)
        self.require(response.physical_id != old_id, "a new domain must give a new PhysicalResourceId")
        self.state.update(old_dkim_id=old_id, old_dkim_props=self.dkim_props(self.state["old_domain_id"]))

    def _cleanup_old_dkim(self, r: StepResult) -> None:
        event = self.world.events.delete(DKIM, "PostmarkDkim", self.state["old_dkim_id"], self.state["old_dkim_props"])
        self.send(r, "postmark_dkim", event)
        r.details.append("the signing key's record is never removed by a Delete (it may be a rollback's)")

    def _delete_dkim(self, r: StepResult) -> None:
        event = self.world.events.delete(DKIM, "PostmarkDkim", self.state["dkim_id"], self.state["dkim_props"])
        self.send(r, "postmark_dkim", event)

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
        if isinstance(self.placement, CorporatePlacement):
            self._corporate_outputs(r)
            return
        values = self.placement.export_values(
            zone_id=self.world.mail_zone_id,
            token_secret_arn=self.world.secret_arns["account-token"],
            key_secret_arn=self.world.secret_arns["encryption-key"],
            account_id=self.world.events.account,
        )
        # The stack's Outputs as the template gives them: the drift step reads DkimRotationPhase too.
        published = self.world.publish_exports(values, {"DkimRotationPhase": self.state["dkim"]["DkimRotationPhase"]})
        self.state["records_snapshot"] = self.world.records_snapshot()
        self.state["exports"] = published
        self.require(set(published) == set(self.placement.exports.as_dict().values()), "export names differ")
        r.details.append(f"{len(published)} exports published by stack {self.placement.stack_name}")

    def _corporate_outputs(self, r: StepResult) -> None:
        """Corporate's stack publishes its zone Outputs and one export, the zone ID its other stacks import."""
        assert isinstance(self.placement, CorporatePlacement)
        published = self.world.publish_corporate_outputs(self.state["domain_id"])
        self.state["records_snapshot"] = self.world.records_snapshot()
        self.state["exports"] = published
        self.require(
            published == {self.placement.mail_zone_id_export: self.world.mail_zone_id},
            f"expected only {self.placement.mail_zone_id_export} = {self.world.mail_zone_id}, got {published}",
        )
        r.details.append(f"stack {self.placement.stack_name}: Outputs MailZoneId, MailZoneName, FreeKanbanDomain")
        r.details.append(f"export {self.placement.mail_zone_id_export} = {self.world.mail_zone_id}")

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
        # A second sender domain (a tenant-shaped name; Corporate's Free Kanban Tool domain, which has no Postmark
        # domain of its own) so the failed create cannot touch the real one.
        if isinstance(self.placement, CorporatePlacement):
            other = self.placement.free_kanban
        else:
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
        self.world.delete_record(data["ReturnPathHostName"], "CNAME", [data["ReturnPathCnameTarget"]])
        self.world.delete_record(
            self.placement.mail.spf_host, "TXT", [route53_txt_value(self.placement.mail.spf_value)]
        )
        self.world.delete_record(
            self.placement.mail.dmarc_host, "TXT", [route53_txt_value(self.placement.mail.dmarc_value)]
        )
        if isinstance(self.placement, CorporatePlacement):
            fkt = self.placement.free_kanban
            self.world.delete_record(fkt.dmarc_host, "TXT", [route53_txt_value(fkt.dmarc_value)])
            r.details.append("FreeKanbanDmarcRecord deleted")
        r.details.append("ReturnPathRecord, SpfRecord, DmarcRecord deleted; MailZone and secrets retained")

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

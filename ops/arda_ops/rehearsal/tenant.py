"""``make rehearse ARGS="--tenant acme"``: a tenant's sending-domain stack, rehearsed on top of a deployed partition.

The partition is deployed healthy first (the same builder the drift tests use: zone, delegation, secrets, a verified
Postmark domain, the stack's exports including the two ``-I-`` function exports). Then CloudFormation's work for
``tenant/template.yaml`` is played in its order, with the real handlers behind both custom resources (the
partition's own functions: a tenant stack has none): a reserved slug refused before any call, the tenant's domain
created on the partition's Postmark account, its three records in the partition zone, verification, the drift check
of partition and tenant, the collision rule (the runtime's registration of the same name refused), the Delete of
everything, and a check that exactly what the tenant added is gone and the partition is untouched.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from arda_mail.placement import PartitionPlacement, TenantPlacement, partition_placement, tenant_placement
from arda_ops.cfn_protocol import CfnResponse, EventFactory
from arda_ops.drift.probes import Endpoint
from arda_ops.drift.runner import DriftConfig, run_drift
from arda_ops.loopback.accounts import CORPORATE_ACCOUNT, PARTITION_ACCOUNT, REGION
from arda_ops.loopback.healthy import build_healthy_world, partition_mail_target
from arda_ops.rehearsal.scenario import Rehearsal, StepResult
from arda_ops.rehearsal.world import World
from arda_ops.route53_records import Record, change_record_sets, report_authorization_records
from arda_ops.tenant_stack import (
    DOMAIN_LOGICAL_ID,
    DOMAIN_TYPE,
    RECORD_TTL,
    VERIFICATION_LOGICAL_ID,
    VERIFICATION_TYPE,
    PartitionImports,
    create_records,
    delete_records,
    domain_properties,
    publish_tenant_stack,
    verification_properties,
)

#: Postmark's ErrorCode for "a domain of this name already exists on this account"
#: (https://postmarkapp.com/developer/api/overview#error-codes).
DOMAIN_EXISTS = 512


@dataclass
class TenantRehearsal:
    """The tenant's steps, on the step plumbing of a :class:`Rehearsal` of the partition (``base``)."""

    base: Rehearsal
    tenant: TenantPlacement
    drift_check: bool = True
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def world(self) -> World:
        return self.base.world

    @property
    def placement(self) -> PartitionPlacement:
        return self.tenant.partition

    @property
    def postmark_account(self) -> str:
        return self.tenant.partition.partition.postmark_account.value

    @property
    def results(self) -> list[StepResult]:
        return self.base.results

    @property
    def t(self) -> TenantPlacement:
        return self.tenant

    def send(self, r: StepResult, function: str, event: dict[str, Any], *, expect: str = "SUCCESS") -> CfnResponse:
        return self.base.send(r, function, event, expect=expect)

    require = staticmethod(Rehearsal.require)

    def plan(self) -> list[tuple[str, str, Callable[[StepResult], None]]]:
        return [
            ("setup", "the partition deployed: zone, delegation, secrets, verified domain, exports", self._partition),
            ("cfn", "CloudFormation: the tenant stack's imports resolve", self._imports),
            ("Create", "Custom::PostmarkDomain with a reserved slug (fails before any call)", self._reserved),
            ("Create", "Custom::PostmarkDomain (the tenant's domain)", self._create_domain),
            ("cfn", "CloudFormation: DKIM TXT, Return-Path CNAME and DMARC TXT in the partition zone", self._records),
            ("Create", "Custom::PostmarkDomainVerification", self._verify),
            ("cfn", "CloudFormation: the tenant stack, its tags and outputs", self._stack),
            ("check", f"runtime-platform-drift --partition {self.placement.partition.name} --tenants", self._drift),
            ("check", "collision rule: the runtime cannot register the tenant's name", self._collision),
            ("Delete", "Custom::PostmarkDomainVerification", self._delete_verification),
            ("cfn", "CloudFormation: the tenant's three records deleted", self._delete_records),
            ("Delete", "Custom::PostmarkDomain", self._delete_domain),
            ("check", "exactly the tenant's additions are gone; the partition is untouched", self._nothing_left),
        ]

    def run_tenant(self) -> bool:
        steps = self.plan()
        for kind, title, action in steps:
            result = self.base.step(kind, title, action)
            if not result.ok and kind in {"setup", "cfn"}:
                break
        return all(r.ok for r in self.results) and len(self.results) == len(steps)

    # -- helpers ------------------------------------------------------------------------------------------------
    @property
    def tenant_events(self) -> EventFactory:
        events: EventFactory = self.state["events"]
        return events

    @property
    def imports(self) -> PartitionImports:
        imports: PartitionImports = self.state["imports"]
        return imports

    def _zone(self) -> set[tuple[str, str, str]]:
        return {
            (r["Name"].rstrip("."), r["Type"], " ".join(v["Value"] for v in r.get("ResourceRecords", [])))
            for r in self.world.mail_records()
        }

    # -- the steps ----------------------------------------------------------------------------------------------
    def _partition(self, r: StepResult) -> None:
        built = build_healthy_world(self.world.loopback, [partition_mail_target(self.placement)])
        # The operator's step for a new tenant: the report domain authorizes reports about the tenant's domain,
        # whose own DMARC record sends them there (RFC 7489 section 7.1; the README's tenant section).
        report_r53 = self.world.loopback.client("route53", CORPORATE_ACCOUNT)
        authorization = report_authorization_records([self.t.mail.mail_domain])
        change_record_sets(report_r53, built.report_zone_id, "UPSERT", authorization, RECORD_TTL)
        name = self.placement.partition.name
        self.world.mail_zone_id = built.zone_ids[name]
        self.state.update(partition_domain_id=built.domain_ids[name], zone_before=self._zone())
        self.state["events"] = EventFactory(
            self.world.receiver, stack_name=self.t.stack_name, region=REGION, account=PARTITION_ACCOUNT
        )
        r.details.append(
            f"stack {self.placement.stack_name}, zone {self.placement.mail.mail_domain} ({self.world.mail_zone_id}), "
            f"Postmark domain {built.domain_ids[name]} on {self.postmark_account}"
        )
        ((host, _, (value,)),) = authorization
        r.details.append(f"DMARC reports authorized (the operator's step): {host} TXT {value}")

    def _imports(self, r: StepResult) -> None:
        exports = {e["Name"]: e["Value"] for e in self.world.cloudformation.list_exports()["Exports"]}
        p = self.placement
        wanted = [
            p.exports.partition_mail_zone_id,
            p.exports.partition_mail_zone_name,
            p.exports.email_postmark_account_token_arn,
            *p.intra_platform_exports,
        ]
        missing = [name for name in wanted if name not in exports]
        self.require(not missing, f"the partition stack does not export {', '.join(missing)}")
        self.state["imports"] = PartitionImports.from_exports(self.t, exports)
        r.details.extend(f"Fn::ImportValue {name}" for name in wanted)

    def _reserved(self, r: StepResult) -> None:
        reserved = self.placement.partition.name  # every partition name is reserved at the mail-root level
        props = {**domain_properties(self.t, self.imports, self.world.postmark.url), "TenantSlug": reserved}
        event = self.tenant_events.create(DOMAIN_TYPE, DOMAIN_LOGICAL_ID, props)
        postmark_mark, aws_mark = len(self.world.postmark.requests), self.world.calls.mark()
        response = self.send(r, "postmark_domain", event, expect="FAILED")
        self.require("is reserved" in response.reason, f"unexpected Reason: {response.reason}")
        self.require(len(self.world.postmark.requests) == postmark_mark, "the refused request reached Postmark")
        self.require(not self.world.calls.since(aws_mark, "handler"), "the refused request called AWS")

    def _create_domain(self, r: StepResult) -> None:
        props = domain_properties(self.t, self.imports, self.world.postmark.url)
        response = self.send(r, "postmark_domain", self.tenant_events.create(DOMAIN_TYPE, DOMAIN_LOGICAL_ID, props))
        self.require(response.physical_id.isdigit(), "PhysicalResourceId must be Postmark's domain ID")
        on_account = self.world.postmark_domains()[self.postmark_account]
        self.require(self.t.mail.postmark_domain_name in on_account, f"the domain is not on {self.postmark_account}")
        self.state.update(domain_id=response.physical_id, domain=response.data, domain_props=props)

    def _records(self, r: StepResult) -> None:
        records: list[Record] = create_records(self.world.route53, self.t, self.imports, self.state["domain"])
        self.state["records"] = records
        for name, rtype, values in records:
            r.details.append(f"{rtype} {name} -> {values[0][:60]}")

    def _verify(self, r: StepResult) -> None:
        props = verification_properties(self.imports, self.state["domain_id"], self.world.postmark.url, max_wait_s=20)
        props["PollIntervalSeconds"] = "1"
        event = self.tenant_events.create(VERIFICATION_TYPE, VERIFICATION_LOGICAL_ID, props)
        response = self.send(r, "postmark_domain_verification", event)
        self.require(
            response.data.get("DkimVerified") == "true" and response.data.get("ReturnPathVerified") == "true",
            f"expected DKIM and Return-Path verified, got {response.data}",
        )
        self.state.update(verification_id=response.physical_id, verification_props=props)
        self.state["records_snapshot"] = [
            {"Type": t, "Name": n, "Value": v} for n, t, v in sorted(self._zone()) if t != "SOA"
        ]

    def _stack(self, r: StepResult) -> None:
        publish_tenant_stack(self.world.cloudformation, self.t, self.state["domain_id"])
        tags = ", ".join(f"{k}={v}" for k, v in self.t.tags.items())
        r.details.append(f"stack {self.t.stack_name} (tags {tags}), Output PostmarkDomainId {self.state['domain_id']}")

    def _drift(self, r: StepResult) -> None:
        if not self.drift_check:
            r.status = "skipped"
            r.details.append("skipped (--no-drift)")
            return
        child_host, child_port = self.world.child_dns.address
        parent_host, parent_port = self.world.parent_dns.address
        report = run_drift(
            DriftConfig(
                partitions=(self.placement.partition.name,),
                tenants=(),
                dns_server=Endpoint(child_host, child_port),
                parent_dns_server=Endpoint(parent_host, parent_port),
                postmark_api_url=self.world.postmark.url,
                aws_endpoint_url=self.world.moto.url,
                timeout=5.0,
            )
        )
        r.status = "clean" if report.exit_code == 0 else f"exit {report.exit_code}"
        r.details.append(report.summary_line())
        r.details += [f"{x.target} {x.check}: {x.verdict.value} ({x.observed})" for x in report.results if x.fix]
        self.require(report.exit_code == 0, "the drift check is not clean")
        self.require(f"{self.placement.partition.name}/{self.t.slug}" in report.targets, "the tenant was not found")

    def _collision(self, r: StepResult) -> None:
        status, answer = _post_domain(
            self.world.postmark.url, self.world.tokens[self.postmark_account], self.t.mail.postmark_domain_name
        )
        self.require((status, answer.get("ErrorCode")) == (422, DOMAIN_EXISTS), f"Postmark answered {status} {answer}")
        tags = self.world.secrets.describe_secret(SecretId=self.imports.token_secret_arn).get("Tags", [])
        owners = {t["Value"] for t in tags}
        self.require(f"{self.t.stack_name}/{DOMAIN_LOGICAL_ID}" in owners, "no ownership tag names the tenant stack")
        r.details.append(f"POST /domains {self.t.mail.postmark_domain_name}: HTTP {status}, ErrorCode {DOMAIN_EXISTS}")
        r.details.append(f"ownership tag on the account-token secret: {self.t.stack_name}/{DOMAIN_LOGICAL_ID}")

    def _delete_verification(self, r: StepResult) -> None:
        event = self.tenant_events.delete(
            VERIFICATION_TYPE, VERIFICATION_LOGICAL_ID, self.state["verification_id"], self.state["verification_props"]
        )
        self.send(r, "postmark_domain_verification", event)

    def _delete_records(self, r: StepResult) -> None:
        delete_records(self.world.route53, self.imports, self.state["records"])
        r.details.append("DkimRecord, ReturnPathRecord, DmarcRecord deleted")

    def _delete_domain(self, r: StepResult) -> None:
        event = self.tenant_events.delete(
            DOMAIN_TYPE, DOMAIN_LOGICAL_ID, self.state["domain_id"], self.state["domain_props"]
        )
        self.send(r, "postmark_domain", event)

    def _nothing_left(self, r: StepResult) -> None:
        self.world.cloudformation.delete_stack(StackName=self.t.stack_name)
        self.require(self._zone() == self.state["zone_before"], "the partition zone differs from before the tenant")
        names = self.world.postmark_domains()[self.postmark_account]
        self.require(self.t.mail.postmark_domain_name not in names, "the tenant's Postmark domain is still there")
        self.require(self.placement.mail.postmark_domain_name in names, "the partition's Postmark domain is gone")
        r.details.append(f"Postmark {self.postmark_account}: {', '.join(names)}")
        r.details.append(f"zone {self.placement.mail.mail_domain}: as before the tenant ({len(self._zone())} records)")


def _post_domain(api_url: str, token: str, name: str) -> tuple[int, dict[str, Any]]:
    """The runtime's onboarding as Postmark sees it: ``POST /domains`` with the partition's account token."""
    request = urllib.request.Request(  # noqa: S310 - the loopback emulator
        api_url + "/domains",
        data=json.dumps({"Name": name}).encode(),
        method="POST",
        headers={"X-Postmark-Account-Token": token, "Accept": "application/json", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return int(answer.status), dict(json.loads(answer.read()))
    except urllib.error.HTTPError as error:
        return int(error.code), dict(json.loads(error.read()))


def run_tenant(partition: str, slug: str, *, out: TextIO | None, drift: bool = True) -> dict[str, Any]:
    """Rehearse tenant ``slug`` on ``partition``; ``out`` receives the progress (None for silence). The report has
    the shape of the partition rehearsal's (``make rehearse``), so the same summary prints it."""
    from arda_ops.rehearsal.cli import LOG_DIR, Printer, _route_logging

    placement = partition_placement(partition)
    tenant = tenant_placement(partition, slug)
    started = time.perf_counter()
    with World(placement) as world:
        if out is not None:
            print(
                f"Offline rehearsal of tenant stack {tenant.stack_name} ({tenant.mail.mail_domain}) on top of "
                f"{placement.stack_name}",
                file=out,
            )
            print(
                f"  moto {world.moto.url} | Postmark emulator {world.postmark.url} | responses "
                f"{world.receiver.base_url} | DNS {world.child_dns.endpoint} (mail zone)\n",
                file=out,
            )
        LOG_DIR.mkdir(exist_ok=True)
        log_path = LOG_DIR / f"{partition}-tenant-{slug}-handlers.log"
        with log_path.open("w", encoding="utf-8") as handler_log:
            _route_logging(handler_log)
            try:
                rehearsal = TenantRehearsal(Rehearsal(world, placement, handler_log=handler_log), tenant, drift)
                if out is not None:
                    rehearsal.base.on_step = Printer(out, len(rehearsal.plan()))
                passed = rehearsal.run_tenant()
            finally:
                _route_logging(None)
    return {
        "partition": partition,
        "tenant": slug,
        "stack": tenant.stack_name,
        "passed": passed,
        "seconds": round(time.perf_counter() - started, 3),
        "steps": [r.as_dict() for r in rehearsal.results],
        "records": rehearsal.state.get("records_snapshot", []),
        "exports": {},
        "handler_log": str(log_path),
    }

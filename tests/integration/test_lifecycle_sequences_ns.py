"""Property-based lifecycle sequences for ``Custom::NsDelegation``.

Hypothesis generates sequences of CloudFormation operations, foreign changes to the delegation and one-shot Route 53
/ STS faults, and plays them against the real handler through the real protocol (events in, crhelper's HTTPS PUT
out to the session's loopback ``receiver``). AWS is moto, fresh for every example, with two accounts: the handler
runs with the partition account's credentials and reaches the parent zone ``ardamails.com`` in Platform Root
through ``DelegationRoleArn`` (see ``support.aws``). Faults are real-shaped AWS error responses, or botocore's
own network exceptions (a connection refused, timed out or closed, possibly after AWS applied the request),
injected at botocore's transport, so botocore's own retry logic handles them; its backoff sleeps are recorded, not
slept. Besides transient faults that botocore's retries overcome, *outages* fail every attempt of a call: a change
applied whose every answer is lost, a GetChange that never answers, a read-back or clean-up that cannot reach
Route 53, a lookup or AssumeRole that cannot connect.

The model is what CloudFormation believes (the current PhysicalResourceId and properties, or nothing) plus the
NS records the parent zone must hold, kept by the contract's rules: Create/Update UPSERT the declared values;
Delete removes a record only while it is the resource's (the declared name servers as a set, whatever its TTL),
and leaves one that someone else changed. CloudFormation's own follow-ups are issued as it would: the cleanup Delete of the old ID with the old
properties after a replacement, the rollback Update and the cleanup Delete of the replacement when a later
resource fails, and the rollback Delete of a failed Create with whatever PhysicalResourceId its response carried.

Invariants: exactly one response per invocation, SUCCESS or FAILED, with a non-empty PhysicalResourceId and a
one-line Reason when FAILED (:mod:`support.sequences`); operations whose only trouble is a transient fault, or an
outage after their record is known written, succeed; after every step the parent zone's NS records are exactly the model's: after a successful Create/Update
the declared values and TTL, after a Delete nothing this resource wrote, unless a foreign owner changed it since.

Two tests share the machine: Hypothesis' random sequences, and a scripted sequence through the same rules and
invariants that visits every variant and consumes every fault (Hypothesis enables a random subset of the rules per
example, so a random run alone cannot promise that).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from moto import mock_aws
from support.aws import (
    PLATFORM_ROOT_ACCOUNT,
    FaultInjector,
    client_in,
    injected_faults,
    record_retry_sleeps,
    route53_error,
    sts_error,
)
from support.sequences import CloudFormation, OpenExamples, SequenceStats, succeeded

from arda_mail.aws_sessions import MAX_ATTEMPTS
from arda_mail.placement import MAIL_ROOT_DOMAIN, ROOT_DELEGATION_ROLE_NAME
from arda_mail.route53_delegation import DEFAULT_TTL
from arda_ops.handlers import load_function_module

pytestmark = pytest.mark.slow

RESOURCE_TYPE = "Custom::NsDelegation"
LOGICAL_ID = "NsDelegation"
ROLE_ARN = f"arn:aws:iam::{PLATFORM_ROOT_ACCOUNT}:role/{ROOT_DELEGATION_ROLE_NAME}"
NAMES = ("dev.ardamails.com", "mail.dev.ardamails.com", "stage.ardamails.com")
#: Name-server sets as the template might pass them (the third in another spelling: case and trailing dots).
SERVER_SETS = (
    ("ns-2048.awsdns-64.com", "ns-2049.awsdns-65.net", "ns-2050.awsdns-66.org", "ns-2051.awsdns-67.co.uk"),
    ("ns-1.awsdns-01.org", "ns-2.awsdns-02.co.uk", "ns-3.awsdns-03.com", "ns-4.awsdns-04.net"),
    ("NS-5.awsdns-05.com.", "ns-6.AWSDNS-06.net."),
)
TTLS = (None, 3600, 300)  # None: the property is absent (the default)
FOREIGN_SERVERS = ("ns-9.example.net",)
FOREIGN_TTL = 60  # never one of TTLS: a TTL-only foreign change leaves the record the resource's all the same
CHANGE = "route53.ChangeResourceRecordSets"
READ = "route53.ListResourceRecordSets"
#: Entries planned for an outage: more than every attempt of every call an operation makes.
OUTAGE = 3 * MAX_ATTEMPTS
#: Route 53's answer to a change it accepted but has not propagated yet (moto always answers INSYNC).
PENDING_ANSWER = (
    200,
    b'<?xml version="1.0"?><ChangeResourceRecordSetsResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
    b"<ChangeInfo><Id>/change/C0PENDING</Id><Status>PENDING</Status><SubmittedAt>2026-01-01T00:00:00.000Z"
    b"</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>",
)

#: One-shot (or up to three-shot) faults, each answering the next calls of one operation.
TRANSIENT_FAULTS = {
    "throttling-on-change": (CHANGE, route53_error("Throttling", "Rate exceeded"), False),
    "prior-request-not-complete": (
        CHANGE,
        route53_error("PriorRequestNotComplete", "The request was rejected because Route 53 was still processing"),
        False,
    ),
    "503-on-change": (CHANGE, route53_error("ServiceUnavailable", "", 503), False),
    "500-after-commit": (CHANGE, route53_error("InternalFailure", "We encountered an internal error", 500), True),
    "throttling-on-read": ("route53.ListResourceRecordSets", route53_error("Throttling", "Rate exceeded"), False),
    "throttling-on-zone-lookup": ("route53.ListHostedZonesByName", route53_error("Throttling", "Rate exceeded"), False),
    "throttling-on-assume-role": ("sts.AssumeRole", sts_error("Throttling", "Rate exceeded", 400), False),
    # botocore's network exceptions (support.aws.NETWORK_FAULTS), retried by its standard mode like the errors above.
    "read-timeout-after-commit": (CHANGE, "read-timeout", True),
    "connection-closed-on-read": (READ, "connection-closed", False),
    "connect-timeout-on-zone-lookup": ("route53.ListHostedZonesByName", "connect-timeout", False),
    "endpoint-connection-on-assume-role": ("sts.AssumeRole", "endpoint-connection", False),
}


def _plan_outage(faults: FaultInjector, name: str) -> None:
    """Every attempt of the named call fails until the outage ends (the fault context drops what is left)."""
    if name == "answers-lost-after-commit":  # each change is applied, each answer a 500
        faults.fail(CHANGE, route53_error("InternalFailure", "boom", 500), commit=True, times=OUTAGE)
    elif name == "read-timeouts-after-commit":  # each change is applied, each connection times out reading
        faults.fail_network(CHANGE, "read-timeout", commit=True, times=OUTAGE)
    else:  # "get-change-unreachable": the change is accepted PENDING, and GetChange never gets through
        faults.fail(CHANGE, PENDING_ANSWER, commit=True)
        faults.fail_network("route53.GetChange", "connect-timeout", times=OUTAGE)


#: Outages after which a Create/Update/Delete still succeeds: the record is known written (read back, or the
#: UPSERT was answered) or known gone, so ChangeStatus may say UNKNOWN.
OUTAGE_FAULTS = ("answers-lost-after-commit", "read-timeouts-after-commit", "get-change-unreachable")
#: Real Route 53's answer to a DELETE that no longer matches (moto says InvalidInput): only a Delete meets it, and
#: the handler must re-read and decide again. (For an UPSERT it is a permanent error, not a transient one.)
DELETE_ONLY_FAULTS = {
    "invalid-change-batch-on-delete": (
        CHANGE,
        route53_error("InvalidChangeBatch", "Tried to delete resource record set but it was not found"),
        False,
    ),
}
ALL_FAULTS = {**TRANSIENT_FAULTS, **DELETE_ONLY_FAULTS}
ALL_FAULT_NAMES = {*ALL_FAULTS, *OUTAGE_FAULTS}
#: Within a 10 s Lambda budget botocore gets to retry three times before the deadline guard stops it.
MAX_TRANSIENT_REPEATS = 3
#: ``commit-then-*``: every UPSERT is applied and every answer lost, and reading the record back fails too, so the
#: outcome stays unknown; ``*-unreachable``: no connection before anything was written.
FAILED_CREATES = (
    "invalid-properties",
    "assume-role-denied",
    "persistent-throttling",
    "commit-then-500s",
    "commit-then-timeouts",
    "assume-role-unreachable",
    "zone-lookup-unreachable",
)
#: How an Update is made to fail (then rolled back): in place (name servers) or replacing (name), and the trouble.
#: For a replacing one, ``commit-then-*`` also keeps its own clean-up from reaching Route 53: only the rollback's
#: Update can remove the record it left.
FAILED_UPDATES = tuple(
    f"{change}:{trouble}"
    for change in ("in-place", "replacing")
    for trouble in (
        "invalid-properties",
        "persistent-throttling",
        "commit-then-500s",
        "commit-then-timeouts",
        "zone-lookup-unreachable",
    )
)
FOREIGN_CHANGES = ("other-servers", "ttl-only", "removed")


def normalised(servers: tuple[str, ...]) -> frozenset[str]:
    return frozenset(s.lower().rstrip(".") for s in servers)


@dataclass(frozen=True)
class Spec:
    """The properties of one Custom::NsDelegation."""

    name: str
    servers: int  # index into SERVER_SETS
    ttl: int | None = None

    @property
    def record(self) -> tuple[int, frozenset[str]]:
        """The NS record this resource declares: (TTL, name servers)."""
        return (self.ttl or DEFAULT_TTL, normalised(SERVER_SETS[self.servers]))

    def props(self) -> dict[str, object]:
        props: dict[str, object] = {
            "DelegatedZoneName": self.name,
            "NameServers": list(SERVER_SETS[self.servers]),
            "ParentZoneName": MAIL_ROOT_DOMAIN,
            "DelegationRoleArn": ROLE_ARN,
        }
        if self.ttl is not None:
            props["Ttl"] = str(self.ttl)
        return props


@dataclass(frozen=True)
class Live:
    physical_id: str
    spec: Spec


specs = st.builds(
    Spec,
    name=st.sampled_from(NAMES),
    servers=st.integers(0, len(SERVER_SETS) - 1),
    ttl=st.sampled_from(TTLS),
)
outages = st.tuples(st.sampled_from(OUTAGE_FAULTS), st.just(OUTAGE))
faults = st.one_of(
    st.none(), st.tuples(st.sampled_from(sorted(TRANSIENT_FAULTS)), st.integers(1, MAX_TRANSIENT_REPEATS)), outages
)
#: A Delete meets the transient faults, the outages, or (once: a second rejection of a matching record is a real
#: failure) real Route 53's InvalidChangeBatch.
delete_faults = st.one_of(
    st.none(),
    st.just(("invalid-change-batch-on-delete", 1)),
    st.tuples(st.sampled_from(sorted(TRANSIENT_FAULTS)), st.integers(1, MAX_TRANSIENT_REPEATS)),
    outages,
)
create_failures = st.sampled_from((None,) * 9 + FAILED_CREATES)

SETTINGS = settings(
    max_examples=25,
    stateful_step_count=8,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@dataclass
class Sequences:
    """The state machine bound to one test's CloudFormation player, and what its runs did."""

    machine: type[RuleBasedStateMachine]
    stats: SequenceStats


def bind_machine(cfn: CloudFormation, examples: OpenExamples) -> type[RuleBasedStateMachine]:
    """The Custom::NsDelegation state machine, playing ``cfn``; every example builds its own moto world."""
    stats = cfn.stats

    class NsDelegationSequences(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            stats.examples += 1
            self._stack = examples.new()
            self._patch = pytest.MonkeyPatch()
            self._stack.callback(self._patch.undo)
            self._stack.enter_context(mock_aws())
            # The test's own client is created before the fault injector: the injector sees (and faults) the
            # handler's calls only.
            self.root_r53 = client_in(PLATFORM_ROOT_ACCOUNT, "route53")
            zone = self.root_r53.create_hosted_zone(Name=MAIL_ROOT_DOMAIN, CallerReference="root")["HostedZone"]
            self.zone_id = zone["Id"].rsplit("/", 1)[-1]
            self.faults = self._stack.enter_context(injected_faults(self._patch))
            self.sleeps = record_retry_sleeps(self._patch)
            self.live: Live | None = None
            #: An outage hit the last operation: a successful Create/Update may answer ChangeStatus UNKNOWN.
            self.outage_hit = False
            #: The NS records (below the apex) the parent zone must hold: name -> (TTL, name servers).
            self.expected: dict[str, tuple[int, frozenset[str]]] = {}

        def teardown(self) -> None:
            examples.close(self._stack)

        # -- helpers ---------------------------------------------------------------------------------------
        def physical_id(self, name: str) -> str:
            return f"{self.zone_id}/{name}/NS"

        def step(self, name: str) -> None:
            stats.steps += 1
            stats.rules[name] += 1
            self.outage_hit = False

        def commit_then_unknown(self, trouble: str, read_back_faults: int) -> None:
            """Every change is applied and every answer lost (500s or read timeouts); the read before the UPSERT
            gets through, the next ``read_back_faults`` reads (the read-back, a clean-up's read) do not."""
            if trouble == "commit-then-500s":
                self.faults.fail(CHANGE, route53_error("InternalFailure", "boom", 500), commit=True, times=OUTAGE)
            else:
                self.faults.fail_network(CHANGE, "read-timeout", commit=True, times=OUTAGE)
            self.faults.let_through(READ)
            self.faults.fail_network(READ, "connection-closed", times=read_back_faults)

        @contextmanager
        def fault(self, drawn: tuple[str, int] | None) -> Iterator[None]:
            """Answer the next ``times`` calls of one operation with the fault ``name``; whatever the operation did
            not consume is dropped afterwards, so a fault never leaks into a later operation."""
            self.outage_hit = False
            if drawn is None:
                yield
                return
            name, times = drawn
            if name in OUTAGE_FAULTS:
                failing = "route53.GetChange" if name == "get-change-unreachable" else CHANGE
                before = self.faults.calls[failing]
                _plan_outage(self.faults, name)
                yield
                self.faults.drop_plans()
                if self.faults.calls[failing] > before:
                    stats.faults[name] += 1
                    self.outage_hit = True
                return
            operation, error, commit = ALL_FAULTS[name]
            calls, slept = self.faults.calls[operation], len(self.sleeps.sleeps)
            if isinstance(error, str):
                self.faults.fail_network(operation, error, commit=commit, times=times)
            else:
                self.faults.fail(operation, error, commit=commit, times=times)
            yield
            self.faults.drop_plans()
            consumed = min(times, self.faults.calls[operation] - calls)
            if consumed:
                stats.faults[name] += 1
                if name != "invalid-change-batch-on-delete":  # not retryable: the handler re-reads instead
                    assert len(self.sleeps.sleeps) - slept >= consumed, "botocore must back off before each retry"

        def raw_ns_records(self) -> list[dict[str, Any]]:
            """The parent zone's NS record sets below the apex, as Route 53 lists them."""
            records = self.root_r53.list_resource_record_sets(HostedZoneId=self.zone_id)["ResourceRecordSets"]
            return [r for r in records if r["Type"] == "NS" and r["Name"].rstrip(".") != MAIL_ROOT_DOMAIN]

        def zone_records(self) -> dict[str, tuple[int, frozenset[str]]]:
            return {
                r["Name"].rstrip("."): (r["TTL"], normalised(tuple(v["Value"] for v in r["ResourceRecords"])))
                for r in self.raw_ns_records()
            }

        def deleted(self, spec: Spec) -> None:
            """The contract's Delete, applied to the model: only a record that still holds the declared name servers
            goes, whatever its TTL."""
            found = self.expected.get(spec.name)
            if found is not None and found[1] == spec.record[1]:
                del self.expected[spec.name]

        def written(self, spec: Spec, response_data: dict[str, object] | None = None) -> None:
            self.expected[spec.name] = spec.record
            if response_data is not None:
                assert response_data["RecordName"] == spec.name
                assert response_data["ParentZoneId"] == self.zone_id
                assert response_data["Ttl"] == str(spec.record[0])
                assert normalised(tuple(str(response_data["NameServers"]).split(","))) == spec.record[1]
                # After an outage the record is known written, its change not necessarily known INSYNC.
                allowed = {"INSYNC", "UNKNOWN"} if self.outage_hit else {"INSYNC"}
                assert response_data["ChangeStatus"] in allowed, response_data
            self.outage_hit = False

        def replaced(self, old: Live, new: Live, roll_back: bool, cleanup_fault: tuple[str, int] | None) -> None:
            """After a successful replacing Update: CloudFormation's cleanup, or (``roll_back``: a later resource
            failed) the rollback Update to the old properties and the cleanup Delete of the replacement; the
            cleanup Delete meets ``cleanup_fault``."""
            assert new.physical_id != old.physical_id, "a new DelegatedZoneName needs a new PhysicalResourceId"
            if roll_back:
                back = succeeded(cfn.update(new.physical_id, old.spec.props(), new.spec.props()), "rollback Update")
                assert back.physical_id == old.physical_id
                self.written(old.spec, back.data)
                with self.fault(cleanup_fault):
                    responses = cfn.delete(new.physical_id, new.spec.props())
                succeeded(responses, "cleanup Delete of the replacement")
                self.deleted(new.spec)
                self.live = old
            else:
                with self.fault(cleanup_fault):
                    responses = cfn.delete(old.physical_id, old.spec.props())
                succeeded(responses, "cleanup Delete")
                self.deleted(old.spec)
                self.live = new

        # -- rules -----------------------------------------------------------------------------------------
        @precondition(lambda self: self.live is None)
        @rule(spec=specs, fault=faults, retried=st.booleans(), failure=create_failures)
        def create(self, spec: Spec, fault: tuple[str, int] | None, retried: bool, failure: str | None) -> None:
            """Create; ``retried``: the same event delivered twice; ``failure``: a Create made to fail, followed
            by CloudFormation's rollback Delete."""
            if failure is not None:
                self.failed_create(spec, failure)
                return
            self.step("create:retried" if retried else "create")
            with self.fault(fault):
                responses = cfn.create(spec.props(), times=2 if retried else 1)
            created = succeeded(responses, "Create")
            assert [r.physical_id for r in responses] == [self.physical_id(spec.name)] * len(responses)
            self.written(spec, created.data)
            self.live = Live(created.physical_id, spec)

        def failed_create(self, spec: Spec, mode: str) -> None:
            self.step(f"failed-create:{mode}")
            props = spec.props()
            if mode == "invalid-properties":
                props["Ttl"] = "0"
            elif mode == "assume-role-denied":
                self.faults.fail(
                    "sts.AssumeRole", sts_error("AccessDenied", "not authorized to perform sts:AssumeRole")
                )
            elif mode == "persistent-throttling":
                self.faults.fail(CHANGE, route53_error("Throttling", "Rate exceeded"), times=OUTAGE)
            elif mode == "assume-role-unreachable":
                self.faults.fail_network("sts.AssumeRole", "endpoint-connection", times=OUTAGE)
            elif mode == "zone-lookup-unreachable":
                self.faults.fail_network("route53.ListHostedZonesByName", "connect-timeout", times=OUTAGE)
            else:  # every UPSERT is applied, every answer lost, and the record cannot be read back either
                self.commit_then_unknown(mode, OUTAGE)
            (failed,) = cfn.create(props)
            self.faults.drop_plans()  # the trouble is over by the time CloudFormation rolls back
            assert failed.status == "FAILED", f"{mode}: the Create should fail"
            sent = mode in {"persistent-throttling", "commit-then-500s", "commit-then-timeouts"}
            if sent:
                # The UPSERT was sent: the failure names the record, so the rollback's Delete can remove it.
                assert failed.physical_id == self.physical_id(spec.name)
            else:
                assert "/" not in failed.physical_id, "nothing was written: crhelper's placeholder"
            if mode.startswith("commit-then-"):
                self.written(spec)
            stats.outcomes["rollback-delete-of-" + ("real-id" if "/" in failed.physical_id else "placeholder")] += 1
            succeeded(cfn.delete(failed.physical_id, props), "rollback Delete")
            if sent:
                self.deleted(spec)

        @precondition(lambda self: self.live is not None)
        @rule(servers=st.integers(0, len(SERVER_SETS) - 1), ttl=st.sampled_from(TTLS), fault=faults)
        def update_servers_or_ttl(self, servers: int, ttl: int | None, fault: tuple[str, int] | None) -> None:
            """An in-place Update of NameServers and/or Ttl (possibly to the same values)."""
            self.step("update-servers-ttl")
            old = self.live
            assert old is not None
            new_spec = replace(old.spec, servers=servers, ttl=ttl)
            with self.fault(fault):
                responses = cfn.update(old.physical_id, new_spec.props(), old.spec.props())
            updated = succeeded(responses, "Update of NameServers/Ttl")
            assert updated.physical_id == old.physical_id
            self.written(new_spec, updated.data)
            self.live = Live(old.physical_id, new_spec)

        @precondition(lambda self: self.live is not None)
        @rule(
            offset=st.integers(1, len(NAMES) - 1),
            servers=st.integers(0, len(SERVER_SETS) - 1),
            fault=faults,
            roll_back=st.booleans(),
            cleanup_fault=delete_faults,
        )
        def update_delegated_name(
            self,
            offset: int,
            servers: int,
            fault: tuple[str, int] | None,
            roll_back: bool,
            cleanup_fault: tuple[str, int] | None,
        ) -> None:
            """A changed DelegatedZoneName: replacement, then cleanup (or rollback)."""
            self.step("update-name:rollback" if roll_back else "update-name")
            old = self.live
            assert old is not None
            name = NAMES[(NAMES.index(old.spec.name) + offset) % len(NAMES)]
            new_spec = replace(old.spec, name=name, servers=servers)
            with self.fault(fault):
                responses = cfn.update(old.physical_id, new_spec.props(), old.spec.props())
            updated = succeeded(responses, "Update of DelegatedZoneName")
            assert updated.physical_id == self.physical_id(name)
            self.written(new_spec, updated.data)
            self.replaced(old, Live(updated.physical_id, new_spec), roll_back, cleanup_fault)

        @precondition(lambda self: self.live is not None)
        @rule(fault=delete_faults, retried=st.booleans())
        def delete(self, fault: tuple[str, int] | None, retried: bool) -> None:
            """Delete; ``retried``: the same event delivered twice."""
            self.step("delete:retried" if retried else "delete")
            live = self.live
            assert live is not None
            with self.fault(fault):
                succeeded(cfn.delete(live.physical_id, live.spec.props(), times=2 if retried else 1), "Delete")
            self.deleted(live.spec)
            self.live = None

        @precondition(lambda self: self.live is not None)
        @rule(mode=st.sampled_from(FAILED_UPDATES))
        def failed_update(self, mode: str) -> None:
            """An Update that fails, then CloudFormation's rollback: an Update back to the old properties (the
            failed attempt's properties as OldResourceProperties) on the PhysicalResourceId it still knows."""
            self.step(f"failed-update:{mode}")
            old = self.live
            assert old is not None
            change, trouble = mode.split(":", 1)
            new_spec = replace(old.spec, servers=(old.spec.servers + 1) % len(SERVER_SETS))
            if change == "replacing":
                new_spec = replace(new_spec, name=NAMES[(NAMES.index(old.spec.name) + 1) % len(NAMES)])
            new_props = new_spec.props()
            if trouble == "invalid-properties":
                new_props["NameServers"] = []
            elif trouble == "persistent-throttling":
                self.faults.fail(CHANGE, route53_error("Throttling", "Rate exceeded"), times=OUTAGE)
            elif trouble == "zone-lookup-unreachable":
                self.faults.fail_network("route53.ListHostedZonesByName", "connect-timeout", times=OUTAGE)
            else:  # every change is applied, every answer lost; neither the read-back nor a clean-up gets through
                self.commit_then_unknown(trouble, OUTAGE)
            (failed,) = cfn.update(old.physical_id, new_props, old.spec.props())
            self.faults.drop_plans()  # the trouble is over by the time CloudFormation rolls back
            assert failed.status == "FAILED", f"{mode}: the Update should fail"
            assert failed.physical_id == old.physical_id
            if trouble.startswith("commit-then-"):
                self.written(new_spec)  # committed, whatever the answers said
                assert self.zone_records().get(new_spec.name) == new_spec.record, "the lost answers hid a write"
            back = succeeded(cfn.update(old.physical_id, old.spec.props(), new_props), "rollback Update")
            assert back.physical_id == old.physical_id
            self.written(old.spec, back.data)
            if trouble.startswith("commit-then-") and change == "replacing":
                # CloudFormation never hears of the new record, and the failed Update could not reach Route 53 to
                # remove it: the rollback's Update, whose OldResourceProperties name it, does.
                self.deleted(new_spec)

        @precondition(lambda self: self.live is not None)
        @rule(kind=st.sampled_from(FOREIGN_CHANGES))
        def foreign_change(self, kind: str) -> None:
            """Someone else changes (or removes) the delegation in Platform Root between two operations."""
            self.step(f"foreign-change:{kind}")
            live = self.live
            assert live is not None
            name = live.spec.name
            if kind == "removed":
                found = [r for r in self.raw_ns_records() if r["Name"].rstrip(".") == name]
                if not found:
                    return
                change = {"Action": "DELETE", "ResourceRecordSet": found[0]}  # verbatim: a DELETE must match exactly
                self.expected.pop(name, None)
            else:
                if kind == "other-servers":
                    ttl, values = 300, frozenset(FOREIGN_SERVERS)
                else:
                    ttl, values = FOREIGN_TTL, live.spec.record[1]
                rrset = {
                    "Name": name,
                    "Type": "NS",
                    "TTL": ttl,
                    "ResourceRecords": [{"Value": v} for v in sorted(values)],
                }
                change = {"Action": "UPSERT", "ResourceRecordSet": rrset}
                self.expected[name] = (ttl, values)
            self.root_r53.change_resource_record_sets(HostedZoneId=self.zone_id, ChangeBatch={"Changes": [change]})

        # -- invariants ------------------------------------------------------------------------------------
        @invariant()
        def parent_zone_holds_exactly_the_model(self) -> None:
            assert self.zone_records() == self.expected

        @invariant()
        def no_fault_is_left_behind(self) -> None:
            assert not any(self.faults._plans.values())

    return NsDelegationSequences


@pytest.fixture
def sequences(events, receiver) -> Iterator[Sequences]:
    stats, examples = SequenceStats(), OpenExamples()
    cfn = CloudFormation(
        load_function_module("ns_delegation").handler, events, receiver, RESOURCE_TYPE, LOGICAL_ID, stats
    )
    yield Sequences(bind_machine(cfn, examples), stats)
    examples.close_all()


@pytest.mark.timeout(420)  # a failure is shrunk for up to 300 s (Hypothesis' limit): let it report the minimal case
def test_ns_delegation_lifecycle_sequences(sequences):
    """Random sequences: every invariant after every step."""
    started = time.monotonic()
    run_state_machine_as_test(sequences.machine, settings=SETTINGS)
    stats = sequences.stats
    print(f"Custom::NsDelegation sequences: {stats.summary()} in {time.monotonic() - started:.1f} s")
    # Hypothesis enables a random subset of the rules in each example (swarm testing), so single variants may be
    # missed by a run; every kind of operation may not (the scripted sequence below covers every variant).
    kinds = {"create", "failed-create", "update-servers-ttl", "update-name", "delete", "failed-update"}
    kinds |= {"foreign-change"}
    assert kinds <= stats.kinds(), f"never exercised: {kinds - stats.kinds()}"
    assert stats.faults, "no fault was ever consumed"


def run_invariants(machine: RuleBasedStateMachine) -> None:
    machine.parent_zone_holds_exactly_the_model()
    machine.no_fault_is_left_behind()


def test_a_scripted_sequence_exercises_every_rule_failure_and_fault(sequences):
    """The same machine, rules and invariants, driven through a fixed sequence that visits every variant of every
    rule and consumes every fault, so their coverage never depends on what the random runs happened to draw."""
    machine = sequences.machine()
    first = Spec(NAMES[0], 0)
    try:
        run_invariants(machine)
        steps = [lambda: machine.create(spec=first, fault=None, retried=False, failure=None)]
        for index, name in enumerate(sorted(TRANSIENT_FAULTS)):
            times = 1 + index % MAX_TRANSIENT_REPEATS
            steps += [
                lambda name=name, index=index, times=times: machine.update_servers_or_ttl(
                    servers=(index + 1) % len(SERVER_SETS), ttl=TTLS[index % len(TTLS)], fault=(name, times)
                ),
                lambda name=name, index=index: machine.update_delegated_name(
                    offset=1,
                    servers=index % len(SERVER_SETS),
                    fault=(name, 1),
                    roll_back=index % 2 == 0,
                    cleanup_fault=(name, 1),
                ),
            ]
        for index, name in enumerate(OUTAGE_FAULTS):
            steps += [
                lambda name=name, index=index: machine.update_servers_or_ttl(
                    servers=index % len(SERVER_SETS), ttl=TTLS[(index + 1) % len(TTLS)], fault=(name, OUTAGE)
                ),
                lambda name=name, index=index: machine.update_delegated_name(
                    offset=1,
                    servers=(index + 2) % len(SERVER_SETS),
                    fault=(name, OUTAGE),
                    roll_back=index % 2 == 1,
                    cleanup_fault=(name, OUTAGE),
                ),
            ]
        steps += [
            lambda: machine.delete(fault=("read-timeouts-after-commit", OUTAGE), retried=False),
            lambda: machine.create(spec=first, fault=("answers-lost-after-commit", OUTAGE), retried=True, failure=None),
            lambda: machine.delete(fault=("invalid-change-batch-on-delete", 1), retried=True),
            # A foreign owner's change survives the Delete; the next Create takes the record over again.
            lambda: machine.create(spec=first, fault=("throttling-on-assume-role", 2), retried=True, failure=None),
            lambda: machine.foreign_change(kind="other-servers"),
            lambda: machine.delete(fault=None, retried=False),
            lambda: machine.create(spec=first, fault=None, retried=False, failure=None),
            lambda: machine.foreign_change(kind="ttl-only"),
            lambda: machine.update_servers_or_ttl(servers=1, ttl=None, fault=None),
            lambda: machine.foreign_change(kind="removed"),
            lambda: machine.delete(fault=("throttling-on-read", 1), retried=False),
        ]
        steps += [
            lambda mode=mode: machine.create(spec=first, fault=None, retried=False, failure=mode)
            for mode in FAILED_CREATES
        ]
        steps.append(lambda: machine.create(spec=first, fault=None, retried=False, failure=None))
        steps += [lambda mode=mode: machine.failed_update(mode=mode) for mode in FAILED_UPDATES]
        steps.append(lambda: machine.delete(fault=("500-after-commit", 2), retried=False))
        for step in steps:
            step()
            run_invariants(machine)
    finally:
        machine.teardown()
    stats = sequences.stats
    print(f"Custom::NsDelegation scripted sequence: {stats.summary()}")
    variants = {"create", "create:retried", "update-servers-ttl", "update-name", "update-name:rollback", "delete"}
    variants |= {"delete:retried"}
    variants |= {f"failed-create:{mode}" for mode in FAILED_CREATES}
    variants |= {f"failed-update:{mode}" for mode in FAILED_UPDATES}
    variants |= {f"foreign-change:{kind}" for kind in FOREIGN_CHANGES}
    assert variants <= set(stats.rules), f"never exercised: {variants - set(stats.rules)}"
    assert {"rollback-delete-of-placeholder", "rollback-delete-of-real-id"} <= set(stats.outcomes)
    assert set(stats.faults) >= ALL_FAULT_NAMES, f"never consumed: {ALL_FAULT_NAMES - set(stats.faults)}"

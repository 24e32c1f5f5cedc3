"""``Custom::NsDelegation`` end to end: the real handler, the real custom-resource protocol, moto in two accounts.

The handler runs with the partition account's credentials (moto's default account) and assumes
``DelegationRoleArn`` in the Platform Root account, where the parent zone lives; moto keeps the two accounts'
Route 53 data apart, so each test can check that the record landed in the Platform Root zone only. The response
is what the handler PUTs to the ResponseURL (a loopback HTTPS receiver). Faults are real-shaped AWS error
responses, or botocore's own network exceptions (a connection refused, timed out or closed, possibly after AWS
executed the request), injected at botocore's transport, so botocore's own retry logic handles them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from moto import mock_aws
from support.aws import (
    NETWORK_FAULTS,
    PARTITION_ACCOUNT,
    PLATFORM_ROOT_ACCOUNT,
    REQUEST_SENT_FAULTS,
    FaultInjector,
    RecordedSleep,
    client_in,
    injected_faults,
    record_retry_sleeps,
    route53_error,
    sts_error,
)

from arda_mail.aws_sessions import MAX_ATTEMPTS
from arda_mail.placement import MAIL_ROOT_DOMAIN, ROOT_DELEGATION_ROLE_NAME, partition_placement
from arda_ops.cfn_protocol import invoke
from arda_ops.handlers import load_function_module

RESOURCE_TYPE = "Custom::NsDelegation"
LOGICAL_ID = "NsDelegation"
ROLE_ARN = f"arn:aws:iam::{PLATFORM_ROOT_ACCOUNT}:role/{ROOT_DELEGATION_ROLE_NAME}"
DEV = partition_placement("dev")
DELEGATED = DEV.mail.mail_domain
NAME_SERVERS = ["ns-2048.awsdns-64.com", "ns-2049.awsdns-65.net", "ns-2050.awsdns-66.org", "ns-2051.awsdns-67.co.uk"]
RENAMED = f"mail.{DELEGATED}"
OTHER_NAME_SERVERS = ["ns-1.awsdns-01.org", "ns-2.awsdns-02.co.uk", "ns-3.awsdns-03.com", "ns-4.awsdns-04.net"]
CHANGE = "route53.ChangeResourceRecordSets"
READ = "route53.ListResourceRecordSets"
#: Ways a change request reaches Route 53, is applied, and its answer never arrives (every attempt botocore makes).
LOST_ANSWERS = {
    "500": lambda faults, op: faults.fail(
        op, route53_error("InternalFailure", "boom", 500), commit=True, times=MAX_ATTEMPTS
    ),
    **{
        kind: (lambda faults, op, kind=kind: faults.fail_network(op, kind, commit=True, times=MAX_ATTEMPTS))
        for kind in sorted(REQUEST_SENT_FAULTS)
    },
}
#: Route 53's answer to an UPSERT it accepted but has not propagated yet (moto always answers INSYNC).
PENDING_ANSWER = (
    200,
    b'<?xml version="1.0"?><ChangeResourceRecordSetsResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
    b"<ChangeInfo><Id>/change/C0PENDING</Id><Status>PENDING</Status><SubmittedAt>2026-01-01T00:00:00.000Z"
    b"</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>",
)


@dataclass
class World:
    """The partition account (the handler's own credentials) and Platform Root (the parent zone's account)."""

    handler: Any
    events: Any
    receiver: Any
    faults: FaultInjector
    sleeps: RecordedSleep
    root_r53: Any
    partition_r53: Any
    zone_id: str = ""

    def create_parent_zone(self) -> str:
        """The mail-root zone in Platform Root, and the partition's own sub-zone in the partition account."""
        self.partition_r53.create_hosted_zone(Name=DELEGATED, CallerReference="sub-zone")
        zone = self.root_r53.create_hosted_zone(Name=MAIL_ROOT_DOMAIN, CallerReference="root")["HostedZone"]
        self.zone_id = zone["Id"].rsplit("/", 1)[-1]
        return self.zone_id

    def send(self, event):
        # A long Lambda budget: botocore's deadline guard then never cuts the retries short, however busy the
        # machine, so a fault planned for MAX_ATTEMPTS attempts is consumed by exactly one call.
        return invoke(self.handler, event, self.receiver, timeout_ms=120_000)

    def create(self, **overrides):
        return self.send(self.events.create(RESOURCE_TYPE, LOGICAL_ID, props(**overrides)))

    def update(self, physical_id, new_props, old_props):
        return self.send(self.events.update(RESOURCE_TYPE, LOGICAL_ID, physical_id, new_props, old_props))

    def delete(self, physical_id, old_props):
        return self.send(self.events.delete(RESOURCE_TYPE, LOGICAL_ID, physical_id, old_props))

    def record(self, name=DELEGATED, client=None):
        """(TTL, sorted values) of the NS record ``name`` in the parent zone, or None."""
        client = client or self.root_r53
        page = client.list_resource_record_sets(HostedZoneId=self.zone_id, StartRecordName=name, StartRecordType="NS")
        for rrset in page["ResourceRecordSets"]:
            if rrset["Name"].rstrip(".") == name and rrset["Type"] == "NS":
                return rrset["TTL"], sorted(r["Value"].rstrip(".") for r in rrset["ResourceRecords"])
        return None

    def overwrite(self, values, ttl):
        """Another owner rewrites the delegation directly in Platform Root."""
        self.root_r53.change_resource_record_sets(
            HostedZoneId=self.zone_id,
            ChangeBatch={
                "Changes": [
                    {
                        "Action": "UPSERT",
                        "ResourceRecordSet": {
                            "Name": DELEGATED,
                            "Type": "NS",
                            "TTL": ttl,
                            "ResourceRecords": [{"Value": v} for v in values],
                        },
                    }
                ]
            },
        )


@pytest.fixture(scope="module")
def handler():
    return load_function_module("ns_delegation").handler


@pytest.fixture
def bare(handler, events, receiver, monkeypatch):
    """Both accounts, no zone yet. The test's own clients exist before the fault injector, so it sees the handler's
    calls only."""
    with mock_aws():
        root_r53 = client_in(PLATFORM_ROOT_ACCOUNT, "route53")
        partition_r53 = client_in(PARTITION_ACCOUNT, "route53")
        with injected_faults(monkeypatch) as faults:
            yield World(
                handler=handler,
                events=events,
                receiver=receiver,
                faults=faults,
                sleeps=record_retry_sleeps(monkeypatch),
                root_r53=root_r53,
                partition_r53=partition_r53,
            )


@pytest.fixture
def world(bare):
    """Both accounts, with the parent zone in Platform Root."""
    bare.create_parent_zone()
    return bare


def props(**overrides):
    base = {
        "DelegatedZoneName": DELEGATED,
        "NameServers": NAME_SERVERS,
        "ParentZoneName": MAIL_ROOT_DOMAIN,
        "DelegationRoleArn": ROLE_ARN,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def warnings(caplog, message):
    return [r for r in caplog.records if r.levelname == "WARNING" and r.getMessage() == message]


# -- Create -------------------------------------------------------------------------------------------------------


def test_create_writes_the_record_in_platform_root_only(world):
    response = world.create()

    assert response.status == "SUCCESS", response.reason
    assert response.physical_id == f"{world.zone_id}/{DELEGATED}/NS"
    assert response.data == {
        "RecordName": DELEGATED,
        "ParentZoneId": world.zone_id,
        "ParentZoneName": MAIL_ROOT_DOMAIN,
        "NameServers": ",".join(NAME_SERVERS),
        "Ttl": "172800",
        "ChangeId": response.data["ChangeId"],
        "ChangeStatus": "INSYNC",
    }
    assert world.record() == (172800, sorted(NAME_SERVERS))
    # The partition account holds only its own sub-zone; the parent zone and the record are in Platform Root.
    assert [z["Name"] for z in world.partition_r53.list_hosted_zones()["HostedZones"]] == [f"{DELEGATED}."]
    assert [z["Name"] for z in world.root_r53.list_hosted_zones()["HostedZones"]] == [f"{MAIL_ROOT_DOMAIN}."]


def test_create_assumes_the_role_with_a_session_naming_stack_and_resource(world):
    assert world.create().status == "SUCCESS"

    (assume,) = world.faults.requests("sts.AssumeRole")
    assert assume["RoleArn"] == ROLE_ARN
    assert assume["RoleSessionName"] == f"{DEV.stack_name}-{LOGICAL_ID}"
    assert assume["DurationSeconds"] == "900"
    # Record names go out lower case without the trailing dot: the form IAM's NormalizedRecordNames compares.
    (change,) = world.faults.requests("route53.ChangeResourceRecordSets")
    assert f"<Name>{DELEGATED}</Name>" in change["body"]
    assert "<Action>UPSERT</Action>" in change["body"]


def test_create_api_calls(world):
    assert world.create().status == "SUCCESS"
    # moto answers INSYNC at once, so no GetChange here; real Route 53 adds one GetChange per poll.
    assert world.faults.sequence() == [
        "sts.AssumeRole",
        "route53.ListHostedZonesByName",
        "route53.ListResourceRecordSets",
        "route53.ChangeResourceRecordSets",
    ]


def test_create_retried_is_idempotent(world):
    first = world.create()
    second = world.create()

    assert (first.status, second.status) == ("SUCCESS", "SUCCESS")
    assert first.physical_id == second.physical_id
    records = world.root_r53.list_resource_record_sets(HostedZoneId=world.zone_id)["ResourceRecordSets"]
    assert [r["Name"] for r in records if r["Type"] == "NS"].count(f"{DELEGATED}.") == 1


def test_create_by_parent_zone_id(world):
    response = world.create(ParentZoneName=None, ParentZoneId=f"/hostedzone/{world.zone_id}")

    assert response.status == "SUCCESS", response.reason
    assert response.physical_id == f"{world.zone_id}/{DELEGATED}/NS"
    assert (world.faults.calls["route53.GetHostedZone"], world.faults.calls["route53.ListHostedZonesByName"]) == (1, 0)
    assert world.record() == (172800, sorted(NAME_SERVERS))


def test_create_in_the_same_account_without_a_role(bare):
    bare.zone_id = bare.partition_r53.create_hosted_zone(Name=MAIL_ROOT_DOMAIN, CallerReference="same")["HostedZone"][
        "Id"
    ].rsplit("/", 1)[-1]

    response = bare.create(DelegationRoleArn=None)

    assert response.status == "SUCCESS", response.reason
    assert bare.faults.calls["sts.AssumeRole"] == 0
    assert bare.record(client=bare.partition_r53) == (172800, sorted(NAME_SERVERS))


def test_create_ignores_a_private_zone_with_the_parent_name(world):
    world.root_r53.create_hosted_zone(
        Name=MAIL_ROOT_DOMAIN,
        CallerReference="private",
        HostedZoneConfig={"PrivateZone": True},
        VPC={"VPCRegion": "us-east-1", "VPCId": "vpc-12345678"},
    )

    response = world.create()

    assert response.status == "SUCCESS", response.reason
    assert response.physical_id.startswith(f"{world.zone_id}/")


def test_create_overwrites_a_foreign_record_and_logs_what_it_replaced(world, caplog):
    world.overwrite(OTHER_NAME_SERVERS, 300)

    response = world.create()

    assert response.status == "SUCCESS", response.reason
    assert world.record() == (172800, sorted(NAME_SERVERS))
    (warning,) = warnings(caplog, "Replacing an NS record with different values")
    assert warning.previous == f"TTL 300, {', '.join(sorted(OTHER_NAME_SERVERS))}"


# -- Update -------------------------------------------------------------------------------------------------------


def test_update_of_name_servers_and_ttl_keeps_the_physical_id(world, caplog):
    created = world.create()

    response = world.update(created.physical_id, props(NameServers=OTHER_NAME_SERVERS, Ttl="3600"), props())

    assert response.status == "SUCCESS", response.reason
    assert response.physical_id == created.physical_id
    assert response.data["Ttl"] == "3600"
    assert world.record() == (3600, sorted(OTHER_NAME_SERVERS))
    assert not [r for r in caplog.records if r.levelname == "WARNING"]  # its own record: nothing to warn about


def test_update_over_a_foreign_change_restores_the_declared_values_and_warns(world, caplog):
    created = world.create()
    world.overwrite(["ns-9.example.net"], 300)

    response = world.update(created.physical_id, props(Ttl="3600"), props())

    assert response.status == "SUCCESS", response.reason
    assert world.record() == (3600, sorted(NAME_SERVERS))
    (warning,) = warnings(caplog, "Replacing an NS record with different values")
    assert warning.previous == "TTL 300, ns-9.example.net"


def test_update_of_the_delegated_name_replaces_and_cleanup_deletes_the_old_record(world):
    created = world.create()
    new_props = props(DelegatedZoneName=RENAMED, NameServers=OTHER_NAME_SERVERS)

    updated = world.update(created.physical_id, new_props, props())

    assert updated.status == "SUCCESS", updated.reason
    assert updated.physical_id == f"{world.zone_id}/{RENAMED}/NS"
    # Until CloudFormation's cleanup both exist: a rollback would still find the old delegation intact.
    assert world.record() == (172800, sorted(NAME_SERVERS))
    assert world.record(RENAMED) == (172800, sorted(OTHER_NAME_SERVERS))

    cleanup = world.delete(created.physical_id, props())  # CloudFormation sends the OLD properties

    assert (cleanup.status, cleanup.physical_id) == ("SUCCESS", created.physical_id)
    assert world.record() is None
    assert world.record(RENAMED) == (172800, sorted(OTHER_NAME_SERVERS))


def test_update_rollback_after_a_replacement_restores_the_old_state(world):
    created = world.create()
    new_props = props(DelegatedZoneName=RENAMED)
    updated = world.update(created.physical_id, new_props, props())
    # The stack fails later: CloudFormation rolls the resource back to the old properties, then cleans up the new one.
    rollback = world.update(updated.physical_id, props(), new_props)
    cleanup = world.delete(updated.physical_id, new_props)

    assert (rollback.status, rollback.physical_id) == ("SUCCESS", created.physical_id)
    assert cleanup.status == "SUCCESS"
    assert world.record() == (172800, sorted(NAME_SERVERS))
    assert world.record(RENAMED) is None


@pytest.mark.parametrize("lost", sorted(LOST_ANSWERS))
def test_a_replacing_update_whose_answers_are_lost_reads_the_record_back(world, lost, caplog):
    """Every UPSERT attempt is applied and its answer lost: the record read back holds the declared values, so
    the Update succeeds with the new ID and CloudFormation's cleanup removes the old record."""
    created = world.create()
    LOST_ANSWERS[lost](world.faults, CHANGE)

    response = world.update(created.physical_id, props(DelegatedZoneName=RENAMED), props())

    assert response.status == "SUCCESS", response.reason
    assert response.physical_id == f"{world.zone_id}/{RENAMED}/NS"
    assert (response.data["ChangeId"], response.data["ChangeStatus"]) == ("UNKNOWN", "UNKNOWN")
    assert world.faults.calls[CHANGE] == 1 + MAX_ATTEMPTS
    assert warnings(caplog, "The UPSERT's answer was lost, but the record holds the declared values")
    cleanup = world.delete(created.physical_id, props())
    assert cleanup.status == "SUCCESS"
    assert (world.record(), world.record(RENAMED)) == (None, (172800, sorted(NAME_SERVERS)))


@pytest.mark.parametrize("lost", sorted(LOST_ANSWERS))
def test_a_failed_replacing_update_removes_what_it_wrote(world, lost):
    """The UPSERT is applied, its answers are lost, and the read-back is unanswered too: the Update fails, and
    removes the record it cannot prove it did not write (CloudFormation never hears of the new ID)."""
    created = world.create()
    LOST_ANSWERS[lost](world.faults, CHANGE)
    world.faults.let_through(READ)  # the read before the UPSERT
    world.faults.fail_network(READ, "read-timeout", times=MAX_ATTEMPTS)  # the read-back after it

    response = world.update(created.physical_id, props(DelegatedZoneName=RENAMED), props())

    assert response.status == "FAILED"
    assert response.physical_id == created.physical_id
    assert response.reason.startswith(f"UPSERT NS {RENAMED} in {world.zone_id} failed: ")
    assert "http" not in response.reason
    assert world.record(RENAMED) is None  # CloudFormation never hears of it, so nothing else would delete it
    assert world.record() == (172800, sorted(NAME_SERVERS))
    rollback = world.update(created.physical_id, props(), props(DelegatedZoneName=RENAMED))
    assert (rollback.status, rollback.physical_id) == ("SUCCESS", created.physical_id)
    assert world.record() == (172800, sorted(NAME_SERVERS))


def test_the_rollback_update_removes_what_a_failed_replacing_update_could_not(world, caplog):
    """Route 53 applies the renamed record, then stays unreachable for every read the failed Update makes (its
    read-back and its own clean-up): the record is left. CloudFormation's rollback Update carries the failed
    attempt's properties as OldResourceProperties, and removes it."""
    created = world.create()
    world.faults.fail_network(CHANGE, "read-timeout", commit=True, times=MAX_ATTEMPTS)
    world.faults.let_through(READ)
    world.faults.fail_network(READ, "connect-timeout", times=2 * MAX_ATTEMPTS)  # read-back, clean-up's read

    failed = world.update(created.physical_id, props(DelegatedZoneName=RENAMED), props())

    assert (failed.status, failed.physical_id) == ("FAILED", created.physical_id)
    assert world.record(RENAMED) == (172800, sorted(NAME_SERVERS))  # could not be removed yet
    assert warnings(caplog, "Could not clean up after the failed update; the rollback's Update retries it")

    rollback = world.update(created.physical_id, props(), props(DelegatedZoneName=RENAMED))

    assert (rollback.status, rollback.physical_id) == ("SUCCESS", created.physical_id)
    assert world.record(RENAMED) is None
    assert world.record() == (172800, sorted(NAME_SERVERS))
    (warning,) = warnings(caplog, "Removed the NS record a failed update had left behind")
    assert warning.record == RENAMED


def test_a_rollback_update_leaves_a_foreign_record_at_the_failed_attempts_name(world):
    created = world.create()
    world.faults.fail("sts.AssumeRole", sts_error("AccessDenied", "not authorized"))
    failed = world.update(created.physical_id, props(DelegatedZoneName=RENAMED), props())
    assert failed.status == "FAILED"
    # Someone else's record at that name, with other name servers: not this resource's to remove.
    foreign = {"Name": RENAMED, "Type": "NS", "TTL": 300, "ResourceRecords": [{"Value": OTHER_NAME_SERVERS[0]}]}
    world.root_r53.change_resource_record_sets(
        HostedZoneId=world.zone_id, ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": foreign}]}
    )

    rollback = world.update(created.physical_id, props(), props(DelegatedZoneName=RENAMED))

    assert rollback.status == "SUCCESS"
    assert world.record(RENAMED) == (300, [OTHER_NAME_SERVERS[0]])


def test_ordinary_updates_make_no_extra_call(world):
    created = world.create()
    world.faults.log.clear()

    in_place = world.update(created.physical_id, props(Ttl="3600"), props())
    renamed = world.update(created.physical_id, props(DelegatedZoneName=RENAMED), props(Ttl="3600"))

    assert (in_place.status, renamed.status) == ("SUCCESS", "SUCCESS")
    assert (
        world.faults.sequence()
        == [
            "sts.AssumeRole",
            "route53.ListHostedZonesByName",
            "route53.ListResourceRecordSets",
            "route53.ChangeResourceRecordSets",
        ]
        * 2
    )


# -- Delete -------------------------------------------------------------------------------------------------------


def test_delete_removes_the_record(world):
    created = world.create()
    world.faults.log.clear()

    response = world.delete(created.physical_id, props())

    assert (response.status, response.physical_id) == ("SUCCESS", created.physical_id)
    assert world.record() is None
    assert world.faults.sequence() == [
        "sts.AssumeRole",
        "route53.ListResourceRecordSets",
        "route53.ChangeResourceRecordSets",
    ]
    assert "<Action>DELETE</Action>" in world.faults.requests("route53.ChangeResourceRecordSets")[0]["body"]


def test_delete_ignores_properties_this_version_does_not_know(world):
    # After a code downgrade the stack may hold a property the older handler does not know: never a blocker.
    created = world.create()

    response = world.delete(created.physical_id, {**props(), "FutureProperty": "x"})

    assert response.status == "SUCCESS", response.reason
    assert world.record() is None


def test_delete_when_already_gone(world):
    created = world.create()
    first = world.delete(created.physical_id, props())
    world.faults.log.clear()

    again = world.delete(created.physical_id, props())

    assert (first.status, again.status) == ("SUCCESS", "SUCCESS")
    assert world.faults.sequence() == ["sts.AssumeRole", "route53.ListResourceRecordSets"]


def test_delete_leaves_a_record_another_owner_changed(world, caplog):
    created = world.create()
    world.overwrite(OTHER_NAME_SERVERS, 172800)

    response = world.delete(created.physical_id, props())

    assert response.status == "SUCCESS", response.reason
    assert world.record() == (172800, sorted(OTHER_NAME_SERVERS))
    (warning,) = warnings(caplog, "NS record changed by another owner: left in place")
    assert warning.found == f"TTL 172800, {', '.join(sorted(OTHER_NAME_SERVERS))}"


def test_delete_removes_its_own_record_whose_ttl_was_edited(world, caplog):
    """Ours = the same name servers, whatever the TTL; Route 53 deletes only an exact match, so the DELETE carries
    the record's current TTL (60), not the declared one."""
    created = world.create()
    world.overwrite([n.upper() + "." for n in reversed(NAME_SERVERS)], 60)  # a hand edit of the TTL
    world.faults.log.clear()

    response = world.delete(created.physical_id, props())

    assert response.status == "SUCCESS", response.reason
    assert world.record() is None
    (change,) = world.faults.requests(CHANGE)
    assert "<Action>DELETE</Action>" in change["body"]
    assert "<TTL>60</TTL>" in change["body"]
    assert not warnings(caplog, "NS record changed by another owner: left in place")


def test_delete_leaves_a_record_with_one_name_server_different(world, caplog):
    created = world.create()
    changed = [*NAME_SERVERS[:3], "ns-9.example.net"]
    world.overwrite(changed, 172800)

    response = world.delete(created.physical_id, props())

    assert response.status == "SUCCESS", response.reason
    assert world.record() == (172800, sorted(changed))
    (warning,) = warnings(caplog, "NS record changed by another owner: left in place")
    assert warning.found == f"TTL 172800, {', '.join(sorted(changed))}"
    assert world.faults.calls[CHANGE] == 1  # the Create's UPSERT only: no DELETE was sent


def test_delete_matches_name_servers_as_a_set_ignoring_case_and_dots(world):
    created = world.create()
    shuffled = [n.upper() + "." for n in reversed(NAME_SERVERS)]

    response = world.delete(created.physical_id, props(NameServers=shuffled))

    assert response.status == "SUCCESS", response.reason
    assert world.record() is None


def test_delete_after_a_failed_create_makes_no_call(bare):
    failed = bare.create()  # no parent zone exists: Create fails before any write
    assert failed.status == "FAILED"
    bare.faults.log.clear()

    response = bare.delete(failed.physical_id, props())

    assert (response.status, response.physical_id) == ("SUCCESS", failed.physical_id)
    assert bare.faults.sequence() == []


@pytest.mark.parametrize("lost", sorted(LOST_ANSWERS))
def test_a_create_whose_answers_are_lost_but_whose_record_is_written_succeeds(world, lost, caplog):
    LOST_ANSWERS[lost](world.faults, CHANGE)

    response = world.create()

    assert response.status == "SUCCESS", response.reason
    assert response.physical_id == f"{world.zone_id}/{DELEGATED}/NS"
    assert (response.data["ChangeId"], response.data["ChangeStatus"]) == ("UNKNOWN", "UNKNOWN")
    assert world.record() == (172800, sorted(NAME_SERVERS))
    assert warnings(caplog, "The UPSERT's answer was lost, but the record holds the declared values")


@pytest.mark.parametrize("lost", sorted(LOST_ANSWERS))
def test_a_create_that_fails_after_committing_names_the_record_so_rollback_deletes_it(world, lost):
    LOST_ANSWERS[lost](world.faults, CHANGE)
    world.faults.let_through(READ)
    world.faults.fail_network(READ, "connection-closed", times=MAX_ATTEMPTS)  # the read-back is lost too

    failed = world.create()

    assert failed.status == "FAILED"
    assert failed.physical_id == f"{world.zone_id}/{DELEGATED}/NS"
    assert failed.reason.startswith(f"UPSERT NS {DELEGATED} in {world.zone_id} failed: ")
    assert world.record() is not None  # the lost answer hid a committed write
    world.faults.drop_plans()  # Route 53 answers again by the time CloudFormation rolls back
    rollback = world.delete(failed.physical_id, props())
    assert rollback.status == "SUCCESS"
    assert world.record() is None


@pytest.mark.parametrize("kind", sorted(NETWORK_FAULTS))
def test_a_create_whose_get_change_is_unreachable_succeeds(world, kind, caplog):
    """The UPSERT is answered PENDING, then every GetChange fails on the network: the record is committed, so the
    Create answers SUCCESS with ChangeStatus UNKNOWN (FAILED would roll back a delegation about to work)."""
    world.faults.fail(CHANGE, PENDING_ANSWER, commit=True)
    world.faults.fail_network("route53.GetChange", kind, times=MAX_ATTEMPTS)

    response = world.create()

    assert response.status == "SUCCESS", response.reason
    assert (response.data["ChangeId"], response.data["ChangeStatus"]) == ("C0PENDING", "UNKNOWN")
    assert world.faults.calls["route53.GetChange"] == MAX_ATTEMPTS
    assert world.record() == (172800, sorted(NAME_SERVERS))
    (warning,) = warnings(caplog, "Could not confirm INSYNC; the change is committed")
    assert warning.error.startswith("GetChange C0PENDING failed: ")


@pytest.mark.parametrize("kind", sorted(NETWORK_FAULTS))
def test_a_create_that_cannot_reach_route53_before_writing_fails_with_the_placeholder(world, kind):
    world.faults.fail_network("route53.ListHostedZonesByName", kind, times=MAX_ATTEMPTS)

    failed = world.create()

    assert failed.status == "FAILED"
    assert "/" not in failed.physical_id  # crhelper's placeholder: nothing was written
    assert failed.reason.startswith(f"ListHostedZonesByName {MAIL_ROOT_DOMAIN} failed: ")
    assert world.faults.calls[CHANGE] == 0
    world.faults.log.clear()
    assert world.delete(failed.physical_id, props()).status == "SUCCESS"
    assert world.faults.sequence() == []


def test_a_create_whose_assume_role_is_unreachable_fails_before_any_write(world):
    world.faults.fail_network("sts.AssumeRole", "endpoint-connection", times=MAX_ATTEMPTS)

    failed = world.create()

    assert failed.status == "FAILED"
    assert "/" not in failed.physical_id
    assert world.faults.calls[CHANGE] == 0
    assert world.record() is None


@pytest.mark.parametrize("lost", sorted(LOST_ANSWERS))
def test_a_delete_whose_answers_are_lost_reads_the_record_again(world, lost):
    created = world.create()
    LOST_ANSWERS[lost](world.faults, CHANGE)

    response = world.delete(created.physical_id, props())

    assert response.status == "SUCCESS", response.reason
    assert world.record() is None


def test_a_delete_that_cannot_reach_route53_fails_and_a_retry_succeeds(world):
    created = world.create()
    world.faults.fail_network(READ, "connect-timeout", times=MAX_ATTEMPTS)

    failed = world.delete(created.physical_id, props())

    assert failed.status == "FAILED"  # never SUCCESS while the record may still be there
    assert failed.reason.startswith(f"ListResourceRecordSets {DELEGATED} in {world.zone_id} failed: ")
    assert world.record() == (172800, sorted(NAME_SERVERS))
    assert world.delete(created.physical_id, props()).status == "SUCCESS"
    assert world.record() is None


def test_delete_when_the_parent_zone_is_gone(world, caplog):
    created = world.create()
    world.root_r53.delete_hosted_zone(Id=world.zone_id)

    response = world.delete(created.physical_id, props())

    assert response.status == "SUCCESS", response.reason
    assert warnings(caplog, "Parent zone no longer exists: nothing to delete")


# -- the parent zone ----------------------------------------------------------------------------------------------


def test_parent_zone_not_found(bare):
    response = bare.create()

    assert response.status == "FAILED"
    assert response.reason == f"no public hosted zone named {MAIL_ROOT_DOMAIN} is visible to role {ROLE_ARN}"


def test_parent_zone_id_not_found(world):
    response = world.create(ParentZoneName=None, ParentZoneId="ZNOSUCHZONE1")

    assert response.status == "FAILED"
    assert response.reason == f"parent zone ZNOSUCHZONE1 not found (as role {ROLE_ARN})"


def test_ambiguous_parent_zone(world):
    second = world.root_r53.create_hosted_zone(Name=MAIL_ROOT_DOMAIN, CallerReference="second")["HostedZone"]["Id"]

    response = world.create()

    assert response.status == "FAILED"
    assert response.reason.startswith(f"2 public hosted zones are named {MAIL_ROOT_DOMAIN} (")
    assert second.rsplit("/", 1)[-1] in response.reason
    assert response.reason.endswith("set ParentZoneId instead of ParentZoneName")
    assert world.record() is None


def test_delegated_name_outside_the_parent_zone_given_by_id(world):
    response = world.create(DelegatedZoneName="dev.example.org", ParentZoneName=None, ParentZoneId=world.zone_id)

    assert response.status == "FAILED"
    assert response.reason == (
        "DelegatedZoneName dev.example.org is not a strict sub-domain of the parent zone "
        f"{MAIL_ROOT_DOMAIN} ({world.zone_id})"
    )
    assert world.faults.calls["route53.ChangeResourceRecordSets"] == 0


def test_delegated_name_outside_the_parent_zone_given_by_name_fails_before_any_call(world):
    response = world.create(DelegatedZoneName=MAIL_ROOT_DOMAIN)

    assert response.status == "FAILED"
    assert response.reason == (
        f"Invalid properties: DelegatedZoneName {MAIL_ROOT_DOMAIN!r} must be a strict sub-domain of "
        f"ParentZoneName {MAIL_ROOT_DOMAIN!r}"
    )
    assert world.faults.total == 0


# -- permissions --------------------------------------------------------------------------------------------------


def test_assume_role_denied_names_the_role_and_its_trust(world):
    world.faults.fail(
        "sts.AssumeRole", sts_error("AccessDenied", "User: x is not authorized to perform: sts:AssumeRole")
    )

    response = world.create()

    assert response.status == "FAILED"
    assert response.reason == (
        f"AccessDenied on sts:AssumeRole of {ROLE_ARN} (session {DEV.stack_name}-{LOGICAL_ID}): its trust policy "
        "must allow this function's role (ArnLike aws:PrincipalArn) and session name"
    )
    assert world.faults.calls["sts.AssumeRole"] == 1  # AccessDenied is not retried
    assert world.faults.calls["route53.ChangeResourceRecordSets"] == 0


def test_change_denied_names_the_role_and_the_permission(world):
    world.faults.fail("route53.ChangeResourceRecordSets", route53_error("AccessDenied", "not authorized", 403))

    response = world.create()

    assert response.status == "FAILED"
    assert response.reason == (
        f"AccessDenied on route53:ChangeResourceRecordSets (NS, UPSERT) (UPSERT NS {DELEGATED} in {world.zone_id}) "
        f"as role {ROLE_ARN}: its policy must allow it"
    )
    assert len(response.reason) <= 256
    assert world.record() is None


def test_lookup_denied_names_the_permission(world):
    world.faults.fail("route53.ListHostedZonesByName", route53_error("AccessDenied", "not authorized", 403))

    response = world.create()

    assert response.status == "FAILED"
    assert response.reason.startswith("AccessDenied on route53:ListHostedZonesByName")


# -- retries ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        route53_error("Throttling", "Rate exceeded"),
        route53_error("PriorRequestNotComplete", "The request was rejected because Route 53 was still processing"),
        route53_error("ServiceUnavailable", "", 503),
    ],
    ids=["throttling", "prior-request-not-complete", "503"],
)
def test_transient_route53_errors_are_retried_by_botocore(world, fault):
    world.faults.fail("route53.ChangeResourceRecordSets", fault, times=2)

    response = world.create()

    assert response.status == "SUCCESS", response.reason
    assert world.faults.calls["route53.ChangeResourceRecordSets"] == 3
    assert len(world.sleeps.sleeps) == 2
    assert world.record() == (172800, sorted(NAME_SERVERS))


def test_throttled_lookup_and_assume_role_are_retried(world):
    world.faults.fail("sts.AssumeRole", sts_error("Throttling", "Rate exceeded", 400))
    world.faults.fail("route53.ListHostedZonesByName", route53_error("Throttling", "Rate exceeded"))

    response = world.create()

    assert response.status == "SUCCESS", response.reason
    assert (world.faults.calls["sts.AssumeRole"], world.faults.calls["route53.ListHostedZonesByName"]) == (2, 2)


def test_persistent_throttling_fails_with_a_readable_reason(world):
    world.faults.fail("route53.ChangeResourceRecordSets", route53_error("Throttling", "Rate exceeded"), times=8)

    response = world.create()

    assert response.status == "FAILED"
    assert response.reason == f"UPSERT NS {DELEGATED} in {world.zone_id} failed: Throttling: Rate exceeded"
    assert world.faults.calls["route53.ChangeResourceRecordSets"] == 8  # botocore's total_max_attempts
    assert all(sleep <= 20 for sleep in world.sleeps.sleeps)


# -- properties ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"NameServers": None}, "NameServers is required"),
        ({"ParentZoneId": "Z123"}, "exactly one of ParentZoneName and ParentZoneId is required"),
        ({"ParentZoneName": None}, "exactly one of ParentZoneName and ParentZoneId is required"),
        ({"Ttl": "0"}, "Ttl must be between 60 and 604800, got 0"),
        ({"DelegationRoleArn": "role/x"}, "DelegationRoleArn must be an IAM role ARN"),
        ({"DelegatedZoneName": "Dev.Example.org"}, "DelegatedZoneName 'Dev.Example.org' has a label 'Dev' that must"),
        ({"NameServers": ["ns-1.awsdns-01.org", "ns-1.awsdns-01.org."]}, "NameServers lists ns-1.awsdns-01.org twice"),
        ({"Extra": "x"}, "unknown property Extra"),
        # A trailing newline (Python's `$` matches before one) is refused everywhere.
        ({"DelegatedZoneName": f"{DELEGATED}\n"}, f"DelegatedZoneName {DELEGATED + chr(10)!r} has a label"),
        ({"ParentZoneName": f"{MAIL_ROOT_DOMAIN}\n"}, f"ParentZoneName {MAIL_ROOT_DOMAIN + chr(10)!r} has a label"),
        ({"NameServers": [f"{NAME_SERVERS[0]}\n"]}, f"NameServers entry {NAME_SERVERS[0] + chr(10)!r} must not"),
        ({"DelegationRoleArn": f"{ROLE_ARN}\n"}, "DelegationRoleArn must be an IAM role ARN"),
    ],
)
def test_invalid_properties_fail_before_any_call(world, overrides, expected):
    response = world.create(**overrides)

    assert response.status == "FAILED"
    assert response.reason.startswith("Invalid properties: ")
    assert expected in response.reason
    assert world.faults.total == 0


def test_the_two_accounts_are_distinct():
    assert PARTITION_ACCOUNT != PLATFORM_ROOT_ACCOUNT

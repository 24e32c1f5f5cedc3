"""The shared layer behind ``Custom::NsDelegation``, against the error shapes of real AWS.

moto answers a mismatched DELETE with ``InvalidInput`` where Route 53 answers ``InvalidChangeBatch``, and it never
throttles; these tests use botocore's ``Stubber`` for Route 53's real error codes, and real-shaped error bodies
injected at the transport (``before-send``) where botocore's parser and retry logic must run. No network: every
request is answered in-process.
"""

from __future__ import annotations

import json
from pathlib import Path

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber
from support.aws import NETWORK_FAULTS, network_exception, record_retry_sleeps, response, route53_error, sts_error

from arda_mail import deadline as deadline_module
from arda_mail.aws_sessions import (
    CONNECT_TIMEOUT_S,
    MAX_ATTEMPTS,
    READ_TIMEOUT_S,
    AssumeRoleError,
    AwsClients,
    AwsCredentials,
    Caller,
    DeadlineRetryGuard,
    client_config,
    role_session_name,
    stack_name_from_id,
    worst_case_backoff,
)
from arda_mail.deadline import Deadline
from arda_mail.placement import MAIL_ROOT_DOMAIN, partition_placement
from arda_mail.properties import InvalidPropertiesError
from arda_mail.reasons import MAX_REASON_LENGTH
from arda_mail.route53_delegation import (
    CHANGE_REJECTED_CODES,
    POLL_ALLOWANCE_S,
    AmbiguousParentZoneError,
    ChangeOutcomeUnknownError,
    ChangeResult,
    DelegationAccessDeniedError,
    DelegationError,
    DelegationTarget,
    DeleteOutcome,
    NotASubdomainError,
    NsRecord,
    ParentZone,
    ParentZoneNotFoundError,
    Route53Delegation,
    read_properties,
    require_strict_subdomain,
)

REPO = Path(__file__).resolve().parents[2]
DELEGATED = partition_placement("dev").mail.mail_domain
ZONE = "Z0PARENT"
TARGET = DelegationTarget(ZONE, DELEGATED)
ROLE = "arn:aws:iam::111111111111:role/Delegation"
NS = ("ns-1.awsdns-01.org", "ns-2.awsdns-02.co.uk")
NS_VALUES = ["ns-1.awsdns-01.org.", "ns-2.awsdns-02.co.uk."]


# -- properties -----------------------------------------------------------------------------------------------


def _props(**overrides):
    base = {"DelegatedZoneName": DELEGATED, "NameServers": list(NS), "ParentZoneName": MAIL_ROOT_DOMAIN}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def test_properties_with_defaults():
    props = read_properties({"ServiceToken": "arn:x", "ServiceTimeout": "300", **_props()})

    assert props.delegated_zone_name == DELEGATED
    assert props.name_servers == NS
    assert props.name_server_values == NS_VALUES
    assert props.ttl == 172800
    assert (props.parent_zone_name, props.parent_zone_id, props.delegation_role_arn) == (MAIL_ROOT_DOMAIN, None, None)


def test_properties_normalise_name_servers_and_zone_id():
    props = read_properties(
        _props(
            NameServers=["NS-1.awsdns-01.ORG.", "ns-2.awsdns-02.co.uk"],
            ParentZoneName=None,
            ParentZoneId="/hostedzone/Z9",
        )
    )
    assert props.name_servers == NS
    assert props.parent_zone_id == "Z9"


def test_every_problem_is_reported_at_once():
    with pytest.raises(InvalidPropertiesError) as err:
        read_properties({"NameServers": "ns-1", "Ttl": "abc", "ParentZoneId": "not a zone", "ParentZoneName": "x.org"})
    message = str(err.value)
    # Every problem is collected; the Reason shows as many as fit CloudFormation's one line and counts the rest.
    for expected in (
        "DelegatedZoneName is required",
        "NameServers must be a list of non-empty strings",
        "Ttl must be a whole number",
        "ParentZoneId 'not a zone' is not a Route 53 hosted zone ID",
    ):
        assert expected in message
    assert message.endswith("(+1 more)")
    assert len(message) <= MAX_REASON_LENGTH


def test_too_many_name_servers():
    with pytest.raises(InvalidPropertiesError, match="NameServers has 14 entries"):
        read_properties(_props(NameServers=[f"ns-{i}.example.net" for i in range(14)]))


@pytest.mark.parametrize("path", sorted((REPO / "events" / "ns_delegation").glob("*.json")), ids=lambda p: p.name)
def test_sample_events_are_valid(path):
    event = json.loads(path.read_text())
    read_properties(event["ResourceProperties"])
    if "OldResourceProperties" in event:
        read_properties(event["OldResourceProperties"])
    if event["RequestType"] == "Update" or path.name == "delete.json":
        assert DelegationTarget.parse(event["PhysicalResourceId"]) is not None
    if path.name == "delete-after-failed-create.json":
        assert DelegationTarget.parse(event["PhysicalResourceId"]) is None


# -- names and identifiers ------------------------------------------------------------------------------------


def test_physical_id_round_trip():
    assert TARGET.physical_resource_id == f"{ZONE}/{DELEGATED}/NS"
    assert DelegationTarget.parse(TARGET.physical_resource_id) == TARGET


@pytest.mark.parametrize(
    "physical_id",
    [
        None,
        "",
        "Alpha002-dev-Email_NsDelegation_K3M9Q2ZD",
        f"{ZONE}/{DELEGATED}/TXT",
        f"z0/{DELEGATED}/NS",
        f"{ZONE}/-x.org/NS",
    ],
)
def test_other_physical_ids_name_no_delegation(physical_id):
    assert DelegationTarget.parse(physical_id) is None


def test_ns_record_matches_as_a_set_ignoring_case_and_dots():
    record = NsRecord(DELEGATED, 300, ("NS-2.awsdns-02.co.uk.", "ns-1.awsdns-01.org"))
    assert record.matches(NS, 300)
    assert not record.matches(NS, 301)
    assert not record.matches(NS[:1], 300)
    # Ownership ignores the TTL, never the name servers.
    assert record.has_name_servers(tuple(reversed(NS)))
    assert not record.has_name_servers(NS[:1])
    assert not record.has_name_servers((*NS, "ns-3.awsdns-03.com"))
    assert record.describe() == "TTL 300, ns-1.awsdns-01.org, ns-2.awsdns-02.co.uk"


def test_strict_subdomain():
    require_strict_subdomain(DELEGATED, ParentZone(ZONE, MAIL_ROOT_DOMAIN))
    with pytest.raises(NotASubdomainError):
        require_strict_subdomain(MAIL_ROOT_DOMAIN, ParentZone(ZONE, MAIL_ROOT_DOMAIN))


def test_role_session_name_identifies_stack_and_resource():
    stack_id = "arn:aws:cloudformation:us-east-1:123456789012:stack/Alpha002-dev-Email/4b5c3e10-aaaa"
    assert stack_name_from_id(stack_id) == "Alpha002-dev-Email"
    assert role_session_name(stack_id, "NsDelegation") == "Alpha002-dev-Email-NsDelegation"
    assert role_session_name("my stack!", "Ns:Del") == "my_stack_-Ns_Del"


def test_role_session_name_stays_within_64_characters_and_keeps_the_stack_prefix():
    stack_id = "arn:aws:cloudformation:us-east-1:123456789012:stack/Alpha002-dev-Email/uuid"
    long_a = role_session_name(stack_id, "A" * 80)
    long_b = role_session_name(stack_id, "A" * 79 + "B")

    assert len(long_a) == len(long_b) == 64
    assert long_a.startswith("Alpha002-dev-Email-AAAA")
    assert long_a != long_b
    assert len(role_session_name("S" * 128, "Logical")) == 64


# -- retry configuration --------------------------------------------------------------------------------------


def test_client_config_uses_botocore_standard_retries():
    config = client_config(Deadline.after(60))
    assert config.retries == {"mode": "standard", "total_max_attempts": MAX_ATTEMPTS}
    assert config.connect_timeout == CONNECT_TIMEOUT_S
    assert config.read_timeout == READ_TIMEOUT_S
    assert client_config(Deadline.after(0)).read_timeout == 1.0


def test_worst_case_backoff():
    assert [worst_case_backoff(n) for n in (1, 2, 3, 5, 6, 9)] == [1, 2, 4, 16, 20, 20]
    assert worst_case_backoff(1, retry_after=True) == 6


def test_deadline_guard_vetoes_only_when_the_backoff_could_outlive_the_deadline():
    assert DeadlineRetryGuard(Deadline.after(60))(attempts=3) is None
    guard = DeadlineRetryGuard(Deadline.after(2.5))
    assert guard(attempts=1) is None  # at most 1 s of backoff + 1 s margin
    assert guard(attempts=2) is False
    assert guard.vetoed == 1


def test_credentials_never_show_in_repr():
    assert "SECRET" not in repr(AwsCredentials("AKIA", "SECRET", "TOKEN"))


# -- Stubber: Route 53's real error codes ---------------------------------------------------------------------


@pytest.fixture
def r53():
    client = botocore.session.get_session().create_client("route53", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _delegation(client, deadline=None, sleep=None):
    return Route53Delegation(client, deadline or Deadline.after(60), Caller(ROLE, "s"), sleep=sleep or (lambda s: None))


def _rrsets(name=DELEGATED, values=NS_VALUES, ttl=172800, rtype="NS"):
    return {
        "ResourceRecordSets": [
            {"Name": name + ".", "Type": rtype, "TTL": ttl, "ResourceRecords": [{"Value": v} for v in values]}
        ],
        "IsTruncated": False,
        "MaxItems": "1",
    }


def _list_params():
    return {"HostedZoneId": ZONE, "StartRecordName": DELEGATED, "StartRecordType": "NS", "MaxItems": "1"}


def _delete_params(values=NS_VALUES, ttl=172800):
    return {
        "HostedZoneId": ZONE,
        "ChangeBatch": {
            "Comment": ANY,
            "Changes": [
                {
                    "Action": "DELETE",
                    "ResourceRecordSet": {
                        "Name": DELEGATED,
                        "Type": "NS",
                        "TTL": ttl,
                        "ResourceRecords": [{"Value": v} for v in values],
                    },
                }
            ],
        },
    }


def _change_info(status="INSYNC"):
    return {"ChangeInfo": {"Id": "/change/C1", "Status": status, "SubmittedAt": "2026-01-01T00:00:00Z"}}


def test_delete_uses_the_exact_current_values(r53):
    client, stubber = r53
    current = ["NS-2.awsdns-02.co.uk", "ns-1.awsdns-01.org."]  # same set, other spelling
    stubber.add_response("list_resource_record_sets", _rrsets(values=current), _list_params())
    stubber.add_response("change_resource_record_sets", _change_info(), _delete_params(values=current))

    result = _delegation(client).delete_if_owned(TARGET, NS)

    assert result.outcome is DeleteOutcome.DELETED


@pytest.mark.parametrize("code", sorted(CHANGE_REJECTED_CODES))
def test_delete_rejected_because_the_record_vanished_is_success(r53, code):
    client, stubber = r53
    stubber.add_response("list_resource_record_sets", _rrsets(), _list_params())
    stubber.add_client_error(
        "change_resource_record_sets",
        service_error_code=code,
        service_message=f"[Tried to delete resource record set [name='{DELEGATED}.', type='NS'] but it was not found]",
        http_status_code=400,
    )
    stubber.add_response("list_resource_record_sets", {"ResourceRecordSets": [], "IsTruncated": False, "MaxItems": "1"})

    assert _delegation(client).delete_if_owned(TARGET, NS).outcome is DeleteOutcome.ABSENT


def test_delete_rejected_because_another_owner_changed_it_leaves_it(r53):
    client, stubber = r53
    stubber.add_response("list_resource_record_sets", _rrsets(), _list_params())
    stubber.add_client_error(
        "change_resource_record_sets",
        service_error_code="InvalidChangeBatch",
        service_message="[... but the values provided do not match the current values]",
    )
    stubber.add_response("list_resource_record_sets", _rrsets(values=["ns-9.example.net."]))

    result = _delegation(client).delete_if_owned(TARGET, NS)

    assert result.outcome is DeleteOutcome.FOREIGN
    assert result.found is not None
    assert result.found.values == ("ns-9.example.net.",)


def test_delete_rejected_twice_although_matching_fails(r53):
    client, stubber = r53
    for _ in range(2):
        stubber.add_response("list_resource_record_sets", _rrsets())
        stubber.add_client_error("change_resource_record_sets", service_error_code="InvalidChangeBatch")
    stubber.add_response("list_resource_record_sets", _rrsets())  # the last read still decides

    with pytest.raises(
        DelegationError, match="did not take effect in 2 attempts although the record is this resource's"
    ):
        _delegation(client).delete_if_owned(TARGET, NS)


def test_delete_rejected_twice_then_gone_is_success(r53):
    client, stubber = r53
    for _ in range(2):
        stubber.add_response("list_resource_record_sets", _rrsets())
        stubber.add_client_error("change_resource_record_sets", service_error_code="InvalidChangeBatch")
    stubber.add_response("list_resource_record_sets", {"ResourceRecordSets": [], "IsTruncated": False, "MaxItems": "1"})

    assert _delegation(client).delete_if_owned(TARGET, NS).outcome is DeleteOutcome.ABSENT


def test_delete_leaves_a_foreign_record_without_a_write(r53):
    client, stubber = r53
    # One name server differs: someone else's delegation now, whatever the TTL.
    stubber.add_response("list_resource_record_sets", _rrsets(values=[NS_VALUES[0], "ns-9.example.net."]))

    result = _delegation(client).delete_if_owned(TARGET, NS)

    assert result.outcome is DeleteOutcome.FOREIGN
    assert result.found is not None
    assert result.found.ttl == 172800


def test_delete_of_its_own_record_with_an_edited_ttl_sends_the_current_ttl(r53):
    """Ownership is the name-server set; Route 53 deletes only an exact match, so the DELETE carries TTL 60."""
    client, stubber = r53
    stubber.add_response("list_resource_record_sets", _rrsets(ttl=60), _list_params())
    stubber.add_response("change_resource_record_sets", _change_info(), _delete_params(ttl=60))

    result = _delegation(client).delete_if_owned(TARGET, NS)

    assert result.outcome is DeleteOutcome.DELETED
    assert result.found is not None
    assert result.found.ttl == 60


def test_delete_ignores_the_next_record_in_the_zone(r53):
    client, stubber = r53
    stubber.add_response("list_resource_record_sets", _rrsets(name=f"zz.{DELEGATED}"), _list_params())

    assert _delegation(client).delete_if_owned(TARGET, NS).outcome is DeleteOutcome.ABSENT


def test_delete_when_the_zone_is_gone(r53):
    client, stubber = r53
    stubber.add_client_error("list_resource_record_sets", service_error_code="NoSuchHostedZone", http_status_code=404)

    assert _delegation(client).delete_if_owned(TARGET, NS).outcome is DeleteOutcome.ZONE_GONE


def test_delete_denied_names_the_role_and_the_permission(r53):
    client, stubber = r53
    stubber.add_response("list_resource_record_sets", _rrsets())
    stubber.add_client_error("change_resource_record_sets", service_error_code="AccessDenied", http_status_code=403)

    with pytest.raises(DelegationAccessDeniedError) as err:
        _delegation(client).delete_if_owned(TARGET, NS)
    assert str(err.value) == (
        f"AccessDenied on route53:ChangeResourceRecordSets (NS, DELETE) (DELETE NS {DELEGATED} in {ZONE}) "
        f"as role {ROLE}: its policy must allow it"
    )


def test_upsert_sends_the_normalised_name(r53):
    client, stubber = r53
    expected = _delete_params()
    expected["ChangeBatch"]["Changes"][0]["Action"] = "UPSERT"
    stubber.add_response("change_resource_record_sets", _change_info("PENDING"), expected)

    change = _delegation(client).upsert(TARGET, NS_VALUES, 172800)

    assert change == ChangeResult("C1", "PENDING")


def _zone(zone_id, name=MAIL_ROOT_DOMAIN, private=False):
    return {
        "Id": f"/hostedzone/{zone_id}",
        "Name": name + ".",
        "CallerReference": zone_id,
        "Config": {"PrivateZone": private},
    }


def _zones(*zones, next_zone=None):
    page = {"HostedZones": list(zones), "IsTruncated": next_zone is not None, "MaxItems": "100"}
    if next_zone:
        page.update({"NextDNSName": MAIL_ROOT_DOMAIN + ".", "NextHostedZoneId": next_zone})
    return page


def test_parent_zone_by_name_pages_and_skips_private_zones(r53):
    client, stubber = r53
    stubber.add_response(
        "list_hosted_zones_by_name",
        _zones(_zone("ZPRIVATE", private=True), next_zone="ZNEXT"),
        {"DNSName": MAIL_ROOT_DOMAIN, "MaxItems": "100"},
    )
    stubber.add_response(
        "list_hosted_zones_by_name",
        _zones(_zone("ZPUBLIC"), _zone("ZOTHER", name=f"z.{MAIL_ROOT_DOMAIN}")),
        {"DNSName": MAIL_ROOT_DOMAIN + ".", "HostedZoneId": "ZNEXT", "MaxItems": "100"},
    )

    assert _delegation(client).find_parent_zone(name=MAIL_ROOT_DOMAIN) == ParentZone("ZPUBLIC", MAIL_ROOT_DOMAIN)


def test_parent_zone_by_name_ambiguous(r53):
    client, stubber = r53
    stubber.add_response("list_hosted_zones_by_name", _zones(_zone("ZA"), _zone("ZB")))

    with pytest.raises(AmbiguousParentZoneError, match=r"2 public hosted zones are named .* \(ZA, ZB\)"):
        _delegation(client).find_parent_zone(name=MAIL_ROOT_DOMAIN)


def test_parent_zone_by_name_not_found_when_only_a_longer_name_follows(r53):
    client, stubber = r53
    stubber.add_response("list_hosted_zones_by_name", _zones(_zone("ZA", name=f"a.{MAIL_ROOT_DOMAIN}")))

    with pytest.raises(ParentZoneNotFoundError, match=f"no public hosted zone named {MAIL_ROOT_DOMAIN}"):
        _delegation(client).find_parent_zone(name=MAIL_ROOT_DOMAIN)


def test_parent_zone_by_id_must_be_public(r53):
    client, stubber = r53
    stubber.add_response("get_hosted_zone", {"HostedZone": _zone("ZP", private=True)}, {"Id": "ZP"})

    with pytest.raises(ParentZoneNotFoundError, match="ZP is a private zone"):
        _delegation(client).find_parent_zone(zone_id="ZP")


# -- the bounded INSYNC wait ----------------------------------------------------------------------------------


class FakeClock:
    """Monotonic time that only moves when the code under test sleeps."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(deadline_module, "time", fake)
    return fake


def test_wait_returns_at_once_when_already_insync(r53, clock):
    client, _ = r53
    assert _delegation(client, sleep=clock.sleep).wait_insync(ChangeResult("C1", "INSYNC")).in_sync
    assert clock.sleeps == []


def test_wait_polls_until_insync(r53, clock):
    client, stubber = r53
    stubber.add_response("get_change", _change_info("PENDING"), {"Id": "C1"})
    stubber.add_response("get_change", _change_info("INSYNC"), {"Id": "C1"})

    change = _delegation(client, Deadline.after(60), clock.sleep).wait_insync(ChangeResult("C1", "PENDING"))

    assert change == ChangeResult("C1", "INSYNC")
    assert clock.sleeps == [1.0], "the first look is immediate"


def test_a_change_already_insync_at_the_first_look_costs_no_wait(r53, clock):
    client, stubber = r53
    stubber.add_response("get_change", _change_info("INSYNC"), {"Id": "C1"})

    change = _delegation(client, Deadline.after(60), clock.sleep).wait_insync(ChangeResult("C1", "PENDING"))

    assert change == ChangeResult("C1", "INSYNC")
    assert clock.sleeps == []


def test_wait_never_sleeps_past_the_deadline(r53, clock):
    client, stubber = r53
    for _ in range(5):
        stubber.add_response("get_change", _change_info("PENDING"))
    deadline = Deadline.after(10)

    change = _delegation(client, deadline, clock.sleep).wait_insync(ChangeResult("C1", "PENDING"))

    assert change.status == "PENDING"
    assert clock.sleeps == [1.0, 2.0, 3.0, 10 - 6 - POLL_ALLOWANCE_S]
    assert clock.now <= deadline.at - POLL_ALLOWANCE_S


def test_wait_is_capped_below_a_long_deadline(r53, clock):
    client, stubber = r53
    for _ in range(9):
        stubber.add_response("get_change", _change_info("PENDING"))

    change = _delegation(client, Deadline.after(900), clock.sleep).wait_insync(
        ChangeResult("C1", "PENDING"), max_wait_s=30
    )

    assert change.status == "PENDING"
    assert clock.sleeps == [1.0, 2.0, 3.0, 5.0, 5.0, 5.0, 5.0, 3.0]
    assert sum(clock.sleeps) == 30 - POLL_ALLOWANCE_S


def test_get_change_denied_names_the_permission(r53, clock):
    client, stubber = r53
    stubber.add_client_error("get_change", service_error_code="AccessDenied", http_status_code=403)

    with pytest.raises(DelegationAccessDeniedError, match="route53:GetChange"):
        _delegation(client, Deadline.after(60), clock.sleep).wait_insync(ChangeResult("C1", "PENDING"))


# -- real wire shapes through botocore's parser and retry handler ---------------------------------------------


class Wire:
    """Answers requests in order, like the service would, and counts them. An answer that is a key of
    ``NETWORK_FAULTS`` is no answer: botocore's exception for that network failure is raised instead."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests = []

    def __call__(self, request, **_):
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, str):
            raise network_exception(answer, request)
        status, body = answer
        return response(request, status, body)


_CHANGE_OK = (
    200,
    b'<?xml version="1.0"?><ChangeResourceRecordSetsResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
    b"<ChangeInfo><Id>/change/C9</Id><Status>PENDING</Status><SubmittedAt>2026-01-01T00:00:00.000Z</SubmittedAt>"
    b"</ChangeInfo></ChangeResourceRecordSetsResponse>",
)


def _wired_route53(wire, deadline):
    session = botocore.session.get_session()
    session.register("before-send.route53", wire)
    return AwsClients(deadline, session=session).route53()


@pytest.mark.parametrize(
    "fault",
    [
        route53_error("Throttling", "Rate exceeded"),
        route53_error("PriorRequestNotComplete", "The request was rejected because Route 53 was still processing"),
        route53_error("InternalError", "", 500),
        route53_error("ServiceUnavailable", "", 503),
    ],
    ids=["throttling", "prior-request-not-complete", "500", "503"],
)
def test_botocore_standard_mode_retries_route53_transients(monkeypatch, fault):
    sleeps = record_retry_sleeps(monkeypatch)
    wire = Wire(fault, fault, _CHANGE_OK)
    delegation = Route53Delegation(_wired_route53(wire, Deadline.after(60)), Deadline.after(60), Caller(ROLE))

    change = delegation.upsert(TARGET, NS_VALUES, 172800)

    assert change == ChangeResult("C9", "PENDING")
    assert len(wire.requests) == 3
    assert len(sleeps.sleeps) == 2
    assert all(0 <= s <= worst_case_backoff(n) for n, s in enumerate(sleeps.sleeps, 1))


def test_retries_stop_when_the_backoff_could_outlive_the_deadline(monkeypatch):
    sleeps = record_retry_sleeps(monkeypatch)
    wire = Wire(route53_error("Throttling", "Rate exceeded"), _CHANGE_OK)
    deadline = Deadline.after(1.5)  # less than the first worst-case backoff (1 s) plus the margin (1 s)
    delegation = Route53Delegation(_wired_route53(wire, deadline), deadline, Caller(ROLE))

    with pytest.raises(DelegationError, match="Throttling: Rate exceeded"):
        delegation.upsert(TARGET, NS_VALUES, 172800)
    assert (len(wire.requests), sleeps.sleeps) == (1, [])


def test_real_invalid_change_batch_body_parses_to_its_code(monkeypatch):
    message = f"[Tried to delete resource record set [name='{DELEGATED}.', type='NS'] but it was not found]"
    wire = Wire(route53_error("InvalidChangeBatch", message))
    client = _wired_route53(wire, Deadline.after(60))

    with pytest.raises(ClientError) as err:
        client.change_resource_record_sets(
            HostedZoneId=ZONE,
            ChangeBatch={
                "Changes": [
                    {
                        "Action": "DELETE",
                        "ResourceRecordSet": {
                            "Name": DELEGATED,
                            "Type": "NS",
                            "TTL": 1,
                            "ResourceRecords": [{"Value": "a."}],
                        },
                    }
                ]
            },
        )
    assert err.value.response["Error"]["Code"] == "InvalidChangeBatch"
    assert err.value.response["Error"]["Code"] in CHANGE_REJECTED_CODES
    assert len(wire.requests) == 1  # not retried


def _wired_clients(wire):
    session = botocore.session.get_session()
    session.register("before-send.sts", wire)
    return AwsClients(Deadline.after(60), session=session)


def test_assume_role_denied_names_the_role_and_the_trust_it_needs():
    wire = Wire(sts_error("AccessDenied", "User: arn:aws:sts::1:assumed-role/f/x is not authorized"))

    with pytest.raises(AssumeRoleError) as err:
        _wired_clients(wire).assume_role(ROLE, "Alpha002-dev-Email-NsDelegation")

    assert str(err.value) == (
        f"AccessDenied on sts:AssumeRole of {ROLE} (session Alpha002-dev-Email-NsDelegation): its trust policy "
        "must allow this function's role (ArnLike aws:PrincipalArn) and session name"
    )
    assert len(wire.requests) == 1


def test_assume_role_other_failures_keep_code_and_message():
    wire = Wire(sts_error("RegionDisabledException", "STS is not activated in this region", 403))

    with pytest.raises(AssumeRoleError, match=f"sts:AssumeRole of {ROLE} failed: RegionDisabledException: STS is not"):
        _wired_clients(wire).assume_role(ROLE, "s1")


def test_assumed_clients_use_the_returned_credentials():
    body = (
        b'<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>'
        b"<AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>secret</SecretAccessKey>"
        b"<SessionToken>token</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials>"
        b"<AssumedRoleUser><AssumedRoleId>AROA:s1</AssumedRoleId><Arn>arn:aws:sts::1:assumed-role/r/s1</Arn>"
        b"</AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>"
    )
    wire = Wire((200, body))

    route53 = _wired_clients(wire).assume_role(ROLE, "s1").route53()

    credentials = route53._request_signer._credentials
    assert (credentials.access_key, credentials.token) == ("ASIAEXAMPLE", "token")
    sent = wire.requests[0].body
    assert "DurationSeconds=900" in (sent.decode() if isinstance(sent, bytes) else sent)


# -- trailing newlines (Python's ``$`` matches before a final "\n") ----------------------------------------------


def _problems(**overrides):
    with pytest.raises(InvalidPropertiesError) as err:
        read_properties(_props(**overrides))
    return str(err.value).removeprefix("Invalid properties: ").split("; ")


@pytest.mark.parametrize(
    ("overrides", "field", "value"),
    [
        # By ID, so that no sub-domain check can be what rejects the name.
        (
            {"DelegatedZoneName": DELEGATED + "\n", "ParentZoneName": None, "ParentZoneId": ZONE},
            "DelegatedZoneName",
            DELEGATED + "\n",
        ),
        ({"ParentZoneName": MAIL_ROOT_DOMAIN + "\n"}, "ParentZoneName", MAIL_ROOT_DOMAIN + "\n"),
        ({"NameServers": [NS[0] + "\n", NS[1]]}, "NameServers entry", NS[0] + "\n"),
        ({"NameServers": [NS[0], NS[1] + ".\n"]}, "NameServers entry", NS[1] + ".\n"),
        ({"ParentZoneName": None, "ParentZoneId": ZONE + "\n"}, "ParentZoneId", ZONE + "\n"),
    ],
    ids=["DelegatedZoneName", "ParentZoneName", "NameServers", "NameServers-dotted", "ParentZoneId"],
)
def test_a_trailing_newline_is_rejected(overrides, field, value):
    assert any(problem.startswith(f"{field} {value!r} ") for problem in _problems(**overrides))


def test_a_role_arn_with_a_trailing_newline_is_rejected():
    assert any(
        p.startswith("DelegationRoleArn must be an IAM role ARN") for p in _problems(DelegationRoleArn=ROLE + "\n")
    )


def test_a_physical_id_with_a_trailing_newline_names_no_delegation():
    assert DelegationTarget.parse(TARGET.physical_resource_id + "\n") is None


# -- network errors: botocore's exceptions through its own retries ---------------------------------------------


_NS_PAGE = (
    200,
    (
        f'<?xml version="1.0"?><ListResourceRecordSetsResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
        f"<ResourceRecordSets><ResourceRecordSet><Name>{DELEGATED}.</Name><Type>NS</Type><TTL>60</TTL>"
        "<ResourceRecords>"
        + "".join(f"<ResourceRecord><Value>{v}</Value></ResourceRecord>" for v in NS_VALUES)
        + "</ResourceRecords></ResourceRecordSet></ResourceRecordSets><IsTruncated>false</IsTruncated>"
        "<MaxItems>1</MaxItems></ListResourceRecordSetsResponse>"
    ).encode(),
)
_EMPTY_PAGE = (
    200,
    b'<?xml version="1.0"?><ListResourceRecordSetsResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
    b"<ResourceRecordSets></ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>1</MaxItems>"
    b"</ListResourceRecordSetsResponse>",
)


def _wired_delegation(wire, seconds=300):
    deadline = Deadline.after(seconds)
    return Route53Delegation(_wired_route53(wire, deadline), deadline, Caller(ROLE), sleep=lambda s: None)


@pytest.mark.parametrize("kind", sorted(NETWORK_FAULTS))
def test_an_unanswered_upsert_is_an_unknown_outcome_after_botocores_retries(monkeypatch, kind):
    sleeps = record_retry_sleeps(monkeypatch)
    wire = Wire(*[kind] * MAX_ATTEMPTS)

    with pytest.raises(ChangeOutcomeUnknownError) as err:
        _wired_delegation(wire).upsert(TARGET, NS_VALUES, 172800)

    assert len(wire.requests) == MAX_ATTEMPTS  # botocore's standard mode retried every one
    assert len(sleeps.sleeps) == MAX_ATTEMPTS - 1
    exception = type(network_exception(kind, wire.requests[0])).__name__
    assert str(err.value) == (
        f"UPSERT NS {DELEGATED} in {ZONE} failed: {exception} (no answer from Route 53 after botocore's retries)"
    )


def test_an_upsert_failing_with_5xx_after_the_retries_is_an_unknown_outcome(monkeypatch):
    record_retry_sleeps(monkeypatch)
    wire = Wire(*[route53_error("InternalError", "boom", 500)] * MAX_ATTEMPTS)

    with pytest.raises(ChangeOutcomeUnknownError, match="InternalError: boom"):
        _wired_delegation(wire).upsert(TARGET, NS_VALUES, 172800)


@pytest.mark.parametrize("code", ["AccessDenied", "InvalidChangeBatch", "InvalidInput", "NoSuchHostedZone"])
def test_an_upsert_rejected_by_route53_is_known_not_applied(r53, code):
    client, stubber = r53
    stubber.add_client_error("change_resource_record_sets", service_error_code=code, http_status_code=400)

    with pytest.raises(DelegationError) as err:
        _delegation(client).upsert(TARGET, NS_VALUES, 172800)
    assert not isinstance(err.value, ChangeOutcomeUnknownError)


def test_get_change_unanswered_is_a_delegation_error(monkeypatch, clock):
    record_retry_sleeps(monkeypatch)
    wire = Wire(*["connection-closed"] * MAX_ATTEMPTS)
    deadline = Deadline.after(300)
    delegation = Route53Delegation(_wired_route53(wire, deadline), deadline, Caller(ROLE), sleep=clock.sleep)

    with pytest.raises(DelegationError, match="GetChange C1 failed: ConnectionClosedError"):
        delegation.wait_insync(ChangeResult("C1", "PENDING"))


def test_a_delete_whose_answers_are_lost_is_settled_by_reading_again(monkeypatch):
    record_retry_sleeps(monkeypatch)
    # The record (TTL 60: edited by hand), every DELETE attempt unanswered, then the record is gone.
    wire = Wire(_NS_PAGE, *["read-timeout"] * MAX_ATTEMPTS, _EMPTY_PAGE)

    result = _wired_delegation(wire).delete_if_owned(TARGET, NS)

    assert result.outcome is DeleteOutcome.DELETED
    assert b"<TTL>60</TTL>" in wire.requests[1].body  # the record's current TTL, not the declared one


def test_a_delete_whose_answers_are_lost_while_the_record_stays_fails(monkeypatch):
    record_retry_sleeps(monkeypatch)
    wire = Wire(_NS_PAGE, *["read-timeout"] * MAX_ATTEMPTS, _NS_PAGE, *["read-timeout"] * MAX_ATTEMPTS, _NS_PAGE)

    with pytest.raises(DelegationError, match=r"did not take effect in 2 attempts .* \(last: ReadTimeoutError\)"):
        _wired_delegation(wire).delete_if_owned(TARGET, NS)


def test_a_delete_that_cannot_read_the_record_fails_with_a_readable_reason(monkeypatch):
    record_retry_sleeps(monkeypatch)
    wire = Wire(*["endpoint-connection"] * MAX_ATTEMPTS)

    with pytest.raises(DelegationError) as err:
        _wired_delegation(wire).delete_if_owned(TARGET, NS)
    assert str(err.value) == (
        f"ListResourceRecordSets {DELEGATED} in {ZONE} failed: EndpointConnectionError (no answer from Route 53 "
        "after botocore's retries)"
    )

"""``Custom::PostmarkDkim`` end to end: DKIM records and key rotation through the real custom-resource protocol.

The loopback world: moto's server (Route 53 and Secrets Manager, reached by the handler through
``AWS_ENDPOINT_URL``), the Postmark emulator whose DNS view reads moto's Route 53 (so Postmark's "verify" sees
exactly what the handler wrote), and an authoritative DNS server serving moto's zones. After EVERY request, each
test asserts, by a DNS query to that server, that the key Postmark signs with is published
(:func:`assert_signing_key_published`).

The domain starts as an existing deployment left it: verified, its key published by the template's former
``AWS::Route53::RecordSet`` (TTL 3600), which the resource adopts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from dnslib import QTYPE, DNSRecord
from support.drift import loopback_services
from support.postmark import NON_PROD, PROD, CfnDriver, fast_retries_fixture, new_token  # noqa: F401

from arda_mail.postmark.dkim_rotation import (
    COMPLETE,
    IDLE,
    PENDING_VERIFICATION,
    REVOKED_KEY_PUBLISHED,
    WAITING_FOR_PREVIOUS,
)
from arda_mail.route53_dkim_records import normalise_key_text
from arda_mail.txt_records import route53_txt_value
from arda_ops.cfn_protocol import CfnResponse
from arda_ops.handlers import REPO_ROOT, load_function_module
from arda_ops.loopback.world import LoopbackWorld
from postmark_emulator import Fault

DOMAIN = "dev.ardamails.com"
DKIM_TYPE = "Custom::PostmarkDkim"
LOGICAL_ID = "PostmarkDkim"
TOKENS = {NON_PROD: new_token(), PROD: new_token()}
ROTATE = "POST /domains/{id}/rotatedkim"
#: A DNS query on loopback answers in milliseconds; this only guards against a hang on a busy machine.
DNS_TIMEOUT_S = 10


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackWorld]:
    with loopback_services(TOKENS) as world:
        yield world


@pytest.fixture(autouse=True)
def _fast(fast_retries):
    return fast_retries


def published_txt(world: LoopbackWorld, name: str) -> list[str]:
    """The TXT records at ``name`` as a resolver sees them (strings joined), from the loopback DNS server."""
    query = DNSRecord.question(name, "TXT")
    reply = DNSRecord.parse(query.send("127.0.0.1", world.zone_dns.port, tcp=True, timeout=DNS_TIMEOUT_S))
    return ["".join(part.decode() for part in rr.rdata.data) for rr in reply.rr if rr.rtype == QTYPE.TXT and rr.rname]


@dataclass
class Dkim:
    """One partition's mail zone, secret and verified Postmark domain, and CloudFormation for the resource."""

    world: LoopbackWorld
    driver: CfnDriver
    zone_id: str
    secret_arn: str
    domain_id: int
    first_host: str
    first_text: str
    physical_id: str = ""
    last_props: dict[str, str] = field(default_factory=dict)
    history: list[CfnResponse] = field(default_factory=list)

    @property
    def emulator(self) -> Any:
        return self.world.postmark

    def props(self, rotation: str = "", reconcile: str = "", **extra: str) -> dict[str, str]:
        return {
            "DomainId": str(self.domain_id),
            "DomainName": DOMAIN,
            "AccountTokenSecretArn": self.secret_arn,
            "HostedZoneId": self.zone_id,
            "ApiUrl": self.emulator.url,
            "Rotation": rotation,
            "MaxWaitSeconds": "0",
            "PollIntervalSeconds": "0",
            "Reconcile": reconcile,
            **extra,
        }

    def _answered(self, response: CfnResponse, props: dict[str, str] | None) -> CfnResponse:
        self.history.append(response)
        assert_signing_key_published(self)
        if response.status == "SUCCESS" and props is not None:
            self.physical_id, self.last_props = response.physical_id, props
        return response

    def create(self, rotation: str = "", **extra: str) -> CfnResponse:
        props = self.props(rotation, **extra)
        return self._answered(self.driver.create(props), props)

    def update(self, rotation: str, reconcile: str = "", **extra: str) -> CfnResponse:
        props = self.props(rotation, reconcile, **extra)
        return self._answered(self.driver.update(self.physical_id, props, self.last_props), props)

    def rollback(self, to_rotation: str, failed_props: dict[str, str]) -> CfnResponse:
        """CloudFormation's rollback of a failed Update: an Update back to the last good properties, with the
        failed attempt's properties as the old ones."""
        props = self.props(to_rotation)
        return self._answered(self.driver.update(self.physical_id, props, failed_props), props)

    def delete(self) -> CfnResponse:
        return self._answered(self.driver.delete(self.physical_id, self.last_props), None)

    def domain(self) -> dict[str, Any]:
        found = self.emulator.domain(self.domain_id)
        assert found is not None
        return dict(found)

    def rotations(self) -> int:
        return self.emulator.calls().count(ROTATE.format(id=self.domain_id))

    def txt(self, name: str) -> list[str]:
        return published_txt(self.world, name)

    def holds(self, name: str, text: str) -> bool:
        return [normalise_key_text(t) for t in self.txt(name)] == [normalise_key_text(text)]

    def ledger(self) -> str | None:
        tags = self.world.client("secretsmanager").describe_secret(SecretId=self.secret_arn).get("Tags", [])
        return next((t["Value"] for t in tags if t["Key"] == f"arda-mail:dkim-rotation:{self.domain_id}"), None)


def assert_signing_key_published(dkim: Dkim) -> None:
    """The rule of every step: the key Postmark signs with is in DNS, exactly as Postmark states it."""
    domain = dkim.domain()
    host, text = domain["DKIMHost"], domain["DKIMTextValue"]
    if not host:
        assert not domain["DKIMVerified"], "Postmark signs with no key before its first one is verified"
        return
    assert dkim.holds(host, text), f"the signing key at {host} is not published: {dkim.txt(host)}"


@pytest.fixture
def dkim(loopback, events, receiver, monkeypatch) -> Dkim:
    from aws_lambda_powertools.utilities import parameters

    from arda_mail.log_redaction import install as guard_botocore_logs

    loopback.reset()
    loopback.postmark.configure(  # settings outlive a reset: every test starts from Postmark's documented ones
        verify_lag_calls=0, rotate_text_value_key="DKIMTextValue", revoked_safe_at_activation=False
    )
    parameters.clear_caches()
    monkeypatch.setenv("AWS_ENDPOINT_URL", loopback.moto.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIADKIMHANDLERTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "dkim-handler")
    guard_botocore_logs()
    r53 = loopback.client("route53")
    zone_id = r53.create_hosted_zone(Name=DOMAIN, CallerReference=str(uuid.uuid4()))["HostedZone"]["Id"]
    zone_id = zone_id.rsplit("/", 1)[-1]
    secret_arn = loopback.client("secretsmanager").create_secret(
        Name="Alpha002-dev-I-EmailPostmarkAccountToken", SecretString=TOKENS[NON_PROD]
    )["ARN"]
    domain = loopback.postmark.add_domain(NON_PROD, DOMAIN, f"pm-bounces.{DOMAIN}", dkim_verified=True)
    host, text = domain["DKIMHost"], domain["DKIMTextValue"]
    change = {
        "Action": "CREATE",
        "ResourceRecordSet": {
            "Name": host,
            "Type": "TXT",
            "TTL": 3600,
            "ResourceRecords": [{"Value": route53_txt_value(text)}],
        },
    }
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [change]})
    handler = load_function_module("postmark_dkim").handler
    driver = CfnDriver(handler, events, receiver, DKIM_TYPE, LOGICAL_ID)
    created = Dkim(loopback, driver, zone_id, secret_arn, int(domain["ID"]), host, text)
    assert_signing_key_published(created)
    return created


def _ok(response: CfnResponse) -> dict[str, Any]:
    assert response.status == "SUCCESS", response.reason
    return response.data


# -- no rotation -----------------------------------------------------------------------------------------------


def test_create_adopts_the_published_key_without_touching_it(dkim):
    data = _ok(dkim.create())
    assert data["DkimRotationPhase"] == IDLE
    assert data["DkimHostName"] == dkim.first_host
    assert data["DkimTextValue"] == dkim.first_text
    assert data["PendingDkimHostName"] == ""
    assert dkim.history[-1].physical_id == f"dkim/{dkim.zone_id}/{dkim.domain_id}"
    rrsets = dkim.world.client("route53").list_resource_record_sets(HostedZoneId=dkim.zone_id)["ResourceRecordSets"]
    (record,) = [r for r in rrsets if r["Type"] == "TXT"]
    assert record["TTL"] == 3600, "adopted as it was, not re-written"
    assert dkim.emulator.calls() == [f"GET /domains/{dkim.domain_id}"]
    assert dkim.ledger() is None


def test_create_publishes_a_missing_active_key(dkim):
    dkim.world.client("route53").change_resource_record_sets(
        HostedZoneId=dkim.zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "DELETE",
                    "ResourceRecordSet": {
                        "Name": dkim.first_host,
                        "Type": "TXT",
                        "TTL": 3600,
                        "ResourceRecords": [{"Value": route53_txt_value(dkim.first_text)}],
                    },
                }
            ]
        },
    )
    assert dkim.txt(dkim.first_host) == []
    _ok(dkim.create())  # asserts the signing key is published again


def test_a_record_someone_changed_is_never_overwritten(dkim):
    r53 = dkim.world.client("route53")
    other = '"k=rsa; p=SOMEONEELSE"'
    change = {"Name": dkim.first_host, "Type": "TXT", "TTL": 3600}
    r53.change_resource_record_sets(
        HostedZoneId=dkim.zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "DELETE",
                    "ResourceRecordSet": {**change, "ResourceRecords": [{"Value": route53_txt_value(dkim.first_text)}]},
                },
                {"Action": "CREATE", "ResourceRecordSet": {**change, "ResourceRecords": [{"Value": other}]}},
            ]
        },
    )
    response = dkim.driver.create(dkim.props())
    assert response.status == "FAILED"
    assert f"TXT {dkim.first_host}" in response.reason
    assert "does not hold Postmark's DKIM key" in response.reason
    assert len(response.reason) <= 256
    assert dkim.txt(dkim.first_host) == ["k=rsa; p=SOMEONEELSE"], "left exactly as it was"


def test_invalid_rotation_fails_before_any_call(dkim):
    response = dkim.driver.create(dkim.props("December"))
    assert response.status == "FAILED"
    assert "Rotation 'December' must be YYYY-MM or YYYY-MM-DD" in response.reason
    assert dkim.emulator.calls() == []


# -- the rotation, phase by phase ------------------------------------------------------------------------------


def test_a_full_rotation_walks_every_phase_once(dkim):
    assert _ok(dkim.create())["DkimRotationPhase"] == IDLE

    data = _ok(dkim.update("2026-12"))  # the new key is published, verified and active within the wait
    domain = dkim.domain()
    assert data["DkimRotationPhase"] == REVOKED_KEY_PUBLISHED
    assert data["DkimRotation"] == "2026-12"
    assert data["DkimHostName"] == domain["DKIMHost"] != dkim.first_host
    assert data["DkimTextValue"] == domain["DKIMTextValue"]
    assert data["RevokedDkimHostName"] == dkim.first_host == domain["DKIMRevokedHost"]
    assert dkim.holds(dkim.first_host, dkim.first_text), "the revoked key stays until Postmark says it is safe"
    assert dkim.rotations() == 1
    assert dkim.ledger() == "2026-12"

    data = _ok(dkim.update("2026-12", reconcile="r1"))  # a re-deploy before Postmark's go-ahead
    assert data["DkimRotationPhase"] == REVOKED_KEY_PUBLISHED
    assert dkim.holds(dkim.first_host, dkim.first_text)

    dkim.emulator.api.mark_revoked_key_safe(dkim.domain_id)
    data = _ok(dkim.update("2026-12", reconcile="r2"))
    assert data["DkimRotationPhase"] == COMPLETE
    assert dkim.txt(dkim.first_host) == [], "removed once safe"
    assert dkim.rotations() == 1, "one rotation for one value, whatever the number of deploys"


def test_slow_activation_answers_success_with_the_phase_and_the_next_deploy_continues(dkim):
    _ok(dkim.create())
    dkim.emulator.configure(verify_lag_calls=2)
    data = _ok(dkim.update("2026-12"))
    pending = dkim.domain()
    assert data["DkimRotationPhase"] == PENDING_VERIFICATION
    assert data["DkimHostName"] == dkim.first_host, "the old key still signs"
    assert data["PendingDkimHostName"] == pending["DKIMPendingHost"] != ""
    assert dkim.holds(pending["DKIMPendingHost"], pending["DKIMPendingTextValue"]), "published beside the active"

    assert _ok(dkim.update("2026-12", reconcile="r1"))["DkimRotationPhase"] == PENDING_VERIFICATION
    data = _ok(dkim.update("2026-12", reconcile="r2"))
    assert data["DkimRotationPhase"] == REVOKED_KEY_PUBLISHED
    assert data["DkimHostName"] == pending["DKIMPendingHost"]
    assert dkim.rotations() == 1


def test_duplicate_delivery_and_retry_never_rotate_twice(dkim):
    _ok(dkim.create())
    dkim.emulator.configure(verify_lag_calls=10)
    props, old = dkim.props("2026-12"), dict(dkim.last_props)
    event = dkim.driver.events.update(DKIM_TYPE, LOGICAL_ID, dkim.physical_id, props, old)
    from arda_ops.cfn_protocol import invoke

    first = invoke(dkim.driver.handler, event, dkim.driver.receiver)
    assert_signing_key_published(dkim)
    again = invoke(dkim.driver.handler, dict(event), dkim.driver.receiver)  # the same event delivered twice
    assert_signing_key_published(dkim)
    assert first.status == again.status == "SUCCESS"
    assert dkim.rotations() == 1
    assert again.data["DkimRotationPhase"] == PENDING_VERIFICATION


@pytest.mark.parametrize("phase", [PENDING_VERIFICATION, REVOKED_KEY_PUBLISHED])
def test_rollback_from_each_phase_keeps_both_keys_published(dkim, phase):
    _ok(dkim.create())
    if phase == PENDING_VERIFICATION:
        dkim.emulator.configure(verify_lag_calls=10)
    assert _ok(dkim.update("2026-12"))["DkimRotationPhase"] == phase
    failed = dict(dkim.last_props)
    domain = dkim.domain()
    keys = [
        (domain[h], domain[t])
        for h, t in (
            ("DKIMHost", "DKIMTextValue"),
            ("DKIMPendingHost", "DKIMPendingTextValue"),
            ("DKIMRevokedHost", "DKIMRevokedTextValue"),
        )
        if domain[h]
    ]
    assert len(keys) == 2

    data = _ok(dkim.rollback("", failed))  # the stack rolls back to DkimKeyRotation ""

    assert data["DkimRotationPhase"] == phase, "a rollback neither rotates nor undoes the rotation"
    for host, text in keys:
        assert dkim.holds(host, text), f"{host} must stay published while it may sign"
    assert dkim.rotations() == 1
    assert dkim.ledger() == "2026-12"
    assert _ok(dkim.update("2026-12", reconcile="again"))["DkimRotationPhase"] == phase
    assert dkim.rotations() == 1, "re-deploying the rolled-back value does not rotate again"


def test_a_newer_value_waits_for_the_unfinished_rotation_then_starts(dkim):
    _ok(dkim.create())
    dkim.emulator.configure(verify_lag_calls=1)
    assert _ok(dkim.update("2026-12"))["DkimRotationPhase"] == PENDING_VERIFICATION

    data = _ok(dkim.update("2027-06"))
    assert data["DkimRotationPhase"] == WAITING_FOR_PREVIOUS
    assert data["DkimRotation"] == "2027-06"
    assert dkim.rotations() == 1
    assert dkim.domain()["DKIMRevokedHost"] == dkim.first_host, "meanwhile the previous one went on"

    assert _ok(dkim.update("2027-06", reconcile="r1"))["DkimRotationPhase"] == WAITING_FOR_PREVIOUS
    second_key = dkim.domain()["DKIMHost"]
    dkim.emulator.api.mark_revoked_key_safe(dkim.domain_id)
    dkim.emulator.configure(verify_lag_calls=0)
    data = _ok(dkim.update("2027-06", reconcile="r2"))
    assert dkim.rotations() == 2
    assert data["DkimRotation"] == "2027-06"
    assert data["DkimRotationPhase"] == REVOKED_KEY_PUBLISHED
    assert data["RevokedDkimHostName"] == second_key
    assert dkim.txt(dkim.first_host) == [], "the first rotation's revoked key went before the second started"


def test_an_older_value_never_rotates(dkim):
    _ok(dkim.create("2026-12"))  # a stack created with the parameter set on an active key rotates at once
    assert dkim.rotations() == 1
    dkim.emulator.api.mark_revoked_key_safe(dkim.domain_id)
    assert _ok(dkim.update("2026-06"))["DkimRotationPhase"] == COMPLETE
    assert dkim.rotations() == 1


def test_a_new_domain_is_never_rotated_its_first_key_counts(dkim):
    dkim.emulator.api.delete_domain(NON_PROD, dkim.domain_id)
    fresh = dkim.emulator.add_domain(NON_PROD, DOMAIN, f"pm-bounces.{DOMAIN}")
    assert fresh["DKIMHost"] == ""
    assert fresh["DKIMPendingHost"] != ""
    dkim.domain_id = int(fresh["ID"])
    props = dkim.props("2026-12")
    response = dkim.driver.create(props)
    data = _ok(response)
    assert data["DkimHostName"] == fresh["DKIMPendingHost"]
    assert data["PendingDkimHostName"] == "", "no rotation: the first key is simply not verified yet"
    assert data["DkimRotationPhase"] == COMPLETE
    assert dkim.rotations() == 0
    assert dkim.ledger() == "2026-12"
    assert dkim.holds(fresh["DKIMPendingHost"], fresh["DKIMPendingTextValue"]), "published for its verification"
    assert dkim.emulator.calls() == [f"GET /domains/{dkim.domain_id}"], (
        "verifying it is the verification resource's job"
    )


def test_the_domain_name_must_be_postmarks(dkim):
    response = dkim.driver.create(dkim.props(DomainName="stage.ardamails.com"))
    assert response.status == "FAILED"
    assert (
        f"Postmark domain {dkim.domain_id} is 'dev.ardamails.com', not DomainName stage.ardamails.com"
        in response.reason
    )


# -- unknown outcomes and faults -------------------------------------------------------------------------------


def test_a_rotate_whose_answer_is_lost_is_recognised_from_postmark(dkim):
    _ok(dkim.create())
    dkim.emulator.configure(verify_lag_calls=10)
    dkim.emulator.inject(Fault.commit_then_error(drop=True, method="POST", path=r"/rotatedkim$"))
    data = _ok(dkim.update("2026-12"))
    assert data["DkimRotationPhase"] == PENDING_VERIFICATION
    assert dkim.rotations() == 1
    pending = dkim.domain()
    assert dkim.holds(pending["DKIMPendingHost"], pending["DKIMPendingTextValue"])
    _ok(dkim.update("2026-12", reconcile="r1"))
    assert dkim.rotations() == 1


@pytest.mark.parametrize("committed", [True, False], ids=["committed", "not-committed"])
def test_an_outcome_unknown_until_the_next_deploy_is_settled_from_postmark(dkim, committed):
    """The rotate's answer is lost and Postmark cannot be read back either: the request fails, and the next
    deploy learns from Postmark's state whether the rotation happened (a pending key) or not (rotate now)."""
    _ok(dkim.create())
    dkim.emulator.configure(verify_lag_calls=10)
    lost = Fault(commit_then_fail=True, drop_connection=True, method="POST", path=r"/rotatedkim$")
    if not committed:
        lost = Fault(drop_connection=True, method="POST", path=r"/rotatedkim$")
    unreadable = Fault.server_error(method="GET", path=r"^/domains/\d+$", skip=1, times=None)
    dkim.emulator.inject(lost, unreadable)
    response = dkim.update("2026-12")
    assert response.status == "FAILED"
    assert dkim.ledger() == "2026-12:from:", "started, outcome unknown"
    assert bool(dkim.domain()["DKIMPendingHost"]) is committed
    dkim.emulator.faults.clear()

    data = _ok(dkim.update("2026-12"))
    assert data["DkimRotationPhase"] == PENDING_VERIFICATION
    assert dkim.ledger() == "2026-12"
    assert dkim.rotations() == (1 if committed else 2), "a second POST only when the first did not happen"
    pending = dkim.domain()
    assert dkim.holds(pending["DKIMPendingHost"], pending["DKIMPendingTextValue"])


def test_a_rotate_that_did_not_happen_fails_and_the_next_attempt_rotates(dkim):
    _ok(dkim.create())
    dkim.emulator.inject(Fault.server_error(method="POST", path=r"/rotatedkim$"))
    response = dkim.update("2026-12")
    assert response.status == "FAILED"
    assert "rotatedkim" in response.reason
    assert "HTTP 500" in response.reason
    assert dkim.domain()["DKIMPendingHost"] == ""
    assert dkim.ledger() is None, "the ledger is put back: nothing was rotated"
    assert _ok(dkim.update("2026-12"))["DkimRotationPhase"] == REVOKED_KEY_PUBLISHED
    assert dkim.rotations() == 2  # the failed attempt and the real one


def test_already_being_renewed_505_is_continued(dkim):
    _ok(dkim.create())
    body = {"ErrorCode": 505, "Message": "This DKIM is already being renewed."}
    # Someone else's rotation lands just before ours: Postmark has a pending key and refuses ours with 505.
    dkim.emulator.inject(Fault(commit_then_fail=True, status=422, body=body, method="POST", path=r"/rotatedkim$"))
    data = _ok(dkim.update("2026-12"))
    assert data["DkimRotationPhase"] == REVOKED_KEY_PUBLISHED
    assert dkim.ledger() == "2026-12"


@pytest.mark.parametrize(
    "fault",
    [
        Fault.server_error(method="GET", path=r"^/domains/\d+$", times=None),
        Fault.server_error(method="PUT", path=r"/verifydkim$", times=None),
    ],
    ids=["get-domain", "verify"],
)
def test_a_postmark_failure_fails_with_a_reason_and_unpublishes_nothing(dkim, fault):
    _ok(dkim.create())
    dkim.emulator.inject(fault)
    response = dkim.update("2026-12")
    assert response.status == "FAILED"
    assert "HTTP 500" in response.reason
    dkim.emulator.faults.clear()
    domain = dkim.domain()
    if domain["DKIMPendingHost"]:
        assert dkim.holds(domain["DKIMPendingHost"], domain["DKIMPendingTextValue"])
    data = _ok(dkim.update("2026-12", reconcile="retry"))
    assert data["DkimRotationPhase"] == REVOKED_KEY_PUBLISHED
    assert dkim.rotations() <= 1


def test_route53_unreachable_fails_before_any_rotation(dkim, monkeypatch):
    from arda_ops.dns_server import closed_loopback_port

    _ok(dkim.create())
    monkeypatch.setenv("AWS_ENDPOINT_URL_ROUTE_53", f"http://127.0.0.1:{closed_loopback_port()}")
    response = dkim.driver.update(dkim.physical_id, dkim.props("2026-12"), dkim.last_props, timeout_ms=15_000)
    assert response.status == "FAILED"
    assert f"ListResourceRecordSets {dkim.first_host}" in response.reason
    assert "no answer from Route 53" in response.reason
    assert dkim.rotations() == 0, "nothing is rotated before the current key is known to be published"
    assert dkim.ledger() is None
    monkeypatch.delenv("AWS_ENDPOINT_URL_ROUTE_53")
    assert _ok(dkim.update("2026-12"))["DkimRotationPhase"] == REVOKED_KEY_PUBLISHED


def test_the_rotate_answer_is_never_trusted_for_the_keys(dkim):
    """The documented example of rotatedkim's answer spells the active key's field ``DKIMTestValue``."""
    _ok(dkim.create())
    dkim.emulator.configure(rotate_text_value_key="DKIMTestValue")
    data = _ok(dkim.update("2026-12"))
    assert data["DkimTextValue"] == dkim.domain()["DKIMTextValue"] != ""


# -- Delete ----------------------------------------------------------------------------------------------------


def test_delete_removes_the_revoked_key_but_never_the_signing_one(dkim):
    _ok(dkim.create())
    _ok(dkim.update("2026-12"))
    signing = dkim.domain()
    _ok(dkim.delete())
    assert dkim.txt(dkim.first_host) == [], "the revoked key's record (this resource's) is gone"
    assert dkim.holds(signing["DKIMHost"], signing["DKIMTextValue"])


def test_delete_while_pending_removes_the_pending_key_only(dkim):
    _ok(dkim.create())
    dkim.emulator.configure(verify_lag_calls=10)
    _ok(dkim.update("2026-12"))
    pending = dkim.domain()["DKIMPendingHost"]
    _ok(dkim.delete())
    assert dkim.txt(pending) == []
    assert dkim.holds(dkim.first_host, dkim.first_text)


def test_delete_after_an_early_failed_create_touches_nothing(dkim):
    response = dkim.driver.create(dkim.props("bad"))
    assert response.status == "FAILED"
    deleted = dkim.driver.delete(response.physical_id, dkim.props("bad"))
    assert deleted.status == "SUCCESS", deleted.reason
    assert dkim.emulator.calls() == []


# -- the sample events -----------------------------------------------------------------------------------------

SAMPLE_EVENTS = sorted((REPO_ROOT / "events" / "postmark_dkim").glob("*.json"))


@pytest.mark.parametrize("path", SAMPLE_EVENTS, ids=[p.stem for p in SAMPLE_EVENTS])
def test_sample_events_carry_valid_properties(path):
    event = json.loads(path.read_text())
    assert event["ResourceType"] == DKIM_TYPE
    props = load_function_module("postmark_dkim").read_properties(event["ResourceProperties"])
    assert props.physical_id == event.get("PhysicalResourceId", props.physical_id)
    assert {json.loads(p.read_text())["RequestType"] for p in SAMPLE_EVENTS} == {"Create", "Update", "Delete"}

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
import time
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
    from arda_mail.log_redaction import install as guard_botocore_logs
    from arda_mail.secrets import forget_tokens

    loopback.reset()
    loopback.postmark.configure(  # settings outlive a reset: every test starts from Postmark's documented ones
        verify_lag_calls=0, rotate_text_value_key="DKIMTextValue", revoked_safe_at_activation=False
    )
    forget_tokens()
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
    assert dkim.ledger() == f"2026-12:from::signing:{dkim.first_host.split('.')[0]}", "started, outcome unknown"
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
    assert props.target.physical_id == event.get("PhysicalResourceId", props.target.physical_id)
    assert {json.loads(p.read_text())["RequestType"] for p in SAMPLE_EVENTS} == {"Create", "Update", "Delete"}


# -- attacks (issue #15 review) --------------------------------------------------------------------------------


@pytest.mark.parametrize("safe_meanwhile", [False, True], ids=["revoked-key-kept", "revoked-key-safe"])
def test_a_lost_rotate_whose_key_went_active_meanwhile_is_not_rotated_again(dkim, safe_meanwhile):
    """The rotate commits, its answer is lost and Postmark cannot be read back: the request fails with the ledger
    at ``2026-12:from:``. Before the next deploy the new key is published and verified out of band (the drift
    check's printed fix does exactly that), so Postmark shows no pending key any more, only a new active one. The
    next deploy must see that the rotation happened (the signing key changed), not rotate a second time."""
    _ok(dkim.create())
    dkim.emulator.configure(verify_lag_calls=10)
    lost = Fault(commit_then_fail=True, drop_connection=True, method="POST", path=r"/rotatedkim$")
    unreadable = Fault.server_error(method="GET", path=r"^/domains/\d+$", skip=1, times=None)
    dkim.emulator.inject(lost, unreadable)
    assert dkim.update("2026-12").status == "FAILED"
    dkim.emulator.faults.clear()
    assert (dkim.ledger() or "").startswith("2026-12:from:")
    pending = dkim.domain()
    r53 = dkim.world.client("route53")
    record = {"Name": pending["DKIMPendingHost"], "Type": "TXT", "TTL": 3600}
    record["ResourceRecords"] = [{"Value": route53_txt_value(pending["DKIMPendingTextValue"])}]
    r53.change_resource_record_sets(
        HostedZoneId=dkim.zone_id, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": record}]}
    )
    dkim.emulator.configure(verify_lag_calls=0)
    dkim.emulator.api.verify_dkim(NON_PROD, dkim.domain_id)  # out of band: Postmark now signs with the new key
    assert dkim.domain()["DKIMHost"] == pending["DKIMPendingHost"]
    if safe_meanwhile:
        dkim.emulator.api.mark_revoked_key_safe(dkim.domain_id)

    data = _ok(dkim.update("2026-12"))
    assert dkim.rotations() == 1, "the lost rotate happened: the active key changed since it was started"
    assert data["DkimRotationPhase"] == (COMPLETE if safe_meanwhile else REVOKED_KEY_PUBLISHED)
    assert data["DkimHostName"] == pending["DKIMPendingHost"]
    assert dkim.ledger() == "2026-12"


NON_ASCII_DIGITS = {
    "fullwidth": "\uff12\uff10\uff12\uff16-12",
    "mixed": "2026-\uff112-01",
    "arabic-indic": "\u0662\u0660\u0662\u0666-12",
}


@pytest.mark.parametrize("value", NON_ASCII_DIGITS.values(), ids=NON_ASCII_DIGITS.keys())
def test_a_rotation_value_with_non_ascii_digits_fails_before_any_call(dkim, value):
    response = dkim.driver.create(dkim.props(value))
    assert response.status == "FAILED"
    assert "must be YYYY-MM or YYYY-MM-DD" in response.reason
    assert dkim.emulator.calls() == []
    assert dkim.ledger() is None


def test_a_rotation_value_in_the_future_fails_before_any_call(dkim):
    """A typo such as 2062-12 for 2026-12 would rotate once and then make every real later value "older": no
    rotation would ever happen again until that date. It is refused before anything is called."""
    response = dkim.driver.create(dkim.props("2062-12"))
    assert response.status == "FAILED"
    assert "Rotation '2062-12' is more than a year in the future" in response.reason
    assert dkim.emulator.calls() == []
    assert dkim.rotations() == 0
    assert dkim.ledger() is None


def test_a_duplicate_delivery_racing_the_originals_rotate_never_rotates_twice(dkim):
    """The same Update delivered twice, concurrently: the duplicate arrives while the original's rotate is still in
    flight (recorded as started, Postmark has not processed it yet). Taking that mark for a lost rotate that did
    not happen, the duplicate would rotate itself, and the original's rotate would then land on top of the new
    key: two rotations for one value."""
    import threading

    from arda_ops.cfn_protocol import invoke

    _ok(dkim.create())
    event = dkim.driver.events.update(DKIM_TYPE, LOGICAL_ID, dkim.physical_id, dkim.props("2026-12"), dkim.last_props)
    dkim.emulator.inject(Fault.slow(3.0, method="POST", path=r"/rotatedkim$", times=1))  # the original's, in flight
    original = threading.Thread(target=invoke, args=(dkim.driver.handler, dict(event), dkim.driver.receiver))
    original.start()
    try:
        started = time.monotonic()
        while not (dkim.ledger() or "").startswith("2026-12:from:"):  # the original has recorded its start
            assert time.monotonic() - started < 60, "the original never recorded its rotation"
            time.sleep(0.02)
        invoke(dkim.driver.handler, dict(event), dkim.driver.receiver, timeout_ms=120_000)
    finally:
        original.join(timeout=120)
    assert not original.is_alive()
    responses = dkim.driver.receiver.responses_for(event["ResponseURL"])
    assert [r.status for r in responses] == ["SUCCESS", "SUCCESS"], [r.reason for r in responses]
    assert_signing_key_published(dkim)
    assert dkim.rotations() == 1, "one rotation for one value, however the request is delivered"
    assert dkim.ledger() == "2026-12"


def test_no_secret_in_any_log_at_debug_through_a_whole_rotation(dkim, caplog, capsys):
    """Every logger that matters at DEBUG (botocore's dump of GetSecretValue's body, urllib3, the layer, the
    handler's Powertools logger): neither the account token, nor the AWS secret key, nor the response URL's
    signature appears, through a Create, a rotation with a lost answer, a Delete and a failed request."""
    import logging
    import os

    from support import secret_scan

    for name in ("", "botocore", "urllib3", "arda_mail", os.environ["POWERTOOLS_SERVICE_NAME"]):
        caplog.set_level(logging.DEBUG, logger=name)
    _ok(dkim.create())
    dkim.emulator.inject(Fault.commit_then_error(drop=True, method="POST", path=r"/rotatedkim$"))
    _ok(dkim.update("2026-12"))
    assert dkim.driver.create(dkim.props(DomainName="stage.ardamails.com")).status == "FAILED"
    _ok(dkim.delete())
    signatures = [r.path.split("?", 1)[1] for r in dkim.history if "?" in r.path]
    assert signatures, "the response URLs carry a pre-signed query, as CloudFormation's do"
    secrets = [TOKENS[NON_PROD], os.environ["AWS_SECRET_ACCESS_KEY"], *signatures]
    secret_scan.register(*secrets)
    formatter = logging.Formatter()
    texts = [capsys.readouterr().out]
    for record in caplog.records:
        texts.append(record.getMessage())
        texts.append(formatter.formatException(record.exc_info) if record.exc_info else "")
        texts.extend(str(v) for v in vars(record).values())
    assert sum(r.levelno == logging.DEBUG for r in caplog.records) > 20, "DEBUG logging was really on"
    leaks = [i for i, s in enumerate(secrets) if any(s in t for t in texts)]
    assert not leaks, f"secret(s) #{leaks} in the logs"


@pytest.fixture
def aws_faults(monkeypatch):
    """Faults at botocore's transport for Route 53 and Secrets Manager (tests/support/aws.py explains the seam)."""
    import boto3
    import botocore.handlers
    from support.aws import FaultInjector

    injector = FaultInjector()
    handlers = [*botocore.handlers.BUILTIN_HANDLERS]
    handlers += [("before-send.route53", injector), ("before-send.secrets-manager", injector)]
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", handlers)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # a session created from now on, with the hook
    return injector


_SM_ERROR = (500, b'{"__type":"InternalServiceError","message":"injected"}')
_R53_ERROR = (
    500,
    b'<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error>'
    b"<Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>injected</Message></Error></ErrorResponse>",
)
AWS_CALLS = [
    ("secrets-manager.GetSecretValue", 0, _SM_ERROR),
    ("secrets-manager.DescribeSecret", 0, _SM_ERROR),
    ("secrets-manager.TagResource", 0, _SM_ERROR),  # the start mark
    ("secrets-manager.TagResource", 1, _SM_ERROR),  # the confirmation
    ("route53.ListResourceRecordSets", 0, _R53_ERROR),
    ("route53.ListResourceRecordSets", 1, _R53_ERROR),  # the pending key's read, after the rotate
    ("route53.ChangeResourceRecordSets", 0, _R53_ERROR),  # the pending key's CREATE
    ("route53.GetChange", 0, _R53_ERROR),
]


@pytest.mark.parametrize(
    ("operation", "skip", "error"), AWS_CALLS, ids=[f"{op.split('.')[1]}-{n}" for op, n, _ in AWS_CALLS]
)
def test_a_failing_aws_call_at_each_step_never_rotates_twice_nor_unpublishes(dkim, aws_faults, operation, skip, error):
    """Each AWS call of a rotating Update fails persistently (after ``skip`` good ones): one response, a Reason
    naming the call when it fails, the signing key still published, and the next deploy finishes the rotation
    with exactly one rotate in all."""
    from arda_mail.secrets import forget_tokens

    _ok(dkim.create())
    forget_tokens()  # a new execution environment: the token is read again
    aws_faults.let_through(operation, times=skip)
    aws_faults.fail(operation, error, times=10)
    response = dkim.update("2026-12", MaxWaitSeconds="20")
    assert [r.path for r in dkim.driver.receiver.responses].count(response.path) == 1, "exactly one response"
    assert len(response.raw.encode()) <= 4096
    if response.status == "FAILED":  # the Reason names what failed
        assert dkim.zone_id in response.reason or dkim.secret_arn in response.reason, response.reason
    if operation in ("secrets-manager.DescribeSecret", "secrets-manager.TagResource") and response.status == "FAILED":
        assert response.reason.endswith("nothing was rotated; deploy again"), "whole, not cut off at 250 characters"
    assert dkim.rotations() <= 1
    aws_faults.drop_plans()
    data = _ok(dkim.update("2026-12", reconcile="retry", MaxWaitSeconds="20"))
    assert data["DkimRotationPhase"] == REVOKED_KEY_PUBLISHED
    assert dkim.rotations() == 1
    assert dkim.ledger() == "2026-12"


def test_replacing_the_domain_publishes_the_new_ones_key_and_the_cleanup_removes_the_old_ones_pending_key(dkim):
    """Custom::PostmarkDomain moved the domain to the other Postmark account (new DomainId, the other account's
    token put into the same secret): the Update publishes the new domain's first key under a new
    PhysicalResourceId; CloudFormation's cleanup Delete of the old one removes the old domain's pending key (it
    can never sign now) and leaves every record of the new domain alone."""
    _ok(dkim.create())
    dkim.emulator.configure(verify_lag_calls=10)
    _ok(dkim.update("2026-12"))
    old = dkim.domain()
    old_physical_id, old_props = dkim.physical_id, dict(dkim.last_props)
    assert dkim.holds(old["DKIMPendingHost"], old["DKIMPendingTextValue"])

    new = dkim.emulator.add_domain(PROD, DOMAIN, f"pm-bounces.{DOMAIN}")
    dkim.world.client("secretsmanager").put_secret_value(SecretId=dkim.secret_arn, SecretString=TOKENS[PROD])
    from arda_mail.secrets import forget_tokens

    forget_tokens()
    dkim.domain_id = int(new["ID"])
    data = _ok(dkim.update("2026-12"))
    assert dkim.physical_id == f"dkim/{dkim.zone_id}/{new['ID']}" != old_physical_id
    assert data["DkimHostName"] == new["DKIMPendingHost"]
    assert dkim.holds(new["DKIMPendingHost"], new["DKIMPendingTextValue"]), "the new domain's first key is published"
    assert dkim.ledger() == "2026-12", "a new domain's first key counts as the rotation"

    cleanup = dkim.driver.delete(old_physical_id, old_props)
    assert cleanup.status == "SUCCESS", cleanup.reason
    assert_signing_key_published(dkim)
    assert dkim.holds(new["DKIMPendingHost"], new["DKIMPendingTextValue"]), "the new domain's key stays"
    assert dkim.txt(old["DKIMPendingHost"]) == [], "the old domain's pending key can never sign: removed"


def test_the_rollback_delete_of_a_create_refused_for_a_foreign_domain_succeeds_and_touches_nothing(dkim):
    """A Create whose DomainId names another domain than DomainName fails after its PhysicalResourceId was set;
    CloudFormation's rollback Delete carries the same properties. It must succeed (a failing rollback leaves the
    stack in ROLLBACK_FAILED) and touch no record: the domain is not this resource's."""
    props = dkim.props(DomainName="stage.ardamails.com")
    created = dkim.driver.create(props)
    assert created.status == "FAILED"
    before = dkim.world.client("route53").list_resource_record_sets(HostedZoneId=dkim.zone_id)["ResourceRecordSets"]
    deleted = dkim.driver.delete(created.physical_id, props)
    assert deleted.status == "SUCCESS", deleted.reason
    after = dkim.world.client("route53").list_resource_record_sets(HostedZoneId=dkim.zone_id)["ResourceRecordSets"]
    assert after == before
    assert_signing_key_published(dkim)


@pytest.fixture
def emulator_variant(dkim):
    """Set emulator variants for one test; put Postmark's documented defaults back afterwards (settings outlive
    a reset)."""
    from postmark_emulator.model import DEFAULT_FOREIGN_DOMAIN_CODE, DEFAULT_MISSING_DOMAIN_STATUS

    yield dkim.emulator.configure
    dkim.emulator.configure(
        dkim_key_bits=1024,
        foreign_domain_code=DEFAULT_FOREIGN_DOMAIN_CODE,
        missing_domain_status=DEFAULT_MISSING_DOMAIN_STATUS,
    )


def test_a_2048_bit_key_is_published_as_several_strings_and_adopted_again(dkim, emulator_variant):
    """A 2048-bit key's record is longer than one TXT string may be (255 characters): it is published as several
    strings, which DNS hands DKIM joined; a re-deploy must recognise that record as its own, not as foreign."""
    emulator_variant(dkim_key_bits=2048)
    _ok(dkim.create())
    _ok(dkim.update("2026-12"))
    signing = dkim.domain()
    assert len(signing["DKIMTextValue"]) > 255
    rrset = dkim.world.client("route53").list_resource_record_sets(
        HostedZoneId=dkim.zone_id, StartRecordName=signing["DKIMHost"], StartRecordType="TXT", MaxItems="1"
    )["ResourceRecordSets"][0]
    assert rrset["ResourceRecords"][0]["Value"].count('" "') >= 1, "several strings in one record"
    assert _ok(dkim.update("2026-12", reconcile="r1"))["DkimRotationPhase"] == REVOKED_KEY_PUBLISHED
    dkim.emulator.api.mark_revoked_key_safe(dkim.domain_id)
    assert _ok(dkim.update("2026-12", reconcile="r2"))["DkimRotationPhase"] == COMPLETE
    assert dkim.holds(signing["DKIMHost"], signing["DKIMTextValue"])
    assert dkim.rotations() == 1


@pytest.mark.parametrize(
    "variant",
    [{"foreign_domain_code": 510}, {"foreign_domain_code": 513}, {"missing_domain_status": 404}],
    ids=["foreign-510", "foreign-513", "missing-404"],
)
def test_the_cleanup_delete_after_a_move_under_each_postmark_answer(dkim, emulator_variant, variant):
    """However Postmark answers for a domain the current token does not see, the replaced domain's cleanup Delete
    finds it with the previous token and removes its pending key only."""
    emulator_variant(**variant)
    test_replacing_the_domain_publishes_the_new_ones_key_and_the_cleanup_removes_the_old_ones_pending_key(dkim)


@pytest.mark.parametrize(
    "slow",
    [
        Fault.slow(2.0, method="PUT", path=r"/verifydkim$", times=None),  # a slow Postmark while verifying
        Fault.slow(2.0, method="POST", path=r"/rotatedkim$", times=None),
    ],
    ids=["verify", "rotate"],
)
def test_a_long_wait_on_a_slow_postmark_answers_once_before_the_functions_deadline(dkim, slow):
    """MaxWaitSeconds at its cap, Postmark slow and never activating: the one response still arrives before the
    function's own timeout (here 12 s), with the phase saying the key is pending."""
    _ok(dkim.create())
    dkim.emulator.configure(verify_lag_calls=1000)
    dkim.emulator.inject(slow)
    started = time.monotonic()
    props = dkim.props("2026-12", MaxWaitSeconds="285", PollIntervalSeconds="1")
    response = dkim.driver.update(dkim.physical_id, props, dkim.last_props, timeout_ms=12_000)
    assert_signing_key_published(dkim)
    assert response.received_at - started < 12.0, "answered before the function's timeout"
    assert [r.path for r in dkim.driver.receiver.responses].count(response.path) == 1
    assert response.status == "SUCCESS", response.reason
    assert response.data["DkimRotationPhase"] == PENDING_VERIFICATION
    assert dkim.rotations() == 1


def test_a_start_mark_written_but_its_answer_lost_neither_rotates_nor_blocks_the_next_deploys(dkim, monkeypatch):
    """TagResource of the start mark commits but its answer is lost (every attempt): nothing is rotated, and the
    rollback that follows and the next deploy must not wait for a rotate "in flight" that was never sent."""
    import boto3
    import botocore.handlers
    from botocore.exceptions import ConnectionClosedError
    from botocore.httpsession import URLLib3Session

    def commit_then_lose(request, event_name, **_):
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        if event_name.endswith(".TagResource") and ":at:" in body:
            URLLib3Session().send(request)  # moto executes it...
            raise ConnectionClosedError(endpoint_url=request.url, request=request)  # ...the answer never arrives

    handlers = [*botocore.handlers.BUILTIN_HANDLERS, ("before-send.secrets-manager", commit_then_lose)]
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", handlers)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    _ok(dkim.create())
    failed = dkim.props("2026-12")
    response = dkim.driver.update(dkim.physical_id, failed, dkim.last_props)
    assert response.status == "FAILED"
    assert "nothing was rotated" in response.reason
    assert dkim.rotations() == 0
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", handlers[:-1])
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)

    started = time.monotonic()
    assert _ok(dkim.rollback("", failed))["DkimRotationPhase"] == IDLE
    data = _ok(dkim.update("2026-12", reconcile="again"))
    assert time.monotonic() - started < 20, "no wait for a rotate that was never sent"
    assert data["DkimRotationPhase"] == REVOKED_KEY_PUBLISHED
    assert dkim.rotations() == 1


@pytest.mark.parametrize("changed_meanwhile", [False, True], ids=["ours", "someone-changed-it"])
def test_a_revoked_key_postmark_stops_reporting_is_removed_not_orphaned(dkim, changed_meanwhile):
    """Postmark's documentation does not say whether it keeps reporting a revoked key once it is safe to remove
    (the emulator plays both). If it forgets it, the old key's record must not be orphaned in the zone: the
    resource remembers the revoked key (selector and fingerprint) and removes its record while it still holds it;
    a record someone changed stays."""
    _ok(dkim.create())
    assert _ok(dkim.update("2026-12"))["DkimRotationPhase"] == REVOKED_KEY_PUBLISHED
    assert dkim.holds(dkim.first_host, dkim.first_text)
    if changed_meanwhile:
        r53 = dkim.world.client("route53")
        record = {"Name": dkim.first_host, "Type": "TXT", "TTL": 3600}
        r53.change_resource_record_sets(
            HostedZoneId=dkim.zone_id,
            ChangeBatch={
                "Changes": [
                    {
                        "Action": "DELETE",
                        "ResourceRecordSet": {
                            **record,
                            "ResourceRecords": [{"Value": route53_txt_value(dkim.first_text)}],
                        },
                    },
                    {"Action": "CREATE", "ResourceRecordSet": {**record, "ResourceRecords": [{"Value": '"v=other"'}]}},
                ]
            },
        )
    dkim.emulator.api.mark_revoked_key_safe(dkim.domain_id, forget=True)
    assert dkim.domain()["DKIMRevokedHost"] == ""
    assert _ok(dkim.update("2026-12", reconcile="r1"))["DkimRotationPhase"] == COMPLETE
    assert dkim.txt(dkim.first_host) == (["v=other"] if changed_meanwhile else [])
    tags = dkim.world.client("secretsmanager").describe_secret(SecretId=dkim.secret_arn).get("Tags", [])
    assert [t["Value"] for t in tags if t["Key"].startswith("arda-mail:dkim-rotation:")] == ["2026-12"]
    assert dkim.rotations() == 1


def test_a_zone_that_is_not_the_domains_fails_before_anything_is_written_or_rotated(dkim):
    """HostedZoneId names another partition's zone (same account: dev and stage share one): Route 53 refuses the
    first write ("not permitted in zone"), which comes before any rotation; the Reason names the zone."""
    r53 = dkim.world.client("route53")
    other = r53.create_hosted_zone(Name="stage.ardamails.com", CallerReference=str(uuid.uuid4()))["HostedZone"]["Id"]
    other = other.rsplit("/", 1)[-1]
    before = r53.list_resource_record_sets(HostedZoneId=other)["ResourceRecordSets"]
    dkim.world.client("route53").change_resource_record_sets(  # the key is missing: the first write is its CREATE
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
    response = dkim.driver.create(dkim.props("2026-12", HostedZoneId=other))
    assert response.status == "FAILED"
    assert f"in zone {other} failed: InvalidChangeBatch" in response.reason
    assert "not permitted in zone stage.ardamails.com" in response.reason
    assert r53.list_resource_record_sets(HostedZoneId=other)["ResourceRecordSets"] == before
    assert dkim.rotations() == 0
    assert dkim.ledger() is None


def test_a_revoked_key_replaced_by_a_later_one_out_of_band_is_removed_not_orphaned(dkim):
    """Someone rotates again by hand (console) while the first revoked key is still published: Postmark now
    reports the second revoked key only. The first one's record is removed (it still holds that key), the second
    stays until Postmark says it is safe."""
    _ok(dkim.create())
    assert _ok(dkim.update("2026-12"))["DkimRotationPhase"] == REVOKED_KEY_PUBLISHED
    second = dkim.domain()
    dkim.emulator.api.rotate_dkim(NON_PROD, dkim.domain_id)  # by hand, outside the stack
    third = dkim.domain()
    record = {"Name": third["DKIMPendingHost"], "Type": "TXT", "TTL": 3600}
    record["ResourceRecords"] = [{"Value": route53_txt_value(third["DKIMPendingTextValue"])}]
    dkim.world.client("route53").change_resource_record_sets(
        HostedZoneId=dkim.zone_id, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": record}]}
    )
    dkim.emulator.api.verify_dkim(NON_PROD, dkim.domain_id)
    assert dkim.domain()["DKIMRevokedHost"] == second["DKIMHost"]

    assert _ok(dkim.update("2026-12", reconcile="r1"))["DkimRotationPhase"] == REVOKED_KEY_PUBLISHED
    assert dkim.txt(dkim.first_host) == [], "the first revoked key, no longer reported, is not orphaned"
    assert dkim.holds(second["DKIMHost"], second["DKIMTextValue"]), "the second stays until Postmark says so"
    assert dkim.rotations() == 1

"""``Custom::PostmarkDomainVerification`` end to end, after a real ``Custom::PostmarkDomain`` Create: records
are published from that resource's attributes into the emulator's DNS, as the stack would in Route 53."""

from __future__ import annotations

import json
import time

import pytest
from support.postmark import (  # noqa: F401 - the *_fixture imports register the fixtures
    DOMAIN_TYPE,
    NON_PROD,
    PROD,
    VERIFICATION_TYPE,
    CfnDriver,
    aws_fixture,
    domain_props,
    emulator_fixture,
    fast_retries_fixture,
    make_emulator_fixture,
    postmark_tokens_fixture,
    publish_records,
    token_secrets_fixture,
    verification_props,
)

from arda_mail.deadline import Deadline
from arda_mail.postmark.models import PostmarkDomain
from arda_mail.postmark.verification import MAX_ROUNDS, verify_until
from arda_ops.handlers import REPO_ROOT as REPO
from arda_ops.handlers import load_function_module
from postmark_emulator import Fault

LOGICAL_ID = "PostmarkDomainVerification"


@pytest.fixture
def verifier(events, receiver):
    handler = load_function_module("postmark_domain_verification").handler
    return CfnDriver(handler, events, receiver, VERIFICATION_TYPE, LOGICAL_ID)


@pytest.fixture
def domains(events, receiver):
    handler = load_function_module("postmark_domain").handler
    return CfnDriver(handler, events, receiver, DOMAIN_TYPE, "PostmarkDomain")


@pytest.fixture(autouse=True)
def _fast(fast_retries):
    return fast_retries


@pytest.fixture
def domain(domains, emulator, token_secrets):
    """A domain created through ``Custom::PostmarkDomain``: its response (attributes and physical ID)."""
    response = domains.create(domain_props(token_secrets[NON_PROD], emulator.url))
    assert response.status == "SUCCESS", response.reason
    emulator.clear_requests()
    return response


def _props(token_secrets, emulator, domain, **extra):
    return verification_props(token_secrets[NON_PROD], emulator.url, domain.physical_id, **extra)


def _verify(verifier, props, request_type="Create", **kw):
    if request_type == "Create":
        return verifier.create(props, **kw)
    return verifier.update(f"verification-{props['DomainId']}", props, props, **kw)


def test_published_records_verify(verifier, emulator, token_secrets, domain):
    publish_records(emulator, domain.data)

    response = _verify(verifier, _props(token_secrets, emulator, domain))

    assert response.status == "SUCCESS", response.reason
    assert response.physical_id == f"verification-{domain.physical_id}"
    assert response.data == {"DkimVerified": "true", "ReturnPathVerified": "true"}
    assert emulator.calls() == [
        f"PUT /domains/{domain.physical_id}/verifyDkim",
        f"PUT /domains/{domain.physical_id}/verifyReturnPath",
    ]
    stored = emulator.domain(int(domain.physical_id))
    assert stored["DKIMHost"] == domain.data["DkimHostName"], "the selector does not change on verification"
    assert stored["DKIMPendingHost"] == ""


def test_absent_records_leave_it_unverified_but_successful(verifier, emulator, token_secrets, domain):
    props = _props(token_secrets, emulator, domain, MaxWaitSeconds="0")
    response = _verify(verifier, props)
    assert response.status == "SUCCESS", response.reason
    assert response.data == {"DkimVerified": "false", "ReturnPathVerified": "false"}
    assert len(emulator.calls()) == 2, "one round when there is no time to wait"


def test_polling_stops_when_the_wait_runs_out(verifier, emulator, token_secrets, domain):
    props = _props(token_secrets, emulator, domain, MaxWaitSeconds="2", PollIntervalSeconds="1")
    started = time.monotonic()
    response = _verify(verifier, props)
    elapsed = time.monotonic() - started
    assert response.status == "SUCCESS", response.reason
    assert response.data == {"DkimVerified": "false", "ReturnPathVerified": "false"}
    assert 0.9 < elapsed < 3
    assert len(emulator.calls()) in {4, 6}  # two or three rounds of both checks


def test_fail_if_unverified_fails_with_a_clear_reason(verifier, emulator, token_secrets, domain, caplog):
    emulator.dns.publish_txt(domain.data["DkimHostName"], domain.data["DkimRecordValue"])  # DKIM only
    props = _props(token_secrets, emulator, domain, MaxWaitSeconds="0", FailIfUnverified="true")
    response = _verify(verifier, props)
    assert response.status == "FAILED"
    # the log keeps what the Reason cannot: the rounds and the wait, logged before the failure
    assert any(r.getMessage() == "verification finished" for r in caplog.records)
    assert response.reason.startswith(f"Postmark domain {domain.physical_id} (dev.ardamails.com) is not verified")
    assert "Return-Path (CNAME pm-bounces.dev.ardamails.com -> pm.mtasv.net)" in response.reason
    assert "DKIM" not in response.reason.split("verified after")[1], "DKIM did verify"
    assert len(response.reason) <= 256


def test_partial_verification_only_repeats_the_missing_check(verifier, emulator, token_secrets, domain):
    emulator.dns.publish_txt(domain.data["DkimHostName"], domain.data["DkimRecordValue"])
    props = _props(token_secrets, emulator, domain, MaxWaitSeconds="5", PollIntervalSeconds="0")
    # The CNAME appears only after the first Return-Path check: the second round must pick it up.
    original = emulator.api.verify_return_path

    def publish_after_first_call(account, domain_id):
        result = original(account, domain_id)
        emulator.dns.publish_cname(domain.data["ReturnPathHostName"], domain.data["ReturnPathCnameTarget"])
        return result

    emulator.api.verify_return_path = publish_after_first_call
    response = _verify(verifier, props)
    assert response.status == "SUCCESS", response.reason
    assert response.data == {"DkimVerified": "true", "ReturnPathVerified": "true"}
    base = f"PUT /domains/{domain.physical_id}"
    assert emulator.calls() == [f"{base}/verifyDkim", f"{base}/verifyReturnPath", f"{base}/verifyReturnPath"]


def test_lagging_verification_is_polled_until_it_passes(verifier, emulator, token_secrets, domain):
    publish_records(emulator, domain.data)
    emulator.configure(verify_lag_calls=3)
    props = _props(token_secrets, emulator, domain, MaxWaitSeconds="30", PollIntervalSeconds="0")
    response = _verify(verifier, props)
    assert response.status == "SUCCESS", response.reason
    assert response.data == {"DkimVerified": "true", "ReturnPathVerified": "true"}
    assert emulator.calls().count(f"PUT /domains/{domain.physical_id}/verifyDkim") == 4


def test_the_wait_never_exceeds_the_functions_remaining_time(verifier, emulator, token_secrets, domain):
    props = _props(token_secrets, emulator, domain, MaxWaitSeconds="285", PollIntervalSeconds="1")
    started = time.monotonic()
    # 5 s of Lambda time, 3 s kept back for the response: at most about 2 s of waiting.
    response = _verify(verifier, props, timeout_ms=5_000)
    elapsed = time.monotonic() - started
    assert response.status == "SUCCESS", response.reason
    assert response.data == {"DkimVerified": "false", "ReturnPathVerified": "false"}
    assert elapsed < 3, "answered with the reserve intact, long before crhelper's last-resort timer"


def test_update_with_another_domain_gets_another_physical_id(verifier, emulator, token_secrets, domain):
    publish_records(emulator, domain.data)
    props = _props(token_secrets, emulator, domain)
    response = _verify(verifier, props, request_type="Update")
    assert response.status == "SUCCESS", response.reason
    assert response.physical_id == f"verification-{domain.physical_id}"


NOT_VISIBLE_VARIANTS = {
    "513": ({}, "(ErrorCode 513: owned by another account)"),
    "510": ({"foreign_domain_code": 510}, "(HTTP 422, ErrorCode 510: not found or deleted)"),
    "510-as-404": (
        {"foreign_domain_code": 510, "missing_domain_status": 404},
        "(HTTP 404, ErrorCode 510: not found or deleted)",
    ),
}


@pytest.mark.parametrize("variant", list(NOT_VISIBLE_VARIANTS))
def test_a_domain_of_another_account_names_the_secret(verifier, domains, make_emulator, token_secrets, variant):
    options, cause = NOT_VISIBLE_VARIANTS[variant]
    emulator = make_emulator(**options)
    created = domains.create(domain_props(token_secrets[NON_PROD], emulator.url))
    assert created.status == "SUCCESS", created.reason
    emulator.clear_requests()

    props = verification_props(token_secrets[PROD], emulator.url, created.physical_id)
    response = _verify(verifier, props)

    assert response.status == "FAILED"
    assert response.reason == (
        f"Postmark domain {created.physical_id} is not visible to the token in secret {token_secrets[PROD]} "
        f"{cause}: does it hold the owning account's token?"
    )
    assert emulator.calls() == [f"PUT /domains/{created.physical_id}/verifyDkim"], "not retried"


@pytest.mark.parametrize("status", [422, 404])
def test_a_deleted_domain_names_the_secret(verifier, domains, make_emulator, token_secrets, status):
    emulator = make_emulator(missing_domain_status=status)
    created = domains.create(domain_props(token_secrets[NON_PROD], emulator.url))
    assert domains.delete(created.physical_id, domain_props(token_secrets[NON_PROD], emulator.url)).status == "SUCCESS"

    response = _verify(verifier, verification_props(token_secrets[NON_PROD], emulator.url, created.physical_id))

    assert response.status == "FAILED"
    assert f"Postmark domain {created.physical_id} is not visible to the token in secret" in response.reason
    assert f"(HTTP {status}, ErrorCode 510: not found or deleted)" in response.reason


def test_a_404_without_a_postmark_body_blames_the_api_url(verifier, emulator, token_secrets, domain):
    emulator.inject(Fault.bare_404(times=None))
    response = _verify(verifier, _props(token_secrets, emulator, domain))
    assert response.status == "FAILED"
    assert "HTTP 404, no such endpoint" in response.reason
    assert "check ApiUrl" in response.reason


@pytest.mark.parametrize("bits", [1024, 2048])
def test_records_from_the_attributes_verify_for_both_key_sizes(verifier, domains, make_emulator, token_secrets, bits):
    emulator = make_emulator(dkim_key_bits=bits)
    created = domains.create(domain_props(token_secrets[NON_PROD], emulator.url))
    publish_records(emulator, created.data)
    props = verification_props(token_secrets[NON_PROD], emulator.url, created.physical_id)
    response = _verify(verifier, props)
    assert response.data == {"DkimVerified": "true", "ReturnPathVerified": "true"}


def test_delete_is_a_no_op(verifier, emulator):
    response = verifier.delete("verification-36735", {"DomainId": "not even valid"})
    assert response.status == "SUCCESS", response.reason
    assert response.physical_id == "verification-36735"
    assert emulator.requests == []


SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:Alpha002-dev-Token-AbCdEf"
INVALID = {
    "missing DomainId": ({"DomainId": None}, "DomainId is required"),
    "DomainId not digits": ({"DomainId": "dev.ardamails.com"}, "DomainId must be a Postmark domain ID"),
    # thousands of digits used to reach int() and answer Python's int-size message
    "DomainId thousands of digits": ({"DomainId": "9" * 5000}, "DomainId must be a Postmark domain ID"),
    "DomainId trailing newline": ({"DomainId": "36735\n"}, "DomainId must be a Postmark domain ID"),
    "secret in another account": (
        {"AccountTokenSecretArn": "arn:aws:secretsmanager:us-east-1:210987654321:secret:x-AbCdEf"},
        "is in account 210987654321",
    ),
    "metadata service as ApiUrl": ({"ApiUrl": "https://169.254.169.254"}, "the account token is sent nowhere else"),
    "missing secret": ({"AccountTokenSecretArn": None}, "AccountTokenSecretArn is required"),
    "bad secret": ({"AccountTokenSecretArn": "arn:aws:iam::123456789012:role/x"}, "secret ARN"),
    "plain http": ({"ApiUrl": "http://example.com"}, "ApiUrl must be https://api.postmarkapp.com"),
    "wait too long": ({"MaxWaitSeconds": "3600"}, "MaxWaitSeconds must be between 0 and 285"),
    "wait negative": ({"MaxWaitSeconds": "-1"}, "MaxWaitSeconds must be between 0 and 285"),
    "wait not a number": ({"MaxWaitSeconds": "3m"}, "MaxWaitSeconds must be a whole number"),
    "interval too long": ({"PollIntervalSeconds": "600"}, "PollIntervalSeconds must be between 0 and 60"),
    "flag not boolean": ({"FailIfUnverified": "yes"}, 'FailIfUnverified must be "true" or "false"'),
    "unknown property": ({"Wait": "5"}, "unknown property Wait"),
}


@pytest.mark.parametrize("change", list(INVALID), ids=list(INVALID))
def test_invalid_properties_fail_before_any_call(verifier, emulator, change):
    props = verification_props(SECRET, emulator.url, "36735")
    overrides, expected = INVALID[change]
    for key, value in overrides.items():
        if value is None:
            props.pop(key)
        else:
            props[key] = value
    response = _verify(verifier, props)
    assert response.status == "FAILED"
    assert response.reason.startswith("Invalid properties: ")
    assert expected in response.reason
    assert emulator.requests == []


# -- verify_until on its own -------------------------------------------------------------------------
class _NeverVerified:
    def __init__(self):
        self.calls = 0

    def _domain(self) -> PostmarkDomain:
        self.calls += 1
        return PostmarkDomain.from_api({"ID": 1, "Name": "d.example.com"})

    def verify_dkim(self, domain_id):
        return self._domain()

    def verify_return_path(self, domain_id):
        return self._domain()


def test_verify_until_is_bounded_by_the_deadline_before_max_wait():
    sleeps: list[float] = []
    client = _NeverVerified()
    result = verify_until(client, 1, deadline=Deadline.after(0), max_wait_s=600, interval_s=5, sleep=sleeps.append)
    assert (result.rounds, sleeps, client.calls) == (1, [], 2)
    assert not result.verified


def test_verify_until_caps_the_rounds_with_a_zero_interval():
    client = _NeverVerified()
    result = verify_until(client, 1, deadline=Deadline.after(60), max_wait_s=60, interval_s=0, sleep=lambda s: None)
    assert result.rounds == MAX_ROUNDS


SAMPLE_EVENTS = sorted((REPO / "events" / "postmark_domain_verification").glob("*.json"))


@pytest.mark.parametrize("path", SAMPLE_EVENTS, ids=[p.stem for p in SAMPLE_EVENTS])
def test_sample_events_carry_valid_properties(path):
    event = json.loads(path.read_text())
    assert event["ResourceType"] == VERIFICATION_TYPE
    props = load_function_module("postmark_domain_verification").read_properties(event["ResourceProperties"])
    assert (props.max_wait_s, props.fail_if_unverified) == (180, False)
    assert {json.loads(p.read_text())["RequestType"] for p in SAMPLE_EVENTS} == {"Create", "Update", "Delete"}

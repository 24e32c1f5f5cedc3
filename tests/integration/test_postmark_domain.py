"""``Custom::PostmarkDomain`` end to end: the real handler, the real custom-resource protocol (the response is
the HTTPS PUT the handler sends to the ResponseURL), moto for Secrets Manager, the emulator over HTTP for Postmark."""

from __future__ import annotations

import json
import re
import time

import pytest
from support import secret_scan
from support.postmark import (  # noqa: F401 - the *_fixture imports register the fixtures
    DOMAIN_TYPE,
    NON_PROD,
    PROD,
    CfnDriver,
    aws_fixture,
    commit_then_answer,
    domain_props,
    emulator_fixture,
    fast_retries_fixture,
    make_emulator_fixture,
    new_token,
    next_domain_id,
    postmark_tokens_fixture,
    put_secret,
    put_secret_value,
    token_secrets_fixture,
)

from arda_mail.secrets import PREVIOUS_STAGE, get_account_token, get_previous_account_token
from arda_ops.handlers import REPO_ROOT as REPO
from arda_ops.handlers import load_function_module
from arda_ops.txt_values import parse_route53_txt
from postmark_emulator import Fault

LOGICAL_ID = "PostmarkDomain"
ATTRIBUTES = {
    "DomainId",
    "DkimHostName",
    "DkimTextValue",
    "DkimRecordValue",
    "ReturnPathHostName",
    "ReturnPathCnameTarget",
    "DkimVerified",
    "ReturnPathVerified",
}
NAME = "dev.ardamails.com"
RETURN_PATH = "pm-bounces.dev.ardamails.com"
UNREADABLE_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:Alpha002-dev-Missing-AbCdEf"


@pytest.fixture
def cfn(events, receiver):
    handler = load_function_module("postmark_domain").handler
    return CfnDriver(handler, events, receiver, DOMAIN_TYPE, LOGICAL_ID)


@pytest.fixture(autouse=True)
def _fast(fast_retries):
    return fast_retries


@pytest.fixture
def secrets(token_secrets):
    return token_secrets


@pytest.fixture
def props(secrets, emulator):
    return domain_props(secrets[NON_PROD], emulator.url)


# -- Create ----------------------------------------------------------------------------------------
def test_create_registers_the_domain_and_returns_the_attributes(cfn, emulator, props):
    response = cfn.create(props)

    assert response.status == "SUCCESS", response.reason
    stored = emulator.find(NON_PROD, NAME)
    assert stored is not None
    assert response.physical_id == str(stored["ID"])
    assert set(response.data) == ATTRIBUTES
    assert response.data["DomainId"] == str(stored["ID"])
    assert response.data["DkimHostName"] == stored["DKIMPendingHost"]
    assert re.fullmatch(r"\d{14}pm\._domainkey\.dev\.ardamails\.com", response.data["DkimHostName"])
    assert response.data["DkimTextValue"] == stored["DKIMPendingTextValue"]
    assert response.data["DkimRecordValue"] == f'"{stored["DKIMPendingTextValue"]}"'
    assert response.data["ReturnPathHostName"] == RETURN_PATH == stored["ReturnPathDomain"]
    assert response.data["ReturnPathCnameTarget"] == "pm.mtasv.net"
    assert (response.data["DkimVerified"], response.data["ReturnPathVerified"]) == ("false", "false")
    assert emulator.calls() == ["GET /domains", "POST /domains"], "looked up first: ownership is exact"
    request = emulator.requests[1]
    assert request["account"] == NON_PROD
    assert request["token"] == "<redacted>"
    assert request["accept"] == "application/json"
    assert request["content_type"] == "application/json"
    assert request["body"] == {"Name": NAME, "ReturnPathDomain": RETURN_PATH}


def test_create_with_an_explicit_return_path(cfn, emulator, props):
    response = cfn.create({**props, "ReturnPathDomain": "bounces.dev.ardamails.com"})
    assert response.status == "SUCCESS", response.reason
    assert response.data["ReturnPathHostName"] == "bounces.dev.ardamails.com"


@pytest.mark.parametrize("drop", [False, True], ids=["answer-500", "connection-dropped"])
def test_a_create_whose_post_committed_but_lost_its_answer_keeps_its_own_domain(cfn, emulator, props, drop):
    # More than one page of domains on the account, so both lookups have to page.
    emulator.add_domains(NON_PROD, [f"tenant{i}.example.com" for i in range(750)])
    emulator.clear_requests()
    emulator.inject(Fault.commit_then_error(drop=drop, method="POST", path=r"^/domains$"))

    response = cfn.create(props)

    assert response.status == "SUCCESS", response.reason
    matching = [d for d in emulator.domains(NON_PROD) if d["Name"] == NAME]
    assert len(matching) == 1, "never a second POST once the first one committed"
    assert response.physical_id == str(matching[0]["ID"])
    assert emulator.calls() == [
        "GET /domains",  # absent before our POST: whatever exists afterwards is ours
        "GET /domains",
        "POST /domains",  # committed, answer lost: never retried blindly
        "GET /domains",
        "GET /domains",
        f"GET /domains/{matching[0]['ID']}",
    ]
    assert [r["status"] for r in emulator.requests if r["method"] == "POST"] == ["dropped" if drop else 500]


def test_a_create_whose_every_answer_is_lost_is_removed_by_its_rollback(cfn, emulator, props):
    # Postmark commits, then answers nothing useful until the deadline: the Create fails while its claim on the
    # name stands, so the rollback's Delete resolves the name and removes the domain (issue: orphan after an
    # unknown outcome).
    emulator.inject(Fault.commit_then_error(method="POST", path=r"^/domains$"))
    emulator.inject(
        Fault(status=500, raw="Internal Server Error", method="GET", path=r"^/domains$", skip=1, times=None)
    )
    failed = cfn.create(props)
    assert failed.status == "FAILED"
    assert "HTTP 500" in failed.reason
    assert failed.physical_id == NAME, "the claim, not crhelper's placeholder"
    assert emulator.find(NON_PROD, NAME) is not None

    emulator.faults.clear()
    rollback = cfn.delete(failed.physical_id, props)
    assert rollback.status == "SUCCESS", rollback.reason
    assert emulator.find(NON_PROD, NAME) is None, "nothing orphaned"


def test_a_create_refuses_a_pre_existing_domain_without_take_over(cfn, emulator, props):
    existing = emulator.add_domain(NON_PROD, NAME, "bounces.dev.ardamails.com")

    failed = cfn.create(props)

    assert failed.status == "FAILED"
    assert f"(ID {existing['ID']}) already exists" in failed.reason
    assert "TakeOverExisting" in failed.reason
    assert emulator.calls() == ["GET /domains"], "nothing changed"
    # The rollback's Delete carries crhelper's placeholder: the existing domain is never touched.
    assert NAME not in failed.physical_id
    assert cfn.delete(failed.physical_id, props).status == "SUCCESS"
    assert emulator.find(NON_PROD, NAME)["ID"] == existing["ID"]
    assert emulator.calls() == ["GET /domains"]


def test_create_takes_over_a_pre_existing_domain_when_told_and_fixes_its_return_path(cfn, emulator, props):
    existing = emulator.add_domain(NON_PROD, NAME, "bounces.dev.ardamails.com")

    response = cfn.create({**props, "TakeOverExisting": "true"})

    assert response.status == "SUCCESS", response.reason
    assert response.physical_id == str(existing["ID"])
    assert response.data["ReturnPathHostName"] == RETURN_PATH
    assert emulator.find(NON_PROD, NAME)["ReturnPathDomain"] == RETURN_PATH
    assert emulator.calls() == [
        "GET /domains",
        f"GET /domains/{existing['ID']}",
        f"PUT /domains/{existing['ID']}",
    ]


def test_create_takes_over_a_domain_with_the_right_return_path_without_editing(cfn, emulator, props):
    existing = emulator.add_domain(NON_PROD, NAME, RETURN_PATH, dkim_verified=True)
    response = cfn.create({**props, "TakeOverExisting": "true"})
    assert response.status == "SUCCESS", response.reason
    assert response.physical_id == str(existing["ID"])
    assert response.data["DkimHostName"] == existing["DKIMHost"], "the same DKIM key: no new selector"
    assert response.data["DkimVerified"] == "true"
    assert not any(call.startswith(("PUT", "POST")) for call in emulator.calls())


def test_a_create_failing_after_its_domain_exists_answers_its_real_id(cfn, emulator, props):
    # Postmark creates the domain but answers another Return-Path, and the edit that fixes it keeps failing.
    new_id = next_domain_id(emulator)
    emulator.inject(
        commit_then_answer(emulator, NAME, "pm-bounces.elsewhere.example"),
        Fault.unavailable(method="PUT", path=r"^/domains/\d+$", times=None),
    )

    failed = cfn.create(props)

    assert failed.status == "FAILED"
    assert failed.physical_id == str(new_id), "not crhelper's placeholder: the rollback must find it"
    emulator.faults.clear()
    rollback = cfn.delete(failed.physical_id, props)
    assert rollback.status == "SUCCESS", rollback.reason
    assert emulator.find(NON_PROD, NAME) is None


# -- Update ----------------------------------------------------------------------------------------
def test_update_of_the_return_path_edits_in_place(cfn, emulator, props):
    created = cfn.create(props)
    emulator.clear_requests()
    new_props = {**props, "ReturnPathDomain": "bounces.dev.ardamails.com"}

    response = cfn.update(created.physical_id, new_props, props)

    assert response.status == "SUCCESS", response.reason
    assert response.physical_id == created.physical_id
    assert response.data["ReturnPathHostName"] == "bounces.dev.ardamails.com"
    assert response.data["DkimHostName"] == created.data["DkimHostName"]
    assert emulator.calls() == [f"GET /domains/{created.physical_id}", f"PUT /domains/{created.physical_id}"]


def test_update_without_changes_reads_only(cfn, emulator, props):
    created = cfn.create(props)
    emulator.clear_requests()
    # An ApiUrl change alone (another spelling of the same endpoint) changes nothing remote.
    new_props = {**props, "ApiUrl": emulator.url.replace("127.0.0.1", "localhost")}
    response = cfn.update(created.physical_id, new_props, props)
    assert response.status == "SUCCESS", response.reason
    assert response.physical_id == created.physical_id
    assert response.data == created.data
    assert emulator.calls() == [f"GET /domains/{created.physical_id}"]


def test_update_of_the_domain_name_replaces_and_cleanup_deletes_the_old_one(cfn, emulator, props):
    created = cfn.create(props)
    new_props = {**props, "DomainName": "stage.ardamails.com"}

    updated = cfn.update(created.physical_id, new_props, props)

    assert updated.status == "SUCCESS", updated.reason
    assert updated.physical_id != created.physical_id
    assert updated.data["ReturnPathHostName"] == "pm-bounces.stage.ardamails.com"
    assert {d["Name"] for d in emulator.domains(NON_PROD)} == {NAME, "stage.ardamails.com"}
    # CloudFormation's cleanup: Delete of the old physical ID with the old properties.
    cleanup = cfn.delete(created.physical_id, props)
    assert cleanup.status == "SUCCESS", cleanup.reason
    assert cleanup.physical_id == created.physical_id
    assert [d["Name"] for d in emulator.domains(NON_PROD)] == ["stage.ardamails.com"]


def test_rollback_of_a_replacement_adopts_the_original_again(cfn, emulator, props):
    created = cfn.create(props)
    new_props = {**props, "DomainName": "stage.ardamails.com"}
    updated = cfn.update(created.physical_id, new_props, props)
    # Another resource failed: CloudFormation rolls back with the original properties...
    rolled_back = cfn.update(updated.physical_id, props, new_props)
    assert rolled_back.status == "SUCCESS", rolled_back.reason
    assert rolled_back.physical_id == created.physical_id
    # ... and cleans up the replacement.
    assert cfn.delete(updated.physical_id, new_props).status == "SUCCESS"
    assert [d["Name"] for d in emulator.domains(NON_PROD)] == [NAME]


def test_update_onto_another_postmark_account_replaces(cfn, emulator, secrets, props):
    created = cfn.create(props)
    new_props = {**props, "AccountTokenSecretArn": secrets[PROD]}
    emulator.clear_requests()

    updated = cfn.update(created.physical_id, new_props, props)

    assert updated.status == "SUCCESS", updated.reason
    assert updated.physical_id != created.physical_id
    # the old domain is invisible to the new token; the new name is looked up (free), then created
    assert emulator.calls() == [f"GET /domains/{created.physical_id}", "GET /domains", "POST /domains"]
    assert [r["account"] for r in emulator.requests] == [PROD, PROD, PROD]
    assert [d["ID"] for d in emulator.domains(PROD)] == [int(updated.physical_id)]
    cleanup = cfn.delete(created.physical_id, props)
    assert cleanup.status == "SUCCESS", cleanup.reason
    assert emulator.domains(NON_PROD) == []
    assert [d["ID"] for d in emulator.domains(PROD)] == [int(updated.physical_id)]


def test_update_recreates_a_domain_deleted_out_of_band(cfn, emulator, props):
    created = cfn.create(props)
    emulator.api.delete_domain(NON_PROD, int(created.physical_id))
    updated = cfn.update(created.physical_id, props, props)
    assert updated.status == "SUCCESS", updated.reason
    assert updated.physical_id != created.physical_id
    assert emulator.find(NON_PROD, NAME)["ID"] == int(updated.physical_id)


# -- Delete ----------------------------------------------------------------------------------------
def test_delete_removes_the_domain(cfn, emulator, props):
    created = cfn.create(props)
    emulator.clear_requests()
    response = cfn.delete(created.physical_id, props)
    assert response.status == "SUCCESS", response.reason
    assert response.physical_id == created.physical_id
    assert emulator.find(NON_PROD, NAME) is None
    assert emulator.calls() == [f"DELETE /domains/{created.physical_id}"]


def test_delete_when_already_gone_succeeds(cfn, emulator, props):
    response = cfn.delete("123456", props)
    assert response.status == "SUCCESS", response.reason
    assert [r["status"] for r in emulator.requests] == [422]


def test_delete_after_a_failed_create_makes_no_call(cfn, emulator, props):
    bad_props = {**props, "DomainName": "Not A Domain"}
    failed = cfn.create(bad_props)
    assert failed.status == "FAILED"
    assert not failed.physical_id.isdigit()
    # Even with a secret that cannot be read: nothing outside the function is called.
    response = cfn.delete(failed.physical_id, {**bad_props, "AccountTokenSecretArn": "x"})
    assert response.status == "SUCCESS", response.reason
    assert response.physical_id == failed.physical_id
    assert emulator.requests == []


def test_delete_of_another_accounts_domain_is_not_performed(cfn, emulator, secrets, props):
    foreign = emulator.add_domain(PROD, NAME, RETURN_PATH)
    response = cfn.delete(str(foreign["ID"]), props)  # NonProd token
    assert response.status == "SUCCESS"  # 510 on this account: gone as far as this resource is concerned
    assert emulator.domain(foreign["ID"]) is not None


# -- Moving the partition to the other Postmark account ----------------------------------------------
SECRET_NAME = "Alpha002-dev-I-EmailPostmarkAccountToken"


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname in {"WARNING", "ERROR"}]


def test_moving_the_partition_to_the_other_postmark_account(cfn, emulator, aws, caplog):
    """The realistic move: one secret of fixed name; the operator puts the other account's token into it
    (the old one stays readable as AWSPREVIOUS) and the registry change alters PostmarkAccount."""
    arn = put_secret(SECRET_NAME, emulator.token_for(NON_PROD))
    old_props = domain_props(arn, emulator.url, PostmarkAccount=NON_PROD)
    created = cfn.create(old_props)
    assert created.status == "SUCCESS", created.reason
    put_secret_value(arn, emulator.token_for(PROD))  # within the token cache's 60 s: the Update must read past it
    emulator.clear_requests()

    new_props = {**old_props, "PostmarkAccount": PROD}
    updated = cfn.update(created.physical_id, new_props, old_props)

    assert updated.status == "SUCCESS", updated.reason
    assert updated.physical_id != created.physical_id
    # the old domain is invisible to the new token; the new name is looked up (free), then created
    assert emulator.calls() == [f"GET /domains/{created.physical_id}", "GET /domains", "POST /domains"]
    assert [r["account"] for r in emulator.requests] == [PROD, PROD, PROD]
    assert [d["ID"] for d in emulator.domains(PROD)] == [int(updated.physical_id)]
    assert [d["ID"] for d in emulator.domains(NON_PROD)] == [int(created.physical_id)]
    emulator.clear_requests()

    # CloudFormation's cleanup: Delete of the old ID with the old properties, hence the same secret.
    cleanup = cfn.delete(created.physical_id, old_props)

    assert cleanup.status == "SUCCESS", cleanup.reason
    assert emulator.domains(NON_PROD) == [], "the old domain must be deleted from the old account"
    assert [d["ID"] for d in emulator.domains(PROD)] == [int(updated.physical_id)]
    delete = f"DELETE /domains/{created.physical_id}"
    assert emulator.calls() == [delete, delete]
    assert [(r["account"], r["status"]) for r in emulator.requests] == [(PROD, 422), (NON_PROD, 200)]
    assert _warnings(caplog) == []


def test_the_rollback_of_a_move_returns_to_the_old_domain_and_cleans_up_the_new_one(cfn, emulator, aws, caplog):
    """A later resource fails: CloudFormation restores the secret's old value (the new token becomes AWSPREVIOUS),
    then rolls the resource back to the old properties and cleans up the replacement."""
    arn = put_secret(SECRET_NAME, emulator.token_for(NON_PROD))
    old_props = domain_props(arn, emulator.url, PostmarkAccount=NON_PROD)
    created = cfn.create(old_props)
    put_secret_value(arn, emulator.token_for(PROD))
    new_props = {**old_props, "PostmarkAccount": PROD}
    moved = cfn.update(created.physical_id, new_props, old_props)
    assert moved.status == "SUCCESS", moved.reason
    put_secret_value(
        arn, emulator.token_for(NON_PROD)
    )  # the secret's rollback comes first (PostmarkDomain refers to it)
    emulator.clear_requests()

    back = cfn.update(moved.physical_id, old_props, new_props)

    assert back.status == "SUCCESS", back.reason
    assert back.physical_id == created.physical_id, "the old domain is adopted again (512)"
    # the moved domain is invisible to the old token; the old name is found by the lookup and adopted (no POST)
    assert emulator.calls()[:3] == [
        f"GET /domains/{moved.physical_id}",
        "GET /domains",
        f"GET /domains/{created.physical_id}",
    ]
    cleanup = cfn.delete(moved.physical_id, new_props)
    assert cleanup.status == "SUCCESS", cleanup.reason
    assert emulator.domains(PROD) == []
    assert [d["ID"] for d in emulator.domains(NON_PROD)] == [int(created.physical_id)]
    assert _warnings(caplog) == []


def test_a_postmark_account_change_alone_changes_nothing_remote(cfn, emulator, secrets, props, caplog):
    # The registry says Prod but the secret still holds the NonProd token: the token still sees the domain, so
    # it stays; a warning says why.
    old_props = {**props, "PostmarkAccount": NON_PROD}
    created = cfn.create(old_props)
    emulator.clear_requests()

    updated = cfn.update(created.physical_id, {**old_props, "PostmarkAccount": PROD}, old_props)

    assert updated.status == "SUCCESS", updated.reason
    assert updated.physical_id == created.physical_id
    assert updated.data == created.data
    assert emulator.calls() == [f"GET /domains/{created.physical_id}"]
    (warning,) = _warnings(caplog)
    assert "PostmarkAccount changed but the token in the secret still sees the domain" in warning
    assert props["AccountTokenSecretArn"] in warning  # which secret to fix


def test_adding_the_postmark_account_property_changes_nothing_remote(cfn, emulator, props, caplog):
    # The first deployment that passes PostmarkAccount: no old value, no warning, no change.
    created = cfn.create(props)
    emulator.clear_requests()
    updated = cfn.update(created.physical_id, {**props, "PostmarkAccount": NON_PROD}, props)
    assert updated.status == "SUCCESS", updated.reason
    assert updated.physical_id == created.physical_id
    assert emulator.calls() == [f"GET /domains/{created.physical_id}"]
    assert _warnings(caplog) == []


def test_delete_without_a_previous_secret_version_makes_one_call(cfn, emulator, aws):
    arn = put_secret(SECRET_NAME, emulator.token_for(NON_PROD))  # never changed: no AWSPREVIOUS
    foreign = emulator.add_domain(PROD, NAME, RETURN_PATH)

    response = cfn.delete(str(foreign["ID"]), domain_props(arn, emulator.url))

    assert response.status == "SUCCESS", response.reason
    assert emulator.calls() == [f"DELETE /domains/{foreign['ID']}"]
    assert [r["status"] for r in emulator.requests] == [422]
    assert emulator.domain(foreign["ID"]) is not None


def test_delete_with_a_revoked_previous_token_succeeds_with_a_warning(cfn, emulator, aws, caplog):
    revoked = new_token()  # no account of the emulator knows it: 401, ErrorCode 10
    arn = put_secret(SECRET_NAME, revoked)
    put_secret_value(arn, emulator.token_for(NON_PROD))

    response = cfn.delete("123456", domain_props(arn, emulator.url))

    assert response.status == "SUCCESS", response.reason
    assert emulator.calls() == ["DELETE /domains/123456", "DELETE /domains/123456"]
    assert [r["status"] for r in emulator.requests] == [422, 401]
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "rejected the previous token (AWSPREVIOUS)" in warning.getMessage()
    assert warning.account_token_secret_arn == arn
    assert revoked not in caplog.text
    assert revoked not in response.raw


def test_delete_when_neither_token_sees_the_domain_succeeds(cfn, emulator, aws, caplog):
    arn = put_secret(SECRET_NAME, emulator.token_for(PROD))
    put_secret_value(arn, emulator.token_for(NON_PROD))
    response = cfn.delete("123456", domain_props(arn, emulator.url))
    assert response.status == "SUCCESS", response.reason
    assert [(r["account"], r["status"]) for r in emulator.requests] == [(NON_PROD, 422), (PROD, 422)]
    assert _warnings(caplog) == []


def test_delete_does_not_retry_when_the_previous_version_holds_the_same_token(cfn, emulator, aws):
    arn = put_secret(SECRET_NAME, emulator.token_for(NON_PROD))
    put_secret_value(arn, emulator.token_for(NON_PROD))
    response = cfn.delete("123456", domain_props(arn, emulator.url))
    assert response.status == "SUCCESS", response.reason
    assert emulator.calls() == ["DELETE /domains/123456"]


def test_delete_with_the_current_token_does_not_read_the_previous_one(cfn, emulator, aws, monkeypatch):
    arn = put_secret(SECRET_NAME, emulator.token_for(PROD))
    put_secret_value(arn, emulator.token_for(NON_PROD))
    domain = emulator.add_domain(NON_PROD, NAME, RETURN_PATH)
    from arda_mail.postmark import access

    def no_previous_read(secret_arn):
        raise AssertionError("AWSPREVIOUS must only be read after a 510")

    monkeypatch.setattr(access, "get_previous_account_token", no_previous_read)
    response = cfn.delete(str(domain["ID"]), domain_props(arn, emulator.url))
    assert response.status == "SUCCESS", response.reason
    assert [(r["account"], r["status"]) for r in emulator.requests] == [(NON_PROD, 200)]


def test_current_and_previous_tokens_are_never_served_from_each_others_cache(aws):
    old, new = new_token(), new_token()
    arn = put_secret(SECRET_NAME, old)
    assert get_previous_account_token(arn) is None
    put_secret_value(arn, new)
    for _ in range(2):
        assert get_account_token(arn) == new  # the second time from the cache
        assert get_previous_account_token(arn) == old
        assert get_account_token(arn, stage=PREVIOUS_STAGE) == old
    assert get_account_token(arn, force_fetch=True) == new


# -- A replacing Update that fails after creating the new domain --------------------------------------
def _replacing_change(change, props, secrets):
    """New properties and the account and name the replacement domain gets."""
    if change == "domain-name":
        return {**props, "DomainName": "stage.ardamails.com"}, NON_PROD, "stage.ardamails.com"
    return {**props, "AccountTokenSecretArn": secrets[PROD], "PostmarkAccount": PROD}, PROD, NAME


@pytest.mark.parametrize("change", ["domain-name", "account"])
def test_a_replacing_update_failing_after_the_create_deletes_the_new_domain(cfn, emulator, secrets, props, change):
    old_props = {**props, "PostmarkAccount": NON_PROD}
    created = cfn.create(old_props)
    new_props, account, name = _replacing_change(change, old_props, secrets)
    new_id = next_domain_id(emulator)
    # Postmark creates the domain but its answer shows another Return-Path, so the handler edits it; the edit
    # meets a persistent 503 and the Update fails after the new domain exists.
    emulator.inject(
        commit_then_answer(emulator, name, "pm-bounces.elsewhere.example"),
        Fault.unavailable(method="PUT", path=rf"^/domains/{new_id}$", times=None),
    )
    emulator.clear_requests()

    failed = cfn.update(created.physical_id, new_props, old_props)

    assert failed.status == "FAILED"
    assert failed.reason == f"Postmark PUT /domains/{new_id}: HTTP 503, ErrorCode 100 Maintenance after 4 attempt(s)"
    assert failed.physical_id == created.physical_id, "CloudFormation keeps knowing the old domain only"
    assert emulator.domain(new_id) is None, "the domain the failed Update created must be deleted again"
    assert emulator.find(account, name) is None
    assert [d["ID"] for d in emulator.api.snapshot()] == [int(created.physical_id)]
    calls = emulator.calls()
    assert calls[-7:] == ["GET /domains", "POST /domains", *[f"PUT /domains/{new_id}"] * 4, f"DELETE /domains/{new_id}"]
    assert emulator.requests[-1]["account"] == account
    # CloudFormation's rollback: an Update back to the old properties keeps the old domain.
    back = cfn.update(created.physical_id, old_props, new_props)
    assert back.status == "SUCCESS", back.reason
    assert back.physical_id == created.physical_id


def test_a_replacing_update_with_incomplete_attributes_deletes_the_new_domain(cfn, emulator, props):
    created = cfn.create(props)
    new_props = {**props, "DomainName": "stage.ardamails.com"}
    new_id = next_domain_id(emulator)
    emulator.inject(
        commit_then_answer(
            emulator,
            "stage.ardamails.com",
            "pm-bounces.stage.ardamails.com",
            DKIMPendingHost="",
            DKIMPendingTextValue="",
        )
    )
    emulator.clear_requests()

    failed = cfn.update(created.physical_id, new_props, props)

    assert failed.status == "FAILED"
    assert failed.reason == f"Postmark domain {new_id} (stage.ardamails.com) has no DKIM key to publish"
    assert failed.physical_id == created.physical_id
    assert emulator.calls() == ["GET /domains", "POST /domains", f"DELETE /domains/{new_id}"]
    assert [d["Name"] for d in emulator.domains(NON_PROD)] == [NAME]


def test_a_failed_clean_up_keeps_the_original_reason_and_the_next_attempt_resumes(cfn, emulator, props, caplog):
    created = cfn.create(props)
    new_props = {**props, "DomainName": "stage.ardamails.com"}
    new_id = next_domain_id(emulator)
    emulator.inject(
        commit_then_answer(emulator, "stage.ardamails.com", "pm-bounces.elsewhere.example"),
        Fault.unavailable(method="PUT", path=rf"^/domains/{new_id}$", times=None),
        Fault.server_error(method="DELETE", path=rf"^/domains/{new_id}$", times=None),
    )

    failed = cfn.update(created.physical_id, new_props, props)

    assert failed.status == "FAILED"
    assert failed.reason.startswith(f"Postmark PUT /domains/{new_id}: HTTP 503")
    assert failed.physical_id == created.physical_id
    assert emulator.domain(new_id) is not None
    assert any(f"could not delete Postmark domain {new_id}" in w for w in _warnings(caplog))
    # The orphan is not lost: the ownership record says it is this resource's, so the next attempt of the same
    # Update resumes it (without TakeOverExisting) instead of refusing it as someone else's.
    emulator.faults.clear()
    retried = cfn.update(created.physical_id, new_props, props)
    assert retried.status == "SUCCESS", retried.reason
    assert retried.physical_id == str(new_id)


def test_a_replacing_update_that_took_over_keeps_the_domain_when_it_fails(cfn, emulator, props):
    created = cfn.create(props)
    existing = emulator.add_domain(NON_PROD, "stage.ardamails.com", "pm-bounces.stage.ardamails.com")
    emulator.inject(Fault.unavailable(method="GET", path=rf"^/domains/{existing['ID']}$", times=None))
    emulator.clear_requests()

    new_props = {**props, "DomainName": "stage.ardamails.com", "TakeOverExisting": "true"}
    failed = cfn.update(created.physical_id, new_props, props)

    assert failed.status == "FAILED"
    assert failed.reason.startswith(f"Postmark GET /domains/{existing['ID']}: HTTP 503")
    assert failed.physical_id == created.physical_id
    assert emulator.domain(existing["ID"]) is not None, "a taken-over domain pre-existed: never deleted on failure"
    assert not any(call.startswith("DELETE") for call in emulator.calls())


def test_a_replacing_update_refuses_a_name_it_did_not_create(cfn, emulator, props):
    created = cfn.create(props)
    existing = emulator.add_domain(NON_PROD, "stage.ardamails.com", "pm-bounces.stage.ardamails.com")
    emulator.clear_requests()

    failed = cfn.update(created.physical_id, {**props, "DomainName": "stage.ardamails.com"}, props)

    assert failed.status == "FAILED"
    assert f"(ID {existing['ID']}) already exists" in failed.reason
    assert emulator.calls() == ["GET /domains"]
    assert {d["ID"] for d in emulator.domains(NON_PROD)} == {int(created.physical_id), existing["ID"]}


def test_the_clean_up_of_a_failed_update_fits_in_the_deadline(cfn, emulator, props, monkeypatch, caplog):
    monkeypatch.setenv("ARDA_POSTMARK_READ_TIMEOUT_S", "30")
    created = cfn.create(props)
    new_id = next_domain_id(emulator)
    emulator.inject(
        commit_then_answer(emulator, "stage.ardamails.com", "pm-bounces.elsewhere.example"),
        Fault.slow(30, method="PUT", path=rf"^/domains/{new_id}$", times=None),
    )
    started = time.monotonic()

    # 5 s of Lambda time: 2 s of budget; the edit may use only part of it, so the clean-up still fits.
    failed = cfn.update(created.physical_id, {**props, "DomainName": "stage.ardamails.com"}, props, timeout_ms=5_000)

    assert time.monotonic() - started < 4
    assert failed.status == "FAILED"
    assert failed.reason.startswith(f"Postmark PUT /domains/{new_id}: no answer within the read timeout")
    assert failed.physical_id == created.physical_id
    assert emulator.domain(new_id) is None, "the time kept back let the clean-up run"
    assert f"DELETE /domains/{new_id}" in emulator.calls()


# -- Faults and time ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fault",
    [
        Fault.rate_limited(retry_after=1, method="POST", path=r"^/domains$"),
        Fault.server_error(method="POST", path=r"^/domains$"),
        Fault.unavailable(method="POST", path=r"^/domains$"),
        Fault.unavailable(method="POST", path=r"^/domains$", times=3),
    ],
    ids=["429-retry-after", "500", "503", "503x3"],
)
def test_transient_failures_are_retried(cfn, emulator, props, fault):
    times = fault.times
    emulator.inject(fault)
    started = time.monotonic()
    response = cfn.create(props)
    assert response.status == "SUCCESS", response.reason
    if fault.status == 429:
        # Refused before any work: the client retries the POST itself, honouring Retry-After.
        assert emulator.calls() == ["GET /domains", "POST /domains", "POST /domains"]
        assert time.monotonic() - started >= 0.9, "Retry-After must be honoured"
    else:
        # The POST may have committed: never retried blindly, but after a lookup shows it did not.
        assert emulator.calls() == ["GET /domains", *["POST /domains", "GET /domains"] * times, "POST /domains"]
    assert len(emulator.domains(NON_PROD)) == 1


def test_persistent_5xx_fails_with_a_clear_reason_before_the_deadline(cfn, emulator, props):
    emulator.inject(Fault.unavailable(method="POST", path=r"^/domains$", times=None))
    started = time.monotonic()
    response = cfn.create(props, timeout_ms=10_000)
    elapsed = time.monotonic() - started
    assert response.status == "FAILED"
    assert response.reason == (
        "Postmark POST /domains: HTTP 503, ErrorCode 100 Maintenance after 1 attempt(s); 4 attempts, none committed "
        "(each checked by a lookup); retry later"
    )
    assert elapsed < 7
    assert emulator.calls() == ["GET /domains", *["POST /domains", "GET /domains"] * 4]
    assert emulator.domains(NON_PROD) == []


def test_retry_after_beyond_the_deadline_fails_fast(cfn, emulator, props):
    emulator.inject(Fault.rate_limited(retry_after=120, method="POST", path=r"^/domains$", times=None))
    started = time.monotonic()
    response = cfn.create(props, timeout_ms=10_000)
    assert response.status == "FAILED"
    assert "asked to retry after 120 s" in response.reason
    assert "left before the deadline" in response.reason
    assert time.monotonic() - started < 2
    assert emulator.calls() == ["GET /domains", "POST /domains"]


def test_slow_postmark_hits_the_deadline_and_a_response_is_still_sent(cfn, emulator, props, monkeypatch):
    monkeypatch.setenv("ARDA_POSTMARK_READ_TIMEOUT_S", "30")
    emulator.inject(Fault.slow(30, method="POST", path=r"^/domains$", times=None))
    started = time.monotonic()
    # 5 s of Lambda time: 2 s of budget once the 3 s reserve for the response is kept back.
    response = cfn.create(props, timeout_ms=5_000)
    elapsed = time.monotonic() - started
    assert response.status == "FAILED"
    assert response.reason != "Execution timed out", "our deadline must answer before crhelper's last-resort timer"
    assert response.reason.startswith("Postmark POST /domains: no answer within the read timeout from 127.0.0.1")
    assert "could not check whether it committed" in response.reason
    assert response.physical_id == NAME, "the claim stands: the rollback's Delete looks the name up"
    assert 1.5 < elapsed < 4


def test_a_wrong_token_fails_naming_the_secret_never_the_token(cfn, emulator, props):
    wrong = new_token()
    arn = put_secret("Alpha002-dev-WrongToken", wrong)
    response = cfn.create({**props, "AccountTokenSecretArn": arn})
    assert response.status == "FAILED"
    assert arn in response.reason
    assert "ErrorCode 10" in response.reason
    assert wrong not in response.raw
    assert [r["status"] for r in emulator.requests] == [401], "401 is never retried"


def test_an_unreadable_secret_fails_naming_it(cfn, emulator, props):
    arn = UNREADABLE_SECRET_ARN
    response = cfn.create({**props, "AccountTokenSecretArn": arn})
    assert response.status == "FAILED"
    assert response.reason.startswith(f"could not read the Postmark account token from secret {arn}")
    assert emulator.requests == []


def test_a_validation_error_from_postmark_is_not_retried(cfn, emulator, props):
    # gmail.com passes our own validation but Postmark refuses public domains (ErrorCode 503, HTTP 422).
    response = cfn.create({**props, "DomainName": "gmail.com"})
    assert response.status == "FAILED"
    assert "(ErrorCode 503)" in response.reason
    assert emulator.calls() == ["GET /domains", "POST /domains"]


# -- Validation before any external call -------------------------------------------------------------
INVALID = {
    "missing DomainName": ({"DomainName": None}, "DomainName is required"),
    "empty DomainName": ({"DomainName": ""}, "DomainName is required"),
    "upper case": ({"DomainName": "Dev.ArdaMails.com"}, "must be lower case"),
    "trailing dot": ({"DomainName": "dev.ardamails.com."}, "must not end with a dot"),
    "one label": ({"DomainName": "localhost"}, "at least 2 labels"),
    "underscore": ({"DomainName": "dev_1.ardamails.com"}, "may contain only"),
    "label too long": ({"DomainName": "a" * 64 + ".ardamails.com"}, "at most 63"),
    "not a string": ({"DomainName": ["dev.ardamails.com"]}, "DomainName must be a string"),
    "return path outside": ({"ReturnPathDomain": "pm-bounces.example.com"}, "must be a sub-domain of DomainName"),
    "return path equal": ({"ReturnPathDomain": "dev.ardamails.com"}, "must be a sub-domain of DomainName"),
    "return path invalid": ({"ReturnPathDomain": "PM.dev.ardamails.com"}, "must be lower case"),
    "missing secret": ({"AccountTokenSecretArn": None}, "AccountTokenSecretArn is required"),
    "token instead of ARN": ({"AccountTokenSecretArn": "TOKEN"}, "must be a Secrets Manager secret ARN"),
    "plain http": ({"ApiUrl": "http://api.postmarkapp.com"}, "must be https://api.postmarkapp.com"),
    "url with query": ({"ApiUrl": "https://api.postmarkapp.com/?token=x"}, "must be a bare base URL"),
    "not a url scheme": ({"ApiUrl": "ftp://api.postmarkapp.com"}, "must be https://api.postmarkapp.com"),
    # The token goes to Postmark's API host only (and loopback for tests): never to the metadata service or any
    # other host an operator allowed to update the stack could name.
    "metadata service": ({"ApiUrl": "https://169.254.169.254"}, "the account token is sent nowhere else"),
    "metadata service v6": ({"ApiUrl": "https://[fd00:ec2::254]"}, "the account token is sent nowhere else"),
    "hex ip": ({"ApiUrl": "https://0xa9fea9fe"}, "the account token is sent nowhere else"),
    "other host": ({"ApiUrl": "https://api.postmarkapp.com.evil.example"}, "the account token is sent nowhere else"),
    "other port": ({"ApiUrl": "https://api.postmarkapp.com:8443"}, "the account token is sent nowhere else"),
    "port out of range": ({"ApiUrl": "https://api.postmarkapp.com:99999"}, "ApiUrl is not a valid URL"),
    "userinfo": ({"ApiUrl": "http://apikey:TOKEN@api.postmarkapp.com"}, "ApiUrl must not carry credentials"),
    "userinfo loopback": ({"ApiUrl": "http://TOKEN@127.0.0.1:8080"}, "ApiUrl must not carry credentials"),
    "trailing newline": ({"DomainName": "dev.ardamails.com\n"}, "may contain only"),
    "ipv4 literal": ({"DomainName": "169.254.169.254"}, "is an IP address"),
    "default return path too long": (
        {"DomainName": ".".join(["a" * 63] * 3) + "." + "b" * 49 + ".com"},  # 245 characters: valid alone
        "ReturnPathDomain",
    ),
    "secret arn newline": (
        {"AccountTokenSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf\n"},
        "must be a Secrets Manager secret ARN",
    ),
    "secret in another region": (
        {"AccountTokenSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf"},
        "is in region eu-west-1",
    ),
    "secret in another account": (
        {"AccountTokenSecretArn": "arn:aws:secretsmanager:us-east-1:210987654321:secret:x-AbCdEf"},
        "is in account 210987654321",
    ),
    "take over not a boolean": ({"TakeOverExisting": "TOKEN"}, 'TakeOverExisting must be "true" or "false"'),
    "unknown property": ({"AccountToken": "TOKEN"}, "unknown property AccountToken"),
    "unknown account": ({"PostmarkAccount": "Prod"}, "PostmarkAccount must be one of PostmarkNonProd, PostmarkProd"),
    "token as account": ({"PostmarkAccount": "TOKEN"}, "PostmarkAccount must be one of"),
    "account not a string": ({"PostmarkAccount": ["PostmarkProd"]}, "PostmarkAccount must be a string"),
}


@pytest.mark.parametrize("request_type", ["Create", "Update"])
@pytest.mark.parametrize("change", list(INVALID), ids=list(INVALID))
def test_invalid_properties_fail_before_any_external_call(cfn, emulator, change, request_type):
    # No moto here: a secret ARN that does not exist would give another Reason if it were read.
    props = domain_props(UNREADABLE_SECRET_ARN, emulator.url)
    token = new_token()
    overrides, expected = INVALID[change]
    bad = {**props}
    for key, value in overrides.items():
        if value is None:
            bad.pop(key, None)
        else:
            bad[key] = value.replace("TOKEN", token) if isinstance(value, str) else value
    response = cfn.create(bad) if request_type == "Create" else cfn.update("36735", bad, props)
    assert response.status == "FAILED"
    assert response.reason.startswith("Invalid properties: ")
    assert expected in response.reason
    assert token not in response.raw
    assert emulator.requests == []


# -- DKIM record value ---------------------------------------------------------------------------------
@pytest.mark.parametrize("bits", [1024, 2048])
def test_dkim_record_value_is_one_record_of_strings_of_at_most_255_characters(cfn, make_emulator, secrets, bits):
    emulator = make_emulator(dkim_key_bits=bits)
    response = cfn.create(domain_props(secrets[NON_PROD], emulator.url))
    assert response.status == "SUCCESS", response.reason
    text = response.data["DkimTextValue"]
    strings = parse_route53_txt(response.data["DkimRecordValue"])
    assert "".join(strings) == text
    assert all(len(s) <= 255 for s in strings)
    assert len(strings) == (1 if bits == 1024 else 2)
    assert len(text) == (225 if bits == 1024 else 401)
    # Published as-is, the record verifies: the splitting survives a resolver's concatenation.
    emulator.dns.publish_txt(response.data["DkimHostName"], response.data["DkimRecordValue"])
    domain_id = int(response.physical_id)
    assert emulator.api.verify_dkim(NON_PROD, domain_id).body["DKIMVerified"] is True
    assert emulator.domain(domain_id)["DKIMHost"] == response.data["DkimHostName"]


def test_no_token_in_logs_or_responses(cfn, emulator, props, caplog, capfd):
    # (No token-valued test arguments: pytest prints arguments when a test fails, and the scan would object.)
    created = cfn.create(props)
    deleted = cfn.delete(created.physical_id, props)
    captured = capfd.readouterr()
    texts = [caplog.text, captured.out, captured.err, created.raw, deleted.raw, repr(emulator.requests)]
    assert not any(emulator.token_for(account) in text for account in emulator.accounts for text in texts)
    assert secret_scan.find_secrets(" ".join(texts)) == []
    # Powertools' JSON lines go to the stdout of import time (the scan reads them from pytest's report);
    # the records also reach caplog, with their structured keys.
    service = load_function_module("postmark_domain").logger.service  # POWERTOOLS_SERVICE_NAME (the template's)
    records = [r for r in caplog.records if r.name == service]
    assert any(getattr(r, "domain_name", None) == NAME for r in records)
    assert any(getattr(r, "actions", None) == ["created"] for r in records)


# -- sample events ------------------------------------------------------------------------------------------
SAMPLE_EVENTS = sorted((REPO / "events" / "postmark_domain").glob("*.json"))


def test_there_are_sample_events_for_every_request_type():
    types = {json.loads(p.read_text())["RequestType"] for p in SAMPLE_EVENTS}
    assert types == {"Create", "Update", "Delete"}


@pytest.mark.parametrize("path", SAMPLE_EVENTS, ids=[p.stem for p in SAMPLE_EVENTS])
def test_sample_events_carry_valid_properties(path):
    event = json.loads(path.read_text())
    module = load_function_module("postmark_domain")
    assert event["ResourceType"] == DOMAIN_TYPE
    props = module.read_properties(event["ResourceProperties"])
    assert props.api_url == "https://api.postmarkapp.com"
    if event["RequestType"] == "Update":
        assert event["PhysicalResourceId"].isdigit()
        module.read_properties(event["OldResourceProperties"])

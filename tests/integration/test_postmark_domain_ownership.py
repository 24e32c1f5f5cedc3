"""``Custom::PostmarkDomain`` ownership under ambiguous outcomes, races and hostile inputs, through the real
protocol: a resource deletes only what it created or was told to take over, and never leaves behind a domain it
created, whatever the network did. Also the token's second chances (a corrected secret, a non-ASCII paste) and
the Delete's leniency."""

from __future__ import annotations

import boto3
import pytest
from support.postmark import (  # noqa: F401 - the *_fixture imports register the fixtures
    DOMAIN_TYPE,
    NON_PROD,
    CfnDriver,
    aws_fixture,
    domain_props,
    emulator_fixture,
    fast_retries_fixture,
    make_emulator_fixture,
    new_token,
    postmark_tokens_fixture,
    put_secret,
    put_secret_value,
    token_secrets_fixture,
)

from arda_mail.postmark.ownership import TAG_PREFIX
from arda_ops.cfn_protocol import EventFactory
from arda_ops.handlers import load_function_module
from postmark_emulator import Fault

LOGICAL_ID = "PostmarkDomain"
NAME = "dev.ardamails.com"
OWNER = "Alpha002-dev-Email/PostmarkDomain"
EMPTY_LIST = {"TotalCount": 0, "Domains": []}


@pytest.fixture
def cfn(events, receiver):
    return CfnDriver(load_function_module("postmark_domain").handler, events, receiver, DOMAIN_TYPE, LOGICAL_ID)


@pytest.fixture
def other_stack(receiver):
    """The same resource in another stack (another partition stack, or a copy deployed by mistake)."""
    factory = EventFactory(receiver, stack_name="Alpha002-dev2-Email")
    return CfnDriver(load_function_module("postmark_domain").handler, factory, receiver, DOMAIN_TYPE, LOGICAL_ID)


@pytest.fixture(autouse=True)
def _fast(fast_retries):
    return fast_retries


@pytest.fixture
def props(token_secrets, emulator):
    return domain_props(token_secrets[NON_PROD], emulator.url)


def ownership_tags(secret_arn: str) -> dict[str, str]:
    tags = boto3.client("secretsmanager").describe_secret(SecretId=secret_arn).get("Tags", [])
    return {t["Key"]: t["Value"] for t in tags if t["Key"].startswith(TAG_PREFIX)}


def hide_from_the_next_lookup() -> Fault:
    """The next ``GET /domains`` answers an empty list: a domain registered right after this resource looked
    (the race window between its lookup and its POST)."""
    return Fault(status=200, body=EMPTY_LIST, method="GET", path=r"^/domains$")


# -- What the ledger records -----------------------------------------------------------------------------
def test_the_ledger_records_a_created_domain_and_forgets_it_on_delete(cfn, emulator, props):
    created = cfn.create(props)
    assert created.status == "SUCCESS", created.reason
    assert ownership_tags(props["AccountTokenSecretArn"]) == {f"{TAG_PREFIX}{created.physical_id}": OWNER}

    assert cfn.delete(created.physical_id, props).status == "SUCCESS"
    assert emulator.find(NON_PROD, NAME) is None
    assert ownership_tags(props["AccountTokenSecretArn"]) == {}


def test_an_update_in_place_records_a_domain_held_from_before_the_ledger(cfn, emulator, props):
    # A stack deployed by an earlier version holds a domain with no ownership record.
    legacy = emulator.add_domain(NON_PROD, NAME, "pm-bounces.dev.ardamails.com")
    response = cfn.update(str(legacy["ID"]), props, props)
    assert response.status == "SUCCESS", response.reason
    assert ownership_tags(props["AccountTokenSecretArn"]) == {f"{TAG_PREFIX}{legacy['ID']}": OWNER}


# -- Duplicate deliveries and retries ---------------------------------------------------------------------
def test_a_duplicate_create_delivery_answers_the_same_domain(cfn, emulator, props):
    first = cfn.create(props)
    second = cfn.create(props)  # Lambda delivers an asynchronous invocation at least once
    assert (first.status, second.status) == ("SUCCESS", "SUCCESS"), second.reason
    assert second.physical_id == first.physical_id
    assert len(emulator.domains(NON_PROD)) == 1
    assert not any(call.startswith(("POST", "PUT", "DELETE")) for call in emulator.calls()[2:])


def test_a_retry_of_our_own_post_answered_512_keeps_the_domain_as_ours(cfn, emulator, props):
    # The POST commits but its answer is lost; the lookup that follows does not see it yet (it answers from a
    # replica, say), so the resource posts again and hears 512. After an unknown outcome that 512 is its own.
    emulator.inject(
        Fault.commit_then_error(method="POST", path=r"^/domains$"),
        Fault(status=200, body=EMPTY_LIST, method="GET", path=r"^/domains$", skip=1),
    )
    response = cfn.create(props)
    assert response.status == "SUCCESS", response.reason
    domain = emulator.find(NON_PROD, NAME)
    assert response.physical_id == str(domain["ID"])
    assert [r["status"] for r in emulator.requests if r["method"] == "POST"] == [500, 422]
    assert ownership_tags(props["AccountTokenSecretArn"]) == {f"{TAG_PREFIX}{domain['ID']}": OWNER}
    assert cfn.delete(response.physical_id, props).status == "SUCCESS"
    assert emulator.domains(NON_PROD) == []


def test_a_create_answered_after_its_deadline_is_removed_by_the_rollback(cfn, emulator, props, monkeypatch):
    # The POST commits, then the answer takes longer than the function has: the Create fails with its claim.
    monkeypatch.setenv("ARDA_POSTMARK_READ_TIMEOUT_S", "30")
    emulator.inject(Fault(commit_then_fail=True, status=500, raw="late", method="POST", path=r"^/domains$"))
    emulator.inject(Fault.slow(30, method="GET", path=r"^/domains$", skip=1, times=None))
    failed = cfn.create(props, timeout_ms=6_000)
    assert failed.status == "FAILED"
    assert failed.physical_id == NAME
    emulator.faults.clear()
    assert emulator.find(NON_PROD, NAME) is not None
    assert cfn.delete(failed.physical_id, props).status == "SUCCESS"
    assert emulator.domains(NON_PROD) == [], "nothing orphaned"


def test_a_create_answered_200_without_json_keeps_its_domain(cfn, emulator, props):
    emulator.inject(Fault(commit_then_fail=True, status=200, raw="<html>ok</html>", method="POST", path=r"^/domains$"))
    response = cfn.create(props)
    assert response.status == "SUCCESS", response.reason
    assert response.physical_id == str(emulator.find(NON_PROD, NAME)["ID"])
    assert len(emulator.domains(NON_PROD)) == 1


@pytest.mark.parametrize("answer", ["503-after-commit", "dropped", "200-not-json"])
def test_a_replacing_update_with_an_unknown_outcome_then_failing_leaves_nothing(cfn, emulator, props, answer):
    created = cfn.create(props)
    new_props = {**props, "DomainName": "stage.ardamails.com"}
    post = {
        "503-after-commit": Fault(commit_then_fail=True, status=503, body={"ErrorCode": 100, "Message": "Maintenance"}),
        "dropped": Fault.commit_then_error(drop=True),
        "200-not-json": Fault(commit_then_fail=True, status=200, raw="not json"),
    }[answer]
    post.method, post.path = "POST", r"^/domains$"
    # ... and then the edit that follows fails for good: the Update fails after its domain came to exist.
    emulator.inject(post, Fault.unavailable(method="GET", path=r"^/domains/\d+$", times=None))
    failed = cfn.update(created.physical_id, new_props, props)
    assert failed.status == "FAILED"
    assert failed.physical_id == created.physical_id
    assert emulator.find(NON_PROD, "stage.ardamails.com") is None, "the failed Update removed what it created"
    assert [d["Name"] for d in emulator.domains(NON_PROD)] == [NAME]


# -- Foreign domains and races ---------------------------------------------------------------------------
def test_another_stack_never_takes_over_a_domain_held_by_a_resource(cfn, other_stack, emulator, props):
    mine = cfn.create(props)
    for take_over in ("false", "true"):
        theirs = other_stack.create({**props, "TakeOverExisting": take_over})
        assert theirs.status == "FAILED"
        assert f"is held by another custom resource ({OWNER})" in theirs.reason
        rollback = other_stack.delete(theirs.physical_id, props)
        assert rollback.status == "SUCCESS"
    assert emulator.find(NON_PROD, NAME)["ID"] == int(mine.physical_id)


def test_two_stacks_racing_for_a_name_the_loser_changes_nothing(cfn, other_stack, emulator, props):
    # Stack B looks the name up and finds nothing; stack A registers it in that instant; B's POST hears 512.
    winner = emulator.add_domain(NON_PROD, NAME, "pm-bounces.dev.ardamails.com")
    emulator.inject(hide_from_the_next_lookup())
    loser = other_stack.create(props)
    assert loser.status == "FAILED"
    assert "registered by someone else while this resource was creating it" in loser.reason
    assert NAME not in loser.physical_id, "no claim: the rollback must not look for the winner's domain"
    before = len(emulator.requests)
    assert other_stack.delete(loser.physical_id, props).status == "SUCCESS"
    assert len(emulator.requests) == before
    assert emulator.find(NON_PROD, NAME)["ID"] == winner["ID"]


def test_a_claim_resolved_to_another_resources_domain_is_left_alone(cfn, other_stack, emulator, props):
    # A failed Create's claim; by the time of its rollback another resource holds a domain of that name.
    theirs = other_stack.create(props)
    rollback = cfn.delete(NAME, props)
    assert rollback.status == "SUCCESS", rollback.reason
    assert emulator.find(NON_PROD, NAME)["ID"] == int(theirs.physical_id)


def test_the_rollback_of_a_rename_takes_the_original_back_without_take_over(cfn, emulator, props):
    created = cfn.create(props)
    renamed = cfn.update(created.physical_id, {**props, "DomainName": "stage.ardamails.com"}, props)
    assert renamed.status == "SUCCESS", renamed.reason
    # Something later in the stack failed: CloudFormation sends the Update back to the old properties.
    back = cfn.update(renamed.physical_id, props, {**props, "DomainName": "stage.ardamails.com"})
    assert back.status == "SUCCESS", back.reason
    assert back.physical_id == created.physical_id
    # ... then deletes the replacement during cleanup.
    assert cfn.delete(renamed.physical_id, {**props, "DomainName": "stage.ardamails.com"}).status == "SUCCESS"
    assert [d["Name"] for d in emulator.domains(NON_PROD)] == [NAME]


# -- Delete ----------------------------------------------------------------------------------------------
def test_a_delete_ignores_properties_it_does_not_know(cfn, emulator, props):
    created = cfn.create(props)
    # After a code downgrade: the stack holds a property this version does not know.
    response = cfn.delete(created.physical_id, {**props, "FutureProperty": "x", "PostmarkAccount": "Elsewhere"})
    assert response.status == "SUCCESS", response.reason
    assert emulator.domains(NON_PROD) == []


@pytest.mark.parametrize("physical_id", ["9" * 1000, "Alpha002-dev-Email_PostmarkDomain_ABCDEFGH", "", "12 34"])
def test_a_delete_of_something_that_is_not_a_domain_makes_no_call(cfn, emulator, props, physical_id):
    response = cfn.delete(physical_id, props)
    assert response.status == "SUCCESS", response.reason
    assert emulator.requests == []


# -- The token's second chances --------------------------------------------------------------------------
def test_a_corrected_token_takes_effect_at_once_in_a_warm_function(cfn, emulator, aws):
    arn = put_secret("Alpha002-dev-Token", new_token())  # wrong: no Postmark account knows it
    props = domain_props(arn, emulator.url)
    failed = cfn.create(props)
    assert failed.status == "FAILED"
    assert "ErrorCode 10" in failed.reason
    put_secret_value(arn, emulator.token_for(NON_PROD))  # the operator fixes the secret
    retried = cfn.create(props)  # the same warm function, its token cache still holding the wrong one
    assert retried.status == "SUCCESS", retried.reason


@pytest.mark.parametrize("value", ["\u201cTOKEN\u201d", "TOKEN\u2019", "\u00e9TOKEN"])
def test_a_non_ascii_token_fails_naming_the_secret_before_any_call(cfn, emulator, aws, value):
    token = new_token()
    arn = put_secret("Alpha002-dev-Quoted", value.replace("TOKEN", token))
    response = cfn.create(domain_props(arn, emulator.url))
    assert response.status == "FAILED"
    assert arn in response.reason
    assert "latin-1" not in response.reason
    assert token not in response.raw
    assert emulator.requests == []


# -- Found by attacking the first version (each failed before its fix) -----------------------------------
def test_a_duplicate_delivery_whose_post_hears_512_resumes_its_own_domain(cfn, emulator, props):
    # The second delivery looked the name up before the first one's POST committed, then heard 512: the ledger
    # says the domain is this resource's, so it is resumed, not refused as someone else's.
    first = cfn.create(props)
    emulator.inject(hide_from_the_next_lookup())
    second = cfn.create(props)
    assert second.status == "SUCCESS", second.reason
    assert second.physical_id == first.physical_id
    assert len(emulator.domains(NON_PROD)) == 1


def test_a_failed_take_over_never_lets_the_rollback_delete_the_domain(cfn, emulator, props):
    existing = emulator.add_domain(NON_PROD, NAME, "pm-bounces.dev.ardamails.com")
    emulator.inject(Fault.unavailable(method="GET", path=rf"^/domains/{existing['ID']}$", times=None))
    failed = cfn.create({**props, "TakeOverExisting": "true"})
    assert failed.status == "FAILED"
    assert failed.physical_id != str(existing["ID"]), "not taken over yet: the rollback must not name it"
    assert ownership_tags(props["AccountTokenSecretArn"]) == {}, "the unfinished take-over is not recorded"
    emulator.faults.clear()
    assert cfn.delete(failed.physical_id, {**props, "TakeOverExisting": "true"}).status == "SUCCESS"
    assert emulator.domain(existing["ID"]) is not None


def test_a_take_over_whose_ownership_record_fails_still_completes(cfn, emulator, props, monkeypatch):
    # The record is best effort: TagResource denied must not fail the take-over, nor leave the rollback an ID.
    existing = emulator.add_domain(NON_PROD, NAME, "pm-bounces.dev.ardamails.com")
    monkeypatch.setattr(
        "arda_mail.postmark.ownership.SecretTagLedger._secrets",
        lambda self: _DenyTagging(boto3.client("secretsmanager")),
    )
    response = cfn.create({**props, "TakeOverExisting": "true"})
    assert response.status == "SUCCESS", response.reason
    assert response.physical_id == str(existing["ID"])


def test_a_failed_replacing_take_over_leaves_no_ownership_behind(cfn, emulator, props):
    created = cfn.create(props)
    existing = emulator.add_domain(NON_PROD, "stage.ardamails.com", "pm-bounces.stage.ardamails.com")
    emulator.inject(Fault.unavailable(method="GET", path=rf"^/domains/{existing['ID']}$", times=None))
    new_props = {**props, "DomainName": "stage.ardamails.com", "TakeOverExisting": "true"}
    assert cfn.update(created.physical_id, new_props, props).status == "FAILED"
    emulator.faults.clear()
    # A later Update without TakeOverExisting must still refuse the pre-existing domain.
    later = cfn.update(created.physical_id, {**props, "DomainName": "stage.ardamails.com"}, props)
    assert later.status == "FAILED"
    assert "TakeOverExisting" in later.reason


def test_the_rollback_of_a_rename_takes_back_a_domain_held_from_before_the_ledger(cfn, emulator, props):
    created = cfn.create(props)
    arn = props["AccountTokenSecretArn"]
    boto3.client("secretsmanager").untag_resource(SecretId=arn, TagKeys=list(ownership_tags(arn)))
    new_props = {**props, "DomainName": "stage.ardamails.com"}
    renamed = cfn.update(created.physical_id, new_props, props)
    assert renamed.status == "SUCCESS", renamed.reason
    back = cfn.update(renamed.physical_id, props, new_props)  # CloudFormation's rollback Update
    assert back.status == "SUCCESS", back.reason
    assert back.physical_id == created.physical_id


class _DenyTagging:
    """A Secrets Manager client whose TagResource is denied (everything else passes through)."""

    def __init__(self, client):
        self._client = client

    def tag_resource(self, **_):
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "denied"}}, "TagResource")

    def __getattr__(self, name):
        return getattr(self._client, name)

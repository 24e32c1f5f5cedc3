"""The Postmark client against the emulator over HTTP: headers, paging, error classes, retries, deadlines;
plus the models, the account-token reader and the domain service's edge cases."""

from __future__ import annotations

import socket
import time

import pytest
import urllib3
from support import secret_scan
from support.postmark import (  # noqa: F401 - the *_fixture imports register the fixtures
    NON_PROD,
    PROD,
    aws_fixture,
    emulator_fixture,
    make_emulator_fixture,
    new_token,
    postmark_tokens_fixture,
    put_secret,
)

from arda_mail.deadline import Deadline
from arda_mail.postmark.client import PostmarkClient, RetryPolicy
from arda_mail.postmark.domain_service import DomainResult, parse_physical_id
from arda_mail.postmark.errors import (
    PostmarkAlreadyExists,
    PostmarkAuthError,
    PostmarkDomainNotVisible,
    PostmarkError,
    PostmarkNotFound,
    PostmarkNotOwned,
    PostmarkResponseError,
    PostmarkUnavailable,
    PostmarkValidationError,
    ResourceFailedError,
    explained_failures,
    reason_for,
)
from arda_mail.postmark.models import DomainSummary, PostmarkDomain
from arda_mail.reasons import MAX_REASON_LENGTH
from arda_mail.secrets import AccountTokenError, get_account_token
from postmark_emulator import Fault

FAST = RetryPolicy(max_retries=3, backoff_factor=0, backoff_max_s=0.1, connect_timeout_s=1, read_timeout_s=2)


@pytest.fixture
def client(emulator):
    with PostmarkClient(emulator.token_for(NON_PROD), emulator.url, policy=FAST) as c:
        yield c


# -- requests on the wire ------------------------------------------------------------------------------
def test_every_request_sends_json_headers_and_the_account_token(client, emulator):
    created = client.create_domain("dev.example.com", "pm-bounces.dev.example.com")
    client.get_domain(created.id)
    client.verify_dkim(created.id)
    client.list_domains()
    for request in emulator.requests:
        assert request["accept"] == "application/json"
        assert request["content_type"] == "application/json"
        assert request["account"] == NON_PROD
        assert request["status"] == 200


def test_repr_and_errors_never_show_the_token(emulator):
    token = emulator.token_for(NON_PROD)
    client = PostmarkClient(token, emulator.url)
    assert token not in repr(client)
    assert "<redacted>" in repr(client)
    with pytest.raises(PostmarkNotFound) as err:
        client.get_domain(1)
    assert token not in str(err.value)


def test_the_token_is_scrubbed_even_from_postmarks_own_messages(emulator):
    token = emulator.token_for(NON_PROD)
    emulator.inject(Fault(status=422, body={"ErrorCode": 516, "Message": f"bad {token}"}))
    with PostmarkClient(token, emulator.url, policy=FAST) as client, pytest.raises(PostmarkValidationError) as err:
        client.create_domain("x.example.com", "")
    assert token not in str(err.value)
    assert "<redacted>" in str(err.value)


def test_list_domains_pages_with_count_and_offset(client, emulator):
    ids = emulator.add_domains(NON_PROD, [f"d{i}.example.com" for i in range(5)])
    emulator.add_domain(PROD, "other.example.com")
    domains = client.list_domains(page_size=2)
    assert [d.id for d in domains] == ids
    assert [r["query"] for r in emulator.requests] == [
        "count=2&offset=0",
        "count=2&offset=2",
        "count=2&offset=4",
    ]
    assert isinstance(domains[0], DomainSummary)


def test_list_domains_of_an_empty_account(client, emulator):
    assert client.list_domains() == []
    assert len(emulator.requests) == 1


def test_find_domain_by_name_stops_paging_once_found(client, emulator):
    emulator.add_domains(NON_PROD, [f"d{i}.example.com" for i in range(6)])
    found = client.find_domain_by_name("D1.example.com", page_size=2)
    assert found is not None
    assert found.name == "d1.example.com"
    assert len(emulator.requests) == 1
    assert client.find_domain_by_name("absent.example.com", page_size=2) is None


def test_page_size_is_bounded(client):
    with pytest.raises(ValueError, match="page_size"):
        client.list_domains(page_size=501)


def test_edit_verify_rotate_delete(client, emulator):
    domain = client.create_domain("dev.example.com", "pm-bounces.dev.example.com")
    assert client.edit_domain(domain.id, "bounces.dev.example.com").return_path_domain == "bounces.dev.example.com"
    emulator.dns.publish_txt(domain.dkim_pending_host, domain.dkim_pending_text_value)
    emulator.dns.publish_cname("bounces.dev.example.com", "pm.mtasv.net")
    assert client.verify_dkim(domain.id).dkim_verified
    assert client.verify_return_path(domain.id).return_path_domain_verified
    rotated = client.rotate_dkim(domain.id)
    assert rotated.rotation_pending
    assert rotated.dkim_record_host == domain.dkim_pending_host, "the record to publish stays the active one"
    client.delete_domain(domain.id)
    with pytest.raises(PostmarkNotFound):
        client.delete_domain(domain.id)


# -- error classes --------------------------------------------------------------------------------------
def test_error_classes_follow_the_error_code(client):
    client.create_domain("dev.example.com", "")
    with pytest.raises(PostmarkAlreadyExists) as exists:
        client.create_domain("DEV.example.com", "")
    assert (exists.value.error_code, exists.value.http_status) == (512, 422)
    with pytest.raises(PostmarkValidationError) as invalid:
        client.create_domain("not_valid", "")
    assert invalid.value.error_code == 516
    with pytest.raises(PostmarkNotFound) as missing:
        client.get_domain(999)
    assert missing.value.error_code == 510
    assert str(missing.value).startswith("Postmark GET /domains/999: ")


DOMAIN_CALLS = {
    "get": lambda c, i: c.get_domain(i),
    "edit": lambda c, i: c.edit_domain(i, ""),
    "delete": lambda c, i: c.delete_domain(i),
    "verifyDkim": lambda c, i: c.verify_dkim(i),
    "verifyReturnPath": lambda c, i: c.verify_return_path(i),
    "rotatedkim": lambda c, i: c.rotate_dkim(i),
}


@pytest.mark.parametrize("status", [422, 404])
@pytest.mark.parametrize("call", sorted(DOMAIN_CALLS))
def test_a_missing_domain_is_not_found_under_422_and_404(make_emulator, status, call):
    emulator = make_emulator(missing_domain_status=status)
    token = emulator.token_for(NON_PROD)
    with PostmarkClient(token, emulator.url, policy=FAST) as client, pytest.raises(PostmarkNotFound) as err:
        DOMAIN_CALLS[call](client, 999)
    assert (err.value.error_code, err.value.http_status, err.value.domain_id) == (510, status, 999)
    assert isinstance(err.value, PostmarkDomainNotVisible)
    assert len(emulator.requests) == 1, "not retried"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, (PostmarkNotOwned, 513, 422)),
        ({"foreign_domain_code": 510}, (PostmarkNotFound, 510, 422)),
        ({"foreign_domain_code": 510, "missing_domain_status": 404}, (PostmarkNotFound, 510, 404)),
    ],
    ids=["513", "510", "510-as-404"],
)
@pytest.mark.parametrize("call", sorted(DOMAIN_CALLS))
def test_another_accounts_domain_is_not_visible(make_emulator, options, expected, call):
    emulator = make_emulator(**options)
    theirs = emulator.add_domain(PROD, "dev.example.com")["ID"]
    error_class, code, status = expected
    token = emulator.token_for(NON_PROD)
    with PostmarkClient(token, emulator.url, policy=FAST) as client, pytest.raises(PostmarkDomainNotVisible) as err:
        DOMAIN_CALLS[call](client, theirs)
    assert type(err.value) is error_class
    assert (err.value.error_code, err.value.http_status) == (code, status)
    assert emulator.domain(theirs) is not None


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault(status=404, body={"ErrorCode": 510, "Message": "Domain not found."}), PostmarkNotFound),
        (Fault(status=404, body={"ErrorCode": 513, "Message": "You do not own this Domain."}), PostmarkNotOwned),
        (Fault(status=404, body={"ErrorCode": "510", "Message": "numeric string"}), PostmarkNotFound),
        (Fault(status=404, body={"ErrorCode": 0, "Message": "Entity doesn't exist"}), PostmarkNotFound),
        (Fault(status=422, body={"ErrorCode": 513, "Message": "You do not own this Domain."}), PostmarkNotOwned),
        (Fault(status=409, body={"ErrorCode": 512, "Message": "exists"}), PostmarkAlreadyExists),
    ],
    ids=["404-510", "404-513", "404-510-string", "404-other-code", "422-513", "409-512"],
)
def test_the_error_code_decides_whatever_the_status(client, emulator, fault, expected):
    emulator.inject(fault)
    with pytest.raises(PostmarkError) as err:
        client.get_domain(7)
    assert type(err.value) is expected
    assert err.value.http_status == fault.status
    assert err.value.domain_id == 7


@pytest.mark.parametrize(
    "fault",
    [Fault.bare_404(), Fault(status=404, raw="<html>Not Found</html>"), Fault(status=404, body={"error": "nope"})],
    ids=["empty", "html", "json-without-error-code"],
)
def test_a_404_without_a_postmark_body_points_at_the_api_url(client, emulator, fault):
    emulator.inject(fault)
    with pytest.raises(PostmarkResponseError, match="check ApiUrl"):
        client.get_domain(7)


@pytest.mark.parametrize("status", [401, 422])
def test_a_bad_token_is_an_auth_error_and_never_retried(make_emulator, status):
    emulator = make_emulator(auth_failure_status=status)
    wrong = new_token()
    with PostmarkClient(wrong, emulator.url, policy=FAST) as client, pytest.raises(PostmarkAuthError) as err:
        client.list_domains()
    assert (err.value.error_code, err.value.http_status) == (10, status)
    assert wrong not in str(err.value)
    assert len(emulator.requests) == 1


def test_422_is_never_retried(client, emulator):
    with pytest.raises(PostmarkValidationError):
        client.create_domain("", "")
    assert len(emulator.requests) == 1


def test_a_bare_404_points_at_the_api_url(client, emulator):
    emulator.inject(Fault.bare_404())
    with pytest.raises(PostmarkResponseError, match="check ApiUrl"):
        client.list_domains()


def test_a_200_without_json_is_malformed(client, emulator):
    emulator.inject(Fault(status=200, raw="<html>"))
    with pytest.raises(PostmarkResponseError, match="without a JSON body"):
        client.get_domain(1)


# -- retries ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fault",
    [Fault.server_error(times=2), Fault.unavailable(times=3), Fault(status=502, times=1), Fault(status=504)],
    ids=["500x2", "503x3", "502", "504"],
)
def test_5xx_is_retried_then_succeeds(client, emulator, fault):
    times = fault.times
    emulator.inject(fault)
    assert client.list_domains() == []
    assert len(emulator.requests) == times + 1


def test_retry_after_is_honoured(client, emulator):
    emulator.inject(Fault.rate_limited(retry_after=1))
    started = time.monotonic()
    client.list_domains()
    assert time.monotonic() - started >= 0.95
    assert len(emulator.requests) == 2


def test_a_fractional_retry_after_is_honoured_rounded_up(client, emulator):
    emulator.inject(Fault.rate_limited(retry_after=1.5))
    started = time.monotonic()
    assert client.list_domains() == []
    assert time.monotonic() - started >= 1.95
    assert [r["status"] for r in emulator.requests] == [429, 200]


@pytest.mark.parametrize("value", ["soon", "-3", "nan", "inf", "1,5", ""])
def test_an_unusable_retry_after_falls_back_to_the_backoff(client, emulator, value):
    emulator.inject(Fault.rate_limited(retry_after=value, times=2))
    started = time.monotonic()
    assert client.list_domains() == []
    assert time.monotonic() - started < 5, "FAST's backoff is at most 0.1 s"
    assert [r["status"] for r in emulator.requests] == [429, 429, 200]


def test_a_fractional_retry_after_longer_than_the_time_left_fails_at_once(emulator):
    emulator.inject(Fault.rate_limited(retry_after=29.2, times=None))
    client = PostmarkClient(emulator.token_for(NON_PROD), emulator.url, Deadline.after(5), policy=FAST)
    with client, pytest.raises(PostmarkUnavailable, match="asked to retry after 30 s") as err:
        client.list_domains()
    assert err.value.http_status == 429


def test_persistent_5xx_raises_unavailable_after_the_retries(client, emulator):
    emulator.inject(Fault.unavailable(times=None))
    with pytest.raises(PostmarkUnavailable) as err:
        client.list_domains()
    assert err.value.http_status == 503
    assert str(err.value) == "Postmark GET /domains: HTTP 503, ErrorCode 100 Maintenance after 4 attempt(s)"
    assert len(emulator.requests) == 4


def test_retry_after_longer_than_the_time_left_fails_at_once(emulator):
    emulator.inject(Fault.rate_limited(retry_after=30, times=None))
    deadline = Deadline.after(5)
    with PostmarkClient(emulator.token_for(NON_PROD), emulator.url, deadline, policy=FAST) as client:
        started = time.monotonic()
        with pytest.raises(PostmarkUnavailable, match="asked to retry after 30 s") as err:
            client.list_domains()
    assert time.monotonic() - started < 1
    assert err.value.http_status == 429
    assert len(emulator.requests) == 1


def test_backoff_is_cut_short_by_the_deadline(emulator):
    emulator.inject(Fault.server_error(times=None))
    policy = RetryPolicy(max_retries=10, backoff_factor=1, backoff_max_s=30)
    with PostmarkClient(emulator.token_for(NON_PROD), emulator.url, Deadline.after(1.5), policy=policy) as client:
        started = time.monotonic()
        with pytest.raises(PostmarkUnavailable, match="no time left for another attempt"):
            client.list_domains()
    assert time.monotonic() - started < 1.6


@pytest.mark.parametrize("drop", [True, False], ids=["dropped", "500"])
def test_post_domains_is_not_retried_once_it_may_have_committed(client, emulator, drop):
    """A lost answer or a 5xx leaves the outcome unknown: the domain service settles it, the client must not retry."""
    emulator.inject(Fault.commit_then_error(drop=drop, method="POST"))
    with pytest.raises(PostmarkUnavailable):
        client.create_domain("dev.example.com", "")
    assert [r["status"] for r in emulator.requests] == ["dropped" if drop else 500]
    assert len(emulator.domains(NON_PROD)) == 1


def test_post_domains_is_retried_after_a_429(client, emulator):
    emulator.inject(Fault.rate_limited(retry_after=0, method="POST"))
    assert client.create_domain("dev.example.com", "").name == "dev.example.com"
    assert [r["status"] for r in emulator.requests] == [429, 200]


def test_rotate_dkim_is_not_retried(client, emulator):
    domain_id = emulator.add_domain(NON_PROD, "dev.example.com", dkim_verified=True)["ID"]
    emulator.inject(Fault.unavailable(method="POST"))
    with pytest.raises(PostmarkUnavailable):
        client.rotate_dkim(domain_id)
    assert len(emulator.requests) == 1


def test_a_read_timeout_is_bounded_by_the_deadline(emulator):
    emulator.inject(Fault.slow(10, times=None))
    policy = RetryPolicy(max_retries=3, backoff_factor=0, read_timeout_s=30)
    with PostmarkClient(emulator.token_for(NON_PROD), emulator.url, Deadline.after(1), policy=policy) as client:
        started = time.monotonic()
        with pytest.raises(PostmarkUnavailable, match="no answer within the read timeout"):
            client.list_domains()
    assert time.monotonic() - started < 1.5


def test_a_read_timeout_without_deadline_is_retried_then_reported(emulator):
    emulator.inject(Fault.slow(5, times=None))
    policy = RetryPolicy(max_retries=1, backoff_factor=0, read_timeout_s=0.2)
    expected = r"no answer within the read timeout from 127\.0\.0\.1"
    with (
        PostmarkClient(emulator.token_for(NON_PROD), emulator.url, policy=policy) as client,
        pytest.raises(PostmarkUnavailable, match=expected),
    ):
        client.list_domains()
    assert len(emulator.requests) == 2


def test_an_unreachable_server_is_unavailable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = new_token()
    with (
        PostmarkClient(token, f"http://127.0.0.1:{port}", policy=FAST) as client,
        pytest.raises(
            PostmarkUnavailable, match=r"could not connect \(connection refused or unreachable\) from 127\.0\.0\.1"
        ) as err,
    ):
        client.list_domains()
    assert token not in str(err.value)


def test_no_call_is_made_without_time_left(client, emulator):
    client.deadline = Deadline.after(0)
    with pytest.raises(PostmarkUnavailable, match="no time left"):
        client.list_domains()
    assert emulator.requests == []


def test_a_caller_pool_is_used(emulator):
    pool = urllib3.PoolManager()
    with PostmarkClient(emulator.token_for(NON_PROD), emulator.url, pool=pool, policy=FAST) as client:
        client.list_domains()
        host, port = emulator.url.removeprefix("http://").split(":")
        assert pool.connection_from_host(host, int(port), scheme="http").num_requests == 1


def test_retry_policy_from_the_environment():
    assert RetryPolicy.from_env({}) == RetryPolicy()
    policy = RetryPolicy.from_env({"ARDA_POSTMARK_MAX_RETRIES": "1", "ARDA_POSTMARK_READ_TIMEOUT_S": "2.5"})
    assert (policy.max_retries, policy.read_timeout_s) == (1, 2.5)
    with pytest.raises(ValueError, match="ARDA_POSTMARK_BACKOFF_FACTOR must be a number"):
        RetryPolicy.from_env({"ARDA_POSTMARK_BACKOFF_FACTOR": "fast"})
    with pytest.raises(ValueError, match="must not be negative"):
        RetryPolicy.from_env({"ARDA_POSTMARK_MAX_RETRIES": "-1"})


def test_a_token_is_required():
    with pytest.raises(ValueError, match="token is required"):
        PostmarkClient("")


# -- models ------------------------------------------------------------------------------------------------
def test_the_dkim_record_is_the_active_key_else_the_pending_one():
    pending = PostmarkDomain.from_api({"ID": 1, "DKIMPendingHost": "p._domainkey.x", "DKIMPendingTextValue": "k=p"})
    assert (pending.dkim_record_host, pending.dkim_record_text) == ("p._domainkey.x", "k=p")
    both = PostmarkDomain.from_api(
        {
            "ID": "2",
            "DKIMHost": "a._domainkey.x",
            "DKIMTextValue": "k=a",
            "DKIMPendingHost": "p._domainkey.x",
            "DKIMPendingTextValue": "k=p",
            "SafeToRemoveRevokedKeyFromDNS": "true",
            "ReturnPathDomain": None,
        }
    )
    assert (both.id, both.dkim_record_host, both.dkim_record_text) == (2, "a._domainkey.x", "k=a")
    assert both.rotation_pending
    assert both.safe_to_remove_revoked_key is True
    assert both.return_path_domain == ""


@pytest.mark.parametrize("bad", [{}, {"ID": None}, {"ID": "x"}, {"ID": True}, []])
def test_a_domain_without_a_usable_id_is_malformed(bad):
    with pytest.raises(PostmarkResponseError):
        PostmarkDomain.from_api(bad)


# -- reasons ---------------------------------------------------------------------------------------------------
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:Alpha002-dev-Token-AbCdEf"


def test_reasons_are_one_short_line_naming_the_secret_for_auth_failures():
    auth = PostmarkAuthError("Postmark GET /domains: the account token was rejected", error_code=10)
    assert reason_for(auth, secret_arn=ARN).startswith(f"Postmark rejected the account token stored in secret {ARN}")
    long = PostmarkError("x\n" * 400)
    reason = reason_for(long, secret_arn=ARN)
    assert len(reason) <= MAX_REASON_LENGTH
    assert "\n" not in reason


@pytest.mark.parametrize(
    ("exc", "cause"),
    [
        (PostmarkNotOwned("x", error_code=513, http_status=422, domain_id=36735), "(ErrorCode 513: owned by another"),
        (
            PostmarkNotFound("x", error_code=510, http_status=404, domain_id=36735),
            "(HTTP 404, ErrorCode 510: not found",
        ),
        (
            PostmarkNotFound("x", error_code=510, http_status=422, domain_id=36735),
            "(HTTP 422, ErrorCode 510: not found",
        ),
    ],
)
def test_a_domain_not_visible_names_the_secret_as_the_likely_cause(exc, cause):
    reason = reason_for(exc, secret_arn=ARN)
    assert reason.startswith(f"Postmark domain 36735 is not visible to the token in secret {ARN} (")
    assert cause in reason
    assert reason.endswith("does it hold the owning account's token?"), "not cut"
    assert len(reason) <= MAX_REASON_LENGTH


def test_explained_failures_chain_the_original():
    with pytest.raises(ResourceFailedError) as err, explained_failures(secret_arn=ARN):
        raise PostmarkUnavailable("Postmark GET /domains: HTTP 503")
    assert str(err.value) == "Postmark GET /domains: HTTP 503"
    assert isinstance(err.value.__cause__, PostmarkUnavailable)
    with pytest.raises(KeyError), explained_failures(secret_arn=ARN):
        raise KeyError("not ours")


# -- domain service edge cases --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("physical_id", "expected"),
    [("36735", 36735), ("Alpha002-dev-Email_PostmarkDomain_AB12CD34", None), ("", None), (None, None), ("١٢", None)],
)
def test_parse_physical_id(physical_id, expected):
    assert parse_physical_id(physical_id) == expected


def test_attributes_need_a_dkim_key():
    domain = PostmarkDomain.from_api({"ID": 5, "Name": "x.example.com"})
    with pytest.raises(PostmarkResponseError, match="no DKIM key"):
        DomainResult(domain).attributes()


# -- the account token ------------------------------------------------------------------------------------------
def test_the_token_is_read_from_awscurrent_and_stripped(aws):
    token = new_token()
    arn = put_secret("Alpha002-dev-Token", token + "\n")
    assert get_account_token(arn) == token


def test_a_missing_secret_is_named_never_valued(aws):
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:Alpha002-dev-Nope-AbCdEf"
    with pytest.raises(AccountTokenError, match=f"from secret {arn}: .*ResourceNotFoundException"):
        get_account_token(arn)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("   ", "is empty"),
        ('{"token": "TOKEN"}', "holds JSON"),
        ("TOKEN TOKEN", "not a single line"),
    ],
)
def test_unusable_secret_values_are_refused_without_echoing_them(aws, value, problem):
    token = new_token()
    arn = put_secret("Alpha002-dev-Bad", value.replace("TOKEN", token))
    with pytest.raises(AccountTokenError, match=problem) as err:
        get_account_token(arn)
    assert token not in str(err.value)
    assert arn in str(err.value)


def test_a_binary_secret_is_refused(aws):
    import boto3

    arn = boto3.client("secretsmanager").create_secret(Name="Alpha002-dev-Bin", SecretBinary=b"\x00\x01")["ARN"]
    with pytest.raises(AccountTokenError, match="binary"):
        get_account_token(arn)


def test_the_token_is_cached_then_refetched(aws):
    import boto3

    first, second = new_token(), new_token()
    arn = put_secret("Alpha002-dev-Cached", first)
    assert get_account_token(arn) == first
    boto3.client("secretsmanager").put_secret_value(SecretId=arn, SecretString=second)
    assert get_account_token(arn) == first, "cached for TOKEN_CACHE_SECONDS"
    assert get_account_token(arn, force_fetch=True) == second
    assert secret_scan.find_secrets(first + second)

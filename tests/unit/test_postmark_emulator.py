"""Fidelity of the Postmark emulator, over raw HTTP: authentication, header strictness, routing, paging, the
validation codes, the documented variants, the DKIM state machine and rotation, Return-Path verification, faults,
the control API, and the subprocess mode. docs/postmark-emulator.md lists each rule and its source."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime

import pytest
import requests
from support import secret_scan
from support.postmark import (  # noqa: F401 - the *_fixture imports register the fixtures
    NON_PROD,
    PROD,
    emulator_fixture,
    make_emulator_fixture,
    new_token,
    postmark_tokens_fixture,
)

from arda_mail.txt_records import route53_txt_value
from postmark_emulator import Fault, PostmarkEmulator, StaticDnsView
from postmark_emulator.dns import parse_quoted_txt
from postmark_emulator.process import EmulatorProcess

DETAIL_KEYS = {
    "ID",
    "Name",
    "SPFVerified",
    "SPFHost",
    "SPFTextValue",
    "DKIMVerified",
    "WeakDKIM",
    "DKIMHost",
    "DKIMTextValue",
    "DKIMPendingHost",
    "DKIMPendingTextValue",
    "DKIMRevokedHost",
    "DKIMRevokedTextValue",
    "SafeToRemoveRevokedKeyFromDNS",
    "DKIMUpdateStatus",
    "ReturnPathDomain",
    "ReturnPathDomainVerified",
    "ReturnPathDomainCNAMEValue",
}
JSON = "application/json"


class Api:
    """Raw HTTP against the emulator, as one account."""

    def __init__(self, emulator: PostmarkEmulator, account: str = NON_PROD):
        self.emulator = emulator
        self.headers = {"Accept": JSON, "Content-Type": JSON, "X-Postmark-Account-Token": emulator.token_for(account)}

    def __call__(self, method, path, body=None, headers=None, **kw):
        merged = {**self.headers, **(headers or {})}
        merged = {k: v for k, v in merged.items() if v is not None}
        data = json.dumps(body) if body is not None and not isinstance(body, str | bytes) else body
        timeout = kw.pop("timeout", 5)
        return requests.request(method, self.emulator.url + path, data=data, headers=merged, timeout=timeout, **kw)

    def create(self, name, return_path=None):
        response = self("POST", "/domains", {"Name": name, "ReturnPathDomain": return_path})
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def api(emulator):
    return Api(emulator)


def _error(response, status=422):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"ErrorCode", "Message"}
    assert isinstance(body["Message"], str)
    assert body["Message"]
    return body["ErrorCode"]


# -- authentication ---------------------------------------------------------------------------------------
def test_a_missing_token_is_401_error_code_10(api):
    assert _error(api("GET", "/domains?count=1&offset=0", headers={"X-Postmark-Account-Token": None}), 401) == 10


def test_an_unknown_token_is_401_error_code_10(api):
    assert _error(api("GET", "/domains?count=1&offset=0", headers={"X-Postmark-Account-Token": new_token()}), 401) == 10


def test_a_server_token_is_not_an_account_token(api):
    headers = {"X-Postmark-Account-Token": None, "X-Postmark-Server-Token": new_token()}
    assert _error(api("GET", "/domains?count=1&offset=0", headers=headers), 401) == 10


def test_the_token_header_name_is_case_insensitive(api):
    token = api.headers.pop("X-Postmark-Account-Token")
    assert api("GET", "/domains?count=1&offset=0", headers={"x-postmark-account-token": token}).status_code == 200


@pytest.mark.parametrize("case", [str.upper, str.lower, str.swapcase])
def test_the_token_value_is_case_insensitive_by_default(api, case):
    token = api.headers["X-Postmark-Account-Token"]
    response = api("GET", "/domains?count=1&offset=0", headers={"X-Postmark-Account-Token": case(token)})
    assert response.status_code == 200
    assert api.emulator.requests[-1]["account"] == NON_PROD


def test_the_token_value_can_be_compared_exactly(make_emulator):
    emulator = make_emulator(token_case_insensitive=False)
    api = Api(emulator)
    assert api("GET", "/domains?count=1&offset=0").status_code == 200
    upper = {"X-Postmark-Account-Token": emulator.token_for(NON_PROD).upper()}
    assert _error(api("GET", "/domains?count=1&offset=0", headers=upper), 401) == 10


def test_tokens_differing_only_in_case_are_one_token(emulator):
    with pytest.raises(ValueError, match="share a token"):
        emulator.add_account("Third", emulator.token_for(NON_PROD).upper())


def test_an_upper_cased_token_is_redacted_from_the_log_too(emulator, api):
    token = emulator.token_for(NON_PROD)
    api("POST", "/domains", {"Name": "dev.example.com", "Note": token.upper()}, headers={"Accept": JSON})
    assert token.upper() not in json.dumps(emulator.requests)
    assert token.lower() not in json.dumps(emulator.requests)


def test_auth_failures_can_answer_422(make_emulator):
    emulator = make_emulator(auth_failure_status=422)
    response = Api(emulator)("GET", "/domains?count=1&offset=0", headers={"X-Postmark-Account-Token": "x"})
    assert _error(response, 422) == 10


def test_each_account_sees_only_its_domains(emulator, api):
    mine = api.create("dev.example.com")
    other = Api(emulator, PROD)
    assert other("GET", "/domains?count=10&offset=0").json() == {"TotalCount": 0, "Domains": []}
    # By default another account's domain is the error table's 513 "You do not own this Domain".
    assert _error(other("GET", f"/domains/{mine['ID']}")) == 513
    assert _error(other("DELETE", f"/domains/{mine['ID']}")) == 513
    assert emulator.domain(mine["ID"]) is not None, "a refused delete leaves the domain in place"
    # The same name may live on two accounts (unless exclusive_names)
    assert other("POST", "/domains", {"Name": "dev.example.com"}).status_code == 200


FOREIGN_PATHS = (
    ("GET", ""),
    ("PUT", ""),
    ("DELETE", ""),
    ("PUT", "/verifyDkim"),
    ("PUT", "/verifyReturnPath"),
    ("POST", "/verifyspf"),
    ("POST", "/rotatedkim"),
)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, (422, 513)),
        ({"foreign_domain_code": 513, "missing_domain_status": 404}, (422, 513)),
        ({"foreign_domain_code": 510}, (422, 510)),
        ({"foreign_domain_code": 510, "missing_domain_status": 404}, (404, 510)),
    ],
    ids=["default", "513-with-404-missing", "510", "510-as-404"],
)
def test_another_accounts_domain_variants(make_emulator, options, expected):
    emulator = make_emulator(**options)
    mine = Api(emulator).create("dev.example.com")
    other = Api(emulator, PROD)
    status, code = expected
    for method, suffix in FOREIGN_PATHS:
        body = {"ReturnPathDomain": "pm.dev.example.com"} if method == "PUT" and not suffix else None
        assert _error(other(method, f"/domains/{mine['ID']}{suffix}", body), status) == code, (method, suffix)
    assert emulator.domain(mine["ID"])["ReturnPathDomain"] == "", "nothing changed on the owner's domain"


@pytest.mark.parametrize("bad", [{"missing_domain_status": 410}, {"foreign_domain_code": 404}])
def test_variants_outside_the_documented_ones_are_refused(make_emulator, emulator, bad):
    with pytest.raises(ValueError, match="must be one of"):
        PostmarkEmulator({"A": new_token()}, **bad)
    response = requests.put(f"{emulator.url}/__emulator/settings", json=bad, timeout=5)
    assert response.status_code == 400
    assert "must be one of" in response.json()["error"]


def test_exclusive_names_answer_513(make_emulator):
    emulator = make_emulator(exclusive_names=True)
    Api(emulator).create("dev.example.com")
    assert _error(Api(emulator, PROD)("POST", "/domains", {"Name": "dev.example.com"})) == 513


# -- headers ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("accept", [None, "*/*", "text/html", "application/xml"])
def test_strict_mode_requires_json_accept(api, accept):
    assert _error(api("GET", "/domains?count=1&offset=0", headers={"Accept": accept})) == 409


def test_accept_lists_with_json_are_fine(api):
    response = api("GET", "/domains?count=1&offset=0", headers={"Accept": "text/plain, application/json; q=0.9"})
    assert response.status_code == 200


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_strict_mode_requires_json_content_type_with_a_body(api, content_type):
    response = api("POST", "/domains", {"Name": "dev.example.com"}, headers={"Content-Type": content_type})
    assert _error(response) == 409


def test_header_errors_can_answer_415(make_emulator):
    emulator = make_emulator(header_error_status=415)
    assert _error(Api(emulator)("GET", "/domains?count=1&offset=0", headers={"Accept": "*/*"}), 415) == 409


def test_lenient_mode_accepts_requests_defaults(make_emulator):
    emulator = make_emulator(strict_headers=False)
    api = Api(emulator)
    response = api("POST", "/domains", json.dumps({"Name": "dev.example.com"}), headers={"Accept": None})
    assert response.status_code == 200


def test_bodies_must_be_json_objects(api):
    assert _error(api("POST", "/domains", "{not json")) == 402
    assert _error(api("POST", "/domains", "[1, 2]")) == 403


def test_responses_are_json_with_charset(api):
    response = api("GET", "/domains?count=1&offset=0")
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"


# -- routing ---------------------------------------------------------------------------------------------------
def test_routes_are_case_insensitive_and_tolerate_a_trailing_slash(api):
    domain = api.create("dev.example.com")
    assert api("POST", "/domains/", {"Name": "stage.example.com"}).status_code == 200
    for path in ("verifyDkim", "verifyDKIM", "verifydkim", "verifyDkim/"):
        assert api("PUT", f"/domains/{domain['ID']}/{path}").status_code == 200
    assert api("PUT", f"/DOMAINS/{domain['ID']}/VerifyReturnPath").status_code == 200


def test_unknown_paths_are_bare_404s(api):
    for path in ("/nope", "/domains/1/unknown", "/domains/abc", "/senders/x/y/z"):
        response = api("GET", path)
        assert (response.status_code, response.content) == (404, b"")


def test_a_known_path_with_the_wrong_verb_is_405(api):
    response = api("DELETE", "/domains")
    assert (response.status_code, response.content) == (405, b"")
    assert response.headers["Allow"] == "GET, POST"
    assert api("GET", "/domains/1/verifyDkim").status_code == 405


# -- list ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "query",
    [
        "",
        "?count=10",
        "?offset=0",
        "?count=0&offset=0",
        "?count=501&offset=0",
        "?count=x&offset=0",
        "?count=1&offset=-1",
    ],
)
def test_list_needs_count_1_to_500_and_offset(api, query):
    assert _error(api("GET", f"/domains{query}")) == 500


def test_list_pages_in_id_order_with_the_total(emulator, api):
    ids = emulator.add_domains(NON_PROD, [f"d{i}.example.com" for i in range(7)])
    first = api("GET", "/domains?count=3&offset=0").json()
    last = api("GET", "/domains?count=3&offset=6").json()
    beyond = api("GET", "/domains?count=3&offset=10").json()
    assert first["TotalCount"] == last["TotalCount"] == beyond["TotalCount"] == 7
    assert [d["ID"] for d in first["Domains"]] == ids[:3]
    assert [d["ID"] for d in last["Domains"]] == ids[6:]
    assert beyond["Domains"] == []
    assert set(first["Domains"][0]) == {
        "Name",
        "SPFVerified",
        "DKIMVerified",
        "WeakDKIM",
        "ReturnPathDomainVerified",
        "ID",
    }


# -- create -----------------------------------------------------------------------------------------------------------
def test_a_new_domain_has_a_pending_1024_bit_key_and_no_active_one(api):
    domain = api.create("Dev.Example.com", "pm-bounces.dev.example.com")
    assert set(domain) == DETAIL_KEYS
    assert all(value is not None for value in domain.values()), "strings are never null"
    assert domain["Name"] == "dev.example.com"
    assert (domain["DKIMHost"], domain["DKIMTextValue"]) == ("", "")
    assert re.fullmatch(r"\d{14}pm\._domainkey\.dev\.example\.com", domain["DKIMPendingHost"])
    value = domain["DKIMPendingTextValue"]
    assert value.startswith("k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQ")
    assert len(value) == 225
    assert (domain["DKIMUpdateStatus"], domain["DKIMVerified"], domain["ReturnPathDomainVerified"]) == (
        "Pending",
        False,
        False,
    )
    assert domain["ReturnPathDomainCNAMEValue"] == "pm.mtasv.net"
    assert domain["SPFHost"] == "dev.example.com"


def test_2048_bit_keys_need_splitting(make_emulator):
    domain = Api(make_emulator(dkim_key_bits=2048)).create("dev.example.com")
    value = domain["DKIMPendingTextValue"]
    assert value.startswith("k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA")
    assert len(value) == 401, "more than one TXT string (255)"


def test_a_missing_return_path_comes_back_empty(api):
    assert api.create("dev.example.com")["ReturnPathDomain"] == ""


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, 514),
        ({"Name": None}, 514),
        ({"Name": ""}, 514),
        ({"Name": "   "}, 514),
        ({"Name": "a" * 250 + ".example.com"}, 515),
        ({"Name": "dev_1.example.com"}, 516),
        ({"Name": "localhost"}, 516),
        ({"Name": "dev.example.com."}, 516),
        ({"Name": "https://dev.example.com"}, 516),
        ({"Name": "me@example.com"}, 516),
        ({"Name": "-dev.example.com"}, 516),
        ({"Name": 42}, 516),
        ({"Name": "gmail.com"}, 503),
        ({"Name": "dev.example.com", "ReturnPathDomain": "pm.other.com"}, 511),
        ({"Name": "dev.example.com", "ReturnPathDomain": "dev.example.com"}, 511),
        ({"Name": "dev.example.com", "ReturnPathDomain": "pm_b.dev.example.com"}, 511),
    ],
)
def test_create_validation_codes(api, body, code):
    assert _error(api("POST", "/domains", body)) == code


def test_a_duplicate_name_is_512_case_insensitively(api):
    api.create("dev.example.com")
    assert _error(api("POST", "/domains", {"Name": "DEV.example.com"})) == 512


def test_ids_are_sequential_from_the_configured_start(make_emulator):
    api = Api(make_emulator(first_id=1000))
    assert [api.create(f"d{i}.example.com")["ID"] for i in range(3)] == [1000, 1001, 1002]


def test_selectors_follow_the_injectable_clock_and_never_repeat(make_emulator):
    emulator = make_emulator(clock=lambda: datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    api = Api(emulator)
    domain = api.create("dev.example.com")
    assert domain["DKIMPendingHost"] == "20260102030405pm._domainkey.dev.example.com"
    emulator.dns.publish_txt(domain["DKIMPendingHost"], domain["DKIMPendingTextValue"])
    api("PUT", f"/domains/{domain['ID']}/verifyDkim")
    rotated = api("POST", f"/domains/{domain['ID']}/rotatedkim").json()
    assert rotated["DKIMPendingHost"] == "20260102030406pm._domainkey.dev.example.com", "bumped by a second"
    emulator.clock.advance(3600)
    assert api.create("stage.example.com")["DKIMPendingHost"].startswith("20260102040405pm.")


# -- get / edit / delete ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [422, 404])
def test_unknown_ids_are_510(make_emulator, status):
    api = Api(make_emulator(missing_domain_status=status))
    for method, path in (
        ("GET", "/domains/999"),
        ("PUT", "/domains/999"),
        ("DELETE", "/domains/999"),
        ("PUT", "/domains/999/verifyDkim"),
        ("PUT", "/domains/999/verifyReturnPath"),
        ("POST", "/domains/999/rotatedkim"),
    ):
        response = api(method, path, {"ReturnPathDomain": "x"} if method == "PUT" else None)
        assert _error(response, status) == 510, (method, path)
        assert response.headers["Content-Type"].startswith(JSON), "a 404 for a missing domain has a Postmark body"


def test_edit_sets_the_return_path_and_resets_its_verification(emulator, api):
    domain = emulator.add_domain(NON_PROD, "dev.example.com", "pm.dev.example.com", return_path_verified=True)
    assert domain["ReturnPathDomainVerified"] is True
    edited = api("PUT", f"/domains/{domain['ID']}", {"ReturnPathDomain": "b.dev.example.com"}).json()
    assert (edited["ReturnPathDomain"], edited["ReturnPathDomainVerified"]) == ("b.dev.example.com", False)
    assert _error(api("PUT", f"/domains/{domain['ID']}", {})) == 511
    assert _error(api("PUT", f"/domains/{domain['ID']}", {"ReturnPathDomain": "x.other.com"})) == 511
    assert api("PUT", f"/domains/{domain['ID']}", {"ReturnPathDomain": ""}).json()["ReturnPathDomain"] == ""


def test_delete_answers_error_code_0(api):
    domain = api.create("dev.example.com")
    response = api("DELETE", f"/domains/{domain['ID']}")
    assert response.json() == {"ErrorCode": 0, "Message": "Domain dev.example.com removed."}
    assert _error(api("GET", f"/domains/{domain['ID']}")) == 510


# -- DKIM -------------------------------------------------------------------------------------------------------------
def test_verify_dkim_without_the_record_changes_nothing(api):
    domain = api.create("dev.example.com")
    verified = api("PUT", f"/domains/{domain['ID']}/verifyDkim").json()
    assert verified == domain


def test_verify_dkim_moves_pending_to_active_with_the_same_host(emulator, api):
    domain = api.create("dev.example.com")
    value = domain["DKIMPendingTextValue"]
    # Published the way Route 53 would serve a split value: two strings, concatenated by the verifier.
    emulator.dns.publish_txt(domain["DKIMPendingHost"], [value[:100], value[100:]])
    verified = api("PUT", f"/domains/{domain['ID']}/verifyDkim").json()
    assert verified["DKIMVerified"] is True
    assert (verified["DKIMHost"], verified["DKIMTextValue"]) == (domain["DKIMPendingHost"], value)
    assert (verified["DKIMPendingHost"], verified["DKIMPendingTextValue"]) == ("", "")
    assert verified["DKIMUpdateStatus"] == "Verified"
    # Once verified it stays verified, even without the record.
    emulator.dns.remove(domain["DKIMPendingHost"])
    assert api("PUT", f"/domains/{domain['ID']}/verifyDkim").json()["DKIMVerified"] is True


def test_verify_dkim_compares_the_value(emulator, api):
    domain = api.create("dev.example.com")
    emulator.dns.publish_txt(domain["DKIMPendingHost"], domain["DKIMPendingTextValue"][:-4] + "AAAA")
    assert api("PUT", f"/domains/{domain['ID']}/verifyDkim").json()["DKIMVerified"] is False
    # Whitespace around ';' does not matter; a Route 53 value is parsed; another record may sit beside it.
    emulator.dns.publish_txt(domain["DKIMPendingHost"], route53_txt_value("v=other"))
    relaxed = domain["DKIMPendingTextValue"].replace("; ", ";")
    emulator.dns.publish_txt(domain["DKIMPendingHost"], route53_txt_value(relaxed), append=True)
    assert api("PUT", f"/domains/{domain['ID']}/verifyDkim").json()["DKIMVerified"] is True


def test_rotation_state_machine(emulator, api):
    domain = api.create("dev.example.com")
    assert _error(api("POST", f"/domains/{domain['ID']}/rotatedkim")) == 505, "a fresh domain has a pending key"
    emulator.dns.publish_txt(domain["DKIMPendingHost"], domain["DKIMPendingTextValue"])
    api("PUT", f"/domains/{domain['ID']}/verifyDkim")

    rotated = api("POST", f"/domains/{domain['ID']}/rotatedkim").json()
    assert "ReturnPathDomain" not in rotated, "rotate answers the reduced object"
    assert rotated["DKIMHost"] == domain["DKIMPendingHost"], "the old key stays active"
    assert rotated["DKIMPendingHost"] not in {"", domain["DKIMPendingHost"]}
    assert (rotated["DKIMUpdateStatus"], rotated["DKIMVerified"]) == ("Pending", True)
    assert _error(api("POST", f"/domains/{domain['ID']}/rotatedkim")) == 505

    emulator.dns.publish_txt(rotated["DKIMPendingHost"], rotated["DKIMPendingTextValue"])
    done = api("PUT", f"/domains/{domain['ID']}/verifyDkim").json()
    assert done["DKIMHost"] == rotated["DKIMPendingHost"]
    assert done["DKIMRevokedHost"] == domain["DKIMPendingHost"]
    assert done["DKIMRevokedTextValue"] == domain["DKIMPendingTextValue"]
    assert done["SafeToRemoveRevokedKeyFromDNS"] is False
    safe = requests.post(f"{emulator.url}/__emulator/domains/{domain['ID']}/revoke-safe", timeout=5).json()
    assert safe["SafeToRemoveRevokedKeyFromDNS"] is True


def test_verify_lag_makes_the_first_calls_fail(make_emulator):
    emulator = make_emulator(verify_lag_calls=2)
    api = Api(emulator)
    domain = api.create("dev.example.com", "pm.dev.example.com")
    emulator.dns.publish_txt(domain["DKIMPendingHost"], domain["DKIMPendingTextValue"])
    emulator.dns.publish_cname("pm.dev.example.com", "pm.mtasv.net")
    results = [api("PUT", f"/domains/{domain['ID']}/verifyDkim").json()["DKIMVerified"] for _ in range(3)]
    assert results == [False, False, True]
    results = [api("PUT", f"/domains/{domain['ID']}/verifyReturnPath").json()["ReturnPathDomainVerified"]]
    results += [api("PUT", f"/domains/{domain['ID']}/verifyReturnPath").json()["ReturnPathDomainVerified"]]
    results += [api("PUT", f"/domains/{domain['ID']}/verifyReturnPath").json()["ReturnPathDomainVerified"]]
    assert results == [False, False, True]


# -- Return-Path -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("target", "verified"), [("pm.mtasv.net", True), ("PM.MTASV.NET.", True), ("elsewhere.example.com", False)]
)
def test_return_path_needs_the_cname_to_postmark(emulator, api, target, verified):
    domain = api.create("dev.example.com", "pm-b.dev.example.com")
    emulator.dns.publish_cname("pm-b.dev.example.com.", target)
    result = api("PUT", f"/domains/{domain['ID']}/verifyReturnPath").json()
    assert result["ReturnPathDomainVerified"] is verified


def test_return_path_without_a_domain_stays_unverified(api):
    domain = api.create("dev.example.com")
    assert api("PUT", f"/domains/{domain['ID']}/verifyReturnPath").json()["ReturnPathDomainVerified"] is False


def test_verify_spf_is_always_true(api):
    domain = api.create("dev.example.com")
    assert api("POST", f"/domains/{domain['ID']}/verifyspf").json()["SPFVerified"] is True


# -- faults ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [1.5, "soon"])
def test_a_429_can_carry_a_malformed_retry_after(emulator, api, value):
    emulator.inject(Fault.rate_limited(retry_after=value, method="GET"))
    assert api("GET", "/domains?count=1&offset=0").headers["Retry-After"] == str(value)


def test_a_one_shot_429_carries_retry_after(emulator, api):
    emulator.inject(Fault.rate_limited(retry_after=7, method="GET"))
    first = api("GET", "/domains?count=1&offset=0")
    assert (first.status_code, first.headers["Retry-After"], first.json()["ErrorCode"]) == (429, "7", 429)
    assert api("GET", "/domains?count=1&offset=0").status_code == 200


def test_faults_match_method_and_path_and_can_persist(emulator, api):
    emulator.inject(Fault.unavailable(method="POST", path=r"^/domains$", times=None))
    assert api("GET", "/domains?count=1&offset=0").status_code == 200
    assert [api("POST", "/domains", {"Name": "a.example.com"}).status_code for _ in range(3)] == [503] * 3
    assert emulator.domains(NON_PROD) == []
    emulator.faults.clear()
    assert api("POST", "/domains", {"Name": "a.example.com"}).status_code == 200


def test_a_500_with_a_plain_body(emulator, api):
    emulator.inject(Fault.server_error())
    response = api("GET", "/domains?count=1&offset=0")
    assert (response.status_code, response.text) == (500, "Internal Server Error")


def test_commit_then_fail_stores_the_create(emulator, api):
    emulator.inject(Fault.commit_then_error(method="POST"))
    assert api("POST", "/domains", {"Name": "dev.example.com"}).status_code == 500
    assert emulator.find(NON_PROD, "dev.example.com") is not None
    assert emulator.requests[-1]["committed_status"] == 200


def test_commit_then_drop_closes_the_connection(emulator, api):
    emulator.inject(Fault.commit_then_error(drop=True, method="POST"))
    with pytest.raises(requests.ConnectionError):
        api("POST", "/domains", {"Name": "dev.example.com"})
    assert emulator.find(NON_PROD, "dev.example.com") is not None


def test_a_slow_answer_times_the_client_out(emulator, api):
    emulator.inject(Fault.slow(2))
    with pytest.raises(requests.Timeout):
        api("GET", "/domains?count=1&offset=0", timeout=0.2)


def test_invalid_faults_are_refused():
    with pytest.raises(ValueError, match="needs"):
        Fault()
    with pytest.raises(ValueError, match="times"):
        Fault(status=500, times=0)


# -- request log and control API -------------------------------------------------------------------------------------------
def test_the_request_log_redacts_tokens_everywhere(emulator, api):
    token = emulator.token_for(NON_PROD)
    api("POST", "/domains", {"Name": "dev.example.com", "Note": token})
    # A token in a query string (through http.client: urllib3 would log the URL, which the scan would catch).
    connection = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=5)
    connection.request("GET", f"/domains?count=1&offset=0&t={token}", headers=api.headers)
    assert connection.getresponse().status == 200
    connection.close()
    requests.get(f"{emulator.url}/__emulator/state", timeout=5)  # control requests are not logged
    log = emulator.requests
    assert [r["method"] for r in log] == ["POST", "GET"]
    assert token not in json.dumps(log)
    assert log[0]["token"] == "<redacted>"
    assert log[0]["body"]["Note"] == "<redacted>"
    assert secret_scan.find_secrets(json.dumps(log)) == []


def test_the_control_api_over_http(emulator, api):
    base = f"{emulator.url}/__emulator"
    seeded = requests.post(
        f"{base}/domains", json={"Account": NON_PROD, "Name": "dev.example.com", "DKIMVerified": True}, timeout=5
    ).json()
    assert seeded["DKIMVerified"] is True
    requests.put(f"{base}/dns/pm.dev.example.com", json={"CNAME": "pm.mtasv.net"}, timeout=5)
    requests.put(f"{base}/dns/sel._domainkey.dev.example.com", json={"TXT": '"ab" "cd"'}, timeout=5)
    assert emulator.dns.txt_records("sel._domainkey.dev.example.com") == [["ab", "cd"]]
    requests.post(f"{base}/faults", json=[{"status": 503, "path": "^/domains$"}], timeout=5)
    assert api("GET", "/domains?count=1&offset=0").status_code == 503
    requests.put(f"{base}/clock", json={"now": "2027-05-06T07:08:09+00:00"}, timeout=5)
    assert api.create("stage.example.com")["DKIMPendingHost"].startswith("20270506070809pm.")
    requests.put(f"{base}/settings", json={"verify_lag_calls": 4}, timeout=5)
    assert emulator.settings()["verify_lag_calls"] == 4
    variants = {"missing_domain_status": 404, "foreign_domain_code": 510, "token_case_insensitive": False}
    assert requests.put(f"{base}/settings", json=variants, timeout=5).json().items() >= variants.items()
    assert _error(api("GET", "/domains/999"), 404) == 510
    requests.put(f"{base}/settings", json={"missing_domain_status": 422, "token_case_insensitive": True}, timeout=5)
    requests.post(f"{base}/accounts", json={"name": "Third", "token": new_token()}, timeout=5)
    state = requests.get(f"{base}/state", timeout=5).json()
    assert state["accounts"] == [NON_PROD, PROD, "Third"]
    assert [d["Name"] for d in state["domains"]] == ["dev.example.com", "stage.example.com"]
    assert state["dns"]["pm.dev.example.com"] == {"CNAME": "pm.mtasv.net"}
    assert all(emulator.token_for(a) not in json.dumps(state) for a in state["accounts"])
    log = requests.get(f"{base}/requests", timeout=5).json()
    assert [r["status"] for r in log] == [503, 200, 404]
    requests.delete(f"{base}/dns/pm.dev.example.com", timeout=5)
    assert emulator.dns.cname("pm.dev.example.com") is None
    assert requests.post(f"{base}/reset", timeout=5).json() == {"reset": True}
    assert emulator.state()["domains"] == []
    assert emulator.requests == []
    assert requests.get(f"{base}/nothing", timeout=5).status_code == 404


def test_reset_keeps_accounts_and_restarts_ids(emulator, api):
    first = api.create("dev.example.com")["ID"]
    emulator.inject(Fault.server_error(times=None))
    emulator.reset()
    assert api.create("dev.example.com")["ID"] == first


def test_a_custom_dns_view_is_used_for_verification(make_emulator):
    class OneCname:
        def txt_records(self, name):
            return []

        def cname(self, name):
            return "pm.mtasv.net" if name == "pm.dev.example.com" else None

    emulator = make_emulator(dns_view=OneCname())
    api = Api(emulator)
    domain = api.create("dev.example.com", "pm.dev.example.com")
    assert api("PUT", f"/domains/{domain['ID']}/verifyReturnPath").json()["ReturnPathDomainVerified"] is True
    response = requests.put(f"{emulator.url}/__emulator/dns/x.example.com", json={"CNAME": "y"}, timeout=5)
    assert response.status_code == 409


def test_static_dns_view_snapshot():
    dns = StaticDnsView()
    dns.publish_txt("A.Example.com.", "plain text")
    dns.publish_cname("b.example.com", "Target.Example.com.")
    assert dns.snapshot() == {
        "a.example.com": {"TXT": [["plain text"]]},
        "b.example.com": {"CNAME": "target.example.com"},
    }


def test_the_emulator_imports_nothing_of_the_code_it_stands_in_for():
    """A test double that borrowed the client's constants would agree with the client's mistakes."""
    ops_dir = os.path.join(os.path.dirname(__file__), "..", "..", "ops")
    probe = (
        "import sys, postmark_emulator, postmark_emulator.process, postmark_emulator.__main__; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'arda_mail', 'arda_ops'}))"
    )
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.path.abspath(ops_dir)}
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "text",
    ["v=DKIM1; k=rsa; p=" + "A" * 400, 'quote " and backslash \\ and ; semicolons', "", "ünïcode"],
)
def test_the_emulators_txt_reading_agrees_with_the_route53_format(text):
    strings = parse_quoted_txt(route53_txt_value(text))
    assert "".join(strings) == text
    assert all(len(s.encode("utf-8")) <= 255 for s in strings)


def test_the_emulators_txt_reading_refuses_unquoted_text():
    with pytest.raises(ValueError, match="double-quoted"):
        parse_quoted_txt('abc "def"')
    with pytest.raises(ValueError, match="unterminated"):
        parse_quoted_txt('"unterminated')


def test_the_subprocess_mode_selects_variants():
    token = new_token()
    args = ["--missing-domain-status", "404", "--foreign-domain-code", "510", "--case-sensitive-token"]
    with EmulatorProcess({"Solo": token}, extra_args=args) as process:
        settings = process.control("GET", "settings")
        assert (settings["missing_domain_status"], settings["foreign_domain_code"]) == (404, 510)
        assert settings["token_case_insensitive"] is False
        headers = {"Accept": JSON, "X-Postmark-Account-Token": token}
        assert requests.get(f"{process.url}/domains/1", headers=headers, timeout=5).status_code == 404


def test_the_subprocess_mode():
    token = new_token()
    with EmulatorProcess({"Solo": token}) as process:
        response = requests.post(
            f"{process.url}/domains",
            json={"Name": "dev.example.com"},
            headers={"Accept": JSON, "X-Postmark-Account-Token": token},
            timeout=5,
        )
        assert response.status_code == 200
        state = process.control("GET", "state")
        assert state["accounts"] == ["Solo"]
        assert [d["Name"] for d in state["domains"]] == ["dev.example.com"]
        assert token not in json.dumps(process.control("GET", "requests"))


# -- the router: every route, every verb (docs/postmark-emulator.md "Routing") --------------------------------------------
_VERBS = ("GET", "POST", "PUT", "DELETE", "PATCH")
_API_ROUTES = {
    "/domains": {"GET", "POST"},
    "/domains/{id}": {"GET", "PUT", "DELETE"},
    "/domains/{id}/verifyDkim": {"PUT"},
    "/domains/{id}/verifyReturnPath": {"PUT"},
    "/domains/{id}/verifyspf": {"POST"},
    "/domains/{id}/rotatedkim": {"POST"},
}


@pytest.mark.parametrize("template", list(_API_ROUTES))
def test_each_route_answers_its_verbs_and_405_with_allow_to_the_others(api, template):
    path = template.format(id=api.create("dev.example.com")["ID"])
    allowed = _API_ROUTES[template]
    for verb in sorted(set(_VERBS) - allowed):
        response = api(verb, path)
        assert (response.status_code, response.content) == (405, b""), (verb, path)
        assert response.headers["Allow"] == ", ".join(sorted(allowed)), (verb, path)
    for verb in sorted(allowed - {"DELETE"}):  # DELETE last: it removes the domain the other calls use
        response = api(verb, path, {} if verb in {"POST", "PUT"} else None)
        assert response.status_code not in {404, 405}, (verb, path, response.text)
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    if "DELETE" in allowed:
        assert api("DELETE", path).status_code == 200


@pytest.mark.parametrize("template", [t for t in _API_ROUTES if "{id}" in t])
@pytest.mark.parametrize("bad_id", ["abc", "1.5", "-1", "0x10", "1e3", "", "%20"])
def test_each_id_route_is_a_bare_404_without_a_numeric_id(api, template, bad_id):
    for verb in _VERBS:
        response = api(verb, template.format(id=bad_id))
        if bad_id == "" and template == "/domains/{id}":  # "/domains/" is "/domains" (one trailing slash)
            continue
        assert (response.status_code, response.content) == (404, b""), (verb, template, bad_id)


@pytest.mark.parametrize(
    "path",
    ["/", "/domains//", "/domains//1", "/domains/1/verifyDkim/x", "/domains/1/verifydkim//", "/DOMAINSX"],
)
def test_odd_paths_are_bare_404s_for_every_verb(api, path):
    for verb in _VERBS:
        response = api(verb, path)
        assert (response.status_code, response.content) == (404, b""), (verb, path)


def test_leading_zeros_name_the_same_id(api):
    domain = api.create("dev.example.com")
    assert api("GET", f"/domains/000{domain['ID']}").json()["ID"] == domain["ID"]


def test_unrouted_requests_are_logged_and_can_be_hit_by_faults(emulator, api):
    emulator.inject(Fault(status=503, body={"ErrorCode": 100, "Message": "Maintenance"}, path="^/nope$"))
    assert api("GET", "/nope").status_code == 503
    assert api("GET", "/nope").status_code == 404
    assert api("DELETE", "/domains").status_code == 405
    assert [(r["method"], r["path"], r["status"]) for r in emulator.requests] == [
        ("GET", "/nope", 503),
        ("GET", "/nope", 404),
        ("DELETE", "/domains", 405),
    ]


def test_routing_comes_before_authentication(emulator):
    """An unknown path is 404 and a wrong verb 405 even without a token (Postmark's 401 is for known endpoints)."""
    assert requests.get(f"{emulator.url}/nope", timeout=5).status_code == 404
    assert requests.delete(f"{emulator.url}/domains", timeout=5).status_code == 405
    assert requests.get(f"{emulator.url}/domains?count=1&offset=0", timeout=5).status_code == 401


def test_head_is_not_served(api):
    assert api("HEAD", "/domains").status_code == 501


_CONTROL_ROUTES = {
    "state": {"GET"},
    "reset": {"POST"},
    "requests": {"GET", "DELETE"},
    "faults": {"GET", "POST", "DELETE"},
    "dns": {"GET"},
    "dns/x.example.com": {"GET", "PUT", "DELETE"},
    "clock": {"GET", "PUT"},
    "settings": {"GET", "PUT"},
    "accounts": {"POST"},
    "domains": {"POST"},
    "domains/{id}/revoke-safe": {"POST"},
}


@pytest.mark.parametrize("template", list(_CONTROL_ROUTES))
def test_each_control_route_answers_only_its_verbs(emulator, template):
    """A control path with another verb is the control API's JSON 404, never an API 404/405 (and nothing is logged)."""
    domain = emulator.add_domain(NON_PROD, "dev.example.com")
    url = f"{emulator.url}/__emulator/{template.format(id=domain['ID'])}"
    for verb in sorted(set(_VERBS) - _CONTROL_ROUTES[template]):
        response = requests.request(verb, url, timeout=5)
        assert response.status_code == 404, (verb, url)
        assert response.json() == {"error": f"unknown control endpoint {verb} {url.removeprefix(emulator.url)}"}
    assert emulator.requests == []


def test_control_paths_ignore_case_and_extra_slashes(emulator):
    assert requests.get(f"{emulator.url}/__EMULATOR//Settings/", timeout=5).json() == emulator.settings()
    emulator.clock.set(datetime(2027, 5, 6, 7, 8, 9, tzinfo=UTC))
    assert requests.get(f"{emulator.url}/__emulator/Clock/", timeout=5).json() == {"now": "2027-05-06T07:08:09+00:00"}
    response = requests.put(
        f"{emulator.url}/__emulator/DNS/Pm.Dev.Example.com.", json={"CNAME": "pm.mtasv.net"}, timeout=5
    )
    assert response.json() == {"CNAME": "pm.mtasv.net"}
    assert requests.get(f"{emulator.url}/__emulator/dns/pm.dev.example.com", timeout=5).json() == {
        "CNAME": "pm.mtasv.net"
    }
    for path in ("", "/", "/nothing", "/dns/a/b", "/domains/abc/revoke-safe"):
        response = requests.get(f"{emulator.url}/__emulator{path}", timeout=5)
        assert response.status_code == 404, path
        assert response.json()["error"].startswith("unknown control endpoint GET /__emulator/"), path
    assert requests.post(f"{emulator.url}/__emulator/domains/999/revoke-safe", timeout=5).status_code == 404
    assert requests.put(f"{emulator.url}/__emulator/settings", data=b"{", timeout=5).json() == {
        "error": "body is not JSON"
    }

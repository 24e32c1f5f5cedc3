"""The emulator against Postmark's official Python client (postmark-python, ``postmark.sync.AccountClient``).

The emulator is only useful if it answers like Postmark. The official SDK is the closest thing to a reference
that runs offline: its pydantic models (``postmark/models/domains/schemas.py``) and its exception mapping
(``postmark/exceptions.py``) encode what ActiveCampaign expects Postmark to send. Every endpoint the project
uses, and every error path the project's client classifies, must parse there without error; where the SDK and
the emulator disagreed, the emulator was fixed (docs/postmark-emulator.md, "Conformance with the official client").

On top of "it parses" (pydantic ignores unknown keys by default), the raw JSON is checked against stricter copies
of the SDK models that forbid unknown keys and require every documented one: an emulator inventing or dropping a
field fails here. Everything runs on loopback; ``retries=0`` keeps the SDK from sleeping (its backoff starts at 1 s).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from postmark.exceptions import (
    InvalidAPIKeyException,
    PostmarkAPIException,
    RateLimitException,
    ServerException,
    ValidationException,
)
from postmark.models.domains import (
    DeleteDomainResponse,
    Domain,
    DomainListItem,
    DomainsListResponse,
    SPFVerificationResponse,
)
from postmark.sync import AccountClient
from pydantic import BaseModel, ConfigDict
from support.postmark import (  # noqa: F401 - the *_fixture imports register the fixtures
    NON_PROD,
    PROD,
    emulator_fixture,
    make_emulator_fixture,
    new_token,
    postmark_tokens_fixture,
)

from postmark_emulator import Fault, PostmarkEmulator

NAME = "dev.example.com"
RETURN_PATH = "pm-bounces.dev.example.com"


class _Strict(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class StrictDomain(Domain, _Strict):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class StrictDomainListItem(DomainListItem, _Strict):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class StrictDeleteDomainResponse(DeleteDomainResponse, _Strict):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


def _aliases(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


#: Keys the Domains API reference documents for the full object (https://postmarkapp.com/developer/api/domains-api);
#: the SDK model declares exactly these.
DOMAIN_KEYS = _aliases(Domain)


def sdk(emulator: PostmarkEmulator, account: str = NON_PROD, token: str | None = None) -> AccountClient:
    return AccountClient(token or emulator.token_for(account), retries=0, timeout=30, base_url=emulator.url)


@pytest.fixture
def client(emulator: PostmarkEmulator) -> Iterator[AccountClient]:
    with sdk(emulator) as c:
        yield c


def raw(emulator: PostmarkEmulator, method: str, path: str, body: Any = None) -> Any:
    """The same call as the SDK makes, for the strict key checks."""
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "X-Postmark-Account-Token": emulator.token_for(NON_PROD),
    }
    response = requests.request(method, emulator.url + path, json=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


# -- every endpoint the project uses ---------------------------------------------------------------------------------
def test_create_get_and_edit_parse_as_the_sdks_domain(client, emulator):
    created = client.domain.create(NAME, return_path_domain=RETURN_PATH)
    assert isinstance(created, Domain)
    assert (created.name, created.return_path_domain, created.dkim_verified) == (NAME, RETURN_PATH, False)
    assert created.dkim_pending_host
    assert created.dkim_pending_text_value
    assert created.return_path_domain_cname_value == "pm.mtasv.net"

    got = client.domain.get(created.id)
    assert got == created

    edited = client.domain.edit(created.id, return_path_domain="bounces.dev.example.com")
    assert (edited.id, edited.return_path_domain, edited.return_path_domain_verified) == (
        created.id,
        "bounces.dev.example.com",
        False,
    )
    assert [r["status"] for r in emulator.requests] == [200, 200, 200]
    for method, path, body in (
        ("GET", f"/domains/{created.id}", None),
        ("PUT", f"/domains/{created.id}", {"ReturnPathDomain": RETURN_PATH}),
        ("POST", "/domains", {"Name": "stage.example.com", "ReturnPathDomain": "pm-bounces.stage.example.com"}),
    ):
        answer = raw(emulator, method, path, body)
        StrictDomain.model_validate(answer)
        assert set(answer) == DOMAIN_KEYS, (method, path)


def test_an_edit_without_data_parses_as_511(client, emulator):
    """The SDK sends ``{}`` when no Return-Path is given; the emulator refuses it (511, "no valid domain data")."""
    created = emulator.add_domain(NON_PROD, NAME, RETURN_PATH)
    _raises(lambda: client.domain.edit(created["ID"]), ValidationException, 511, 422)


def test_list_parses_as_the_sdks_page_of_list_items(client, emulator):
    emulator.add_domains(NON_PROD, [f"d{i}.example.com" for i in range(3)])
    emulator.add_domain(PROD, "other.example.com")
    page = client.domain.list(count=2, offset=0)
    assert page.total == 3
    assert [d.name for d in page.items] == ["d0.example.com", "d1.example.com"]
    assert all(isinstance(d, DomainListItem) for d in page.items)
    assert [d.name for d in client.domain.list(count=2, offset=2).items] == ["d2.example.com"]

    listed = raw(emulator, "GET", "/domains?count=500&offset=0")
    DomainsListResponse.model_validate(listed)
    assert set(listed) == {"TotalCount", "Domains"}
    for item in listed["Domains"]:
        StrictDomainListItem.model_validate(item)
        assert set(item) == _aliases(DomainListItem)


def test_verify_dkim_and_return_path_parse_as_the_sdks_domain(client, emulator):
    created = client.domain.create(NAME, return_path_domain=RETURN_PATH)
    emulator.dns.publish_txt(created.dkim_pending_host, created.dkim_pending_text_value)
    emulator.dns.publish_cname(RETURN_PATH, "pm.mtasv.net")

    dkim = client.domain.verify_dkim(created.id)
    assert (dkim.dkim_verified, dkim.dkim_host, dkim.dkim_pending_host) == (True, created.dkim_pending_host, "")
    assert dkim.dkim_update_status == "Verified"
    return_path = client.domain.verify_return_path(created.id)
    assert return_path.return_path_domain_verified is True

    for suffix in ("verifyDkim", "verifyReturnPath"):
        answer = raw(emulator, "PUT", f"/domains/{created.id}/{suffix}")
        StrictDomain.model_validate(answer)
        assert set(answer) == DOMAIN_KEYS


def test_rotate_dkim_parses_as_the_sdks_domain(client, emulator):
    created = emulator.add_domain(NON_PROD, NAME, RETURN_PATH, dkim_verified=True)
    rotated = client.domain.rotate_dkim(created["ID"])
    assert isinstance(rotated, Domain)
    assert rotated.dkim_host == created["DKIMHost"]
    assert rotated.dkim_pending_host
    assert rotated.dkim_pending_host != created["DKIMHost"]
    assert rotated.dkim_update_status == "Pending"
    # The rotate answer is the reduced object (no Return-Path or SPF fields): the SDK's defaults cover them.
    assert rotated.return_path_domain is None
    state = emulator.domain(created["ID"])
    assert state is not None
    assert set(state) - {"Account"} == DOMAIN_KEYS


def test_delete_parses_as_the_sdks_delete_response(client, emulator):
    created = emulator.add_domain(NON_PROD, NAME)
    deleted = client.domain.delete(created["ID"])
    assert isinstance(deleted, DeleteDomainResponse)
    assert (deleted.error_code, deleted.message) == (0, f"Domain {NAME} removed.")
    again = emulator.add_domain(NON_PROD, NAME)
    headers = {"Accept": "application/json", "X-Postmark-Account-Token": emulator.token_for(NON_PROD)}
    answer = requests.delete(f"{emulator.url}/domains/{again['ID']}", headers=headers, timeout=10).json()
    StrictDeleteDomainResponse.model_validate(answer)


def test_verify_spf_parses_as_the_sdks_response(client, emulator):
    created = emulator.add_domain(NON_PROD, NAME)
    answer = client.domain.verify_spf(created["ID"])
    assert isinstance(answer, SPFVerificationResponse)
    assert (answer.spf_host, answer.spf_verified) == (NAME, True)


# -- the error paths ---------------------------------------------------------------------------------------------------
def _raises(call, expected: type[PostmarkAPIException], error_code: int, http_status: int) -> PostmarkAPIException:
    with pytest.raises(PostmarkAPIException) as err:
        call()
    assert type(err.value) is expected, f"{type(err.value).__name__}: {err.value}"
    assert (err.value.error_code, err.value.http_status) == (error_code, http_status)
    assert err.value.message, "Postmark's Message came through"
    return err.value


@pytest.mark.parametrize("status", [401, 422])
def test_a_wrong_token_is_the_sdks_invalid_api_key(make_emulator, status):
    emulator = make_emulator(auth_failure_status=status)
    with sdk(emulator, token=new_token()) as client:
        _raises(lambda: client.domain.list(count=1, offset=0), InvalidAPIKeyException, 10, status)


def test_a_missing_token_is_the_sdks_invalid_api_key(emulator):
    headers = {"Accept": "application/json"}
    response = requests.get(f"{emulator.url}/domains?count=1&offset=0", headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json()["ErrorCode"] == 10


@pytest.mark.parametrize(
    ("options", "expected", "http_status"),
    [({}, ValidationException, 422), ({"missing_domain_status": 404}, PostmarkAPIException, 404)],
    ids=["422-510", "404-510"],
)
def test_a_missing_domain_parses_as_510(make_emulator, options, expected, http_status):
    emulator = make_emulator(**options)
    with sdk(emulator) as client:
        for call in (
            lambda: client.domain.get(999),
            lambda: client.domain.edit(999, return_path_domain=""),
            lambda: client.domain.delete(999),
            lambda: client.domain.verify_dkim(999),
            lambda: client.domain.verify_return_path(999),
            lambda: client.domain.rotate_dkim(999),
        ):
            _raises(call, expected, 510, http_status)


@pytest.mark.parametrize(
    ("options", "expected", "code", "http_status"),
    [
        ({}, ValidationException, 513, 422),
        ({"foreign_domain_code": 510}, ValidationException, 510, 422),
        ({"foreign_domain_code": 510, "missing_domain_status": 404}, PostmarkAPIException, 510, 404),
    ],
    ids=["513", "510", "510-as-404"],
)
def test_another_accounts_domain_parses(make_emulator, options, expected, code, http_status):
    emulator = make_emulator(**options)
    theirs = emulator.add_domain(PROD, NAME)["ID"]
    with sdk(emulator) as client:
        _raises(lambda: client.domain.get(theirs), expected, code, http_status)
        _raises(lambda: client.domain.delete(theirs), expected, code, http_status)
    assert emulator.domain(theirs) is not None


def test_a_duplicate_name_parses_as_512(client, emulator):
    client.domain.create(NAME)
    _raises(lambda: client.domain.create(NAME.upper()), ValidationException, 512, 422)


def test_a_pending_rotation_parses_as_505(client, emulator):
    created = client.domain.create(NAME)
    _raises(lambda: client.domain.rotate_dkim(created.id), ValidationException, 505, 422)


@pytest.mark.parametrize("retry_after", [1, 1.5, "soon"])
def test_a_rate_limit_parses_as_429(client, emulator, retry_after):
    emulator.inject(Fault.rate_limited(retry_after=retry_after))
    _raises(lambda: client.domain.list(count=1, offset=0), RateLimitException, 429, 429)


def test_maintenance_parses_as_the_sdks_server_exception(client, emulator):
    emulator.inject(Fault.unavailable())
    _raises(lambda: client.domain.list(count=1, offset=0), ServerException, 100, 503)


def test_the_sdk_never_sees_the_token_in_an_error(make_emulator):
    emulator = make_emulator()
    token = emulator.token_for(NON_PROD)
    with sdk(emulator) as client:
        error = _raises(lambda: client.domain.get(999), ValidationException, 510, 422)
    assert token not in str(error)

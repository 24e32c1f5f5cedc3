"""Fixtures and helpers for tests that talk to Postmark: the emulator over HTTP, the account tokens in
Secrets Manager (moto), and events for the two Postmark custom resources.

The fixtures are declared with ``name=`` so a test module imports them under their ``*_fixture`` names (one
import line, ``# noqa: F401``) and uses the short names as arguments, without shadowing. Every token created
here is registered with the secret scan.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from support import secret_scan

from arda_ops.cfn_protocol import CfnResponse, EventFactory, ResponseReceiver, invoke
from postmark_emulator import Fault, PostmarkEmulator

NON_PROD = "PostmarkNonProd"
PROD = "PostmarkProd"
DOMAIN_TYPE = "Custom::PostmarkDomain"
VERIFICATION_TYPE = "Custom::PostmarkDomainVerification"

#: The documented variants of Postmark's answers the emulator can play (docs/postmark-emulator.md, "Variants"):
#: a missing domain as 422 or 404 (ErrorCode 510 either way), another account's domain as 513 or as a missing one.
#: A test runs under all of them with ``@pytest.mark.parametrize("emulator", POSTMARK_VARIANTS, indirect=True)``;
#: the ``emulator`` fixture then plays that variant (otherwise the default, "documented").
POSTMARK_VARIANTS: dict[str, dict[str, Any]] = {
    "documented": {},
    "missing-as-404": {"missing_domain_status": 404},
    "foreign-as-510": {"foreign_domain_code": 510},
    "foreign-as-404-510": {"foreign_domain_code": 510, "missing_domain_status": 404},
}

#: Small retry settings for tests: no backoff, short timeouts (see arda_mail.postmark.client.RetryPolicy).
FAST_RETRIES = {
    "ARDA_POSTMARK_MAX_RETRIES": "3",
    "ARDA_POSTMARK_BACKOFF_FACTOR": "0",
    "ARDA_POSTMARK_BACKOFF_MAX_S": "0.2",
    "ARDA_POSTMARK_CONNECT_TIMEOUT_S": "2",
    "ARDA_POSTMARK_READ_TIMEOUT_S": "5",
}


def new_token() -> str:
    """A fresh Postmark-shaped token, registered with the secret scan."""
    token = str(uuid.uuid4())
    secret_scan.register(token)
    return token


@pytest.fixture(name="postmark_tokens")
def postmark_tokens_fixture() -> dict[str, str]:
    """One token per Postmark account of the registry."""
    return {NON_PROD: new_token(), PROD: new_token()}


def not_visible_status(emulator: PostmarkEmulator, *, foreign: bool) -> int:
    """The HTTP status the emulator's variant answers for a domain this token does not see: another account's
    (``foreign``) or one that does not exist."""
    if foreign and emulator.api.foreign_domain_code == 513:
        return 422
    return emulator.api.missing_domain_status


@pytest.fixture(name="make_emulator")
def make_emulator_fixture(postmark_tokens: dict[str, str]) -> Iterator[Callable[..., PostmarkEmulator]]:
    """A factory of started emulators (``make_emulator(dkim_key_bits=2048)``), all stopped afterwards."""
    started: list[PostmarkEmulator] = []

    def make(**options: Any) -> PostmarkEmulator:
        emulator = PostmarkEmulator(options.pop("accounts", postmark_tokens), **options).start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture(name="emulator")
def emulator_fixture(
    make_emulator: Callable[..., PostmarkEmulator], request: pytest.FixtureRequest
) -> PostmarkEmulator:
    """A started emulator playing the default variant, or the one an indirect parametrization names."""
    variant = getattr(request, "param", "documented")
    return make_emulator(**POSTMARK_VARIANTS[variant])


@pytest.fixture(name="fast_retries")
def fast_retries_fixture(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in FAST_RETRIES.items():
        monkeypatch.setenv(key, value)
    return FAST_RETRIES


@pytest.fixture(name="aws")
def aws_fixture() -> Iterator[None]:
    """moto for everything AWS, with the account-token cache emptied on both sides."""
    from moto import mock_aws

    from arda_mail.secrets import forget_tokens

    forget_tokens()
    with mock_aws():
        yield
    forget_tokens()


def put_secret(name: str, value: str) -> str:
    """Create a Secrets Manager secret (inside ``aws``) and return its ARN (botocore's DEBUG dump of the
    request would show the value: the same guard as the handlers' keeps it out of the logs)."""
    import boto3

    from arda_mail.log_redaction import install as guard_botocore_logs

    guard_botocore_logs()

    client = boto3.client("secretsmanager")
    return str(client.create_secret(Name=name, SecretString=value)["ARN"])


def put_secret_value(secret_arn: str, value: str) -> None:
    """Give the secret a new current value (inside ``aws``), as an operator's ``put-secret-value`` does: the
    value it held until now stays readable as ``AWSPREVIOUS``."""
    import boto3

    from arda_mail.log_redaction import install as guard_botocore_logs

    guard_botocore_logs()
    boto3.client("secretsmanager").put_secret_value(SecretId=secret_arn, SecretString=value)


@pytest.fixture(name="token_secrets")
def token_secrets_fixture(aws: None, postmark_tokens: dict[str, str]) -> dict[str, str]:
    """The ARN of a secret holding each account's token, keyed by account name."""
    return {
        account: put_secret(f"Alpha002-{account}-AccountToken", token) for account, token in postmark_tokens.items()
    }


def domain_props(secret_arn: str, api_url: str, domain_name: str = "dev.ardamails.com", **extra: str) -> dict[str, str]:
    """``Custom::PostmarkDomain`` properties (ReturnPathDomain left to its default unless given)."""
    return {"DomainName": domain_name, "AccountTokenSecretArn": secret_arn, "ApiUrl": api_url, **extra}


def next_domain_id(emulator: PostmarkEmulator) -> int:
    """The ID the emulator gives the next domain it creates (IDs are global and sequential; valid as long as
    the newest domain has not been deleted)."""
    ids = [int(d["ID"]) for d in emulator.api.snapshot()]
    return max(ids) + 1 if ids else emulator.api.first_id


def commit_then_answer(emulator: PostmarkEmulator, name: str, return_path_domain: str, **fields: Any) -> Fault:
    """A one-shot fault on ``POST /domains``: Postmark creates the domain as asked, then answers 200 with a
    body describing it as ``fields`` say (another Return-Path, no DKIM key, …): what a client sees when the
    answer is not what Postmark stored. The body's ID is the one the create gets."""
    body = {
        "ID": next_domain_id(emulator),
        "Name": name,
        "ReturnPathDomain": return_path_domain,
        "ReturnPathDomainCNAMEValue": "pm.mtasv.net",
        "ReturnPathDomainVerified": False,
        "DKIMVerified": False,
        "DKIMHost": "",
        "DKIMTextValue": "",
        "DKIMPendingHost": f"20240101000000pm._domainkey.{name}",
        "DKIMPendingTextValue": "k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC",
        "DKIMUpdateStatus": "Pending",
        **fields,
    }
    return Fault(commit_then_fail=True, status=200, body=body, method="POST", path=r"^/domains$")


def verification_props(secret_arn: str, api_url: str, domain_id: int | str, **extra: str) -> dict[str, str]:
    return {
        "DomainId": str(domain_id),
        "AccountTokenSecretArn": secret_arn,
        "ApiUrl": api_url,
        "PollIntervalSeconds": "0",
        **extra,
    }


def publish_records(emulator: PostmarkEmulator, attributes: dict[str, str]) -> None:
    """Publish what the stack would create from ``Custom::PostmarkDomain``'s attributes: the DKIM TXT record
    (from ``DkimRecordValue``, so the quoting and splitting are checked end to end) and the Return-Path CNAME."""
    dns = emulator.dns
    assert hasattr(dns, "publish_txt"), "the emulator's DNS view is not writable"
    dns.publish_txt(attributes["DkimHostName"], attributes["DkimRecordValue"])
    dns.publish_cname(attributes["ReturnPathHostName"], attributes["ReturnPathCnameTarget"])


@dataclass
class CfnDriver:
    """Plays CloudFormation for one custom resource: builds the event, invokes the handler, returns the response
    received over HTTPS (``timeout_ms`` is the Lambda's remaining time)."""

    handler: Callable[[dict[str, Any], Any], Any]
    events: EventFactory
    receiver: ResponseReceiver
    resource_type: str
    logical_id: str

    def create(self, props: Mapping[str, Any], **kw: Any) -> CfnResponse:
        return invoke(self.handler, self.events.create(self.resource_type, self.logical_id, props), self.receiver, **kw)

    def update(
        self, physical_id: str, props: Mapping[str, Any], old_props: Mapping[str, Any], **kw: Any
    ) -> CfnResponse:
        event = self.events.update(self.resource_type, self.logical_id, physical_id, props, old_props)
        return invoke(self.handler, event, self.receiver, **kw)

    def delete(self, physical_id: str, props: Mapping[str, Any], **kw: Any) -> CfnResponse:
        event = self.events.delete(self.resource_type, self.logical_id, physical_id, props)
        return invoke(self.handler, event, self.receiver, **kw)

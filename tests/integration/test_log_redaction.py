"""No secret reaches the logs at any level (arda_mail.log_redaction).

Each handler's Create and Delete run through the real protocol with the root logger, botocore, urllib3, our own
loggers and the handlers' Powertools loggers at DEBUG; every captured record (message, traceback, ``extra``
fields) is scanned for the assumed role's credentials (taken from STS's answer as botocore parsed it), the
Postmark token and the ResponseURL's signature parts. Every one of them is also registered with the session's
secret scan, which covers captured stdout (Powertools' JSON lines) and the responses.
"""

from __future__ import annotations

import logging
import os

import botocore.handlers
import pytest
from integration import test_ns_delegation as ns_delegation
from support import secret_scan
from support.postmark import (  # noqa: F401 - the *_fixture imports register the fixtures
    DOMAIN_TYPE,
    NON_PROD,
    VERIFICATION_TYPE,
    CfnDriver,
    aws_fixture,
    domain_props,
    emulator_fixture,
    fast_retries_fixture,
    make_emulator_fixture,
    postmark_tokens_fixture,
    token_secrets_fixture,
    verification_props,
)

from arda_mail.aws_sessions import AwsClients
from arda_mail.deadline import Deadline
from arda_mail.log_redaction import REDACTED, redact
from arda_mail.secrets import get_account_token
from arda_ops.cfn_protocol import url_secrets
from arda_ops.handlers import load_function_module

bare, handler, ns_world = ns_delegation.bare, ns_delegation.handler, ns_delegation.world
#: The handlers' Powertools logger is named after POWERTOOLS_SERVICE_NAME (set per function in the template; one
#: value for the whole test run, from tests/conftest.py).
DEBUG_LOGGERS = ("", "botocore", "urllib3", "requests", "arda_mail", os.environ["POWERTOOLS_SERVICE_NAME"])


@pytest.fixture
def debug_logs(caplog):
    """Every logger that matters at DEBUG for the test, restored afterwards."""
    for name in DEBUG_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


@pytest.fixture
def assumed_credentials(monkeypatch):
    """The credentials STS hands the handler, as botocore parsed them (an ``after-call`` hook on every session)."""
    seen: list[str] = []

    def capture(parsed=None, **_):
        creds = (parsed or {}).get("Credentials") or {}
        seen.extend(creds[k] for k in ("SecretAccessKey", "SessionToken", "AccessKeyId") if k in creds)

    handlers = [*botocore.handlers.BUILTIN_HANDLERS, ("after-call.sts.AssumeRole", capture)]
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", handlers)
    return seen


def _texts(caplog) -> list[str]:
    texts = []
    formatter = logging.Formatter()
    for record in caplog.records:
        texts.append(record.getMessage())
        if record.exc_info:
            texts.append(formatter.formatException(record.exc_info))
        texts.extend(str(v) for v in (record.exc_text, record.stack_info) if v)
        texts.extend(str(v) for k, v in vars(record).items() if k not in _STANDARD)
    return texts


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _assert_clean(caplog, secrets: list[str]) -> None:
    assert secrets, "the test must have secrets to look for"
    secret_scan.register(*secrets)
    texts = _texts(caplog)
    assert len(texts) > 20, "DEBUG logging was really on"
    leaks = [s for s in secrets if any(s in t for t in texts)]
    assert not leaks, f"{len(leaks)} secret(s) in the logs"


def test_ns_delegation_create_and_delete(ns_world, debug_logs, assumed_credentials):
    created_event = ns_world.events.create(ns_delegation.RESOURCE_TYPE, "NsDelegation", ns_delegation.props())
    created = ns_world.send(created_event)
    assert created.status == "SUCCESS", created.reason
    deleted_event = ns_world.events.delete(
        ns_delegation.RESOURCE_TYPE, "NsDelegation", created.physical_id, ns_delegation.props()
    )
    assert ns_world.send(deleted_event).status == "SUCCESS"

    assert len(assumed_credentials) == 6, "both requests assumed the role"
    assert any("botocore" in r.name for r in debug_logs.records), "botocore's DEBUG records were captured"
    secrets = [
        *assumed_credentials,
        *url_secrets(created_event["ResponseURL"]),
        *url_secrets(deleted_event["ResponseURL"]),
    ]
    _assert_clean(debug_logs, secrets)


@pytest.fixture
def postmark(emulator, token_secrets, postmark_tokens, fast_retries):
    """The emulator, the secret holding the non-prod token, and that token."""
    return emulator, token_secrets[NON_PROD], postmark_tokens[NON_PROD]


def test_postmark_domain_and_verification_create_and_delete(events, receiver, postmark, debug_logs):
    emulator, secret_arn, token = postmark
    domain = CfnDriver(load_function_module("postmark_domain").handler, events, receiver, DOMAIN_TYPE, "Domain")
    verify = CfnDriver(
        load_function_module("postmark_domain_verification").handler, events, receiver, VERIFICATION_TYPE, "Verify"
    )
    props = domain_props(secret_arn, emulator.url)
    created = domain.create(props)
    assert created.status == "SUCCESS", created.reason
    vprops = verification_props(secret_arn, emulator.url, created.physical_id, MaxWaitSeconds="0")
    verified = verify.create(vprops)
    assert verified.status == "SUCCESS", verified.reason
    assert verify.delete(verified.physical_id, vprops).status == "SUCCESS"
    assert domain.delete(created.physical_id, props).status == "SUCCESS"

    assert any("SecretString" in t for t in _texts(debug_logs)), "botocore's GetSecretValue dump was logged"
    urls = [r.path for r in receiver.responses[-4:]]
    secrets = [token, *(s for p in urls for s in url_secrets(f"https://x{p}"))]
    _assert_clean(debug_logs, secrets)


def test_the_layers_own_aws_calls_at_debug_without_any_handler(ns_world, debug_logs, assumed_credentials, aws):
    """The layer's clients used directly, no helper installed in between (the redaction is installed by the
    modules that read secrets and make clients, not only by the handlers)."""
    clients = AwsClients(Deadline.after(30)).assume_role(ns_delegation.ROLE_ARN, "Alpha002-dev-Email-Test")
    clients.route53().list_hosted_zones()
    assert assumed_credentials
    _assert_clean(debug_logs, list(assumed_credentials))


def test_a_token_read_at_debug_is_redacted(token_secrets, postmark_tokens, debug_logs):
    assert get_account_token(token_secrets[NON_PROD], force_fetch=True) == postmark_tokens[NON_PROD]
    _assert_clean(debug_logs, [postmark_tokens[NON_PROD]])


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ('Response body:\nb\'{"ARN":"a","SecretString":"tok\\\\"en-1","Name":"n"}\'', 'tok\\\\"en-1'),
        # A token stored as JSON, as botocore's DEBUG dump shows the raw body (escaped twice): the redaction must not
        # stop at the first escaped quote.
        ('Response body:\nb\'{"ARN":"a","SecretString":"{\\\\"token\\\\": \\\\"6f1c-uuid\\\\"}"}\'', "6f1c-uuid"),
        ("{'SecretBinary': b'c2VjcmV0LWJ5dGVz', 'Name': 'n'}", "c2VjcmV0LWJ5dGVz"),
        ("<Credentials><AccessKeyId>ASIAKEY123</AccessKeyId><SecretAccessKey>wJal/rX+Y</SecretAccessKey>", "wJal/rX+Y"),
        ("<SessionToken>IQoJb3JpZ2luX2VjE//////////wEaCXVz</SessionToken>", "IQoJb3JpZ2luX2VjE"),
        ("headers={'X-Amz-Security-Token': b'IQoJtoken/abc==', 'Authorization': b'AWS4-HMAC-SHA256 ...'}", "IQoJtoken"),
        (
            "CanonicalRequest:\nPOST\n/\n\nhost:sts.amazonaws.com\nx-amz-security-token:FwoGZXIvYXdzEB\n",
            "FwoGZXIvYXdzEB",
        ),
        (
            "Authorization: AWS4-HMAC-SHA256 Credential=ASIAXYZ/20260101/us-east-1/route53/aws4_request, "
            "SignedHeaders=host, Signature=0123456789abcdef0123456789abcdef",
            "0123456789abcdef0123456789abcdef",
        ),
        ("Authorization: AWS4-HMAC-SHA256 Credential=ASIAXYZ/20260101/us-east-1/route53/aws4_request", "ASIAXYZ"),
        ("Signature:\n9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "9f86d081884c7d659a2feaa0"),
        (
            "PUT https://bucket.s3.amazonaws.com/key?AWSAccessKeyId=AKIAOLD&Expires=1&Signature=abc%2Bdef%3D",
            "abc%2Bdef",
        ),
        ("PUT https://bucket.s3.amazonaws.com/key?AWSAccessKeyId=AKIAOLD&Expires=1&Signature=abc%2Bdef%3D", "AKIAOLD"),
        (
            "url=https://h/p?X-Amz-Credential=ASIA1%2F2&X-Amz-Signature=deadbeef&X-Amz-Security-Token=tok%2B1",
            "deadbeef",
        ),
        ("url=https://h/p?X-Amz-Credential=ASIA1%2F2&X-Amz-Signature=deadbeef&X-Amz-Security-Token=tok%2B1", "tok%2B1"),
        ("{'X-Postmark-Account-Token': '6f1c-token', 'Accept': 'application/json'}", "6f1c-token"),
        ("X-Postmark-Account-Token: 6f1c-token", "6f1c-token"),
    ],
)
def test_redaction_patterns(line, secret):
    clean = redact(line)
    assert secret not in clean
    assert REDACTED in clean


def test_redaction_leaves_ordinary_lines_alone():
    line = "Event needs-retry.route53.ListHostedZones: calling handler; secret arn:aws:secretsmanager:x:1:secret:s-AbC"
    assert redact(line) == line

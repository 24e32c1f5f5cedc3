"""Every response fits CloudFormation's limits, whatever the properties and whatever the services do: the body
within 4,096 bytes (arda_mail.cfn.build_response), the answer within the function's time, exactly once, even when
Secrets Manager does not answer (botocore's timeouts and retries configured to fit, arda_mail.secrets).

Driven through the real protocol: the real handlers, moto for AWS, the Postmark emulator over HTTP, and the
response as the HTTPS PUT the loopback receiver records (its raw body is what is measured). The unresponsive
Secrets Manager is a loopback socket that accepts connections and never answers, reached through botocore's
service-specific endpoint variable (``AWS_ENDPOINT_URL_SECRETS_MANAGER``,
https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html).
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from integration import test_ns_delegation as ns_delegation
from support.postmark import (  # noqa: F401 - the *_fixture imports register the fixtures
    DOMAIN_TYPE,
    NON_PROD,
    CfnDriver,
    aws_fixture,
    domain_props,
    fast_retries_fixture,
    make_emulator_fixture,
    postmark_tokens_fixture,
    token_secrets_fixture,
)

from arda_mail.cfn import MAX_RESPONSE_BYTES
from arda_mail.placement import MAIL_ROOT_DOMAIN
from arda_ops.cfn_protocol import EventFactory, LambdaContext, invoke
from arda_ops.handlers import load_function_module

# The NS delegation world (moto in two accounts), from its own tests: ``world`` needs ``bare`` needs ``handler``.
bare, handler, ns_world = ns_delegation.bare, ns_delegation.handler, ns_delegation.world
DELEGATED, RESOURCE_TYPE, props = ns_delegation.DELEGATED, ns_delegation.RESOURCE_TYPE, ns_delegation.props
MAX_NAME = 253


def _long_name(length: int, suffix: str) -> str:
    """A valid DNS name of exactly ``length`` characters ending in ``suffix`` (63-character labels at most)."""
    labels: list[str] = []
    room = length - len(suffix)
    letter = ord("a")
    while room > 0:
        size = min(63, room - 1) if room > 1 else 1
        if room - (size + 1) == 1:  # never leave a single character: it cannot be a label plus its dot
            size -= 1
        labels.append(chr(letter) * size)
        letter += 1
        room -= size + 1
    return ".".join(labels) + "." + suffix


def _thirteen_long_name_servers() -> list[str]:
    names = [_long_name(MAX_NAME, f"ns{i:02d}.example.net") for i in range(13)]
    assert all(len(n) == MAX_NAME for n in names)
    return names


def test_thirteen_maximal_name_servers_succeed_within_the_limit(ns_world):
    """crhelper's encoding of this SUCCESS made 4,275 bytes, which CloudFormation rejects (the stack then waits for
    the ServiceTimeout); the compact encoding fits it, attributes whole."""
    name_servers = _thirteen_long_name_servers()
    response = ns_world.create(NameServers=name_servers)

    assert response.status == "SUCCESS", response.reason
    assert len(response.raw.encode("utf-8")) <= MAX_RESPONSE_BYTES
    assert response.data["NameServers"] == ",".join(name_servers)


def test_attributes_that_cannot_fit_fail_clearly_and_the_rollback_removes_the_record(ns_world):
    """The longest stack name (128) and logical ID (255) CloudFormation allows leave no room for 13 maximal name
    servers: the answer is FAILED with a Reason naming the attribute, never an oversized body."""
    name_servers = _thirteen_long_name_servers()
    events = EventFactory(ns_world.receiver, stack_name="S" * 128)
    logical_id = "N" * 255
    created = invoke(
        ns_world.handler, events.create(RESOURCE_TYPE, logical_id, props(NameServers=name_servers)), ns_world.receiver
    )

    assert len(created.raw.encode("utf-8")) <= MAX_RESPONSE_BYTES
    assert created.status == "FAILED"
    assert "4096" in created.reason
    assert "NameServers" in created.reason, "the Reason names the attribute that does not fit"
    # The record was written before the answer was built: the ID names it, so the rollback's Delete removes it.
    assert created.physical_id == f"{ns_world.zone_id}/{DELEGATED}/NS"
    assert ns_world.record() is not None

    event = events.delete(RESOURCE_TYPE, logical_id, created.physical_id, props(NameServers=name_servers))
    rollback = invoke(ns_world.handler, event, ns_world.receiver)
    assert rollback.status == "SUCCESS", rollback.reason
    assert ns_world.record() is None


def test_four_name_servers_still_succeed_whole(ns_world):
    response = ns_world.create()
    assert response.status == "SUCCESS", response.reason
    assert response.data["ParentZoneName"] == MAIL_ROOT_DOMAIN
    assert len(response.raw.encode("utf-8")) <= MAX_RESPONSE_BYTES


@pytest.fixture
def domain_cfn(events, receiver):
    return CfnDriver(load_function_module("postmark_domain").handler, events, receiver, DOMAIN_TYPE, "PostmarkDomain")


def test_a_postmark_domain_with_the_largest_dkim_key_and_longest_names_fits(
    domain_cfn, make_emulator, token_secrets, fast_retries
):
    """2048-bit keys are the largest Postmark issues (the emulator's largest), and the names are as long as the
    DKIM host allows (``<14-digit selector>pm._domainkey.<domain>`` within 253 characters)."""
    emulator = make_emulator(dkim_key_bits=2048)
    domain = _long_name(MAX_NAME - len("20260101000000pm._domainkey."), "ardamails.com")
    response = domain_cfn.create(domain_props(token_secrets[NON_PROD], emulator.url, domain_name=domain))

    assert response.status == "SUCCESS", response.reason
    assert len(response.data["DkimHostName"]) <= MAX_NAME
    assert response.data["DkimTextValue"].startswith("k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA")
    raw_size = len(response.raw.encode("utf-8"))
    assert raw_size <= MAX_RESPONSE_BYTES
    print(f"largest PostmarkDomain response: {raw_size} bytes")  # the margin, for the record

    deleted = domain_cfn.delete(response.physical_id, domain_props(token_secrets[NON_PROD], emulator.url, domain))
    assert deleted.status == "SUCCESS", deleted.reason


# -- Secrets Manager does not answer -------------------------------------------------------------------------
UNREADABLE_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:Alpha002-dev-Token-AbCdEf"
HANG_GUARD_S = 120


@pytest.fixture
def silent_secrets_manager(monkeypatch):
    """Secrets Manager accepts the connection and never answers (no moto: the endpoint is a loopback socket)."""
    from arda_mail.secrets import forget_tokens

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # connections complete in the kernel's backlog; nothing ever reads or answers
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", f"http://127.0.0.1:{listener.getsockname()[1]}")
    forget_tokens()
    yield
    forget_tokens()
    listener.close()


def _invoke_guarded(handler, event, timeout_ms):
    """Invoke like Lambda in a thread: (returned within the guard, seconds it took)."""
    started = time.monotonic()
    thread = threading.Thread(target=handler, args=(event, LambdaContext(timeout_ms=timeout_ms)), daemon=True)
    thread.start()
    thread.join(HANG_GUARD_S)
    return not thread.is_alive(), time.monotonic() - started


def test_an_unresponsive_secrets_manager_fails_with_the_handlers_reason_in_time(
    events, receiver, fast_retries, silent_secrets_manager
):
    """With botocore's defaults (60 s read timeout, legacy retries) the read outlived the function: crhelper's
    timer answered "Execution timed out" with an empty PhysicalResourceId, and a second FAILED followed."""
    domain = load_function_module("postmark_domain").handler
    event = events.create(DOMAIN_TYPE, "PostmarkDomain", domain_props(UNREADABLE_ARN, "http://127.0.0.1:9"))
    returned, took = _invoke_guarded(domain, event, timeout_ms=30_000)

    assert returned, "the handler never returned"
    (response,) = receiver.attempts_for(event["ResponseURL"])
    assert response.status == "FAILED"
    assert response.reason.startswith(f"could not read the Postmark account token from secret {UNREADABLE_ARN}")
    assert "timeout" in response.reason.lower()
    assert response.physical_id, "never an empty PhysicalResourceId"
    assert took < 27, f"answered after {took:.1f} s: the function had 30 s and its deadline keeps 3 s back"


def test_a_function_shorter_than_the_read_gets_one_answer_from_the_timer(
    events, receiver, fast_retries, silent_secrets_manager
):
    domain = load_function_module("postmark_domain").handler
    event = events.create(DOMAIN_TYPE, "PostmarkDomain", domain_props(UNREADABLE_ARN, "http://127.0.0.1:9"))
    returned, _ = _invoke_guarded(domain, event, timeout_ms=4_000)

    assert returned, "the handler never returned"
    responses = receiver.attempts_for(event["ResponseURL"])
    assert len(responses) == 1, "exactly one response, though the handler failed on its own later"
    assert responses[0].status == "FAILED"
    assert responses[0].reason.startswith("Execution timed out")
    assert responses[0].physical_id.startswith(f"{events.stack_name}_PostmarkDomain_"), "the placeholder, not empty"

"""The CloudFormation side of the protocol: a real handler answers over HTTPS to the receiver."""

import os
import re

import pytest

from arda_mail.cfn import new_resource_helper
from arda_ops.cfn_protocol import LambdaContext, invoke, url_secrets


def _handler(fail: bool = False):
    helper = new_resource_helper()

    @helper.create
    def create(event, context):
        if fail:
            raise ValueError("Invalid properties: Name is required")
        helper.Data["Greeting"] = "hello"
        return "phys-1"

    @helper.delete
    def delete(event, context):
        return None

    return helper


def test_success_arrives_as_https_put(receiver, events):
    response = invoke(_handler(), events.create("Custom::T", "T", {"Name": "x"}), receiver)
    assert response.status == "SUCCESS"
    assert response.physical_id == "phys-1"
    assert response.data == {"Greeting": "hello"}
    assert os.environ["SSL_CERT_FILE"] == receiver.ca_file


def test_failure_reason_arrives(receiver, events):
    response = invoke(_handler(fail=True), events.create("Custom::T", "T", {}), receiver)
    assert response.status == "FAILED"
    assert response.reason == "Invalid properties: Name is required"


def test_delete_keeps_physical_id(receiver, events):
    response = invoke(_handler(), events.delete("Custom::T", "T", "phys-9", {}), receiver)
    assert (response.status, response.physical_id) == ("SUCCESS", "phys-9")


def test_a_handler_that_never_answers_is_detected(receiver, events):
    event = events.create("Custom::T", "T", {})
    with pytest.raises(TimeoutError, match="no response"):
        invoke(lambda e, c: None, event, receiver, wait_s=0.2)


def test_context_counts_down():
    ctx = LambdaContext(timeout_ms=1000)
    assert 900 < ctx.get_remaining_time_in_millis() <= 1000


def test_response_urls_look_pre_signed_with_fresh_secret_parts(receiver):
    first, second = receiver.new_response_url(), receiver.new_response_url()
    signature, credential, token = url_secrets(first)
    assert re.fullmatch(r"[0-9a-f]{64}", signature)
    assert credential.startswith("ASIA")
    assert len(token) > 40
    assert not set(url_secrets(first)) & set(url_secrets(second))


def test_injected_faults_are_attempts_not_responses(receiver, events):
    event = events.create("Custom::T", "T", {"Name": "x"})
    receiver.inject(event["ResponseURL"], 503)
    response = invoke(_handler(), event, receiver)
    assert response.status == "SUCCESS"
    assert len(receiver.attempts_for(event["ResponseURL"])) == 2
    assert len(receiver.responses_for(event["ResponseURL"])) == 1

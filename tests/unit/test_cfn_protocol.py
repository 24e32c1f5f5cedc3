"""The CloudFormation side of the protocol: a real crhelper handler answers over HTTPS to the receiver."""

import os

import pytest
from crhelper import CfnResource

from arda_ops.cfn_protocol import LambdaContext, invoke


def _handler(fail: bool = False):
    helper = CfnResource(sleep_on_delete=0, log_level="INFO")

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

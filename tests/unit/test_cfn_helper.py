"""arda_mail.cfn: crhelper's handler API with one bounded response, a last-resort timer that names the resource,
and a body that always fits CloudFormation's 4,096 bytes. Driven through the real protocol (HTTPS PUT to the
loopback receiver), the receiver misbehaving where a test needs it."""

import json
import logging
import re
import subprocess
import sys
import threading
import time

import pytest

from arda_mail.cfn import MAX_RESPONSE_BYTES, build_response, event_summary, new_resource_helper
from arda_ops.cfn_protocol import LambdaContext, invoke, url_secrets

#: Generous bound for "returned on its own" checks on a busy 2-core machine (the helper itself is bounded by the
#: Lambda's remaining time; this only stops a test from hanging on a helper that is not).
HANG_GUARD_S = 30


def _run_in_thread(helper, event, timeout_ms):
    """Invoke like Lambda, in a thread, so a helper that never returns fails the test instead of hanging it."""
    done = threading.Event()
    started = time.monotonic()
    elapsed: list[float] = []

    def run():
        try:
            helper(event, LambdaContext(timeout_ms=timeout_ms))
        finally:
            elapsed.append(time.monotonic() - started)
            done.set()

    threading.Thread(target=run, daemon=True).start()
    return done, elapsed


def test_answers_even_without_a_region_because_no_client_is_built(receiver, events, monkeypatch):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    helper = new_resource_helper()

    @helper.create
    def create(event, context):
        return "ok-1"

    response = invoke(helper, events.create("Custom::T", "T", {}), receiver)
    assert (response.status, response.physical_id) == ("SUCCESS", "ok-1")


def test_delete_does_not_sleep(receiver, events):
    helper = new_resource_helper()
    started = time.monotonic()
    response = invoke(helper, events.delete("Custom::T", "T", "p-1", {}), receiver, timeout_ms=300_000)
    assert response.status == "SUCCESS"
    assert time.monotonic() - started < 5


def test_event_summary_never_contains_the_response_url(events):
    event = events.create("Custom::T", "T", {"A": "b"})
    summary = event_summary(event)
    assert "ResponseURL" not in summary
    assert summary["LogicalResourceId"] == "T"
    assert "ResourceProperties" not in summary


def test_import_builds_no_client():
    code = (
        "import botocore.client, sys; calls=[]\n"
        "orig = botocore.client.ClientCreator.create_client\n"
        "botocore.client.ClientCreator.create_client = lambda self, *a, **k: calls.append(a[0]) or orig(self, *a, **k)\n"
        "from arda_mail.cfn import new_resource_helper; new_resource_helper(); print(len(calls))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"AWS_REGION": "us-east-1", "PYTHONPATH": ":".join(sys.path)},
    )
    assert out.stdout.strip() == "0"


# -- PhysicalResourceId ---------------------------------------------------------------------------------------


def test_a_failed_create_without_an_id_gets_crhelpers_placeholder(receiver, events):
    helper = new_resource_helper()

    @helper.create
    def create(event, context):
        raise ValueError("nothing was made")

    response = invoke(helper, events.create("Custom::T", "MyThing", {}), receiver)
    assert response.status == "FAILED"
    assert re.fullmatch(rf"{events.stack_name}_MyThing_[A-Z0-9]{{8}}", response.physical_id)


def test_a_failed_create_answers_with_the_id_the_handler_set(receiver, events):
    helper = new_resource_helper()

    @helper.create
    def create(event, context):
        helper.PhysicalResourceId = "made-42"
        raise ValueError("failed after making it")

    response = invoke(helper, events.create("Custom::T", "T", {}), receiver)
    assert (response.status, response.physical_id, response.reason) == ("FAILED", "made-42", "failed after making it")


def test_a_delete_answers_with_the_id_it_was_sent(receiver, events):
    helper = new_resource_helper()

    @helper.delete
    def delete(event, context):
        helper.PhysicalResourceId = "something-else"
        raise RuntimeError("boom")

    response = invoke(helper, events.delete("Custom::T", "T", "phys-7", {}), receiver)
    assert (response.status, response.physical_id) == ("FAILED", "phys-7")


def test_an_exception_without_text_still_gives_a_reason(receiver, events):
    helper = new_resource_helper()

    @helper.update
    def update(event, context):
        raise KeyError

    response = invoke(helper, events.update("Custom::T", "T", "p-1", {}, {}), receiver)
    assert (response.status, response.physical_id, response.reason) == ("FAILED", "p-1", "KeyError")


# -- the last-resort timer: exactly one response, never an empty ID -------------------------------------------


def test_the_timer_answers_once_with_the_id_known_so_far(receiver, events):
    """crhelper answered "Execution timed out" with an empty PhysicalResourceId, and the main thread answered a
    second time when the function finally returned."""
    helper = new_resource_helper()
    release = threading.Event()

    @helper.create
    def create(event, context):
        helper.PhysicalResourceId = "made-early"
        release.wait(HANG_GUARD_S)  # a call that outlives the function's time
        helper.Data["Late"] = "value"
        return "made-early"

    event = events.create("Custom::T", "T", {})
    done, _ = _run_in_thread(helper, event, timeout_ms=3_000)  # the timer fires 2 s before: after ~1 s
    response = receiver.wait_for(event["ResponseURL"], timeout=HANG_GUARD_S)
    release.set()
    assert done.wait(HANG_GUARD_S), "the helper returned"
    assert response.status == "FAILED"
    assert response.reason.startswith("Execution timed out")
    assert response.physical_id == "made-early"
    assert len(receiver.attempts_for(event["ResponseURL"])) == 1, "exactly one response per invocation"


def test_the_timer_answers_with_a_placeholder_when_nothing_was_made(receiver, events):
    helper = new_resource_helper()
    release = threading.Event()

    @helper.create
    def create(event, context):
        release.wait(HANG_GUARD_S)
        raise TimeoutError("the call finally failed")

    event = events.create("Custom::T", "T", {})
    done, _ = _run_in_thread(helper, event, timeout_ms=2_500)
    response = receiver.wait_for(event["ResponseURL"], timeout=HANG_GUARD_S)
    release.set()
    assert done.wait(HANG_GUARD_S)
    assert response.status == "FAILED"
    assert re.fullmatch(rf"{events.stack_name}_T_[A-Z0-9]{{8}}", response.physical_id)
    assert len(receiver.attempts_for(event["ResponseURL"])) == 1


def test_the_function_does_not_return_while_the_timers_response_is_still_on_its_way(receiver, events):
    """Lambda freezes the process when the handler returns: a timer PUT still retrying then would be lost."""
    helper = new_resource_helper()
    release = threading.Event()

    @helper.create
    def create(event, context):
        release.wait(HANG_GUARD_S)
        return "late"

    event = events.create("Custom::T", "T", {})
    receiver.inject(event["ResponseURL"], 503)  # the timer's first PUT fails; it retries after a backoff
    done, _ = _run_in_thread(helper, event, timeout_ms=4_000)
    deadline = time.monotonic() + HANG_GUARD_S
    while not receiver.attempts_for(event["ResponseURL"]) and time.monotonic() < deadline:
        time.sleep(0.01)  # waiting for the timer's first attempt, not papering over a race
    release.set()  # the handler returns while the timer is between its attempts
    assert done.wait(HANG_GUARD_S)
    responses = receiver.responses_for(event["ResponseURL"])  # no waiting: it must be there already
    assert [r.status for r in responses] == ["FAILED"]
    assert responses[0].reason.startswith("Execution timed out")


# -- the response PUT: bounded, retried, within the Lambda's time ----------------------------------------------


def test_a_stuck_response_url_cannot_hold_the_function_past_its_timeout(receiver, events):
    """crhelper's PUT has no socket timeout and retries forever: this invocation never returned."""
    helper = new_resource_helper()
    event = events.create("Custom::T", "T", {})
    receiver.inject(event["ResponseURL"], "hang", "hang", "hang", "hang")
    done, elapsed = _run_in_thread(helper, event, timeout_ms=3_000)
    assert done.wait(HANG_GUARD_S), "the helper never returned"
    # The helper gives up 0.25 s before the 3 s are over; the rest is slack for a busy machine's scheduling.
    assert elapsed[0] < 4.0, f"returned after {elapsed[0]:.2f} s, well past the 3 s the function had"
    assert receiver.responses_for(event["ResponseURL"]) == []


def test_a_failed_put_is_retried_and_lands_once(receiver, events):
    helper = new_resource_helper()

    @helper.create
    def create(event, context):
        return "p-1"

    event = events.create("Custom::T", "T", {})
    receiver.inject(event["ResponseURL"], 500, 503)
    response = invoke(helper, event, receiver)
    assert (response.status, response.physical_id) == ("SUCCESS", "p-1")
    assert len(receiver.attempts_for(event["ResponseURL"])) == 3
    assert len(receiver.responses_for(event["ResponseURL"])) == 1


def test_a_rejected_url_is_not_retried(receiver, events):
    helper = new_resource_helper()
    event = events.create("Custom::T", "T", {})
    receiver.inject(event["ResponseURL"], 403)
    helper(event, LambdaContext(timeout_ms=30_000))
    assert len(receiver.attempts_for(event["ResponseURL"])) == 1
    assert receiver.responses_for(event["ResponseURL"]) == []


def test_the_response_url_never_reaches_the_log(receiver, events, caplog):
    helper = new_resource_helper()

    @helper.create
    def create(event, context):
        raise RuntimeError("failed")

    event = events.create("Custom::T", "T", {})
    receiver.inject(event["ResponseURL"], 500)
    with caplog.at_level(logging.DEBUG):
        invoke(helper, event, receiver)
    text = caplog.text
    assert "Answering Custom::T Create FAILED" in text  # the log does describe the response
    for part in url_secrets(event["ResponseURL"]):
        assert part not in text
    assert event["ResponseURL"].split("?")[0] not in text


# -- the 4,096-byte limit ---------------------------------------------------------------------------------------


def _body(event, **kwargs):
    raw = build_response(event, **kwargs)
    assert len(raw) <= MAX_RESPONSE_BYTES
    return json.loads(raw)


def test_a_success_too_large_for_cloudformation_fails_naming_the_largest_attributes(events):
    event = events.create("Custom::T", "T", {})
    data = {"Small": "x", "Big": "y" * 3000, "Bigger": "z" * 3500}
    body = _body(event, status="SUCCESS", reason="", physical_id="p-1", data=data)
    assert body["Status"] == "FAILED"
    assert body["PhysicalResourceId"] == "p-1", "kept, so the rollback's Delete finds what was made"
    assert body["Data"] == {}
    assert "4096" in body["Reason"]
    assert body["Reason"].index("Bigger") < body["Reason"].index("Big ")


def test_a_success_that_fits_is_sent_whole(events):
    event = events.create("Custom::T", "T", {})
    data = {"Value": "v" * 3000}
    body = _body(event, status="SUCCESS", reason="", physical_id="p-1", data=data)
    assert (body["Status"], body["Data"]) == ("SUCCESS", data)


@pytest.mark.parametrize("char", ["a", "é", "\U0001f600", '"'])
def test_a_long_reason_is_cut_to_fit_keeping_its_start(events, char):
    event = events.create("Custom::T", "T", {})
    body = _body(event, status="FAILED", reason="Start of the story: " + char * 5000, physical_id="p-1", data={})
    assert body["Reason"].startswith("Start of the story: ")
    assert body["Reason"].endswith("…")


def test_a_reason_is_one_line(events):
    event = events.create("Custom::T", "T", {})
    body = _body(event, status="FAILED", reason="line one\n  line two\r\n", physical_id="p-1", data={})
    assert body["Reason"] == "line one line two"


def test_a_physical_id_over_1_kb_is_refused(events):
    event = events.update("Custom::T", "T", "p-old", {}, {})
    body = _body(event, status="SUCCESS", reason="", physical_id="x" * 1025, data={})
    assert (body["Status"], body["PhysicalResourceId"]) == ("FAILED", "p-old")
    assert "1025 bytes" in body["Reason"]


def test_the_helper_enforces_the_limit_on_what_a_handler_returns(receiver, events):
    helper = new_resource_helper()

    @helper.create
    def create(event, context):
        helper.Data.update({f"Attribute{i}": "v" * 500 for i in range(10)})
        return "p-1"

    event = events.create("Custom::T", "T", {})
    response = invoke(helper, event, receiver)
    assert len(response.raw.encode()) <= MAX_RESPONSE_BYTES
    assert (response.status, response.physical_id) == ("FAILED", "p-1")

"""arda_mail.cfn: crhelper with deferred polling clients, no Delete sleep and safe event summaries."""

import subprocess
import sys
import time

from arda_mail.cfn import event_summary, new_resource_helper
from arda_ops.cfn_protocol import invoke


def test_answers_even_without_a_region_because_no_client_is_built(receiver, events, monkeypatch):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    helper = new_resource_helper()

    @helper.create
    def create(event, context):
        return "ok-1"

    response = invoke(helper, events.create("Custom::T", "T", {}), receiver)
    assert (response.status, response.physical_id) == ("SUCCESS", "ok-1")


def test_polling_clients_are_still_available_on_first_use():
    helper = new_resource_helper()
    assert helper._lambda_client._client is None
    assert helper._lambda_client.meta.service_model.service_name == "lambda"


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

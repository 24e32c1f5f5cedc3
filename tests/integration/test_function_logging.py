"""One logging style: every handler logs through Powertools' ``inject_lambda_context`` under its own service name.

The service name is set per function in the template (``POWERTOOLS_SERVICE_NAME``), not in ``Globals`` and not in
the code, so each function's log lines say which function wrote them; the Lambda context (request ID, function
name, cold start) is on every line, and a warm container's next invocation starts with no keys of the previous
one (``clear_state=True``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from arda_ops.cfn_protocol import EventFactory, LambdaContext, invoke, receiving
from arda_ops.handlers import REPO_ROOT, function_names, load_function_module

RESOURCE_TYPES = {
    "postmark_domain": "Custom::PostmarkDomain",
    "postmark_domain_verification": "Custom::PostmarkDomainVerification",
    "ns_delegation": "Custom::NsDelegation",
}


class _Loader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags as plain values (only the structure is inspected here)."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


class _Lines(logging.Handler):
    """The handler's own log lines, formatted by its Powertools formatter and parsed back."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(json.loads(self.format(record)))


def _functions(template: Path) -> dict[str, dict[str, Any]]:
    doc = yaml.load(template.read_text(), Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    return {
        name: resource
        for name, resource in doc["Resources"].items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }


def test_each_function_has_its_own_service_name_set_in_the_template() -> None:
    template = REPO_ROOT / "template.yaml"
    doc = yaml.load(template.read_text(), Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    global_vars = doc["Globals"]["Function"].get("Environment", {}).get("Variables", {})
    assert "POWERTOOLS_SERVICE_NAME" not in global_vars
    names = {
        logical_id: fn["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        for logical_id, fn in _functions(template).items()
    }
    assert len(names) == len(function_names())
    assert len(set(names.values())) == len(names), names


def test_no_handler_names_its_service_in_code() -> None:
    for name in function_names():
        source = (REPO_ROOT / "functions" / name / "app.py").read_text()
        assert "Logger(service=" not in source, name


@pytest.mark.parametrize("function", sorted(RESOURCE_TYPES))
def test_every_log_line_carries_the_lambda_context_and_the_service(
    function: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Delete of something that was never created (crhelper's placeholder ID: answered SUCCESS with no external
    call) logs through Powertools with the context injected; the next invocation's lines do not carry the first
    one's keys."""
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "INFO")
    module = load_function_module(function)
    lines = _Lines()
    lines.setFormatter(module.logger.registered_formatter)  # the lines exactly as the function prints them
    module.logger.addHandler(lines)
    try:
        with receiving() as receiver:
            events = EventFactory(receiver)
            first = events.delete(RESOURCE_TYPES[function], "First", "Alpha002-dev-Email_First_AAAAAAAA", {})
            second = events.delete(RESOURCE_TYPES[function], "Second", "Alpha002-dev-Email_Second_BBBBBBBB", {})
            context = LambdaContext()
            module.handler(first, context)
            assert receiver.wait_for(first["ResponseURL"], timeout=30).status == "SUCCESS"
            first_lines, lines.seen = lines.seen, []
            response = invoke(module.handler, second, receiver, wait_s=30)
            assert response.status == "SUCCESS"
            second_lines = lines.seen
    finally:
        module.logger.removeHandler(lines)
    assert first_lines
    assert second_lines
    for line in first_lines:
        assert line["function_request_id"] == context.aws_request_id
        assert line["function_name"] == context.function_name
        assert line["service"] == module.logger.service
        assert line.get("LogicalResourceId") == "First"
    for line in second_lines:
        assert line["function_request_id"] != context.aws_request_id
        assert line.get("LogicalResourceId") == "Second"

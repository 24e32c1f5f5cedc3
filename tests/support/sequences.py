"""Shared pieces of the property-based lifecycle sequence tests (``tests/integration/test_lifecycle_sequences_*``).

:class:`CloudFormation` plays CloudFormation for one custom resource: it builds the events, invokes the real
handler like Lambda does (a fresh context per invocation, so a retried event is a second invocation of the *same*
event with the same ResponseURL), and checks the protocol invariants on every response that reaches the HTTPS
receiver:

* exactly one response per invocation arrives at the event's ResponseURL (``invoke`` raises TimeoutError when
  none does, and a second PUT for one invocation is counted);
* Status is ``SUCCESS`` or ``FAILED``; the PhysicalResourceId is non-empty, and a Delete answers with the ID it
  was sent; StackId, RequestId and LogicalResourceId echo the event;
* a ``FAILED`` response carries a one-line Reason of at most ``MAX_REASON_LENGTH`` characters, never cut by the
  response builder's last resort, containing no registered secret (the Postmark tokens);
* the body fits CloudFormation's 4,096 bytes.

:class:`SequenceStats` counts what the generated sequences actually exercised, so each test can assert that its
examples covered every rule and every fault (a property test that silently never reaches a rule proves nothing).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from support import secret_scan

from arda_mail.cfn import MAX_RESPONSE_BYTES
from arda_mail.reasons import MAX_REASON_LENGTH
from arda_ops.cfn_protocol import CfnResponse, EventFactory, LambdaContext, ResponseReceiver, invoke


def check_response(event: Mapping[str, Any], response: CfnResponse) -> None:
    """The protocol invariants every response must satisfy, whatever the operation did."""
    body = response.body
    assert response.status in {"SUCCESS", "FAILED"}, f"unexpected Status {response.status!r}"
    assert response.physical_id, "every response must carry a PhysicalResourceId"
    for key in ("StackId", "RequestId", "LogicalResourceId"):
        assert body.get(key) == event[key], f"{key} must echo the event"
    if event["RequestType"] == "Delete":
        assert response.physical_id == event["PhysicalResourceId"], "a Delete answers with the ID it was sent"
    assert not secret_scan.find_secrets(response.raw), "a registered secret reached CloudFormation"
    if response.status == "FAILED":
        reason = response.reason
        assert reason, "a FAILED response needs a Reason"
        assert "\n" not in reason, f"the Reason must be one line: {reason!r}"
        assert "\r" not in reason, f"the Reason must be one line: {reason!r}"
        assert len(reason) <= MAX_REASON_LENGTH, f"Reason of {len(reason)} characters: {reason!r}"
    assert len(response.raw.encode()) <= MAX_RESPONSE_BYTES, "CloudFormation rejects a larger body"


@dataclass
class SequenceStats:
    """What the generated sequences did, summed over all examples of one test."""

    examples: int = 0
    steps: int = 0
    invocations: int = 0
    invocation_s: float = 0.0
    slowest: list[tuple[float, str]] = field(default_factory=list)
    rules: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)

    def kinds(self) -> set[str]:
        """The rules exercised, without their variants (``failed-create:wrong-token`` -> ``failed-create``)."""
        return {name.split(":", 1)[0] for name in self.rules}

    def summary(self) -> str:
        rules = ", ".join(f"{k}={v}" for k, v in sorted(self.rules.items()))
        faults = ", ".join(f"{k}={v}" for k, v in sorted(self.faults.items()))
        outcomes = ", ".join(f"{k}={v}" for k, v in sorted(self.outcomes.items()))
        return (
            f"{self.examples} examples, {self.steps} steps, {self.invocations} handler invocations "
            f"({dict(self.statuses)}) taking {self.invocation_s:.1f} s (slowest {self.slowest}); rules: {rules}; "
            f"faults consumed: {faults}; outcomes: {outcomes}"
        )


@dataclass
class CloudFormation:
    """Sends one custom resource's events to its handler and returns the checked responses."""

    handler: Callable[[dict[str, Any], Any], Any]
    events: EventFactory
    receiver: ResponseReceiver
    resource_type: str
    logical_id: str
    stats: SequenceStats
    timeout_ms: int = 10_000

    def send(self, event: dict[str, Any], *, times: int = 1) -> list[CfnResponse]:
        """Invoke the handler ``times`` times with the same event; one checked response per invocation."""
        url = event["ResponseURL"]
        responses: list[CfnResponse] = []
        for attempt in range(1, times + 1):
            started = time.monotonic()
            if attempt == 1:
                invoke(self.handler, event, self.receiver, timeout_ms=self.timeout_ms)
            else:  # Lambda's retry of the same event: a new invocation, the same ResponseURL
                self.handler(event, LambdaContext(timeout_ms=self.timeout_ms))
            elapsed = time.monotonic() - started
            self.stats.invocation_s += elapsed
            self.stats.slowest = sorted([*self.stats.slowest, (elapsed, event["RequestType"])], reverse=True)[:5]
            received = self.receiver.responses_for(url)
            assert len(received) == attempt, f"{len(received)} responses after {attempt} invocation(s) of one event"
            responses.append(received[-1])
            check_response(event, received[-1])
            self.stats.invocations += 1
            self.stats.statuses[f"{event['RequestType']}:{received[-1].status}"] += 1
        return responses

    def create(self, props: Mapping[str, Any], *, times: int = 1) -> list[CfnResponse]:
        return self.send(self.events.create(self.resource_type, self.logical_id, props), times=times)

    def update(
        self, physical_id: str, props: Mapping[str, Any], old_props: Mapping[str, Any], *, times: int = 1
    ) -> list[CfnResponse]:
        event = self.events.update(self.resource_type, self.logical_id, physical_id, props, old_props)
        return self.send(event, times=times)

    def delete(self, physical_id: str, props: Mapping[str, Any], *, times: int = 1) -> list[CfnResponse]:
        return self.send(self.events.delete(self.resource_type, self.logical_id, physical_id, props), times=times)


class OpenExamples:
    """The resources of the examples in progress (a fresh moto world each, patches), released by the machine's
    ``teardown`` and, should a teardown be skipped (an exception in ``__init__``, an interrupted run), by the test's
    fixture: a leaked ``mock_aws`` start would stop every later ``mock_aws`` from resetting moto's state."""

    def __init__(self) -> None:
        self._stacks: list[ExitStack] = []

    def new(self) -> ExitStack:
        stack = ExitStack()
        self._stacks.append(stack)
        return stack

    def close(self, stack: ExitStack) -> None:
        if stack in self._stacks:
            self._stacks.remove(stack)
        stack.close()

    def close_all(self) -> None:
        while self._stacks:
            self._stacks.pop().close()


def succeeded(responses: list[CfnResponse], what: str) -> CfnResponse:
    """The last response, after asserting that every one of them is SUCCESS (with the Reason otherwise)."""
    for response in responses:
        assert response.status == "SUCCESS", f"{what}: {response.reason}"
    return responses[-1]

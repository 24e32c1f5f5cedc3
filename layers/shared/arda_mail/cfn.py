"""The custom-resource helper every handler shares: crhelper's public API, with a bounded response.

Why not crhelper itself: its response ``PUT`` (``crhelper/utils.py``, 2.0.12) opens an ``HTTPSConnection``
without a socket timeout and retries in a ``while True`` loop (5 tries, 2 s apart, then 5 s, forever), so a
stuck response URL holds the function until Lambda kills it; its last-resort timer answers "Execution timed out"
with an empty PhysicalResourceId (before anything set one), and the main thread answers a second time afterwards.
None of that can be configured, and patching its private functions is not an option; its constructor also creates
three boto3 clients (Lambda, EventBridge, CloudWatch Logs), +102 ms of cold start against +2.3 ms for
:func:`new_resource_helper` (measured paired, README "Custom resources"). So this module keeps crhelper's *public*
handler API and nothing else:

* ``helper = new_resource_helper()``; ``@helper.create`` / ``@helper.update`` / ``@helper.delete``;
  ``helper.Data`` (the attributes); ``helper.PhysicalResourceId`` (set it early so a failure still names what
  exists); the function's return value becomes the PhysicalResourceId; raising answers FAILED with the
  exception's text as the Reason; ``helper(event, context)`` answers CloudFormation.
* Exactly ONE response per invocation: the main thread and the timer race for a single claim.
* A last-resort timer answers FAILED :data:`TIMER_MARGIN_S` before the Lambda's own timeout (the handlers' own
  deadline, :mod:`arda_mail.deadline`, keeps 3 s back and normally answers first), with the best
  PhysicalResourceId known: the one the handler set, else the event's, else crhelper's placeholder. Never empty.
* The ``PUT`` has a socket timeout and a bounded number of attempts, all within the Lambda's remaining time.
* After a failed Create with no ID set, the placeholder has crhelper's shape,
  ``{StackName}_{LogicalResourceId}_{8 random upper-case letters and digits}``
  (``CfnResource.generate_physical_id`` in crhelper 2.0.12's ``resource_helper.py``,
  https://github.com/aws-cloudformation/custom-resource-helper), which the handlers recognise as "nothing was
  created".
* The body always fits CloudFormation's 4,096-byte limit (one place: :func:`build_response`).
* The ``ResponseURL`` (a pre-signed URL: whoever holds it can answer for us) is never logged.

Wire format, as AWS documents it: the response object's fields and its 4,096-byte limit
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html, which also caps the
PhysicalResourceId at 1 KB), sent as a ``PUT`` with an empty ``content-type`` header, which is how AWS's own
``cfn-response`` module sends it (the URL is pre-signed for exactly that request;
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cfn-lambda-function-code-cfnresponsemodule.html).
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import ssl
import string
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from arda_mail import log_redaction
from arda_mail.aws_sessions import stack_name_from_id
from arda_mail.reasons import one_line
from arda_mail.values import Value, field

SUCCESS = "SUCCESS"
FAILED = "FAILED"
#: CloudFormation rejects a larger response body (crpg-ref-responses, "The total size of the response body").
MAX_RESPONSE_BYTES = 4096
#: CloudFormation's limit on a PhysicalResourceId ("can be up to 1 KB in size").
MAX_PHYSICAL_ID_BYTES = 1024
#: A Reason longer than this is cut (keeping its start, which names the operation) even when it would fit.
MAX_REASON_CHARS = 1024
#: The last-resort timer answers this long before the Lambda's timeout: time for one bounded PUT.
TIMER_MARGIN_S = 2.0
#: Time kept after the last PUT attempt for the function to return before Lambda's timeout.
PUT_FLOOR_S = 0.25
#: One PUT attempt's socket timeout (connect, TLS handshake, each read), further capped by the time left.
PUT_ATTEMPT_TIMEOUT_S = 10.0
PUT_MAX_ATTEMPTS = 4
#: Backoff before PUT attempt n+1: PUT_BACKOFF_S * 2 ** (n - 1).
PUT_BACKOFF_S = 0.5
#: An attempt is not started with less time than this left: it could not complete a TLS exchange anyway.
PUT_MIN_ATTEMPT_S = 0.1
PLACEHOLDER_RANDOM_CHARS = 8
#: Libraries crhelper quietened (``boto_level="ERROR"``); kept quiet unless someone configured their level.
QUIET_LIBRARY_LOGGERS = ("boto", "boto3", "botocore", "urllib3")

#: Event keys safe to log: never ``ResponseURL`` (a pre-signed URL that lets anyone answer for us).
LOGGABLE_EVENT_KEYS = ("RequestType", "StackId", "RequestId", "LogicalResourceId", "ResourceType", "PhysicalResourceId")

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], Any]


class LambdaContext(Protocol):
    """The part of the Lambda context object the helper reads."""

    def get_remaining_time_in_millis(self) -> int: ...


def _placeholder_id(event: Mapping[str, Any]) -> str:
    """crhelper's generated ID: ``{StackName}_{LogicalResourceId}_{random}``."""
    suffix = "".join(random.choices(string.ascii_uppercase + string.digits, k=PLACEHOLDER_RANDOM_CHARS))
    stack = stack_name_from_id(str(event.get("StackId", "")))
    return f"{stack}_{event.get('LogicalResourceId', '')}_{suffix}"


def _encode(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), default=str).encode("utf-8")


def _largest_attributes(data: Mapping[str, Any], count: int = 3) -> str:
    sizes = sorted(((len(_encode({key: value})), str(key)) for key, value in data.items()), reverse=True)
    return ", ".join(f"{key} {size} bytes" for size, key in sizes[:count])


def build_response(
    event: Mapping[str, Any],
    *,
    status: str,
    reason: str,
    physical_id: str,
    data: Mapping[str, Any],
    no_echo: bool = False,
) -> bytes:
    """The response body, guaranteed to fit :data:`MAX_RESPONSE_BYTES` (the one place that enforces it).

    * A SUCCESS whose attributes would not fit becomes FAILED with a Reason naming the largest attributes (a
      truncated attribute would silently put wrong values into the stack). It keeps its PhysicalResourceId, so
      the rollback's Delete of a Create finds what the handler made.
    * A PhysicalResourceId over 1 KB is refused the same way (CloudFormation would reject the response and wait
      for the ServiceTimeout); the answer then carries the event's ID, or crhelper-style placeholder on Create.
    * A FAILED response carries no attributes (CloudFormation ignores them) and its Reason, made one line, is
      cut to :data:`MAX_REASON_CHARS` and further until the body fits.
    """
    status = SUCCESS if status == SUCCESS else FAILED
    reason = one_line(reason, MAX_REASON_CHARS) or ("" if status == SUCCESS else "FAILED (no reason given)")
    if len(physical_id.encode("utf-8")) > MAX_PHYSICAL_ID_BYTES:
        status = FAILED
        reason = (
            f"The function returned a PhysicalResourceId of {len(physical_id.encode('utf-8'))} bytes; CloudFormation "
            f"accepts at most {MAX_PHYSICAL_ID_BYTES}"
        )
        physical_id = str(event.get("PhysicalResourceId") or _placeholder_id(event))
    body: dict[str, Any] = {
        "Status": status,
        "Reason": reason if status == FAILED else "",
        "PhysicalResourceId": physical_id,
        "StackId": event.get("StackId", ""),
        "RequestId": event.get("RequestId", ""),
        "LogicalResourceId": event.get("LogicalResourceId", ""),
        "NoEcho": bool(no_echo),
        "Data": dict(data) if status == SUCCESS else {},
    }
    encoded = _encode(body)
    if len(encoded) <= MAX_RESPONSE_BYTES and len(reason) <= MAX_REASON_CHARS:
        return encoded
    if status == SUCCESS:
        body.update(
            Status=FAILED,
            Data={},
            Reason=(
                f"The {event.get('RequestType', 'request')} succeeded, but its attributes make a {len(encoded)}-byte "
                f"response and CloudFormation accepts at most {MAX_RESPONSE_BYTES} bytes (largest: "
                f"{_largest_attributes(data)}); shorten the properties they echo"
            ),
        )
    return _with_reason(body, str(body["Reason"]))


def _with_reason(body: dict[str, Any], reason: str) -> bytes:
    """``body`` with ``reason``, cut (keeping its start) to the longest prefix that fits.

    JSON escaping makes a character 1 to 12 bytes, so the cut is searched for, not computed.
    """
    reason = one_line(reason, MAX_REASON_CHARS)
    body["Reason"] = reason
    encoded = _encode(body)
    if len(encoded) <= MAX_RESPONSE_BYTES:
        return encoded
    fits, too_long = 0, len(reason)
    while too_long - fits > 1:
        middle = (fits + too_long) // 2
        body["Reason"] = one_line(reason, middle)
        if len(_encode(body)) <= MAX_RESPONSE_BYTES:
            fits = middle
        else:
            too_long = middle
    body["Reason"] = one_line(reason, fits)
    return _encode(body)


def send_response(response_url: str, body: bytes, *, until: float) -> bool:
    """PUT ``body`` to the pre-signed ``response_url``, giving up at ``until`` (``time.monotonic()``).

    Every attempt has a socket timeout; a 2xx answer or a 4xx other than 408/429 (an expired or mangled URL:
    repeating the same request cannot help) ends the attempts. Returns whether CloudFormation accepted it. The
    URL never appears in a log line or an exception text raised from here.
    """
    parts = urlsplit(response_url)
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    host, port = parts.hostname or "", parts.port or 443
    headers = {"content-type": "", "content-length": str(len(body))}
    context = ssl.create_default_context()
    problem = "no time left"
    for attempt in range(1, PUT_MAX_ATTEMPTS + 1):
        left = until - time.monotonic()
        if left < PUT_MIN_ATTEMPT_S:
            break
        connection = http.client.HTTPSConnection(host, port, timeout=min(PUT_ATTEMPT_TIMEOUT_S, left), context=context)
        try:
            connection.request("PUT", target, body=body, headers=headers)
            answer = connection.getresponse()
            answer.read()
            status = answer.status
        except (OSError, http.client.HTTPException) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        else:
            if 200 <= status < 300:
                logger.info("Response accepted by CloudFormation (HTTP %s, attempt %s)", status, attempt)
                return True
            problem = f"HTTP {status}"
            if status < 500 and status not in {408, 429}:
                break
        finally:
            connection.close()
        backoff = PUT_BACKOFF_S * 2 ** (attempt - 1)
        if attempt == PUT_MAX_ATTEMPTS or until - time.monotonic() < backoff + PUT_MIN_ATTEMPT_S:
            break
        logger.warning("Response PUT attempt %s failed (%s); retrying in %.1f s", attempt, problem, backoff)
        time.sleep(backoff)
    logger.error(
        "Could not deliver the response to CloudFormation (%s); the stack waits for the resource's ServiceTimeout",
        problem,
    )
    return False


class _Invocation(Value, frozen=False):
    """One request: its event, when the Lambda times out, and the single claim on answering it."""

    event: dict[str, Any]
    ends_at: float
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _answered_by: str | None = None

    def claim(self, who: str) -> bool:
        """True for the first caller only: exactly one response per invocation."""
        with self._lock:
            if self._answered_by is not None:
                return False
            self._answered_by = who
            return True

    @property
    def answered_by(self) -> str | None:
        with self._lock:
            return self._answered_by


class CustomResource:
    """Dispatches a CloudFormation custom-resource event to the registered function and answers once.

    The attribute names ``Data``, ``PhysicalResourceId`` and ``NoEcho`` are crhelper's, kept so the handlers read
    the same; Lambda runs one invocation at a time per process, so they are per-invocation state.
    """

    def __init__(self) -> None:
        self.Data: dict[str, Any] = {}
        self.PhysicalResourceId: str | None = ""
        self.NoEcho = False
        self._functions: dict[str, Handler] = {}

    # -- registration (crhelper's decorators) -----------------------------------------------------
    def create(self, func: Handler) -> Handler:
        self._functions["Create"] = func
        return func

    def update(self, func: Handler) -> Handler:
        self._functions["Update"] = func
        return func

    def delete(self, func: Handler) -> Handler:
        self._functions["Delete"] = func
        return func

    # -- one invocation ---------------------------------------------------------------------------
    def __call__(self, event: dict[str, Any], context: LambdaContext) -> None:
        log_redaction.install()
        self.Data = {}
        self.PhysicalResourceId = ""
        if not isinstance(event.get("ResponseURL"), str) or "RequestType" not in event:
            logger.error("Not a CloudFormation custom-resource event (no ResponseURL or RequestType); nobody to answer")
            return
        invocation = _Invocation(event, time.monotonic() + context.get_remaining_time_in_millis() / 1000.0)
        delay = max(0.0, invocation.ends_at - TIMER_MARGIN_S - time.monotonic())
        timer = threading.Timer(delay, self._timeout, args=(invocation,))
        timer.daemon = True
        timer.name = "cfn-last-resort-timer"
        timer.start()
        try:
            status, reason = self._run(event, context)
            self._respond(invocation, "handler", status, reason)
        except Exception as exc:  # our own plumbing failed: still answer, once
            logger.exception("Unexpected failure while answering CloudFormation")
            self._respond(invocation, "handler", FAILED, f"Internal error in the custom-resource helper: {exc}")
        finally:
            timer.cancel()
            if invocation.answered_by == "timer":
                # Returning freezes the process (Lambda): let the timer's PUT finish first (it is bounded too).
                timer.join(max(0.0, invocation.ends_at - time.monotonic()))

    def _run(self, event: dict[str, Any], context: LambdaContext) -> tuple[str, str]:
        request_type = str(event["RequestType"])
        func = self._functions.get(request_type)
        if func is None:
            return SUCCESS, ""  # crhelper's behaviour: an unregistered request type succeeds without a call
        try:
            returned = func(event, context)
        except Exception as exc:
            logger.error("%s failed: %s", request_type, exc, exc_info=True)
            return FAILED, str(exc) or type(exc).__name__
        # crhelper: the return value replaces the ID (None falls back to the event's ID, then a placeholder).
        self.PhysicalResourceId = returned if isinstance(returned, str) else None
        return SUCCESS, ""

    def best_physical_id(self, event: Mapping[str, Any]) -> str:
        """The ID to answer with: a Delete's own; else what the handler set or returned; else the event's; else
        crhelper's placeholder. Never empty."""
        from_event = event.get("PhysicalResourceId")
        if event.get("RequestType") == "Delete" and isinstance(from_event, str) and from_event:
            return from_event
        current = self.PhysicalResourceId
        if isinstance(current, str) and current:
            return current
        if isinstance(from_event, str) and from_event:
            return from_event
        return _placeholder_id(event)

    def _timeout(self, invocation: _Invocation) -> None:
        request_type = invocation.event.get("RequestType")
        logger.error("The function is about to time out during the %s: answering FAILED", request_type)
        self._respond(
            invocation,
            "timer",
            FAILED,
            f"Execution timed out: the {request_type} did not finish within the function's time limit (see its log)",
        )

    def _respond(self, invocation: _Invocation, who: str, status: str, reason: str) -> None:
        if not invocation.claim(who):
            logger.warning(
                "A response was already sent for this request (by the %s); this %s is not sent",
                invocation.answered_by,
                status,
            )
            return
        event = invocation.event
        physical_id = self.best_physical_id(event)
        try:
            body = build_response(
                event, status=status, reason=reason, physical_id=physical_id, data=self.Data, no_echo=self.NoEcho
            )
        except Exception as exc:  # e.g. attributes changed under the timer: the claim is taken, so answer anyway
            logger.error("Could not build the %s response: %s", status, exc)
            reason = f"The response could not be built: {exc}"
            body = build_response(event, status=FAILED, reason=reason, physical_id=physical_id, data={})
        sent = json.loads(body)
        logger.info(
            "Answering %s %s %s: PhysicalResourceId %s, %s bytes%s",
            event.get("ResourceType"),
            event.get("RequestType"),
            sent["Status"],
            sent["PhysicalResourceId"],
            len(body),
            f", Reason: {sent['Reason']}" if sent["Reason"] else "",
        )
        send_response(str(event["ResponseURL"]), body, until=invocation.ends_at - PUT_FLOOR_S)


def _quiet_libraries() -> None:
    """crhelper's logging defaults, minus forcing them: library loggers nobody configured stay at ERROR, and
    this layer's own loggers at INFO (Lambda's root logger is at WARNING unless its log level is configured)."""
    for name in QUIET_LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        if library.level == logging.NOTSET:
            library.setLevel(logging.ERROR)
    own = logging.getLogger("arda_mail")
    if own.level == logging.NOTSET:
        own.setLevel(logging.INFO)


def new_resource_helper() -> CustomResource:
    """The helper a handler module creates once at import; builds no client and makes no call."""
    _quiet_libraries()
    log_redaction.install()
    return CustomResource()


def event_summary(event: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of an event worth a log line (properties are logged by the handlers that know them)."""
    return {key: event[key] for key in LOGGABLE_EVENT_KEYS if key in event}

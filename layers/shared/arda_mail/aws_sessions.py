"""AWS clients for the handlers: bounded retries, deadline-aware, optionally cross-account.

Retries are botocore's own ``standard`` mode. Its transient and throttling checkers
(``botocore/retries/standard.py``) already retry ``Throttling``, ``PriorRequestNotComplete`` (listed as both
transient and throttling), ``RequestTimeout`` and HTTP 500/502/503/504, with truncated exponential backoff and
jitter (legacy mode would only get the two Route 53 codes from ``botocore/data/_retry.json``'s ``route53``
section), so nothing Route 53-specific is added. The one thing botocore cannot know is the Lambda's deadline: a
``needs-retry`` hook registered first (:class:`DeadlineRetryGuard`) vetoes a retry once the worst-case backoff
would outlive the :class:`~arda_mail.deadline.Deadline`, so the handler always keeps time to answer
CloudFormation with its own Reason. ``needs-retry`` is one of botocore's documented events
(https://docs.aws.amazon.com/botocore/latest/topics/events.html), the extension point botocore offers for this;
a budget fixed in the ``Config`` when the clients are made (fewer ``total_max_attempts``) could not follow a
deadline that keeps moving while one client serves a whole request (the NS delegation polls GetChange for up to
150 s with the same client), and would refuse retries early in the request that the deadline has room for.

Timeouts are botocore's ``Config`` too (its defaults, 60 s each, would outlast any deadline): 1 s to connect, less
than the 3 s the deadline keeps back for the response, so a call started at the deadline cannot connect past the
reserve; the read timeout is the time left when the request's clients are made (at most 15 s), and these clients
serve one custom-resource request only.
https://botocore.amazonaws.com/v1/documentation/api/latest/reference/config.html

Nothing here creates a client or imports botocore at import time.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from arda_mail import log_redaction
from arda_mail.deadline import Deadline
from arda_mail.values import Value, field

if TYPE_CHECKING:
    from botocore.config import Config
    from botocore.loaders import Loader
    from botocore.session import Session as BotocoreSession
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_sts import STSClient

#: Total attempts per call, the first one included (botocore's ``total_max_attempts``; its ``max_attempts``
#: would count retries only). The deadline guard stops earlier when time runs short.
MAX_ATTEMPTS = 8
CONNECT_TIMEOUT_S = 1.0
READ_TIMEOUT_S = 15.0
#: botocore's cap on one backoff, and the extra wait an ``x-amz-retry-after`` header may add to it.
MAX_BACKOFF_S = 20.0
RETRY_AFTER_EXTRA_S = 5.0
#: Time an attempt after the backoff needs at least, on top of the backoff itself.
RETRY_MARGIN_S = 1.0
#: Shortest lifetime STS allows: the credentials only serve one custom-resource request.
ASSUMED_SESSION_SECONDS = 900
MAX_SESSION_NAME = 64
_SESSION_NAME_INVALID = re.compile(r"[^A-Za-z0-9_+=,.@-]")
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException"})
USER_AGENT_EXTRA = "arda-partition-mail"


class AssumeRoleError(RuntimeError):
    """AssumeRole failed; the message is a one-line Reason naming the role."""


class Caller(Value):
    """Who the Route 53 calls are made as, for Reasons a person can act on."""

    role_arn: str | None
    session_name: str | None = None

    def describe(self) -> str:
        return f"role {self.role_arn}" if self.role_arn else "the function's own role"


def worst_case_backoff(attempts: int, retry_after: bool = False) -> float:
    """The longest sleep botocore's standard mode may take after failed attempt number ``attempts`` (1-based).

    botocore sleeps ``rand(0, 1) * min(scale * 2 ** (attempts - 1), 20)`` with ``scale`` at most 1 s (throttling;
    other errors use 50 ms), raised towards an ``x-amz-retry-after`` header by at most 5 s.
    """
    backoff = min(2.0 ** max(0, attempts - 1), MAX_BACKOFF_S)
    return backoff + (RETRY_AFTER_EXTRA_S if retry_after else 0.0)


class DeadlineRetryGuard:
    """A ``needs-retry`` handler that stops retrying when the next backoff could outlive the deadline.

    Registered with ``register_first`` it runs before botocore's retry handler: returning ``False`` ends the
    retries (botocore then raises the last error); returning ``None`` leaves the decision to botocore.
    """

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline
        self.vetoed = 0

    def __call__(self, attempts: int, response: Any = None, **_: Any) -> bool | None:
        retry_after = False
        if response is not None:
            http_response = response[0]
            retry_after = "x-amz-retry-after" in getattr(http_response, "headers", {})
        if self._deadline.remaining() > worst_case_backoff(attempts, retry_after) + RETRY_MARGIN_S:
            return None
        self.vetoed += 1
        return False


def client_config(deadline: Deadline) -> Config:
    """botocore's standard retry mode with bounded timeouts (the read timeout never exceeds the time left)."""
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=max(1.0, deadline.cap(READ_TIMEOUT_S)),
        user_agent_extra=USER_AGENT_EXTRA,
    )


def guard_retries(client: Any, deadline: Deadline) -> None:
    """Register :class:`DeadlineRetryGuard` on ``client``: its retries stop before they would outlive ``deadline``."""
    event = f"needs-retry.{client.meta.service_model.service_id.hyphenize()}"
    client.meta.events.register_first(event, DeadlineRetryGuard(deadline), unique_id="arda-mail-deadline-guard")


@cache
def _shared_loader() -> Loader:
    """botocore's service-model loader, shared by every session of the process (models are parsed once)."""
    from botocore.loaders import create_loader

    return create_loader()


class AwsCredentials(Value):
    """Temporary credentials from AssumeRole; never printed (``repr=False``)."""

    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)


class AwsClients:
    """The clients of one custom-resource request: one botocore session, optionally an assumed role.

    A fresh botocore session per request resolves region, credentials and configuration anew (as a new
    ``boto3.Session`` would), while the shared loader keeps the service models parsed once per process: creating
    the two clients costs a few milliseconds instead of ~90 ms on a warm Lambda. Clients for an assumed role come
    from the same session with explicit credentials.
    """

    def __init__(
        self,
        deadline: Deadline,
        *,
        credentials: AwsCredentials | None = None,
        session: BotocoreSession | None = None,
    ) -> None:
        log_redaction.install()  # botocore's DEBUG records carry request signatures and STS's credentials
        self._deadline = deadline
        self._credentials = credentials
        self._session = session or _new_session()

    def _create(self, service: str) -> Any:
        config = client_config(self._deadline)
        if self._credentials is None:
            client = self._session.create_client(service, config=config)
        else:
            client = self._session.create_client(
                service,
                config=config,
                aws_access_key_id=self._credentials.access_key_id,
                aws_secret_access_key=self._credentials.secret_access_key,
                aws_session_token=self._credentials.session_token,
            )
        guard_retries(client, self._deadline)
        return client

    def route53(self) -> Route53Client:
        return cast("Route53Client", self._create("route53"))

    def sts(self) -> STSClient:
        return cast("STSClient", self._create("sts"))

    def assume_role(self, role_arn: str, session_name: str) -> AwsClients:
        """Clients acting as ``role_arn`` (credentials valid 15 minutes); raises :class:`AssumeRoleError`."""
        from botocore.exceptions import ClientError

        self._deadline.check(f"AssumeRole {role_arn}")
        try:
            response = self.sts().assume_role(
                RoleArn=role_arn, RoleSessionName=session_name, DurationSeconds=ASSUMED_SESSION_SECONDS
            )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ACCESS_DENIED_CODES:
                raise AssumeRoleError(
                    f"AccessDenied on sts:AssumeRole of {role_arn} (session {session_name}): its trust policy must "
                    "allow this function's role (ArnLike aws:PrincipalArn) and session name"
                ) from exc
            message = str(exc.response.get("Error", {}).get("Message", ""))[:120]
            raise AssumeRoleError(f"sts:AssumeRole of {role_arn} failed: {code}: {message}") from exc
        creds = response["Credentials"]
        assumed = AwsCredentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
        return AwsClients(self._deadline, credentials=assumed, session=self._session)


def _new_session() -> BotocoreSession:
    import botocore.session

    session = botocore.session.get_session()
    session.register_component("data_loader", _shared_loader())
    return session


def stack_name_from_id(stack_id: str) -> str:
    """``arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>`` → ``<name>`` (the input if not an ARN)."""
    parts = stack_id.split("/")
    return parts[1] if len(parts) >= 3 and parts[0].endswith(":stack") else stack_id


def role_session_name(stack_id: str, logical_id: str) -> str:
    """``<stack name>-<logical id>``, limited to the characters and 64-character length STS accepts.

    The stack-name prefix is kept whole whenever it fits, because the Platform Root role's trust matches it
    (``sts:RoleSessionName`` like ``<stack>-*``); a too-long logical ID is shortened with a hash suffix so two
    resources never share a name.
    """
    stack = _SESSION_NAME_INVALID.sub("_", stack_name_from_id(stack_id)) or "stack"
    logical = _SESSION_NAME_INVALID.sub("_", logical_id) or "resource"
    name = f"{stack}-{logical}"
    if len(name) <= MAX_SESSION_NAME:
        return name if len(name) >= 2 else name + "_"
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    head = f"{stack}-"[: MAX_SESSION_NAME - len(digest) - 2]
    room = MAX_SESSION_NAME - len(head) - len(digest) - 1
    return f"{head}{logical[:room]}-{digest}" if room > 0 else f"{head}-{digest}"[:MAX_SESSION_NAME]

"""Postmark failures, classified by ``ErrorCode`` (never by message text).

No message ever contains the account token: the client builds them from the method, the path, Postmark's
``ErrorCode`` and its ``Message`` (with any occurrence of the token scrubbed, as a last line of defence).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

#: ErrorCodes of the Account API that the code branches on.
CODE_BAD_TOKEN = 10
CODE_MAINTENANCE = 100
CODE_DKIM_RENEWING = 505
CODE_DOMAIN_NOT_FOUND = 510
CODE_DOMAIN_EXISTS = 512
#: crhelper cuts a Reason longer than 256 characters from the front; keep ours shorter than that.
MAX_REASON_LENGTH = 250


class PostmarkError(Exception):
    """Postmark answered with an error, or could not be reached."""

    def __init__(self, message: str, *, error_code: int | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.http_status = http_status


class PostmarkAuthError(PostmarkError):
    """ErrorCode 10 (HTTP 401, sometimes 422): the token is missing, wrong, or not an account token."""


class PostmarkNotFound(PostmarkError):  # noqa: N818 - the names the callers use
    """ErrorCode 510: no domain with that ID on this account (deleted, or another account's)."""


class PostmarkAlreadyExists(PostmarkError):  # noqa: N818 - the names the callers use
    """ErrorCode 512: a domain with that name already exists on this account."""


class PostmarkValidationError(PostmarkError):
    """Any other 422 (bad name, bad Return-Path, a rotation already pending, …): not retried."""


class PostmarkUnavailable(PostmarkError):  # noqa: N818 - the names the callers use
    """429/5xx after the retries, a timeout, a connection failure, or no time left before the deadline."""


class PostmarkResponseError(PostmarkError):
    """An answer that is not what the API documents (not JSON, no ID, an unexpected status)."""


class ResourceFailedError(Exception):
    """A custom resource failed; the message is the one-line Reason CloudFormation shows."""


def one_line(text: str, limit: int = MAX_REASON_LENGTH) -> str:
    """Collapse whitespace and cut at ``limit`` characters (with an ellipsis)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def reason_for(exc: BaseException, *, secret_arn: str) -> str:
    """The Reason a person reads in the console for ``exc``; names the secret, never the token."""
    if isinstance(exc, PostmarkAuthError):
        return one_line(
            f"Postmark rejected the account token stored in secret {secret_arn} (ErrorCode 10): "
            "put the account token of the intended Postmark account into that secret"
        )
    return one_line(str(exc) or type(exc).__name__)


@contextmanager
def explained_failures(*, secret_arn: str) -> Iterator[None]:
    """Turn Postmark and token failures into :class:`ResourceFailedError` with a readable one-line Reason.

    The original exception stays chained (``__cause__``) so the function's log keeps the details.
    """
    from arda_mail.deadline import DeadlineExceededError
    from arda_mail.secrets import AccountTokenError

    try:
        yield
    except (PostmarkError, AccountTokenError, DeadlineExceededError) as exc:
        raise ResourceFailedError(reason_for(exc, secret_arn=secret_arn)) from exc

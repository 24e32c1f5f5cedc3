"""Postmark failures, classified by ``ErrorCode`` (never by message text).

No message ever contains the account token: the client builds them from the method, the path, Postmark's
``ErrorCode`` and its ``Message`` (with any occurrence of the token scrubbed, as a last line of defence).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from arda_mail.reasons import one_line

#: ErrorCodes of the Account API that the code branches on.
CODE_BAD_TOKEN = 10
CODE_DKIM_RENEWING = 505
CODE_DOMAIN_NOT_FOUND = 510
CODE_DOMAIN_EXISTS = 512
CODE_DOMAIN_NOT_OWNED = 513


class PostmarkError(Exception):
    """Postmark answered with an error, or could not be reached."""

    def __init__(
        self,
        message: str,
        *,
        error_code: int | None = None,
        http_status: int | None = None,
        domain_id: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.http_status = http_status
        #: The domain the failed call was about (``/domains/{id}…``), when there was one.
        self.domain_id = domain_id


class PostmarkAuthError(PostmarkError):
    """ErrorCode 10 (HTTP 401, sometimes 422): the token is missing, wrong, or not an account token."""


class PostmarkDomainNotVisible(PostmarkError):  # noqa: N818 - the names the callers use
    """This token does not see the domain: it is deleted, never existed, or belongs to another account.

    Postmark words this several ways (510 "Domain not found", 513 "You do not own this Domain", a bare HTTP 404
    "Entity doesn't exist"); callers that only need "not visible" catch this base class.
    """


class PostmarkNotFound(PostmarkDomainNotVisible):
    """ErrorCode 510 (under HTTP 422 or 404), or an HTTP 404 carrying a Postmark JSON error body."""


class PostmarkNotOwned(PostmarkDomainNotVisible):
    """ErrorCode 513: the domain exists but belongs to another Postmark account."""


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


def reason_for(exc: BaseException, *, secret_arn: str) -> str:
    """The Reason a person reads in the console for ``exc``; names the secret, never the token."""
    if isinstance(exc, PostmarkAuthError):
        return one_line(
            f"Postmark rejected the account token stored in secret {secret_arn} (ErrorCode 10): "
            "put the account token of the intended Postmark account into that secret"
        )
    if isinstance(exc, PostmarkDomainNotVisible):
        return one_line(domain_not_visible_reason(exc, secret_arn=secret_arn))
    return one_line(str(exc) or type(exc).__name__)


def domain_not_visible_reason(exc: PostmarkDomainNotVisible, *, secret_arn: str) -> str:
    """Why a token does not see a domain, naming the secret: the likeliest cause is another account's token there.

    A domain this stack created and no one deleted is invisible only to another account's token, so the secret
    is what a person should check first (a token put there for a different Postmark account, or the domain
    created under the token the secret held before).
    """
    which = f"Postmark domain {exc.domain_id}" if exc.domain_id is not None else "The Postmark domain"
    if isinstance(exc, PostmarkNotOwned):
        cause = f"ErrorCode {CODE_DOMAIN_NOT_OWNED}: owned by another account"
    else:
        code = exc.error_code if exc.error_code is not None else "none"
        cause = f"HTTP {exc.http_status}, ErrorCode {code}: not found or deleted"
    return (
        f"{which} is not visible to the token in secret {secret_arn} ({cause}): "
        "does it hold the owning account's token?"
    )


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

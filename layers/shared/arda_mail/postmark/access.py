"""A Postmark client for the token in the account-token secret, with the two second chances a token needs.

* After a 401 (ErrorCode 10) the token is read again past the warm function's cache and, if the secret now
  holds another value, the operation runs once more: an operator who corrects a wrong token in the secret
  sees the next attempt succeed at once instead of after the cache's lifetime.
* :meth:`PostmarkAccess.run_with_previous` runs with the secret's previous version (``AWSPREVIOUS``), which
  after a partition's move to the other Postmark account is the old account's token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from arda_mail.deadline import Deadline
from arda_mail.postmark.client import PostmarkClient
from arda_mail.postmark.errors import PostmarkAuthError
from arda_mail.secrets import PREVIOUS_STAGE, UnusableTokenError, get_account_token, get_previous_account_token
from arda_mail.values import Value, replace

logger = logging.getLogger(__name__)


class PostmarkAccess(Value):
    """The secret, the API and the budget of one invocation; ``fresh`` reads the token past the cache."""

    secret_arn: str
    api_url: str
    deadline: Deadline
    fresh: bool = False

    def refreshed(self) -> PostmarkAccess:
        """The same access, reading the token past the warm function's cache."""
        return replace(self, fresh=True)

    def run[T](self, operation: Callable[[PostmarkClient], T]) -> T:
        token = get_account_token(self.secret_arn, force_fetch=self.fresh)
        try:
            with PostmarkClient(token, self.api_url, self.deadline) as client:
                return operation(client)
        except PostmarkAuthError:
            if self.fresh:
                raise
            newer = get_account_token(self.secret_arn, force_fetch=True)
            if newer == token:
                raise
        logger.info("Postmark rejected the cached token; the secret holds a new one: once more with it")
        with PostmarkClient(newer, self.api_url, self.deadline) as client:
            return operation(client)

    def run_with_previous[T](self, operation: Callable[[PostmarkClient], T]) -> T | None:
        """``operation`` with the secret's previous token; None when there is none usable (no previous version,
        the same token, an unusable value, or a token Postmark rejects — each logged)."""
        extra = {"account_token_secret_arn": self.secret_arn}
        try:
            previous = get_previous_account_token(self.secret_arn)
            current = get_account_token(self.secret_arn)
        except UnusableTokenError as exc:
            logger.warning("the secret's previous version holds no usable token; not used (%s)", exc, extra=extra)
            return None
        if previous is None or previous == current:
            why = "has no previous version" if previous is None else "holds the same token in its previous version"
            logger.info("the secret %s", why, extra=extra)
            return None
        with PostmarkClient(previous, self.api_url, self.deadline) as client:
            try:
                return operation(client)
            except PostmarkAuthError:
                logger.warning(
                    "Postmark rejected the previous token (%s) of the secret (ErrorCode 10); if the domain is still "
                    "on the previous Postmark account, delete it there by hand",
                    PREVIOUS_STAGE,
                    extra=extra,
                )
                return None

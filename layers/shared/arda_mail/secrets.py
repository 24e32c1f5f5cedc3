"""The Postmark account token, read from Secrets Manager with Powertools' Parameters utility.

The token never travels in resource properties: they carry the secret's ARN, and this module fetches the
``AWSCURRENT`` value (always named explicitly: moto's default-version quirk, research/sam-tooling.md 6d).
Values are cached for :data:`TOKEN_CACHE_SECONDS` in the warm Lambda. Error messages name the secret, never
its value.
"""

from __future__ import annotations

import logging

#: How long a warm function reuses a fetched token. Short, so a corrected secret is picked up by the next
#: deployment attempt, long enough that one stack operation reads it once per function.
TOKEN_CACHE_SECONDS = 60
MAX_TOKEN_LENGTH = 200
#: botocore loggers whose DEBUG records carry request and response bodies (a GetSecretValue answer included).
_BODY_LOGGERS = ("botocore.endpoint", "botocore.parsers")
_SECRET_FIELDS = ("SecretString", "SecretBinary")


class _SecretBodyFilter(logging.Filter):
    """Drops botocore's body dumps that contain a secret value (they are DEBUG-only, but a caller may enable
    DEBUG: the drift CLI, a test run, an operator chasing a bug)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG:
            return True
        try:
            text = record.getMessage()
        except Exception:  # a broken record is not ours to judge
            return True
        return not any(field in text for field in _SECRET_FIELDS)


_FILTER = _SecretBodyFilter()


def guard_botocore_logs() -> None:
    """Keep Secrets Manager values out of botocore's DEBUG logs (idempotent)."""
    for name in _BODY_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


class AccountTokenError(RuntimeError):
    """The secret could not be read, or does not hold a usable token (the message never contains the value)."""


def get_account_token(secret_arn: str, *, max_age: int = TOKEN_CACHE_SECONDS, force_fetch: bool = False) -> str:
    """The account token stored in ``secret_arn`` (surrounding whitespace removed)."""
    guard_botocore_logs()
    from aws_lambda_powertools.utilities.parameters import get_secret
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        value: object = get_secret(secret_arn, max_age=max_age, force_fetch=force_fetch, VersionStage="AWSCURRENT")
    except GetParameterError as exc:
        raise AccountTokenError(f"could not read the Postmark account token from secret {secret_arn}: {exc}") from None
    if not isinstance(value, str):
        raise AccountTokenError(f"secret {secret_arn} holds binary data; store the Postmark account token as text")
    token = value.strip()
    problem = _token_problem(token)
    if problem:
        raise AccountTokenError(f"secret {secret_arn} does not hold a usable Postmark account token: it {problem}")
    return token


def _token_problem(token: str) -> str | None:
    if not token:
        return "is empty"
    if token.startswith(("{", "[")):
        return "holds JSON; store the bare token"
    if len(token) > MAX_TOKEN_LENGTH or any(c.isspace() or not c.isprintable() for c in token):
        return "is not a single line without spaces"
    return None

"""The Postmark account token, read from Secrets Manager with Powertools' Parameters utility.

The token never travels in resource properties: they carry the secret's ARN, and this module fetches the
``AWSCURRENT`` value (always named explicitly: moto's default-version quirk, research/sam-tooling.md 6d).
Values are cached for :data:`TOKEN_CACHE_SECONDS` in the warm Lambda. Error messages name the secret, never
its value.

Other staging labels (``AWSPREVIOUS``: the token the secret held before the last ``PutSecretValue``, i.e. the
old account's token after a partition moved to another Postmark account) are read past the cache, with a
direct ``GetSecretValue``: Powertools keys its cache by the secret's name alone, so a cached previous value
would be served as the current one (and the other way round).
"""

from __future__ import annotations

import logging

#: How long a warm function reuses a fetched token. Short, so a corrected secret is picked up by the next
#: deployment attempt, long enough that one stack operation reads it once per function.
TOKEN_CACHE_SECONDS = 60
MAX_TOKEN_LENGTH = 200
CURRENT_STAGE = "AWSCURRENT"
PREVIOUS_STAGE = "AWSPREVIOUS"
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


class UnusableTokenError(AccountTokenError):
    """The secret was read, but its value cannot be a Postmark account token (empty, JSON, binary, …)."""


class _StageNotFoundError(AccountTokenError):
    """No version of the secret carries the staging label."""


def get_account_token(
    secret_arn: str,
    *,
    stage: str = CURRENT_STAGE,
    max_age: int = TOKEN_CACHE_SECONDS,
    force_fetch: bool = False,
) -> str:
    """The account token stored in ``secret_arn`` under the staging label ``stage`` (surrounding whitespace
    removed). ``AWSCURRENT`` is cached for ``max_age`` seconds; any other stage is always fetched."""
    guard_botocore_logs()
    value = _current_value(secret_arn, max_age, force_fetch) if stage == CURRENT_STAGE else _value(secret_arn, stage)
    where = f"secret {secret_arn}" if stage == CURRENT_STAGE else f"secret {secret_arn} ({stage})"
    if not isinstance(value, str):
        raise UnusableTokenError(f"{where} holds binary data; store the Postmark account token as text")
    token = value.strip()
    problem = _token_problem(token)
    if problem:
        raise UnusableTokenError(f"{where} does not hold a usable Postmark account token: it {problem}")
    return token


def get_previous_account_token(secret_arn: str) -> str | None:
    """The token the secret held before its current value (``AWSPREVIOUS``), or None when the secret has no
    previous version. Never cached; raises :class:`AccountTokenError` when it cannot be read or is unusable."""
    try:
        return get_account_token(secret_arn, stage=PREVIOUS_STAGE)
    except _StageNotFoundError:
        return None


def _current_value(secret_arn: str, max_age: int, force_fetch: bool) -> object:
    from aws_lambda_powertools.utilities.parameters import get_secret
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        return get_secret(secret_arn, max_age=max_age, force_fetch=force_fetch, VersionStage=CURRENT_STAGE)
    except GetParameterError as exc:
        raise AccountTokenError(f"could not read the Postmark account token from secret {secret_arn}: {exc}") from None


def _value(secret_arn: str, stage: str) -> object:
    """One uncached ``GetSecretValue`` for ``stage``."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = boto3.client("secretsmanager").get_secret_value(SecretId=secret_arn, VersionStage=stage)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        error = _StageNotFoundError if code == "ResourceNotFoundException" else AccountTokenError
        raise error(f"could not read the Postmark account token ({stage}) from secret {secret_arn}: {exc}") from None
    except BotoCoreError as exc:
        raise AccountTokenError(
            f"could not read the Postmark account token ({stage}) from secret {secret_arn}: {exc}"
        ) from None
    return answer["SecretString"] if "SecretString" in answer else answer.get("SecretBinary")


def _token_problem(token: str) -> str | None:
    if not token:
        return "is empty"
    if token.startswith(("{", "[")):
        return "holds JSON; store the bare token"
    if len(token) > MAX_TOKEN_LENGTH or any(c.isspace() or not c.isprintable() for c in token):
        return "is not a single line without spaces"
    return None

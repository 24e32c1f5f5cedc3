"""The Postmark account token, read from Secrets Manager with Powertools' Parameters utility.

The token never travels in resource properties: they carry the secret's ARN, and this module fetches the
``AWSCURRENT`` value (always named explicitly: moto's default-version quirk, research/sam-tooling.md 6d).
Values are cached for :data:`TOKEN_CACHE_SECONDS` in the warm Lambda. Error messages name the secret, never
its value.

Other staging labels (``AWSPREVIOUS``: the token the secret held before the last ``PutSecretValue``, i.e. the
old account's token after a partition moved to another Postmark account) are read past the cache, with a
direct ``GetSecretValue``: Powertools keys its cache by the secret's name alone, so a cached previous value
would be served as the current one (and the other way round).

Both reads go through botocore clients configured to fit the handlers' deadline (:func:`client_config`):
botocore's defaults (60 s connect and read timeouts, legacy retries) would let an unresponsive Secrets Manager
hold the function past its own timeout. Secrets never reach the logs: :mod:`arda_mail.log_redaction` redacts
``SecretString``/``SecretBinary`` in every record, botocore's DEBUG body dumps included.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from arda_mail import log_redaction

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from botocore.config import Config

#: How long a warm function reuses a fetched token. Short, so a corrected secret is picked up by the next
#: deployment attempt, long enough that one stack operation reads it once per function.
TOKEN_CACHE_SECONDS = 60
MAX_TOKEN_LENGTH = 200
CURRENT_STAGE = "AWSCURRENT"
PREVIOUS_STAGE = "AWSPREVIOUS"
#: Secrets Manager client settings (botocore's defaults are 60 s to connect, 60 s to read, legacy retries). One
#: attempt, 1 s to connect (a regional endpoint) plus 2 s to answer (GetSecretValue normally takes tens of
#: milliseconds), is no longer than the 3 s reserve the handlers' deadline keeps for the response; botocore's
#: ``standard`` mode retries throttling, 5xx and connection/read timeouts, 3 attempts in all, so an unresponsive
#: service fails the read after about 9 s with a Reason naming the secret, long before the function's timeout.
#: https://boto3.amazonaws.com/v1/documentation/api/latest/guide/retries.html (standard mode, total_max_attempts)
#: https://botocore.amazonaws.com/v1/documentation/api/latest/reference/config.html (connect/read timeouts)
#: https://docs.powertools.aws.dev/lambda/python/latest/utilities/parameters/ (SecretsProvider's boto_config)
CONNECT_TIMEOUT_S = 1.0
READ_TIMEOUT_S = 2.0
MAX_ATTEMPTS = 3


def client_config() -> Config:
    """The botocore configuration of every Secrets Manager client here (Powertools' ``boto_config``)."""
    from botocore.config import Config

    return Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
    )


@cache
def _provider() -> SecretsProvider:
    """Powertools' Secrets Manager provider with :func:`client_config` as its ``boto_config``, made once per process
    (a module-level provider, as in Powertools' examples: its cache lives as long as the execution environment)."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto_config=client_config())


def forget_tokens() -> None:
    """Drop the cached tokens with the provider and its client, as a new execution environment starts without
    them (the tests, and the rehearsal when it moves from one function to another)."""
    _provider.cache_clear()


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
    log_redaction.install()
    value = _current_value(secret_arn, max_age, force_fetch) if stage == CURRENT_STAGE else _value(secret_arn, stage)
    where = f"secret {secret_arn}" if stage == CURRENT_STAGE else f"secret {secret_arn} ({stage})"
    if not isinstance(value, str):
        raise UnusableTokenError(f"{where} holds binary data; store the Postmark account token as text")
    token = value.strip()
    log_redaction.register_value(token)  # whatever logs it by mistake, under whatever key, prints <redacted>
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
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        return _provider().get(secret_arn, max_age=max_age, force_fetch=force_fetch, VersionStage=CURRENT_STAGE)
    except GetParameterError as exc:
        raise AccountTokenError(f"could not read the Postmark account token from secret {secret_arn}: {exc}") from None


def _value(secret_arn: str, stage: str) -> object:
    """One uncached ``GetSecretValue`` for ``stage``."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = boto3.client("secretsmanager", config=client_config())
        answer = client.get_secret_value(SecretId=secret_arn, VersionStage=stage)
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
    if not token.isascii():
        # An HTTP header carries only latin-1, and Postmark tokens are ASCII: typically curly quotes pasted along.
        return "contains a non-ASCII character (quotes pasted around the token?)"
    return None

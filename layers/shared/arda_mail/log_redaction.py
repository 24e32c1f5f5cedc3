"""One redaction for every log record of the process, whatever its logger and level.

Secrets reach logs through libraries at DEBUG, never through our own messages: botocore dumps request and
response bodies (``botocore.endpoint``/``botocore.parsers``: a ``GetSecretValue`` answer holds ``SecretString``,
an ``AssumeRole`` answer the role's ``SecretAccessKey`` and ``SessionToken``), its signer logs the canonical
request (``botocore.auth``: the ``x-amz-security-token`` header) and the prepared request's headers, and a logged
URL may be a pre-signed one (CloudFormation's ``ResponseURL``: its signature lets anyone answer for the stack).
A caller may turn DEBUG on at any time (Lambda's log-level setting, a test run, an operator chasing a bug), so
redaction cannot depend on levels.

Where it hooks in, and why both:

* the log-record factory (:func:`logging.setLogRecordFactory`): every record of every logger passes through it
  when it is created, before any handler sees it, and child loggers' records included (a filter on a *logger*
  only sees records logged on that very logger, never its children's);
* a filter on every handler present when :func:`install` runs (it runs again at each invocation, so handlers
  added later, such as the Lambda runtime's or a test's, are covered): the ``extra`` fields Powertools logs are
  attached to a record only after the factory made it.

What is redacted (the value becomes :data:`REDACTED`, the key stays, so the line still says what happened):
``SecretString``/``SecretBinary``, ``SecretAccessKey``/``SessionToken``/``AccessKeyId`` (JSON, Python ``repr``,
XML and ``key: value`` forms), the ``X-Amz-Security-Token`` and ``X-Postmark-Account-Token`` header values, and
the signature parts of AWS signatures and pre-signed URLs (``X-Amz-Signature``, ``Signature``,
``X-Amz-Credential``, ``Credential``, ``AWSAccessKeyId``, ``X-Amz-Security-Token`` query parameters; botocore's
``Signature:`` debug line). The names come from the wire formats: Secrets Manager's ``GetSecretValue`` response
(https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html), STS's ``Credentials``
(https://docs.aws.amazon.com/STS/latest/APIReference/API_Credentials.html), SigV4 headers and query strings
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html,
https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html, and the older
``AWSAccessKeyId``/``Signature`` form, https://docs.aws.amazon.com/AmazonS3/latest/userguide/RESTAuthentication.html),
and Postmark's account-token header (https://postmarkapp.com/developer/api/overview#authentication).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any

REDACTED = "<redacted>"
_MARK = "_arda_mail_redacting"

_SECRET_KEYS = (
    "SecretString",
    "SecretBinary",
    "SecretAccessKey",
    "SessionToken",
    "AccessKeyId",
    "aws_secret_access_key",
    "aws_session_token",
    "X-Amz-Security-Token",
    "X-Postmark-Account-Token",
)


@functools.cache
def _substitutions() -> tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...]:
    """The patterns, in the order they apply, each with its replacement. Compiled on first need rather than at
    import (about 1 ms of every cold start): only a text holding one of :data:`_TRIGGERS` needs them."""
    keys = "|".join(re.escape(k) for k in _SECRET_KEYS)
    # A secret's value may hold anything, quotes and escapes included (a token stored as JSON, shown through
    # botocore's repr of the raw body, escapes twice): everything after the key, to the end of the text, is dropped.
    secret_value_to_end = re.compile(
        r"""(?P<key>["']?\b(?:SecretString|SecretBinary)\b["']?\s*[:=]\s*)\S.*""", re.IGNORECASE | re.DOTALL
    )
    # ``<SessionToken>…</SessionToken>`` in STS's XML answers.
    xml_element = re.compile(r"<(?P<tag>" + keys + r")>[^<]*</(?P=tag)>", re.IGNORECASE)
    # ``"Key": "value"``, ``'Key': b'value'``, ``Key=value``, ``key:value`` (a canonical request's header line).
    key_value = re.compile(
        r"""(?P<key>["']?\b(?:""" + keys + r""")\b["']?\s*[:=]\s*)"""
        r"""(?:b?(?P<quote>["'])(?:\\.|(?!(?P=quote))[^\\\n])*(?P=quote)|[^\s,;&}'"<>)\]]+)""",
        re.IGNORECASE,
    )
    # Signature parts of query strings and Authorization headers.
    signature_param = re.compile(
        r"(?P<key>(?<![A-Za-z0-9-])(?:X-Amz-Signature|Signature|X-Amz-Credential|Credential|AWSAccessKeyId|"
        r"X-Amz-Security-Token)=)[^&\s'\",;]+",
        re.IGNORECASE,
    )
    # ``botocore.auth``'s ``Signature:\n<hex>`` debug line.
    signature_line = re.compile(r"(?P<key>\bSignature:\s*)[0-9a-f]{16,}", re.IGNORECASE)

    def keep_key(match: re.Match[str]) -> str:
        return f"{match['key']}{REDACTED}"

    def keep_tag(match: re.Match[str]) -> str:
        return f"<{match['tag']}>{REDACTED}</{match['tag']}>"

    return (
        (secret_value_to_end, keep_key),
        (xml_element, keep_tag),
        (key_value, keep_key),
        (signature_param, keep_key),
        (signature_line, keep_key),
    )


#: Cheap pre-check: a text without any of these cannot match a pattern above.
_TRIGGERS = tuple({k.lower() for k in _SECRET_KEYS} | {"signature", "credential", "awsaccesskeyid"})

_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_MAX_DEPTH = 4


#: Values known to be secret wherever they appear, whatever key or format carries them (see :func:`register_value`).
_VALUES: set[str] = set()
#: Shorter values are not registered: redacting every occurrence of a short string would garble ordinary text.
MIN_REGISTERED_LENGTH = 8


def register_value(value: str) -> None:
    """Redact ``value`` itself from every record from now on.

    For a secret read at run time that may travel under a key no pattern knows: a Postmark account token passed
    as a CloudFormation parameter shows up in botocore's DEBUG dump of ``CreateChangeSet`` as
    ``Parameters.member.N.ParameterValue=…``, and any answer that echoes it back carries it under another name.
    """
    if len(value) >= MIN_REGISTERED_LENGTH:
        _VALUES.add(value)


def redact(text: str) -> str:
    """``text`` with every secret value replaced by :data:`REDACTED`."""
    for value in _VALUES:
        if value in text:
            text = text.replace(value, REDACTED)
    lowered = text.lower()
    if not any(trigger in lowered for trigger in _TRIGGERS):
        return text
    for pattern, replacement in _substitutions():
        text = pattern.sub(replacement, text)
    return text


def _redact_value(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return redact(value)
    if depth >= _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {key: _redact_value(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(item, depth + 1) for item in value)
    return value


def redact_record(record: logging.LogRecord) -> None:
    """Redact ``record`` in place: its message, traceback, stack and ``extra`` fields. Idempotent."""
    try:
        message = record.getMessage()
    except Exception:  # a record whose arguments do not format: logging reports that itself
        message = None
    if message is not None:
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
    if record.exc_info and record.exc_info[1] is not None:
        text = record.exc_text or logging.Formatter().formatException(record.exc_info)
        clean = redact(text)
        if clean != text:
            # Formatters would render the traceback again from exc_info: keep only the redacted text.
            record.exc_info, record.exc_text = None, clean
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    for key, value in list(vars(record).items()):
        if key not in _STANDARD_ATTRIBUTES:
            setattr(record, key, _redact_value(value))


class RedactingFilter(logging.Filter):
    """Redacts a record in place and always lets it through (dropping would hide that something happened)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


FILTER = RedactingFilter()


def _install_factory() -> None:
    previous = logging.getLogRecordFactory()
    if getattr(previous, _MARK, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redact_record(record)
        return record

    setattr(factory, _MARK, True)
    logging.setLogRecordFactory(factory)


def _all_handlers() -> list[logging.Handler]:
    handlers = list(logging.getLogger().handlers)
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            handlers.extend(logger.handlers)
    return handlers


def install() -> None:
    """Redact every record from now on (idempotent; cheap enough to call at every invocation)."""
    _install_factory()
    for handler in _all_handlers():
        if FILTER not in handler.filters:
            handler.addFilter(FILTER)

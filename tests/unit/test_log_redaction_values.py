"""Registered secret values are redacted wherever they appear, under any key or none."""

from __future__ import annotations

import logging
import uuid

import pytest
from support import secret_scan

from arda_mail import log_redaction


def test_a_registered_value_is_redacted_in_any_format(caplog: pytest.LogCaptureFixture) -> None:
    token = str(uuid.uuid4())
    secret_scan.register(token)
    log_redaction.install()
    log_redaction.register_value(token)
    logger = logging.getLogger("arda_mail.test")
    with caplog.at_level(logging.DEBUG, logger="arda_mail.test"):
        logger.debug("Parameters.member.3.ParameterValue=%s&Action=CreateChangeSet", token)
        logger.debug("Response body:\n%s", f"<ParameterValue>{token}</ParameterValue>".encode())
    assert token not in caplog.text
    assert caplog.text.count(log_redaction.REDACTED) == 2


def test_short_values_are_not_registered() -> None:
    log_redaction.register_value("true")
    assert log_redaction.redact("TakeOverExistingPostmarkDomain=true") == "TakeOverExistingPostmarkDomain=true"

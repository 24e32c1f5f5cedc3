"""The suite-wide secret scan: no registered secret may appear in any captured output.

Every test registers the secrets it puts into play (Postmark tokens above all) with :func:`register`.
After each test phase the hook below scans what pytest captured (stdout, stderr and log records, which
include Powertools' JSON logs and crhelper's) and, at the end, every response body CloudFormation
received. A hit fails the session and names the test, never the secret.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

_SECRETS: set[str] = set()
_HITS: list[str] = []
_SCANNED = {"sections": 0, "responses": 0}


def register(*secrets: str) -> None:
    """Add secrets that must never appear in logs, responses or exception texts."""
    _SECRETS.update(s for s in secrets if s)


def find_secrets(text: str) -> list[str]:
    """The registered secrets present in ``text`` (used by the scan and by its own test)."""
    return [s for s in _SECRETS if s in text]


def record_responses(bodies: Iterable[str]) -> None:
    for body in bodies:
        _SCANNED["responses"] += 1
        if find_secrets(body):
            _HITS.append("a CloudFormation response body")


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    texts = [content for _, content in report.sections]
    if report.longrepr is not None:
        texts.append(str(report.longrepr))
    for text in texts:
        _SCANNED["sections"] += 1
        if find_secrets(text):
            _HITS.append(f"{report.nodeid} ({report.when})")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _HITS:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(
        f"secret scan: {len(_SECRETS)} secrets, {_SCANNED['sections']} captured sections and "
        f"{_SCANNED['responses']} CloudFormation responses scanned, {len(_HITS)} hits"
    )
    for hit in _HITS:
        terminalreporter.write_line(f"SECRET LEAKED in {hit}", red=True)

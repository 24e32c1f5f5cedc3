"""Test-wide setup: a region and fake credentials before anything builds a boto3 client, the
CloudFormation response receiver, and the token scan over every captured log and response.

``import moto`` comes first on purpose: a boto3 client created before moto is imported is not mocked.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_REGION", "us-east-1")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "arda-mail-test")
os.environ.pop("AWS_PROFILE", None)
# moto's call recorder reads the file it writes to once, when it is loaded: named here, before anything loads it, it
# is the file every in-process loopback world of the session records into (arda_ops.loopback.calls).
os.environ["MOTO_RECORDER_FILEPATH"] = os.path.join(tempfile.mkdtemp(prefix="arda-moto-recording-"), "recording.jsonl")

import moto  # noqa: F401  (must precede every boto3 client)
import pytest

from arda_ops.cfn_protocol import EventFactory, ResponseReceiver

pytest_plugins = ["support.secret_scan", "pytester"]  # the hooks live beside the scanner


@pytest.fixture(scope="session")
def receiver():
    """One loopback HTTPS response receiver for the whole session; every response lands in the token scan."""
    with ResponseReceiver() as rec:
        yield rec
        from support import secret_scan

        secret_scan.record_responses(r.raw for r in rec.responses)


@pytest.fixture
def events(receiver):
    return EventFactory(receiver)


@pytest.fixture(scope="module")
def rehearsal_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The working directory of a test module's rehearsal run (the CLI writes its handler log under it)."""
    return tmp_path_factory.mktemp("rehearsal")


def pytest_unconfigure(config: pytest.Config) -> None:
    """The session's moto recording goes with the session."""
    shutil.rmtree(os.path.dirname(os.environ["MOTO_RECORDER_FILEPATH"]), ignore_errors=True)

"""Test-wide setup: a region and fake credentials before anything builds a boto3 client, the
CloudFormation response receiver, and the token scan over every captured log and response.

``import moto`` comes first on purpose: a boto3 client created before moto is imported is not mocked.
"""

from __future__ import annotations

import os

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_REGION", "us-east-1")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "arda-mail-test")
os.environ.pop("AWS_PROFILE", None)

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

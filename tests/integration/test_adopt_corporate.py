"""Adoption of Corporate's existing mail (``bin/deploy corporate --adopt``): discovery and every precondition against
moto and the Postmark emulator over HTTP, as for a partition (tests/integration/test_adopt_discovery.py), on
Corporate's own template and placement.

Corporate's previous deployment is built the way the earlier tool left it: the public zone ``arda.<mail root>`` with
SPF, DMARC, the Free Kanban Tool's DMARC, DKIM and Return-Path records, the account-token secret with two versions,
and the verified domain on PostmarkProd.
"""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest
from support.postmark import (  # noqa: F401 - the *_fixture imports register the fixtures
    NON_PROD,
    PROD,
    aws_fixture,
    emulator_fixture,
    fast_retries_fixture,
    make_emulator_fixture,
    postmark_tokens_fixture,
)

from arda_mail.log_redaction import install as guard_botocore_logs
from arda_mail.placement import corporate_placement
from arda_mail.txt_records import route53_txt_value
from arda_ops import adopt
from arda_ops.adopt_discovery import AdoptionRefusedError, Clients, refuse_if_needed
from arda_ops.route53_records import change_record_sets

CORPORATE = corporate_placement()
MAIL = CORPORATE.mail
PARAMETERS = {
    "DelegationRoleArn": "arn:aws:iam::210987654321:role/ArdaMailsNsDelegationRole",
    "ParentZoneId": "Z0123456789ABCDEFGHIJ",
}


@pytest.fixture(autouse=True)
def _fast(fast_retries):
    return fast_retries


@pytest.fixture
def old(aws, emulator, postmark_tokens) -> dict[str, Any]:
    guard_botocore_logs()
    clients = Clients(
        route53=boto3.client("route53"),
        secretsmanager=boto3.client("secretsmanager"),
        iam=boto3.client("iam"),
        cloudformation=boto3.client("cloudformation"),
    )
    token = postmark_tokens[PROD]
    zone = clients.route53.create_hosted_zone(Name=MAIL.mail_domain, CallerReference=uuid.uuid4().hex)["HostedZone"]
    zone_id = zone["Id"].rsplit("/", 1)[-1]
    arn = str(clients.secretsmanager.create_secret(Name=CORPORATE.account_token_secret_name, SecretString="old")["ARN"])
    clients.secretsmanager.put_secret_value(SecretId=arn, SecretString=token)
    domain = emulator.add_domain(
        PROD, MAIL.postmark_domain_name, MAIL.return_path_host, dkim_verified=True, return_path_verified=True
    )
    records = [
        (MAIL.spf_host, "TXT", [route53_txt_value(MAIL.spf_value)]),
        (MAIL.dmarc_host, "TXT", [route53_txt_value(MAIL.dmarc_value)]),
        (CORPORATE.free_kanban.dmarc_host, "TXT", [route53_txt_value(CORPORATE.free_kanban.dmarc_value)]),
        (domain["DKIMHost"], "TXT", [route53_txt_value(domain["DKIMTextValue"])]),
        (MAIL.return_path_host, "CNAME", [MAIL.return_path_target]),
    ]
    change_record_sets(clients.route53, zone_id, "UPSERT", records, 3600)
    return {"clients": clients, "emulator": emulator, "token": token, "zone_id": zone_id, "token_arn": arn}


def prepare(old: dict[str, Any], token: str | None = None) -> adopt.Adoption:
    url = old["emulator"].url
    return adopt.prepare(
        adopt.target_for("corporate"),
        PARAMETERS,
        token or old["token"],
        old["clients"],
        lambda token, api_url: adopt.postmark_lookup(token, url),
    )


def test_corporates_old_deployment_passes_every_precondition(old):
    adoption = prepare(old)
    assert [f"{f.check}: {f.detail}" for f in adoption.found.problems] == []
    refuse_if_needed(adoption.found)
    assert adoption.found.identifiers == {"MailZone": old["zone_id"], "PostmarkAccountTokenSecret": old["token_arn"]}
    assert [d["LogicalResourceId"] for d in adoption.resources_to_import] == ["MailZone", "PostmarkAccountTokenSecret"]


def test_corporate_with_the_partitions_token_refuses(old, postmark_tokens):
    """PostmarkNonProd's token (a partition's) in 1Password's Corporate item: both the secret and Postmark say so."""
    adoption = prepare(old, token=postmark_tokens[NON_PROD])
    with pytest.raises(AdoptionRefusedError):
        refuse_if_needed(adoption.found)
    problems = {f.check for f in adoption.found.problems}
    assert problems == {f"token in {CORPORATE.account_token_secret_name}", f"Postmark domain {MAIL.mail_domain}"}


def test_a_free_kanban_dmarc_record_that_differs_refuses(old):
    change_record_sets(
        old["clients"].route53,
        old["zone_id"],
        "UPSERT",
        [(CORPORATE.free_kanban.dmarc_host, "TXT", [route53_txt_value("v=DMARC1; p=none")])],
        3600,
    )
    adoption = prepare(old)
    problems = {f.check: f.detail for f in adoption.found.problems}
    assert list(problems) == ["record FreeKanbanDmarcRecord"]
    assert CORPORATE.free_kanban.dmarc_host in problems["record FreeKanbanDmarcRecord"]

"""Tenant sending domains (tenant/template.yaml) through the real custom-resource protocol, on top of deployed
partitions in the loopback world: moto's server (every AWS call recorded), the Postmark emulator over HTTP, the
handlers' HTTPS responses received as CloudFormation receives them.

CloudFormation's own part (the two record sets from the domain's attributes, their removal with the stack) is
played by :mod:`arda_ops.tenant_stack`, with the properties the template renders (tests/unit/test_tenant_template.py
compares them).
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

import pytest
from support.drift import build_world
from support.postmark import new_token

from arda_mail.partitions import all_partition_names
from arda_mail.placement import CORPORATE_LABEL, partition_placement, tenant_placement
from arda_mail.postmark.ownership import tag_key
from arda_mail.txt_records import route53_txt_value
from arda_ops.cfn_protocol import EventFactory, invoke
from arda_ops.handlers import load_function_module
from arda_ops.loopback.accounts import PARTITION_ACCOUNT, REGION
from arda_ops.loopback.world import LoopbackWorld
from arda_ops.tenant_stack import (
    DOMAIN_LOGICAL_ID,
    DOMAIN_TYPE,
    VERIFICATION_LOGICAL_ID,
    VERIFICATION_TYPE,
    PartitionImports,
    create_records,
    delete_records,
    domain_properties,
    tenant_records,
    verification_properties,
)

HANDLER_KEY = "AKIATENANTTESTHANDLER"
#: Generous: the handlers answer in milliseconds on loopback; this only bounds a hang on a busy machine.
WAIT_S = 30.0


@pytest.fixture(scope="module")
def loopback():
    # botocore's DEBUG records carry request bodies (the setup's CreateSecret with a token): kept at INFO meanwhile.
    quiet = {name: logging.getLogger(name) for name in ("botocore", "boto3", "urllib3")}
    levels = {name: logger.level for name, logger in quiet.items()}
    for logger in quiet.values():
        logger.setLevel(logging.INFO)
    tokens = {"PostmarkNonProd": new_token(), "PostmarkProd": new_token()}
    try:
        with LoopbackWorld(tokens=tokens, record_calls=True) as world:
            yield world
    finally:
        for name, logger in quiet.items():
            logger.setLevel(levels[name])


@pytest.fixture
def world(loopback, monkeypatch):
    """dev and stage deployed and healthy; the handlers' AWS clients point at moto with their own key."""
    from arda_mail.secrets import forget_tokens

    monkeypatch.setenv("AWS_ENDPOINT_URL", loopback.moto.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", HANDLER_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "handler")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    forget_tokens()
    built = build_world(loopback, ["dev", "stage"])
    yield built
    forget_tokens()


class TenantStack:
    """CloudFormation for one tenant stack: events to the real handlers, the records from their attributes."""

    def __init__(self, world, receiver, partition: str, slug: str) -> None:
        self.world, self.receiver = world, receiver
        self.tenant = tenant_placement(partition, slug)
        exports = {e["Name"]: e["Value"] for e in world.client("cloudformation").list_exports()["Exports"]}
        self.imports = PartitionImports.from_exports(self.tenant, exports)
        self.events = EventFactory(
            receiver, stack_name=self.tenant.stack_name, region=REGION, account=PARTITION_ACCOUNT
        )
        self.api_url = world.emulator.url
        self.domain_props = domain_properties(self.tenant, self.imports, self.api_url)
        self.domain_id = ""
        self.records: list = []

    def send(self, function: str, event):
        handler = load_function_module(function).handler
        return invoke(handler, event, self.receiver, timeout_ms=120_000, wait_s=WAIT_S)

    def create_domain(self, props=None):
        event = self.events.create(DOMAIN_TYPE, DOMAIN_LOGICAL_ID, props or self.domain_props)
        return self.send("postmark_domain", event)

    def create(self):
        """Create in CloudFormation's order: the domain, its two records, then verification."""
        response = self.create_domain()
        assert response.status == "SUCCESS", response.reason
        self.domain_id = response.physical_id
        self.records = create_records(self.world.r53, self.tenant, self.imports, response.data)
        props = verification_properties(self.imports, self.domain_id, self.api_url, max_wait_s=20)
        verified = self.send(
            "postmark_domain_verification",
            self.events.create(VERIFICATION_TYPE, VERIFICATION_LOGICAL_ID, {**props, "PollIntervalSeconds": "0"}),
        )
        assert verified.status == "SUCCESS", verified.reason
        return response, verified

    def delete(self):
        """Delete in reverse order: verification (no-op), the three records, the domain."""
        props = verification_properties(self.imports, self.domain_id, self.api_url)
        event = self.events.delete(VERIFICATION_TYPE, VERIFICATION_LOGICAL_ID, "verification-" + self.domain_id, props)
        assert self.send("postmark_domain_verification", event).status == "SUCCESS"
        delete_records(self.world.r53, self.imports, self.records)
        event = self.events.delete(DOMAIN_TYPE, DOMAIN_LOGICAL_ID, self.domain_id, self.domain_props)
        response = self.send("postmark_domain", event)
        assert response.status == "SUCCESS", response.reason


def zone_records(world, partition):
    zone_id = world.zone_ids[partition]
    pages = world.r53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
    return {
        (r["Name"].rstrip("."), r["Type"]): r.get("ResourceRecords") for p in pages for r in p["ResourceRecordSets"]
    }


def secret_tags(world, secret_arn):
    tags = world.client("secretsmanager").describe_secret(SecretId=secret_arn).get("Tags", [])
    return {t["Key"]: t["Value"] for t in tags}


def runtime_registers(world, account: str, name: str):
    """The runtime's onboarding as Postmark sees it: POST /domains with the partition's account token."""
    request = urllib.request.Request(  # noqa: S310 - the loopback emulator
        world.emulator.url + "/domains",
        data=json.dumps({"Name": name}).encode(),
        method="POST",
        headers={
            "X-Postmark-Account-Token": world.loopback.tokens[account],
            "Accept": "application/json",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=WAIT_S) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# -- the slug and the name, before any call ------------------------------------------------------------------------
def _bad_cases():
    dev = partition_placement("dev").mail.mail_domain
    stage = partition_placement("stage").mail.mail_domain
    reserved = [(name, f"{name}.{dev}", "is reserved") for name in (CORPORATE_LABEL, *all_partition_names())]
    labels = [
        ("-acme", f"-acme.{dev}", "must not start or end with a hyphen"),
        ("Acme", f"acme.{dev}", "must be lower case"),
        ("ac_me", f"acme.{dev}", "may contain only a-z, 0-9 and hyphens"),
        ("t" * 64, f"acme.{dev}", "is 64 characters long"),
    ]
    names = [
        ("acme", f"acme.{stage}.example", "is not a sending domain of tenant 'acme'"),
        ("acme", f"other.{dev}", "is not a sending domain of tenant 'acme'"),
        ("acme", dev, "is not a sending domain of tenant 'acme'"),
        ("acme", f"acme.acme.{dev}", "is not a sending domain of tenant 'acme'"),
    ]
    # Attacks: labels the partition's own records use, internationalised (punycode) labels that render as look-alikes,
    # non-ASCII look-alikes themselves, and an empty slug (which must not make the resource a partition's domain).
    attacks = [
        ("pm-bounces", f"pm-bounces.{dev}", "the partition's Return-Path host"),
        ("xn--80ak6aa92e", f"xn--80ak6aa92e.{dev}", "reserved for internationalised names"),
        ("ab--cd", f"ab--cd.{dev}", "reserved for internationalised names"),
        ("\u0430cme", f"\u0430cme.{dev}", "U+0430"),
        ("\u212aacme", f"kacme.{dev}", "U+212A"),
        ("", f"stray.{dev}", "the tenant slug is empty"),
        ("", dev, "the tenant slug is empty"),
    ]
    return reserved + labels + names + attacks


@pytest.mark.parametrize(("slug", "domain_name", "problem"), _bad_cases())
def test_a_bad_slug_or_name_fails_before_any_call(world, receiver, slug, domain_name, problem):
    stack = TenantStack(world, receiver, "dev", "acme")
    props = {**stack.domain_props, "TenantSlug": slug, "DomainName": domain_name}
    postmark_mark, aws_mark = len(world.emulator.requests), world.loopback.moto.recorder.mark()

    response = stack.create_domain(props)

    assert response.status == "FAILED"
    assert response.reason.startswith("Invalid properties: ")
    assert "TenantSlug: " in response.reason
    assert problem in response.reason
    assert world.emulator.requests[postmark_mark:] == []
    assert world.loopback.moto.recorder.since(aws_mark, "handler") == {}


@pytest.mark.parametrize("slug", [None, 0, 123, True, ["acme"], {"Slug": "acme"}])
def test_a_slug_that_is_no_string_fails_before_any_call(world, receiver, slug):
    """CloudFormation passes strings, but a hand-written event may not: the type is refused, never coerced, and a
    null slug does not turn the tenant's resource into a partition's."""
    stack = TenantStack(world, receiver, "dev", "acme")
    props = {**stack.domain_props, "TenantSlug": slug}
    postmark_mark, aws_mark = len(world.emulator.requests), world.loopback.moto.recorder.mark()

    response = stack.create_domain(props)

    assert response.status == "FAILED"
    assert response.reason.startswith("Invalid properties: TenantSlug")
    assert world.emulator.requests[postmark_mark:] == []
    assert world.loopback.moto.recorder.since(aws_mark, "handler") == {}


# -- the lifecycle -----------------------------------------------------------------------------------------------
def test_create_verify_delete_a_tenant_domain_in_the_partition_zone(world, receiver):
    before = zone_records(world, "dev")
    partition_domain = world.postmark_domain("dev")
    stack = TenantStack(world, receiver, "dev", "acme")

    created, verified = stack.create()

    tenant = stack.tenant
    stored = world.emulator.find("PostmarkNonProd", tenant.mail.postmark_domain_name)
    assert stored is not None
    assert str(stored["ID"]) == created.physical_id
    assert created.data["ReturnPathHostName"] == tenant.mail.return_path_host
    assert created.data["DkimHostName"].endswith("._domainkey." + tenant.mail.mail_domain)
    assert (verified.data["DkimVerified"], verified.data["ReturnPathVerified"]) == ("true", "true")
    after = zone_records(world, "dev")
    added = set(after) - set(before)
    assert added == {
        (created.data["DkimHostName"], "TXT"),
        (tenant.mail.return_path_host, "CNAME"),
        (tenant.mail.dmarc_host, "TXT"),
    }
    # The tenant domain's own DMARC policy (a receiver never falls back to the partition's record): the partition's
    # value, next to the partition's record, which is unchanged.
    partition_dmarc = (stack.tenant.partition.mail.dmarc_host, "TXT")
    assert after[(tenant.mail.dmarc_host, "TXT")] == after[partition_dmarc] == before[partition_dmarc]
    assert after[(tenant.mail.dmarc_host, "TXT")] == [{"Value": route53_txt_value(tenant.partition.mail.dmarc_value)}]
    # Its own DKIM key, not the partition's; the ownership record names the tenant stack.
    assert created.data["DkimTextValue"].startswith("k=rsa; p=")
    assert created.data["DkimTextValue"] != partition_domain["DKIMTextValue"]
    assert secret_tags(world, stack.imports.token_secret_arn)[tag_key(int(created.physical_id))] == (
        f"{tenant.stack_name}/{DOMAIN_LOGICAL_ID}"
    )

    stack.delete()

    assert zone_records(world, "dev") == before
    assert world.emulator.find("PostmarkNonProd", tenant.mail.postmark_domain_name) is None
    assert world.postmark_domain("dev")["ID"] == partition_domain["ID"]  # the partition's own domain untouched
    assert tag_key(int(created.physical_id)) not in secret_tags(world, stack.imports.token_secret_arn)


def test_the_same_slug_on_two_partitions_is_two_tenants(world, receiver):
    before_stage = zone_records(world, "stage")
    dev, stage = TenantStack(world, receiver, "dev", "acme"), TenantStack(world, receiver, "stage", "acme")
    dev_created, _ = dev.create()
    stage_created, _ = stage.create()

    assert dev.tenant.stack_name != stage.tenant.stack_name
    assert dev_created.physical_id != stage_created.physical_id
    assert world.emulator.find("PostmarkNonProd", dev.tenant.mail.mail_domain) is not None
    assert world.emulator.find("PostmarkNonProd", stage.tenant.mail.mail_domain) is not None
    assert (stage.tenant.mail.return_path_host, "CNAME") in zone_records(world, "stage")
    assert (dev.tenant.mail.return_path_host, "CNAME") not in zone_records(world, "stage")

    dev.delete()

    assert world.emulator.find("PostmarkNonProd", dev.tenant.mail.mail_domain) is None
    assert world.emulator.find("PostmarkNonProd", stage.tenant.mail.mail_domain) is not None
    assert set(zone_records(world, "stage")) - set(before_stage) == {
        (name, rtype) for name, rtype, _ in tenant_records(stage.tenant, stage_created.data)
    }
    assert (stage.tenant.mail.dmarc_host, "TXT") in zone_records(world, "stage")
    stage.delete()
    assert zone_records(world, "stage") == before_stage


@pytest.mark.parametrize("victim", ["partition", "other tenant"])
def test_a_tenant_delete_carrying_another_domains_id_deletes_nothing(world, receiver, victim):
    """A Delete whose PhysicalResourceId is not the tenant's domain (a hand-made event, a stack edited by hand, an ID
    reused by mistake) must not remove the partition's domain nor another tenant's: the tenant's resource owns only
    {slug}.{partition domain}."""
    other = TenantStack(world, receiver, "dev", "zeta")
    other_created, _ = other.create()
    target = world.postmark_domain("dev") if victim == "partition" else {"ID": int(other_created.physical_id)}
    stack = TenantStack(world, receiver, "dev", "acme")
    stack.create()

    event = stack.events.delete(DOMAIN_TYPE, DOMAIN_LOGICAL_ID, str(target["ID"]), stack.domain_props)
    response = stack.send("postmark_domain", event)

    assert response.status == "SUCCESS", response.reason  # never blocks a stack delete
    assert world.emulator.find("PostmarkNonProd", partition_placement("dev").mail.mail_domain) is not None
    assert world.emulator.find("PostmarkNonProd", other.tenant.mail.mail_domain) is not None
    stack.delete()
    other.delete()


# -- the collision rule with the runtime's own per-tenant writes -------------------------------------------------
def test_a_domain_the_runtime_registered_first_fails_the_stack_and_stays_untouched(world, receiver):
    """The Postmark name is the lock: the runtime got there first, so the stack must not touch its domain or
    records (the Create fails before CloudFormation creates any record; its rollback Delete removes nothing)."""
    stack = TenantStack(world, receiver, "dev", "acme")
    name = stack.tenant.mail.postmark_domain_name
    status, runtime_domain = runtime_registers(world, "PostmarkNonProd", name)
    assert status == 200
    # The runtime writes its records through the DNS-provisioning role (here: a plain UPSERT in the zone).
    runtime_records = [
        (runtime_domain["DKIMPendingHost"], "TXT", [json.dumps(runtime_domain["DKIMPendingTextValue"])]),
        (stack.tenant.mail.return_path_host, "CNAME", [runtime_domain["ReturnPathDomainCNAMEValue"]]),
    ]
    world.r53.change_resource_record_sets(
        HostedZoneId=world.zone_ids["dev"],
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": n,
                        "Type": t,
                        "TTL": 300,
                        "ResourceRecords": [{"Value": v} for v in vs],
                    },
                }
                for n, t, vs in runtime_records
            ]
        },
    )
    before = zone_records(world, "dev")

    failed = stack.create_domain()

    assert failed.status == "FAILED"
    assert name in failed.reason
    rollback = stack.events.delete(DOMAIN_TYPE, DOMAIN_LOGICAL_ID, failed.physical_id, stack.domain_props)
    assert stack.send("postmark_domain", rollback).status == "SUCCESS"
    kept = world.emulator.find("PostmarkNonProd", name)
    assert kept is not None
    assert kept["ID"] == runtime_domain["ID"]
    assert kept["DKIMPendingTextValue"] == runtime_domain["DKIMPendingTextValue"]
    assert zone_records(world, "dev") == before
    assert tag_key(int(runtime_domain["ID"])) not in secret_tags(world, stack.imports.token_secret_arn)


def test_a_stack_held_domain_refuses_the_runtime_and_carries_the_marker(world, receiver):
    """The reverse: once the stack holds the name, Postmark refuses the runtime's registration (ErrorCode 512),
    and the marker the runtime checks names the tenant stack."""
    stack = TenantStack(world, receiver, "dev", "acme")
    created, _ = stack.create()

    status, answer = runtime_registers(world, "PostmarkNonProd", stack.tenant.mail.postmark_domain_name)

    assert (status, answer["ErrorCode"]) == (422, 512)
    tags = secret_tags(world, stack.imports.token_secret_arn)
    assert tags[tag_key(int(created.physical_id))] == f"{stack.tenant.stack_name}/{DOMAIN_LOGICAL_ID}"
    stack.delete()


def test_a_partition_move_reaches_the_tenant_at_its_next_deploy(world, receiver):
    """The partition moves to the other Postmark account (the other token in the same secret, the registry's account
    in PostmarkAccount): the tenant stack's next deploy sends an Update that registers the tenant's domain there, and
    CloudFormation's cleanup Delete removes the old one with the previous token (AWSPREVIOUS)."""
    stack = TenantStack(world, receiver, "dev", "acme")
    created, _ = stack.create()
    name = stack.tenant.mail.postmark_domain_name
    world.client("secretsmanager").put_secret_value(
        SecretId=stack.imports.token_secret_arn, SecretString=world.loopback.tokens["PostmarkProd"]
    )
    from arda_mail.secrets import forget_tokens

    forget_tokens()
    moved_props = {**stack.domain_props, "PostmarkAccount": "PostmarkProd"}
    event = stack.events.update(DOMAIN_TYPE, DOMAIN_LOGICAL_ID, created.physical_id, moved_props, stack.domain_props)

    moved = stack.send("postmark_domain", event)

    assert moved.status == "SUCCESS", moved.reason
    assert moved.physical_id != created.physical_id
    assert world.emulator.find("PostmarkProd", name) is not None
    cleanup = stack.events.delete(DOMAIN_TYPE, DOMAIN_LOGICAL_ID, created.physical_id, stack.domain_props)
    assert stack.send("postmark_domain", cleanup).status == "SUCCESS"
    assert world.emulator.find("PostmarkNonProd", name) is None

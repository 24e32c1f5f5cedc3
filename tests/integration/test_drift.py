"""The drift check against moto (server), the Postmark emulator and real DNS servers on loopback.

A healthy world is clean; each kind of drift is detected by its own row with a message that says what to fix;
an unreachable DNS server, Postmark or AWS gives exit code 2 naming the probe, never a false "clean".
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import secret_scan
from support.drift import build_world, loopback_services

from arda_mail.placement import partition_placement
from arda_mail.postmark.client import PostmarkClient
from arda_mail.txt_records import route53_txt_value
from arda_ops.dns_server import AuthoritativeDnsServer, Route53Records, StaticRecords, closed_loopback_port
from arda_ops.drift.checks import Verdict
from arda_ops.drift.cli import main
from arda_ops.drift.probes import Endpoint, EnvTokens, StaticTokens
from arda_ops.drift.report import EXIT_CLEAN, EXIT_DRIFT, EXIT_PROBE_FAILED, DriftReport
from postmark_emulator import new_token

ALL = ("dev", "stage", "demo", "prod")
TOKENS = {"PostmarkNonProd": new_token(), "PostmarkProd": new_token()}
secret_scan.register(*TOKENS.values())


@pytest.fixture(scope="module")
def loopback():
    with loopback_services(TOKENS) as loopback:
        yield loopback


@pytest.fixture
def world(loopback):
    return build_world(loopback, ["dev"])


def _only_drift(report: DriftReport) -> list[tuple[str, str]]:
    return [(r.target, r.check) for r in report.results if r.verdict is not Verdict.OK]


def _postmark(world, partition="dev") -> PostmarkClient:
    account = partition_placement(partition).partition.postmark_account.value
    return PostmarkClient(TOKENS[account], api_url=world.emulator.url)


# -- healthy -------------------------------------------------------------------------------------------------


def test_every_active_partition_and_corporate_healthy_is_clean(loopback):
    world = build_world(loopback, ALL, corporate=True)
    started = time.monotonic()
    report = world.run()  # tokens from each partition's account-token secret in (moto's) Secrets Manager
    elapsed = time.monotonic() - started
    print(report.render_table())
    print(f"drift check of {len(ALL)} partitions + Corporate: {elapsed:.2f} s")
    assert report.exit_code == EXIT_CLEAN, report.render_table()
    assert set(report.targets) == {*ALL, "corporate"}
    checks = {r.check for r in report.results}
    assert {"postmark.domain", "dns.delegation", "dns.dkim", "dns.return-path", "stack.exports"} <= checks
    corporate_checks = {r.check for r in report.results if r.target == "corporate"}
    # Corporate's own stack (in its own account): the same units plus its zone outputs and the Free Kanban Tool
    assert {"stack.status", "stack.corporate-zone", "dns.free-kanban-dmarc", "dns.delegation"} <= corporate_checks
    assert "stack.exports" not in corporate_checks  # the six -API- exports are a partition's contract
    assert world.zone_dns.queries  # the answers really came over DNS
    assert world.parent_dns.queries


# -- each kind of drift ----------------------------------------------------------------------------------------


def test_missing_dkim_record(world):
    host = world.postmark_domain("dev")["DKIMHost"]
    world.delete_record("dev", host, "TXT")
    report = world.run()
    assert report.exit_code == EXIT_DRIFT
    assert _only_drift(report) == [("dev", "dns.dkim")]
    row = report.find("dev", "dns.dkim")
    assert row.observed == f"no TXT record at {host}"
    assert f"Custom::PostmarkDkim publishes Postmark's key at {host}" in row.fix
    assert "bin/deploy dev --reconcile" in row.fix


def test_wrong_dkim_value(world):
    domain = world.postmark_domain("dev")
    old_key = "k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDoldoldoldkeyIDAQAB"
    world.change("dev", "UPSERT", domain["DKIMHost"], "TXT", [route53_txt_value(old_key)])
    report = world.run()
    assert _only_drift(report) == [("dev", "dns.dkim")]
    row = report.find("dev", "dns.dkim")
    assert row.verdict is Verdict.DRIFT
    assert "is not Postmark's key" in row.fix
    assert "Custom::PostmarkDkim never overwrites a record it did not write" in row.fix


def test_dkim_value_split_into_several_strings_is_still_clean(world):
    """Route 53 stores a long key as several strings of one record; resolvers (and the check) join them."""
    domain = world.postmark_domain("dev")
    value = domain["DKIMTextValue"]
    split = f'"{value[:100]}" "{value[100:]}"'
    world.change("dev", "UPSERT", domain["DKIMHost"], "TXT", [split])
    assert world.run().exit_code == EXIT_CLEAN


def test_return_path_cname_wrong(world):
    host = partition_placement("dev").mail.return_path_host
    world.change("dev", "UPSERT", host, "CNAME", ["bounces.example.net"])
    report = world.run()
    assert _only_drift(report) == [("dev", "dns.return-path")]
    row = report.find("dev", "dns.return-path")
    assert row.observed == f"{host} CNAME bounces.example.net"
    assert f"point the CNAME {host} at pm.mtasv.net" in row.fix


def test_delegation_pointing_at_old_name_servers(world):
    old = ["ns-1.awsdns-00.com", "ns-513.awsdns-01.net", "ns-1025.awsdns-02.org", "ns-1537.awsdns-03.co.uk"]
    world.set_delegation("dev", old)
    report = world.run()
    assert _only_drift(report) == [("dev", "dns.delegation")]
    row = report.find("dev", "dns.delegation")
    assert "ns-1.awsdns-00.com" in row.observed
    assert "ns-2048.awsdns-64.com" in row.expected  # the zone's own name servers (moto's delegation set)
    assert "UPSERT its NS record" in row.fix
    assert "Custom::NsDelegation owns that record: `bin/deploy dev --reconcile` makes it write the record" in row.fix


def test_delegation_missing_from_the_parent(world):
    mail = partition_placement("dev").mail
    root = world.root_client("route53")
    rrsets = root.list_resource_record_sets(HostedZoneId=world.parent_zone_id)["ResourceRecordSets"]
    ns = next(r for r in rrsets if r["Type"] == "NS" and r["Name"].rstrip(".") == mail.mail_domain)
    root.change_resource_record_sets(
        HostedZoneId=world.parent_zone_id,
        ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": ns}]},
    )
    row = world.run().find("dev", "dns.delegation")
    assert row.verdict is Verdict.DRIFT
    assert row.observed == f"no delegation in {mail.parent_zone_name}"
    assert f"has no NS record for {mail.mail_domain}" in row.fix
    assert "`bin/deploy dev --reconcile`" in row.fix


def test_postmark_domain_deleted(loopback):
    """stage shares dev's Postmark account: the token sees stage's domain, so it is the right token and dev's
    domain was deleted; the fix is the reconcile that makes Custom::PostmarkDomain register it again."""
    world = build_world(loopback, ["dev", "stage"])
    domain = world.postmark_domain("dev")
    with _postmark(world) as client:
        client.delete_domain(domain["ID"])
    report = world.run()
    assert report.exit_code == EXIT_DRIFT
    row = report.find("dev", "postmark.domain")
    assert row.verdict is Verdict.DRIFT
    assert row.observed.startswith("no domain ")
    assert "the same token sees stage.ardamails.com" in row.fix
    assert "`bin/deploy dev --reconcile` makes Custom::PostmarkDomain register it again" in row.fix
    assert "token" not in row.fix.replace("the same token sees", "")
    # what builds on the domain is skipped, not reported as more drift
    for check in ("postmark.dkim-verified", "postmark.return-path", "dns.dkim"):
        assert report.find("dev", check).verdict is Verdict.SKIPPED
    assert report.find("dev", "dns.spf").verdict is Verdict.OK


def test_postmark_domain_unverified(world):
    """The domain re-registered by hand: a new, unverified key (published) and an unverified Return-Path."""
    mail = partition_placement("dev").mail
    old = world.postmark_domain("dev")
    with _postmark(world) as client:
        client.delete_domain(old["ID"])
        fresh = client.create_domain(mail.postmark_domain_name, mail.return_path_host)
    world.delete_record("dev", old["DKIMHost"], "TXT")
    world.change("dev", "UPSERT", fresh.dkim_pending_host, "TXT", [route53_txt_value(fresh.dkim_pending_text_value)])
    report = world.run()
    assert set(_only_drift(report)) == {("dev", "postmark.dkim-verified"), ("dev", "postmark.return-path-verified")}
    dkim = report.find("dev", "postmark.dkim-verified")
    assert dkim.observed.startswith("not verified")
    assert "verifyDkim" in dkim.fix
    assert "verifyReturnPath" in report.find("dev", "postmark.return-path-verified").fix
    assert report.find("dev", "dns.dkim").verdict is Verdict.OK  # the pending key is the one to publish
    assert "first key is still pending" in report.find("dev", "postmark.dkim-rotation").observed


def test_postmark_return_path_changed(world):
    domain = world.postmark_domain("dev")
    other = "bounce." + partition_placement("dev").mail.mail_domain
    with _postmark(world) as client:
        client.edit_domain(domain["ID"], other)
    report = world.run()
    row = report.find("dev", "postmark.return-path")
    assert row.verdict is Verdict.DRIFT
    assert row.observed == other
    assert "set the domain's Return-Path back to" in row.fix
    assert report.find("dev", "postmark.return-path-verified").verdict is Verdict.DRIFT


def test_pending_rotation_then_revoked_key_still_in_dns(world):
    domain = world.postmark_domain("dev")
    with _postmark(world) as client:
        rotated = client.rotate_dkim(domain["ID"])
    report = world.run()
    assert _only_drift(report) == [("dev", "postmark.dkim-rotation")]
    row = report.find("dev", "postmark.dkim-rotation")
    assert row.observed == f"pending key at {rotated.dkim_pending_host} (not in DNS)"
    # The stack's Custom::PostmarkDkim owns the DKIM records: the fix is the stack operation that continues it.
    assert row.fix.startswith("`bin/deploy dev --reconcile`: Custom::PostmarkDkim publishes the new key")

    # publish the new key next to the old one and let Postmark verify it: the old key is now revoked
    world.change(
        "dev", "UPSERT", rotated.dkim_pending_host, "TXT", [route53_txt_value(rotated.dkim_pending_text_value)]
    )
    with _postmark(world) as client:
        verified = client.verify_dkim(domain["ID"])
    assert verified.dkim_revoked_host == domain["DKIMHost"]
    # the stack's record follows Custom::PostmarkDomain's DkimHostName, which is the new active key now
    report = world.run()
    revoked = report.find("dev", "postmark.revoked-key")
    assert revoked.verdict is Verdict.OK
    assert "not yet safe to remove" in revoked.observed
    world.emulator.api.mark_revoked_key_safe(domain["ID"])
    revoked = world.run().find("dev", "postmark.revoked-key")
    assert revoked.verdict is Verdict.DRIFT
    assert revoked.fix.startswith("`bin/deploy dev --reconcile`: Custom::PostmarkDkim removes it")
    assert f"delete the TXT record at {domain['DKIMHost']}" in revoked.fix


@pytest.mark.parametrize(
    ("phase", "drift", "words"),
    [
        ("complete", False, "the last rotation is complete"),
        ("revoked-key-published", False, "until Postmark says it is safe to remove"),
        ("pending-verification", True, "asks again"),
        ("waiting-for-previous", True, "until the previous rotation is complete"),
    ],
)
def test_the_stacks_dkim_rotation_phase_and_its_next_step(world, phase, drift, words):
    cfn = world.client("cloudformation")
    stack = partition_placement("dev").stack_name
    template = cfn.get_template(StackName=stack)["TemplateBody"]
    template = json.loads(template) if isinstance(template, str) else dict(template)
    template["Outputs"]["DkimRotationPhase"] = {"Value": phase}
    cfn.update_stack(StackName=stack, TemplateBody=json.dumps(template))
    row = world.run().find("dev", "stack.dkim-rotation")
    assert (row.verdict is Verdict.DRIFT) is drift
    assert words in (row.fix if drift else row.observed)
    if drift:
        assert row.fix.startswith("`bin/deploy dev --reconcile`")


def test_export_renamed(world):
    placement = partition_placement("dev")
    renamed = placement.exports.email_encryption_key_arn.replace("EmailEncryptionKeyArn", "EncryptionKeyArn")
    world.redeploy_stack("dev", {"EmailEncryptionKeyArn": renamed})
    report = world.run()
    assert _only_drift(report) == [("dev", "stack.exports")]
    row = report.find("dev", "stack.exports")
    assert row.observed == f"missing {placement.exports.email_encryption_key_arn}; unexpected {renamed}"
    assert f"Output EmailEncryptionKeyArn → Export {placement.exports.email_encryption_key_arn}" in row.fix


def test_stack_deleted(world):
    placement = partition_placement("dev")
    world.client("cloudformation").delete_stack(StackName=placement.stack_name)
    report = world.run()
    assert report.find("dev", "stack.status").verdict is Verdict.DRIFT
    assert "sam deploy --config-env dev" in report.find("dev", "stack.status").fix
    assert report.find("dev", "stack.exports").verdict is Verdict.SKIPPED
    assert report.exit_code == EXIT_DRIFT


def test_spf_and_dmarc_drift(world):
    mail = partition_placement("dev").mail
    world.change("dev", "UPSERT", mail.spf_host, "TXT", [route53_txt_value("v=spf1 -all")])
    world.delete_record("dev", mail.dmarc_host, "TXT")
    report = world.run()
    assert set(_only_drift(report)) == {("dev", "dns.spf"), ("dev", "dns.dmarc")}
    assert report.find("dev", "dns.spf").observed == "v=spf1 -all"
    assert f"no DMARC record at {mail.dmarc_host}" == report.find("dev", "dns.dmarc").observed
    assert mail.dmarc_value in report.find("dev", "dns.dmarc").fix


def test_dmarc_report_authorization_missing(world):
    """RFC 7489 section 7.1: the report domain must authorize reports about the mail domain, in its own zone."""
    mail = partition_placement("dev").mail
    host = f"{mail.mail_domain}._report._dmarc.arda.cards"
    assert report_is_clean(world.run())
    world.delete_report_authorization(mail.mail_domain)
    report = world.run()
    assert report.exit_code == EXIT_DRIFT
    assert _only_drift(report) == [("dev", "dns.dmarc-report-authorization")]
    row = report.find("dev", "dns.dmarc-report-authorization")
    assert row.observed == f"no v=DMARC1 record at {host}"
    assert row.fix.startswith(f'publish the TXT record "v=DMARC1" at {host} in the zone of arda.cards')
    assert "*._report._dmarc.arda.cards" in row.fix
    assert "RFC 7489 section 7.1" in row.fix


def report_is_clean(report: DriftReport) -> bool:
    return report.exit_code == EXIT_CLEAN and not _only_drift(report)


def test_two_hosted_zones_with_the_partition_name_is_drift_naming_the_stale_one(world):
    """A leftover zone of an earlier stack: exit 1 with the stale zone's ID, not a probe failure (exit 2)."""
    mail = partition_placement("dev").mail
    created = world.r53.create_hosted_zone(Name=mail.mail_domain, CallerReference="leftover")
    stale = created["HostedZone"]["Id"].rsplit("/", 1)[-1]
    live = world.zone_ids["dev"]
    report = world.run()
    assert report.exit_code == EXIT_DRIFT, report.render_table()
    assert _only_drift(report) == [("dev", "stack.zone")]
    row = report.find("dev", "stack.zone")
    assert row.verdict is Verdict.DRIFT
    assert row.observed == f"2 public hosted zones named {mail.mail_domain}: {live} (the stack's), {stale}"
    assert row.fix.startswith(f"delete the stale hosted zone {stale} in Alpha002: the stack's zone is {live}")
    assert f"aws route53 delete-hosted-zone --id {stale}" in row.fix
    assert "credentials" not in row.fix
    assert report.find("dev", "dns.delegation").verdict is Verdict.OK  # it compares with the stack's zone


@pytest.fixture
def emulator_variant(loopback):
    """Change how the emulator answers for a domain the token does not see; restored afterwards."""
    emulator = loopback.postmark
    saved = {k: emulator.settings()[k] for k in ("foreign_domain_code", "missing_domain_status")}
    yield emulator.configure
    emulator.configure(**saved)


@pytest.mark.parametrize(
    "variant",
    [
        (513, 422, ["dev"], "Postmark answers ErrorCode 513 (owned by another account) for the stack's domain"),
        (510, 422, ["dev", "demo"], "the token's account holds demo.ardamails.com, which the registry puts on"),
        (510, 404, ["dev", "demo"], "the token's account holds demo.ardamails.com, which the registry puts on"),
    ],
    ids=["513", "510", "404"],
)
def test_token_of_the_other_postmark_account_in_the_secret(loopback, emulator_variant, variant):
    """dev's secret holds PostmarkProd's token: the domain is there, on PostmarkNonProd; the row names the secret
    and never says to re-create the domain (that would register it on the wrong account)."""
    foreign_code, missing_status, partitions, evidence = variant
    world = build_world(loopback, partitions)
    emulator_variant(foreign_domain_code=foreign_code, missing_domain_status=missing_status)
    secret = partition_placement("dev").account_token_secret_name
    loopback.client("secretsmanager").put_secret_value(SecretId=secret, SecretString=TOKENS["PostmarkProd"])
    report = world.run(partitions=("dev",))
    assert report.exit_code == EXIT_DRIFT, report.render_table()
    row = report.find("dev", "postmark.domain")
    assert row.verdict is Verdict.DRIFT
    assert row.observed.endswith("the token is another Postmark account's")
    assert row.fix.startswith(f"the account-token secret {secret} holds a token of another Postmark account")
    assert evidence in row.fix
    assert "Do not re-create the domain" in row.fix
    assert "--reconcile" not in row.fix
    assert "register it again" not in row.fix
    assert "`bin/deploy dev` writes the token from op://Arda-DevOAM/Postmark/credential" in row.fix
    assert TOKENS["PostmarkProd"] not in report.to_json()


def test_token_not_seeing_the_domain_without_evidence_names_the_token_first(loopback, emulator_variant):
    """510 for the stack's domain and nothing else on the token's account: deleted or another account's token.
    The token is the likely cause and comes first; re-registering only once the token is confirmed."""
    world = build_world(loopback, ["dev"])
    emulator_variant(foreign_domain_code=510)
    secret = partition_placement("dev").account_token_secret_name
    loopback.client("secretsmanager").put_secret_value(SecretId=secret, SecretString=TOKENS["PostmarkProd"])
    row = world.run().find("dev", "postmark.domain")
    assert row.verdict is Verdict.DRIFT
    domain_id = world.postmark_domain("dev")["ID"]
    assert row.fix.startswith(
        f"Postmark does not show dev.ardamails.com to the token from the account-token secret {secret} "
        f"(GET /domains/{domain_id}, the stack's domain: not found). The likely cause is that token"
    )
    assert row.fix.index("Compare it with") < row.fix.index("--reconcile")
    assert "Only if the token is PostmarkNonProd's was the domain deleted" in row.fix


def test_account_token_secret_scheduled_for_deletion_then_gone(world):
    secret = partition_placement("dev").account_token_secret_name
    sm = world.client("secretsmanager")
    sm.delete_secret(SecretId=secret, RecoveryWindowInDays=7)
    report = world.run()
    assert report.exit_code == EXIT_PROBE_FAILED
    row = report.find("dev", "postmark.domain")
    assert row.verdict is Verdict.ERROR
    assert row.observed.startswith(f"could not probe: secret {secret} is scheduled for deletion")
    assert f"aws secretsmanager restore-secret --secret-id {secret}" in row.fix
    assert "credentials" not in row.fix
    todo = dict(report.todo())
    assert len([w for w in todo if "restore-secret" in todo[w]]) == 1  # one item for every row it failed

    sm.restore_secret(SecretId=secret)
    sm.delete_secret(SecretId=secret, ForceDeleteWithoutRecovery=True)
    row = world.run().find("dev", "postmark.domain")
    assert row.verdict is Verdict.ERROR
    assert row.observed == f"could not probe: secret {secret} does not exist (ResourceNotFoundException)"
    assert row.fix.startswith(f"the account-token secret {secret} is gone from Alpha002")
    assert "Re-create it under the same name with the token from op://Arda-DevOAM/Postmark/credential" in row.fix


def test_a_zone_the_dns_server_refuses_names_the_refusal(world):
    """A --dns-server that serves the mail zones but not the report domain's answers REFUSED for it."""
    mail_only = Route53Records(world.client("route53"))
    with AuthoritativeDnsServer(mail_only) as dns_server:
        report = world.run(dns_server=Endpoint("127.0.0.1", dns_server.port))
    assert report.exit_code == EXIT_PROBE_FAILED
    assert _only_drift(report) == [("dev", "dns.dmarc-report-authorization")]
    row = report.find("dev", "dns.dmarc-report-authorization")
    assert row.verdict is Verdict.ERROR
    assert row.observed.endswith("TXT: the server answered REFUSED")
    assert row.fix.startswith(f"the DNS server 127.0.0.1:{dns_server.port} refused the query for dev.ardamails.com.")
    assert "(rcode REFUSED)" in row.fix
    assert "reachable" not in row.fix


def test_a_parent_server_that_refuses_the_parent_zone(world):
    """A --parent-dns-server that does not serve ardamails.com refuses the delegation query."""
    other = StaticRecords()
    other.add_zone("example.test")
    with AuthoritativeDnsServer(other) as wrong_parent:
        report = world.run(parent_dns_server=Endpoint("127.0.0.1", wrong_parent.port))
    row = report.find("dev", "dns.delegation")
    assert row.verdict is Verdict.ERROR
    assert "answered REFUSED" in row.observed
    assert row.fix.startswith("a name server asked for the parent zone ardamails.com refused the query")


# -- could not probe -------------------------------------------------------------------------------------------


def test_unreachable_dns_server_is_exit_2_not_clean(world):
    port = closed_loopback_port()
    config = world.config(dns_server=Endpoint("127.0.0.1", port))
    started = time.monotonic()
    report = world.run(dns_server=Endpoint("127.0.0.1", port))
    assert time.monotonic() - started < config.run_budget  # bounded by the run's budget, never stalled
    assert report.exit_code == EXIT_PROBE_FAILED
    assert f"dns 127.0.0.1:{port}" in report.failed_probes
    for check in ("dns.spf", "dns.dmarc", "dns.dkim", "dns.return-path", "dns.dmarc-report-authorization"):
        row = report.find("dev", check)
        assert row.verdict is Verdict.ERROR
        assert row.observed.startswith("could not probe")
        assert "--dns-server" in row.fix
    assert report.find("dev", "postmark.domain").verdict is Verdict.OK  # the other probes still answered


def test_unreachable_parent_dns_server(world):
    port = closed_loopback_port()
    report = world.run(parent_dns_server=Endpoint("127.0.0.1", port))
    assert report.exit_code == EXIT_PROBE_FAILED
    row = report.find("dev", "dns.delegation")
    assert row.verdict is Verdict.ERROR
    assert row.probe == f"dns parent {partition_placement('dev').mail.parent_zone_name} (127.0.0.1:{port})"
    assert _only_drift(report) == [("dev", "dns.delegation")]


def test_unreachable_postmark_is_exit_2(world):
    port = closed_loopback_port()
    report = world.run(postmark_api_url=f"http://127.0.0.1:{port}")
    assert report.exit_code == EXIT_PROBE_FAILED
    assert report.failed_probes == [f"postmark PostmarkNonProd (http://127.0.0.1:{port})"]
    row = report.find("dev", "postmark.domain")
    assert row.verdict is Verdict.ERROR
    assert row.observed.startswith("could not probe: Postmark GET /domains")
    assert report.find("dev", "dns.dkim").verdict is Verdict.ERROR  # needs Postmark's key
    assert report.find("dev", "dns.spf").verdict is Verdict.OK


def test_unreachable_aws_is_exit_2(world):
    port = closed_loopback_port()
    report = world.run(aws_endpoint_url=f"http://127.0.0.1:{port}")
    assert report.exit_code == EXIT_PROBE_FAILED
    assert any(p.startswith("aws ") for p in report.failed_probes)
    assert report.find("dev", "stack.exports").verdict is Verdict.ERROR
    # the token comes from Secrets Manager: without AWS, Postmark cannot be asked either
    assert report.find("dev", "postmark.domain").verdict is Verdict.ERROR


def test_wrong_postmark_token_is_exit_2_and_never_printed(world, capsys):
    wrong = new_token()
    secret_scan.register(wrong)
    report = world.run(tokens=StaticTokens({"PostmarkNonProd": wrong}))
    assert report.exit_code == EXIT_PROBE_FAILED
    assert "token was rejected" in report.find("dev", "postmark.domain").observed
    dumped = report.to_json() + report.render_table() + report.render_markdown()
    assert wrong not in dumped
    assert TOKENS["PostmarkNonProd"] not in dumped


# -- the CLI ---------------------------------------------------------------------------------------------------


def test_cli_table_and_json(world, capsys, monkeypatch):
    for name, value in world.token_env().items():
        monkeypatch.setenv(name, value)
    assert main(world.cli_args("--token-source", "env")) == EXIT_CLEAN
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == ["partition", "check", "expected", "observed", "verdict"]
    assert "clean: " in table

    world.delete_record("dev", world.postmark_domain("dev")["DKIMHost"], "TXT")
    assert main(world.cli_args("--token-source", "env", "--json")) == EXIT_DRIFT
    data = json.loads(capsys.readouterr().out)
    assert data["exit_code"] == EXIT_DRIFT
    assert data["summary"]["drift"] == 1
    failing = [r for r in data["results"] if r["verdict"] == "drift"]
    assert [(r["target"], r["check"]) for r in failing] == [("dev", "dns.dkim")]
    assert failing[0]["fix"]


def test_cli_verbose_never_logs_the_token(world, capsys):
    """--verbose logs probe details, but botocore stays at INFO: its DEBUG logs carry GetSecretValue's body."""
    assert main(world.cli_args("--verbose")) == EXIT_CLEAN  # token from the account-token secret
    captured = capsys.readouterr()
    assert logging.getLogger("botocore").level == logging.INFO
    for token in TOKENS.values():
        assert token not in captured.out + captured.err


def test_cli_env_token_missing_is_exit_2(world, capsys, monkeypatch):
    for account in TOKENS:
        monkeypatch.delenv(EnvTokens.variable_for(account), raising=False)
    assert main(world.cli_args("--token-source", "env")) == EXIT_PROBE_FAILED
    out = capsys.readouterr().out
    assert "ARDA_DRIFT_TOKEN_POSTMARKNONPROD is not set" in out


def test_cli_refuses_suspended_partition(capsys):
    assert main(["--partition", "kyle"]) == 2
    assert "suspended" in capsys.readouterr().err


def test_cli_as_a_subprocess(world, tmp_path):
    """The installed console script (or ``python -m arda_ops.drift``) against the same loopback world."""
    world.change("dev", "UPSERT", partition_placement("dev").mail.return_path_host, "CNAME", ["old.example.net"])
    script = Path(sys.executable).with_name("runtime-platform-drift")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "arda_ops.drift"]
    env = {**os.environ, **world.token_env()}
    markdown = tmp_path / "report.md"
    done = subprocess.run(
        [*command, *world.cli_args("--token-source", "env", "--markdown", str(markdown))],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == EXIT_DRIFT, done.stdout + done.stderr
    assert "dns.return-path" in done.stdout
    assert "DRIFT" in done.stdout
    assert "What to fix:" in done.stdout
    assert "dns.return-path" in markdown.read_text()
    for token in TOKENS.values():
        assert token not in done.stdout + done.stderr


# -- the workflow's pieces -------------------------------------------------------------------------------------


def test_merge_of_per_account_reports_marks_a_missing_one(world, tmp_path, capsys):
    from arda_ops.drift.cli import github_matrix
    from arda_ops.drift.merge import main as merge_main

    matrix = github_matrix()
    first = matrix["include"][0]["infrastructure"]
    folder = tmp_path / f"drift-report-{first}"
    folder.mkdir()
    (folder / "report.json").write_text(world.run().to_json())
    code = merge_main(
        ["--matrix", json.dumps(matrix), "--reports-dir", str(tmp_path), "--markdown", str(tmp_path / "b.md")]
    )
    assert code == EXIT_PROBE_FAILED
    out = capsys.readouterr().out
    missing = matrix["include"][1]["infrastructure"]
    assert f"{missing}" in out
    assert "the job failed before the check ran" in out
    assert "What to fix" in (tmp_path / "b.md").read_text()


@pytest.mark.skipif(shutil.which("jq") is None, reason="the fake gh filters with jq")
def test_issue_script_opens_one_issue_then_comments_then_closes(tmp_path):
    """report-issue.sh against a fake `gh` that keeps issues in a JSON file (filters run through real jq)."""
    repo = Path(__file__).resolve().parents[2]
    script = repo / ".github" / "actions" / "drift-report-issue" / "report-issue.sh"
    state = tmp_path / "issues.json"
    state.write_text(json.dumps({"issues": [], "calls": []}))
    fake = tmp_path / "bin" / "gh"
    fake.parent.mkdir()
    fake.write_text(_FAKE_GH.replace("@STATE@", str(state)).replace("@PYTHON@", sys.executable))
    fake.chmod(0o755)
    body = tmp_path / "body.md"
    body.write_text("### runtime-platform-drift: DRIFT\n")
    outputs = tmp_path / "outputs"

    def run(code: int) -> dict[str, str]:
        outputs.write_text("")
        env = {
            **os.environ,
            "PATH": f"{fake.parent}:{os.environ['PATH']}",
            "EXIT_CODE": str(code),
            "BODY_FILE": str(body),
            "MARKER": "runtime-platform-drift",
            "TITLE": "Runtime platform drift",
            "LABELS": "drift,runtime-platform",
            "GITHUB_OUTPUT": str(outputs),
        }
        done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        return dict(line.split("=", 1) for line in outputs.read_text().splitlines())

    # another drift workflow's issue with the same labels is never touched
    data = json.loads(state.read_text())
    data["issues"].append({"number": 1, "state": "open", "labels": ["drift", "runtime-platform"], "body": "x"})
    state.write_text(json.dumps(data))

    assert run(0) == {"action": "none"}
    assert run(1) == {"action": "created", "issue-number": "2"}
    assert run(2) == {"action": "commented", "issue-number": "2"}
    assert run(1) == {"action": "commented", "issue-number": "2"}
    assert run(0) == {"action": "closed", "issue-number": "2"}
    assert run(1) == {"action": "created", "issue-number": "3"}
    data = json.loads(state.read_text())
    assert [i["number"] for i in data["issues"] if i["state"] == "open"] == [1, 3]
    created = next(i for i in data["issues"] if i["number"] == 2)
    assert created["labels"] == ["drift", "runtime-platform"]
    assert created["body"].startswith("<!-- drift-report: runtime-platform-drift -->")
    assert len(created["comments"]) == 3  # two failing runs and the clean one


_FAKE_GH = r"""#!@PYTHON@
import json, subprocess, sys
state_path = "@STATE@"
state = json.load(open(state_path))
args = sys.argv[1:]
state["calls"].append(args)

def opt(name, many=False):
    values = [args[i + 1] for i, a in enumerate(args) if a == name]
    return values if many else (values[0] if values else None)

def save():
    json.dump(state, open(state_path, "w"))

kind, verb = args[0], args[1]
if kind == "label":
    save(); sys.exit(0)
if (kind, verb) == ("issue", "list"):
    wanted = set(opt("--label", many=True))
    found = [
        {"number": i["number"], "body": i["body"]}
        for i in state["issues"]
        if i["state"] == opt("--state") and wanted <= set(i["labels"])
    ]
    out = subprocess.run(["jq", "-r", opt("--jq")], input=json.dumps(found), capture_output=True, text=True, check=True)
    sys.stdout.write(out.stdout); save(); sys.exit(0)
if (kind, verb) == ("issue", "create"):
    number = max([i["number"] for i in state["issues"]] + [0]) + 1
    state["issues"].append({
        "number": number, "state": "open", "labels": opt("--label", many=True),
        "title": opt("--title"), "body": open(opt("--body-file")).read(), "comments": [],
    })
    print(f"https://github.com/o/r/issues/{number}"); save(); sys.exit(0)
issue = next(i for i in state["issues"] if i["number"] == int(args[2]))
if verb == "comment":
    issue["comments"].append(open(opt("--body-file")).read())
elif verb == "close":
    issue["state"] = "closed"
save()
"""

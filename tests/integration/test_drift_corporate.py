"""``runtime-platform-drift --corporate``: Corporate's stack in its own account, against the loopback world.

The world holds Corporate healthy in Corporate's loopback account (zone with SPF, DMARC, DKIM, Return-Path and the
Free Kanban Tool's DMARC record; the account-token secret; a stack publishing corporate/template.yaml's Outputs),
its domain on PostmarkProd in the emulator, its NS delegation in the Platform Root's parent zone. The CLI runs as
the daily job's Corporate entry does: ``--corporate-only`` with credentials of Corporate's account (session
credentials of a role there, from STS).
"""

from __future__ import annotations

import json

import pytest
from support import secret_scan
from support.drift import build_world, loopback_services
from support.garbage_http import garbage_http_server

from arda_mail.placement import CORPORATE_INFRASTRUCTURE, corporate_placement
from arda_mail.txt_records import route53_txt_value
from arda_ops.drift.checks import Verdict
from arda_ops.drift.cli import github_matrix, main
from arda_ops.drift.report import EXIT_CLEAN, EXIT_DRIFT, EXIT_PROBE_FAILED
from arda_ops.loopback.accounts import CORPORATE_ACCOUNT
from arda_ops.loopback.corporate import create_corporate_stack, role_credentials
from arda_ops.loopback.healthy import delegate
from arda_ops.route53_records import change_record_sets
from postmark_emulator import new_token

TOKENS = {"PostmarkNonProd": new_token(), "PostmarkProd": new_token()}
secret_scan.register(*TOKENS.values())


@pytest.fixture(scope="module")
def loopback():
    with loopback_services(TOKENS) as loopback:
        yield loopback


@pytest.fixture
def world(loopback):
    return build_world(loopback, ["dev"], corporate=True)


@pytest.fixture
def corporate_env(world, monkeypatch):
    """The ambient credentials of the Corporate job: a role's session in Corporate's account."""
    c = corporate_placement()
    env = role_credentials(world.loopback.moto, CORPORATE_ACCOUNT, c.ns_delegation_function_role_name, "drift")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def run_cli(world, capsys, *extra):
    args = [
        "--corporate-only",
        "--dns-server",
        world.zone_dns.endpoint,
        "--parent-dns-server",
        world.parent_dns.endpoint,
        "--postmark-api-url",
        world.emulator.url,
        "--aws-endpoint-url",
        world.loopback.moto.url,
        "--timeout",
        "10",
        "--json",
        *extra,
    ]
    code = main(args)
    rows = {r["check"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    return code, rows


def corporate_r53(world):
    return world.loopback.client("route53", CORPORATE_ACCOUNT)


def test_the_corporate_job_is_clean_and_reads_corporates_own_stack(world, corporate_env, capsys):
    code, rows = run_cli(world, capsys)
    assert code == EXIT_CLEAN, rows
    assert {r["target"] for r in rows.values()} == {"corporate"}
    for check in ("stack.status", "stack.corporate-zone", "dns.free-kanban-dmarc", "dns.delegation", "postmark.domain"):
        assert rows[check]["verdict"] == "ok", rows[check]
    zone_id = world.zone_ids["corporate"]
    assert zone_id in rows["stack.corporate-zone"]["observed"]
    assert "Route 53, zone " + zone_id in rows["dns.delegation"]["expected"]  # the zone in Corporate's account


def test_the_free_kanban_tools_dmarc_record_missing_is_drift(world, corporate_env, capsys):
    fkt = corporate_placement().free_kanban
    record = [(fkt.dmarc_host, "TXT", [route53_txt_value(fkt.dmarc_value)])]
    change_record_sets(corporate_r53(world), world.zone_ids["corporate"], "DELETE", record, 300)
    code, rows = run_cli(world, capsys)
    assert code == EXIT_DRIFT
    row = rows["dns.free-kanban-dmarc"]
    assert row["verdict"] == "drift"
    assert f"no DMARC record at {fkt.dmarc_host}" == row["observed"]
    assert fkt.dmarc_value in row["fix"]


def test_the_zone_export_naming_another_zone_is_drift(world, corporate_env, capsys):
    c = corporate_placement()
    cloudformation = world.loopback.client("cloudformation", CORPORATE_ACCOUNT)
    cloudformation.delete_stack(StackName=c.stack_name)
    domain_id = int(world.emulator.find("PostmarkProd", c.mail.postmark_domain_name)["ID"])
    create_corporate_stack(world.loopback.moto, c, "ZOTHERZONE0000", domain_id)
    code, rows = run_cli(world, capsys)
    assert code == EXIT_DRIFT
    row = rows["stack.corporate-zone"]
    assert row["verdict"] == "drift"
    assert "ZOTHERZONE0000" in row["observed"]
    assert c.mail_zone_id_export in row["fix"]


def test_no_corporate_stack_is_drift_that_names_the_deploy(world, corporate_env, capsys):
    c = corporate_placement()
    world.loopback.client("cloudformation", CORPORATE_ACCOUNT).delete_stack(StackName=c.stack_name)
    code, rows = run_cli(world, capsys)
    assert code == EXIT_DRIFT
    assert rows["stack.status"]["verdict"] == "drift"
    assert "bin/deploy corporate" in rows["stack.status"]["fix"]
    assert rows["stack.corporate-zone"]["verdict"] == "skipped"


def test_the_token_comes_from_corporates_own_secret(world, corporate_env, capsys):
    """Another account's token in Corporate's secret: the Postmark domain is not found, and the fix names
    Corporate's own deploy, not a partition's."""
    secrets = world.loopback.client("secretsmanager", CORPORATE_ACCOUNT)
    secrets.put_secret_value(
        SecretId=corporate_placement().account_token_secret_name, SecretString=TOKENS["PostmarkNonProd"]
    )
    code, rows = run_cli(world, capsys)
    assert code == EXIT_DRIFT
    row = rows["postmark.domain"]
    assert row["verdict"] == "drift"
    assert "bin/deploy corporate" in row["fix"]


def test_a_changed_delegation_names_corporates_reconcile(world, corporate_env, capsys):
    c = corporate_placement()
    delegate(world.loopback, world.parent_zone_id, c.mail.mail_domain, ["ns-1.example.net", "ns-2.example.net"])
    code, rows = run_cli(world, capsys)
    assert code == EXIT_DRIFT
    row = rows["dns.delegation"]
    assert row["verdict"] == "drift"
    assert "bin/deploy corporate --reconcile" in row["fix"]


def test_partitions_and_corporate_in_one_run_read_each_account(world):
    report = world.run()
    assert report.exit_code == EXIT_CLEAN, report.render_table()
    assert report.find("corporate", "stack.corporate-zone").verdict is Verdict.OK
    assert report.find("dev", "stack.exports").verdict is Verdict.OK


def test_the_workflow_gives_corporate_a_job_in_its_own_account():
    matrix = github_matrix(["dev"], corporate=True)["include"]
    corporate = [e for e in matrix if e["corporate"] == "true"]
    assert corporate == [
        {
            "infrastructure": CORPORATE_INFRASTRUCTURE,
            "region": "us-east-1",
            "partitions": "",
            "corporate": "true",
            "role_variable": "DRIFT_ROLE_ARN_CORPORATE",
        }
    ]


# -- services down or answering garbage: exit 2, never clean ------------------------------------------------------
@pytest.fixture
def garbage_url():
    """A loopback HTTP server answering every request 200 with a body that is not JSON."""
    with garbage_http_server() as url:
        yield url


def _closed_url():
    from arda_ops.dns_server import closed_loopback_port

    return f"http://127.0.0.1:{closed_loopback_port()}"


@pytest.mark.parametrize("service", ["postmark", "aws"])
@pytest.mark.parametrize("state", ["down", "garbage"])
@pytest.mark.usefixtures("corporate_env")
def test_corporate_with_a_service_down_or_answering_garbage_is_exit_2(world, capsys, garbage_url, service, state):
    url = _closed_url() if state == "down" else garbage_url
    option = "--postmark-api-url" if service == "postmark" else "--aws-endpoint-url"
    code, rows = run_cli(world, capsys, option, url)
    assert code == EXIT_PROBE_FAILED, rows
    assert any(r["verdict"] == "error" for r in rows.values())
    if service == "postmark":
        assert rows["postmark.domain"]["verdict"] == "error", rows["postmark.domain"]

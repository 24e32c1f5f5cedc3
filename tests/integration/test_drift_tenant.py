"""The drift check of tenant sending domains (``--tenants``, ``--tenant SLUG``) on loopback: moto's server with the
partitions' zones, secrets and stacks plus tenant stacks, the Postmark emulator, real DNS servers.

A tenant is found by its stack's name (the placement function's), checked like a partition's domain (Postmark,
DKIM and Return-Path rows) plus its stack, with the same exit codes.
"""

from __future__ import annotations

import pytest
from support import secret_scan
from support.drift import build_world, loopback_services
from support.garbage_http import garbage_http_server

from arda_mail.placement import dmarc_report_authorization_host, tenant_placement
from arda_mail.postmark.client import PostmarkClient
from arda_mail.txt_records import route53_txt_value
from arda_ops.dns_server import closed_loopback_port
from arda_ops.drift.checks import Verdict
from arda_ops.drift.cli import main
from arda_ops.drift.report import EXIT_CLEAN, EXIT_DRIFT, EXIT_PROBE_FAILED
from arda_ops.loopback.accounts import CORPORATE_ACCOUNT
from arda_ops.route53_records import change_record_sets, report_authorization_records
from arda_ops.tenant_stack import dmarc_record, publish_tenant_stack
from postmark_emulator import new_token

TOKENS = {"PostmarkNonProd": new_token(), "PostmarkProd": new_token()}
secret_scan.register(*TOKENS.values())
TENANT_ROWS = {
    "postmark.domain",
    "postmark.dkim-host",
    "postmark.return-path",
    "postmark.dkim-verified",
    "postmark.return-path-verified",
    "postmark.dkim-rotation",
    "postmark.revoked-key",
    "dns.dmarc",
    "dns.dmarc-report-authorization",
    "dns.dkim",
    "dns.return-path",
    "tenant.stack",
}


@pytest.fixture(scope="module")
def loopback():
    with loopback_services(TOKENS) as loopback:
        yield loopback


def add_tenant(world, partition: str, slug: str) -> dict:
    """A deployed, verified tenant: its Postmark domain, its three records in the partition zone (DMARC as the
    CloudFormation player writes it), its stack, and the report domain's authorization of reports about it."""
    tenant = tenant_placement(partition, slug)
    account = tenant.partition.partition.postmark_account.value
    domain = world.emulator.add_domain(
        account,
        tenant.mail.postmark_domain_name,
        tenant.mail.return_path_host,
        dkim_verified=True,
        return_path_verified=True,
    )
    records = [
        (domain["DKIMHost"], "TXT", [route53_txt_value(domain["DKIMTextValue"])]),
        (tenant.mail.return_path_host, "CNAME", [domain["ReturnPathDomainCNAMEValue"]]),
        dmarc_record(tenant),
    ]
    change_record_sets(world.r53, world.zone_ids[partition], "CREATE", records, 300)
    corporate_r53 = world.loopback.client("route53", CORPORATE_ACCOUNT)
    authorization = report_authorization_records([tenant.mail.mail_domain])
    change_record_sets(corporate_r53, world.report_zone_id, "CREATE", authorization, 300)
    publish_tenant_stack(world.client("cloudformation"), tenant, str(domain["ID"]))
    return domain


@pytest.fixture
def world(loopback):
    built = build_world(loopback, ["dev", "stage"])
    add_tenant(built, "dev", "acme")
    add_tenant(built, "dev", "zeta")
    add_tenant(built, "stage", "acme")
    return built


def _rows(report, target):
    return {r.check: r for r in report.results if r.target == target}


def test_tenants_of_a_partition_are_found_and_clean(world):
    report = world.run(partitions=("dev",), tenants=())
    assert report.exit_code == EXIT_CLEAN, report.render_table()
    assert list(report.targets) == ["dev", "dev/acme", "dev/zeta"]  # stage's acme is another tenant
    for target in ("dev/acme", "dev/zeta"):
        rows = _rows(report, target)
        assert set(rows) == TENANT_ROWS
        assert all(r.verdict is Verdict.OK for r in rows.values())
    expected = tenant_placement("dev", "acme").mail.mail_domain
    assert expected in _rows(report, "dev/acme")["postmark.domain"].expected


def test_without_tenants_nothing_changes(world):
    report = world.run(partitions=("dev",))
    assert list(report.targets) == ["dev"]


def test_one_tenant_on_two_partitions(world, capsys, monkeypatch):
    for name, value in world.token_env().items():
        monkeypatch.setenv(name, value)
    args = world.cli_args("--token-source", "env", "--tenant", "acme")  # --partition dev --partition stage ...
    assert main(args) == EXIT_CLEAN
    out = capsys.readouterr().out
    assert "dev/acme" in out
    assert "stage/acme" in out
    assert "dev/zeta" not in out
    assert "dns.delegation" not in out  # --tenant narrows the run to the tenants


def test_a_missing_tenant_record_is_drift_with_the_tenants_fix(world):
    tenant = tenant_placement("dev", "acme")
    world.delete_record("dev", tenant.mail.return_path_host, "CNAME")
    report = world.run(partitions=("dev",), tenants=("acme",), tenants_only=True)
    assert report.exit_code == EXIT_DRIFT
    drifted = [(r.target, r.check) for r in report.results if r.verdict is not Verdict.OK]
    assert ("dev/acme", "dns.return-path") in drifted
    assert all(target == "dev/acme" for target, _ in drifted)


def test_a_missing_tenant_dmarc_record_is_drift_on_the_tenant(world):
    """The tenant domain's own DMARC record (a receiver never falls back to the partition's, RFC 7489 section
    6.6.3): deleted, it is the tenant's drift row, while the partition's record still reads clean."""
    tenant = tenant_placement("dev", "acme")
    world.delete_record("dev", tenant.mail.dmarc_host, "TXT")
    report = world.run(partitions=("dev",), tenants=())
    assert report.exit_code == EXIT_DRIFT
    drifted = [(r.target, r.check) for r in report.results if r.verdict is not Verdict.OK]
    assert drifted == [("dev/acme", "dns.dmarc")]
    row = _rows(report, "dev/acme")["dns.dmarc"]
    assert row.expected == tenant.mail.dmarc_value
    assert row.observed == f"no DMARC record at {tenant.mail.dmarc_host}"
    assert tenant.mail.dmarc_host in row.fix
    assert _rows(report, "dev")["dns.dmarc"].verdict is Verdict.OK


def test_a_tenant_domain_without_report_authorization_is_drift(world):
    """Reports about the tenant domain go to the report domain, which must authorize them for that domain (RFC 7489
    section 7.1): the query names the domain the policy was found at, the tenant's, not the partition's."""
    tenant = tenant_placement("dev", "zeta")
    world.delete_report_authorization(tenant.mail.mail_domain)
    report = world.run(partitions=("dev",), tenants=())
    drifted = [(r.target, r.check) for r in report.results if r.verdict is not Verdict.OK]
    assert drifted == [("dev/zeta", "dns.dmarc-report-authorization")]
    row = _rows(report, "dev/zeta")["dns.dmarc-report-authorization"]
    assert dmarc_report_authorization_host(tenant.mail.mail_domain) in row.fix
    assert report.exit_code == EXIT_DRIFT


def test_a_tenant_domain_deleted_on_postmark_names_the_tenant_reconcile(world):
    tenant = tenant_placement("dev", "acme")
    found = world.emulator.find("PostmarkNonProd", tenant.mail.postmark_domain_name)
    PostmarkClient(TOKENS["PostmarkNonProd"], api_url=world.emulator.url).delete_domain(int(found["ID"]))
    report = world.run(partitions=("dev",), tenants=("acme",), tenants_only=True)
    assert report.exit_code == EXIT_DRIFT
    row = _rows(report, "dev/acme")["postmark.domain"]
    assert row.verdict is Verdict.DRIFT
    assert "bin/deploy dev --tenant acme --reconcile" in row.fix


def test_an_explicit_tenant_without_a_stack_is_drift(world):
    report = world.run(partitions=("stage",), tenants=("zeta",), tenants_only=True)
    assert report.exit_code == EXIT_DRIFT
    row = _rows(report, "stage/zeta")["tenant.stack"]
    assert row.verdict is Verdict.DRIFT
    assert row.observed == f"no stack {tenant_placement('stage', 'zeta').stack_name}"
    assert "bin/deploy stage --tenant zeta" in row.fix


def test_a_stack_recording_another_domain_is_drift(world):
    tenant = tenant_placement("dev", "acme")
    world.client("cloudformation").delete_stack(StackName=tenant.stack_name)
    publish_tenant_stack(world.client("cloudformation"), tenant, "999999")
    report = world.run(partitions=("dev",), tenants=("acme",), tenants_only=True)
    row = _rows(report, "dev/acme")["tenant.stack"]
    assert row.verdict is Verdict.DRIFT
    assert "PostmarkDomainId 999999" in row.observed


def test_an_unreachable_aws_is_exit_2_never_clean(world):
    closed = f"http://127.0.0.1:{closed_loopback_port()}"
    report = world.run(partitions=("dev",), tenants=(), aws_endpoint_url=closed, timeout=3.0)
    assert report.exit_code == EXIT_PROBE_FAILED
    discovery = [r for r in report.results if r.check == "tenant.discovery"]
    assert [r.verdict for r in discovery] == [Verdict.ERROR]
    assert discovery[0].probe.startswith("aws cloudformation")
    # The listing is DescribeStacks without a stack name: the row says the drift role needs ListStacks too, on "*".
    assert 'cloudformation:ListStacks and cloudformation:DescribeStacks with Resource "*"' in discovery[0].fix


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--partition", "dev", "--tenant", "kyle"], "tenant slug 'kyle' is reserved"),
        (["--partition", "dev", "--tenant=-x"], "must not start or end with a hyphen"),
        (["--tenant", "acme"], "--tenant needs --partition"),
    ],
)
def test_the_cli_refuses_bad_tenant_arguments(args, message, capsys):
    assert main(args) == 2
    assert message in capsys.readouterr().err


# -- services down or answering garbage; stacks under the tenant prefix that are no tenant -------------------------
@pytest.fixture
def garbage_url():
    """A loopback HTTP server answering every request 200 with a body that is not JSON."""
    with garbage_http_server() as url:
        yield url


@pytest.mark.parametrize("service", ["postmark", "aws"])
@pytest.mark.parametrize("state", ["down", "garbage"])
def test_tenants_with_a_service_down_or_answering_garbage_are_exit_2(world, garbage_url, service, state):
    url = f"http://127.0.0.1:{closed_loopback_port()}" if state == "down" else garbage_url
    override = {"postmark_api_url": url} if service == "postmark" else {"aws_endpoint_url": url}
    report = world.run(partitions=("dev",), tenants=("acme",), tenants_only=True, timeout=5.0, **override)
    assert report.exit_code == EXIT_PROBE_FAILED, report.render_table()
    rows = [r for r in report.results if r.target == "dev/acme" or r.check == "tenant.discovery"]
    assert any(r.verdict is Verdict.ERROR for r in rows), report.render_table()
    assert not any(r.verdict is Verdict.OK and r.check.startswith("postmark.") for r in rows if service == "postmark")


@pytest.mark.parametrize("suffix", ["Acme", "pm-bounces", "xn--80ak6aa92e", "acme_2"])
def test_a_stack_under_the_tenant_prefix_that_is_no_tenant_is_drift_not_skipped(world, suffix):
    """A stack named like a tenant stack whose slug the registry refuses (made by hand, or by plain `sam deploy`
    with another --stack-name) holds records in the partition zone through the partition's function: the check must
    name it rather than leave it out of the run."""
    import json
    import warnings

    name = tenant_placement("dev", "acme").partition.tenant_stack_prefix + suffix
    template = {"Resources": {"Marker": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        world.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))

    report = world.run(partitions=("dev",), tenants=())

    assert report.exit_code == EXIT_DRIFT, report.render_table()
    rows = [r for r in report.results if r.check == "tenant.discovery"]
    assert [r.verdict for r in rows] == [Verdict.DRIFT]
    assert name in rows[0].observed
    assert "bin/deploy dev --tenant" in rows[0].fix
    assert list(report.targets) == ["dev", "dev/acme", "dev/zeta"]  # the valid tenants are still checked

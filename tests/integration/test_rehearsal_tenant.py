"""`make rehearse ARGS="--tenant SLUG"` as an operator runs it: a fresh process, a tenant's whole lifecycle on top of
a deployed partition, a verdict, nothing left running."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.rehearsal import rehearsal_report, run_rehearsal

from arda_mail.placement import tenant_placement


@pytest.fixture(scope="module")
def report(rehearsal_dir: Path):
    data, _ = rehearsal_report("--partition", "demo", "--tenant", "acme", cwd=rehearsal_dir)
    return data


def test_the_tenant_lifecycle_passes(report):
    assert report["passed"] is True
    assert report["stack"] == tenant_placement("demo", "acme").stack_name
    assert all(step["ok"] for step in report["steps"])
    statuses = [(s["kind"], s["status"]) for s in report["steps"] if s["kind"] in {"Create", "Delete"}]
    assert statuses == [
        ("Create", "FAILED"),  # the reserved slug
        ("Create", "SUCCESS"),
        ("Create", "SUCCESS"),
        ("Delete", "SUCCESS"),
        ("Delete", "SUCCESS"),
    ]


def test_the_reserved_slug_costs_no_call(report):
    refused = report["steps"][2]
    assert "is reserved" in " ".join(refused["details"])
    assert refused["postmark_calls"] == []
    assert refused["aws_calls"] == {}


def test_drift_finds_the_tenant_and_is_clean(report):
    drift = next(s for s in report["steps"] if s["title"].startswith("runtime-platform-drift"))
    assert drift["status"] == "clean"
    assert "on 2 targets" in drift["details"][0]


def test_the_records_table_shows_the_tenants_records_in_the_partition_zone(report):
    tenant = tenant_placement("demo", "acme")
    names = {(r["Type"], r["Name"]) for r in report["records"]}
    assert ("CNAME", tenant.mail.return_path_host) in names
    assert any(t == "TXT" and n.endswith("._domainkey." + tenant.mail.mail_domain) for t, n in names)
    # The tenant domain's own DMARC record, with the partition's policy (RFC 7489 section 6.6.3).
    values = {(r["Type"], r["Name"]): r["Value"] for r in report["records"]}
    assert values[("TXT", tenant.mail.dmarc_host)] == values[("TXT", tenant.partition.mail.dmarc_host)]


def test_a_reserved_slug_does_not_start(tmp_path):
    result = run_rehearsal("--partition", "dev", "--tenant", "kyle", cwd=tmp_path)
    assert result.returncode == 2
    assert "tenant slug 'kyle' is reserved" in result.stderr


def test_no_token_in_the_report_or_the_handler_log(report, rehearsal_dir):
    handler_log = (rehearsal_dir / report["handler_log"]).read_text(encoding="utf-8")
    assert "Custom::PostmarkDomain" in handler_log  # the log really holds the handlers' output
    for text in (json.dumps(report), handler_log):
        assert "rehearsal-postmark" not in text

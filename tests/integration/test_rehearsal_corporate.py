"""``make rehearse PARTITION=corporate``: the Corporate mail stack's whole lifecycle, offline, in a fresh process.

The same real handlers and steps as a partition's rehearsal, against Corporate's names (placement), in Corporate's
own loopback account (its functions run with session credentials of a role there), with the Free Kanban Tool's
DMARC record, Corporate's zone export, and the drift check's Corporate job while the stack is up.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.rehearsal import rehearsal_report

from arda_mail.placement import corporate_placement
from arda_ops.loopback.accounts import CORPORATE_ACCOUNT, PARTITION_ACCOUNT


@pytest.fixture(scope="module")
def report(rehearsal_dir: Path):
    return rehearsal_report("--partition", "corporate", cwd=rehearsal_dir)


def test_every_step_behaves_as_cloudformation_requires(report):
    data, _ = report
    assert data["passed"] is True
    assert data["stack"] == corporate_placement().stack_name
    steps = data["steps"]
    assert all(s["ok"] for s in steps), [s for s in steps if not s["ok"]]
    requests = [s for s in steps if s["kind"] in {"Create", "Update", "Delete"}]
    assert [s["status"] for s in requests].count("FAILED") == 1
    created = next(s for s in steps if s["kind"] == "Create" and s["title"] == "Custom::PostmarkDomain")
    c = corporate_placement()
    assert created["attributes"]["ReturnPathHostName"] == c.mail.return_path_host
    assert created["attributes"]["DkimHostName"].endswith("._domainkey." + c.mail.mail_domain)


def test_the_functions_run_in_corporates_account(report):
    data, _ = report
    failed = next(s for s in data["steps"] if s["status"] == "FAILED")
    reason = " ".join(failed["details"])
    assert f":{CORPORATE_ACCOUNT}:secret:{corporate_placement().account_token_secret_name}" in reason
    assert f":{PARTITION_ACCOUNT}:" not in json.dumps(data)


def test_the_delegation_is_written_and_removed_in_the_parent(report):
    data, _ = report
    delegation = next(
        s for s in data["steps"] if s["kind"] == "Create" and s["title"].startswith("Custom::NsDelegation")
    )
    assert delegation["attributes"]["RecordName"] == corporate_placement().mail.mail_domain
    assert delegation["aws_calls"]["sts:AssumeRole"] == 1  # the Platform Root role, from Corporate's account
    last = data["steps"][-1]
    assert last["title"] == "nothing orphaned"
    assert f"no NS record for {corporate_placement().mail.mail_domain}" in " ".join(last["details"])


def test_drift_runs_the_corporate_job_clean(report):
    data, _ = report
    drift = next(s for s in data["steps"] if s["title"].startswith("runtime-platform-drift"))
    assert drift["status"] == "clean"
    assert "0 drift, 0 error" in drift["details"][0]


def test_records_and_the_one_export(report):
    data, _ = report
    c = corporate_placement()
    records = {(r["Type"], r["Name"]) for r in data["records"]}
    assert ("TXT", c.free_kanban.dmarc_host) in records  # the Free Kanban Tool's DMARC record
    assert ("TXT", c.mail.dmarc_host) in records
    assert ("TXT", c.mail.spf_host) in records
    assert ("CNAME", c.mail.return_path_host) in records
    assert not any(name.endswith("._domainkey." + c.free_kanban.mail_domain) for _, name in records)  # no own key
    assert list(data["exports"]) == [c.mail_zone_id_export]


def test_no_token_in_the_output_or_the_handler_log(report, rehearsal_dir):
    data, output = report
    handler_log = (rehearsal_dir / data["handler_log"]).read_text(encoding="utf-8")
    assert "Custom::" in handler_log or "crhelper" in handler_log
    for text in (output, handler_log):
        assert "rehearsal-postmark" not in text
        assert "revoked-token-0000" not in text

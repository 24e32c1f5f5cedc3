"""Stub commands for the workflow tests, put first on ``PATH`` of every ``run:`` block.

- ``gh``: the GitHub CLI subset the issue script uses (``issue list/create/comment/close``, ``label create``),
  answering from a JSON state file and appending every argv to it. Like the real CLI it needs ``GH_TOKEN``,
  refuses to label an issue with a label the repository lacks, and fails ``label create`` for an existing
  label. ``--jq`` is evaluated for the one filter the script uses (gh's ``--jq`` prints strings raw, as
  ``jq -r``: https://cli.github.com/manual/gh_help_formatting); any other filter exits 2, so a change to it
  fails the tests until the stub learns it (``test_gh_stub_filter_agrees_with_jq`` checks it against jq).
- ``runtime-platform-drift``: the drift CLI without AWS, Postmark or DNS. It builds a real report with
  ``arda_ops.drift.report`` whose exit code the scenario chooses per partition set (0 clean, 1 drift, 2 could
  not probe), writes the JSON to stdout and the Markdown to ``--markdown``, or ``crash``es like an uncaught
  exception (exit 1, no report). Every argv is logged.
- ``python``: ``-m pip`` is recorded and does nothing (no install in a test); ``-m arda_ops.drift.merge`` and
  ``--github-matrix`` run the real modules unless the scenario says ``crash``; anything else runs the real
  interpreter.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path
from typing import Any

SCENARIO_ENV = "WORKFLOW_STUB_SCENARIO"
GH_STATE_ENV = "GH_STUB_STATE"
LOG_ENV = "WORKFLOW_STUB_LOG"
#: The ``--jq`` filter of report-issue.sh, with the marker line as a JSON string.
GH_ISSUE_FILTER = re.compile(
    r'^map\(select\(\.body \| contains\((?P<marker>"(?:[^"\\]|\\.)*")\)\)\) \| sort_by\(\.number\) \| '
    r"\.\[0\]\.number // empty$"
)


def evaluate_issue_filter(expression: str, issues: list[dict[str, Any]]) -> str | None:
    """What ``gh ... --jq EXPRESSION`` prints for the issue script's filter (None: a filter it does not know)."""
    match = GH_ISSUE_FILTER.match(expression)
    if not match:
        return None
    marker = json.loads(match.group("marker"))
    numbers = sorted(i["number"] for i in issues if marker in i["body"])
    return f"{numbers[0]}\n" if numbers else ""


_GH = r"""
import json, os, sys
sys.path.insert(0, {support_parent!r})
from support.workflow_stubs import evaluate_issue_filter

state_path = os.environ["GH_STUB_STATE"]
with open(state_path, encoding="utf-8") as handle:
    state = json.load(handle)
state["calls"].append(sys.argv[1:])


def save():
    with open(state_path, "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=1)


def fail(message, code=1):
    save()
    print(message, file=sys.stderr)
    sys.exit(code)


def options(args, repeatable=("--label",)):
    found, rest = {{}}, []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg.startswith("--"):
            value = args[index + 1]
            index += 2
            if arg in repeatable:
                found.setdefault(arg, []).append(value)
            else:
                found[arg] = value
        else:
            rest.append(arg)
            index += 1
    return found, rest


def issue(number):
    for item in state["issues"]:
        if item["number"] == int(number):
            return item
    fail(f"GraphQL: Could not resolve to an issue or pull request with the number of {{number}}.")


if not os.environ.get("GH_TOKEN"):
    fail("gh: To use GitHub CLI in a GitHub Actions workflow, set the GH_TOKEN environment variable.", 4)
args = sys.argv[1:]
command, args = args[:2], args[2:]
opts, rest = options(args)
if command == ["issue", "list"]:
    labels = set(opts.get("--label", []))
    wanted = opts.get("--state", "open")
    found = [i for i in state["issues"] if (wanted == "all" or i["state"] == wanted) and labels <= set(i["labels"])]
    found = sorted(found, key=lambda i: -i["number"])[: int(opts.get("--limit", "30"))]
    fields = opts["--json"].split(",")
    rows = [{{f: i[f] for f in fields}} for i in found]
    if "--jq" in opts:
        printed = evaluate_issue_filter(opts["--jq"], rows)
        if printed is None:
            fail("gh stub: unsupported --jq filter " + opts["--jq"], 2)
        sys.stdout.write(printed)
    else:
        print(json.dumps(rows))
elif command == ["issue", "create"]:
    for label in opts.get("--label", []):
        if label not in state["labels"]:
            fail(f"could not add label: '{{label}}' not found")
    with open(opts["--body-file"], encoding="utf-8") as handle:
        body = handle.read()
    number = state["next_number"]
    state["next_number"] += 1
    state["issues"].append({{"number": number, "title": opts["--title"], "state": "open",
                            "labels": opts.get("--label", []), "body": body, "comments": []}})
    print(f"https://github.com/{{os.environ['GITHUB_REPOSITORY']}}/issues/{{number}}")
elif command == ["issue", "comment"]:
    with open(opts["--body-file"], encoding="utf-8") as handle:
        issue(rest[0])["comments"].append(handle.read())
elif command == ["issue", "close"]:
    issue(rest[0])["state"] = "closed"
elif command == ["label", "create"]:
    if rest[0] in state["labels"]:
        fail(f"label with name \"{{rest[0]}}\" already exists; use `--force` to update its color and description")
    state["labels"].append(rest[0])
else:
    fail("gh stub: unsupported command " + " ".join(sys.argv[1:]), 2)
save()
"""

_DRIFT = r"""
import json, os, sys
from arda_ops.drift.checks import CheckResult, Verdict
from arda_ops.drift.report import DriftReport

with open(os.environ["WORKFLOW_STUB_SCENARIO"], encoding="utf-8") as handle:
    scenario = json.load(handle)
with open(os.environ["WORKFLOW_STUB_LOG"], "a", encoding="utf-8") as log:
    log.write("\x1f".join(["runtime-platform-drift", *sys.argv[1:]]) + "\n")
args = sys.argv[1:]
partitions = [args[i + 1] for i, a in enumerate(args) if a == "--partition"]
targets = partitions + (["corporate"] if "--corporate" in args or "--corporate-only" in args else [])
behaviour = scenario["drift"].get(" ".join(partitions), scenario.get("default", 0))
if behaviour == "crash":
    print("Traceback (most recent call last):\n  ...\nRuntimeError: stub crash", file=sys.stderr)
    sys.exit(1)
rows = [CheckResult(t, "dns.spf", "v=spf1 include:spf.mtasv.net ~all", "same", Verdict.OK) for t in targets]
if behaviour == 1:
    rows.append(CheckResult(targets[0], "dns.dkim", "a DKIM key", "no TXT record", Verdict.DRIFT, fix="publish it"))
elif behaviour == 2:
    rows.append(CheckResult(targets[0], "dns.dmarc", "DMARC", "no answer", Verdict.ERROR, fix="retry",
                            probe="dns 127.0.0.1:53"))
report = DriftReport(results=tuple(rows), targets=tuple(targets))
assert report.exit_code == behaviour, (report.exit_code, behaviour)
if "--markdown" in args:
    with open(args[args.index("--markdown") + 1], "w", encoding="utf-8") as handle:
        handle.write(report.render_markdown())
print(report.to_json() if "--json" in args else report.render_table(), end="")
sys.exit(report.exit_code)
"""

# bash, not Python: it runs for every `pip install` of every job, and interpreter start-ups add up on a busy machine
_PYTHON = r"""
(IFS=$'\x1f'; printf '%s\n' "python$IFS$*") >>"$WORKFLOW_STUB_LOG"
if [ "${1:-}" = "-m" ] && [ "${2:-}" = "pip" ]; then exit 0; fi
crash=""
if [ "${1:-}" = "-m" ] && [ "${2:-}" = "arda_ops.drift.merge" ]; then crash="${WORKFLOW_STUB_MERGE:-}"; fi
if [ "${1:-}" = "-m" ] && [ "${2:-}" = "arda_ops.drift" ] && [[ " $* " == *" --github-matrix "* ]]; then
  crash="${WORKFLOW_STUB_PLAN:-}"
fi
if [ "$crash" = "crash" ]; then
  printf 'Traceback (most recent call last):\n  ...\nRuntimeError: stub crash\n' >&2
  exit 1
fi
exec PYTHON "$@"
"""


def install_stubs(bin_dir: Path) -> None:
    """Write the three stubs into ``bin_dir``, executable (``python`` ends in this test's interpreter)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    support_parent = str(Path(__file__).resolve().parents[1])
    for name, interpreter, source in (
        ("gh", sys.executable, _GH.format(support_parent=support_parent)),
        ("runtime-platform-drift", sys.executable, _DRIFT),
        ("python", "/bin/bash", _PYTHON.replace("PYTHON", shlex.quote(sys.executable))),
    ):
        path = bin_dir / name
        path.write_text(f"#!{interpreter}\n{source.lstrip()}", encoding="utf-8")
        path.chmod(0o755)


def stub_environment(
    workdir: Path, gh_state: Path, drift: dict[str, Any], *, merge: str = "", plan: str = ""
) -> dict[str, str]:
    """The variables the stubs read. ``drift`` maps a probe job's partitions (``"dev stage"``) to 0, 1, 2 or
    ``"crash"``; ``merge`` or ``plan`` set to ``"crash"`` make that module fail like an uncaught exception."""
    scenario = workdir / "scenario.json"
    scenario.write_text(json.dumps({"drift": drift}), encoding="utf-8")
    return {
        SCENARIO_ENV: str(scenario),
        GH_STATE_ENV: str(gh_state),
        LOG_ENV: str(workdir / "stub-calls.log"),
        "WORKFLOW_STUB_MERGE": merge,
        "WORKFLOW_STUB_PLAN": plan,
    }


def new_gh_state(path: Path, issues: list[dict[str, Any]] | None = None, labels: list[str] | None = None) -> None:
    numbers = [i["number"] for i in issues or []]
    state = {"issues": issues or [], "labels": labels or [], "calls": [], "next_number": max(numbers, default=40) + 1}
    path.write_text(json.dumps(state), encoding="utf-8")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def stub_log(environment: dict[str, str]) -> list[list[str]]:
    """Every stubbed ``runtime-platform-drift`` and ``python`` argv, in call order."""
    path = Path(environment[LOG_ENV])
    if not path.exists():
        return []
    return [line.split("\x1f") for line in path.read_text(encoding="utf-8").splitlines()]

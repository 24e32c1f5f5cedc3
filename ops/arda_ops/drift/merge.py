"""Merge the JSON reports of several drift runs into one (the workflow runs one job per AWS account).

``python -m arda_ops.drift.merge --expect Alpha001=reports/Alpha001.json --expect Alpha002=… --markdown body.md``
or, in the workflow, ``--matrix "$MATRIX" --reports-dir reports``: one report per matrix entry, expected at
``reports/drift-report-<infrastructure>/report.json`` (where ``actions/download-artifact`` puts the artifact
``drift-report-<infrastructure>``).

Prints the merged table and exits with the merged exit code (0 clean, 1 drift, 2 could not probe). An
expected report that is missing or unreadable (its job failed before writing it: no credentials, a crash)
becomes an ``error`` row, so a broken job can never look clean.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from arda_ops.drift.checks import CheckResult, Verdict
from arda_ops.drift.report import DriftReport

ARTIFACT_PREFIX = "drift-report-"
REPORT_FILE = "report.json"


def _expected(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, Path(path)


def expected_from_matrix(matrix: dict[str, list[dict[str, str]]], reports_dir: Path) -> list[tuple[str, Path]]:
    """Where each matrix job's report lands after ``actions/download-artifact`` (one folder per artifact)."""
    names = [entry["infrastructure"] for entry in matrix.get("include", [])]
    return [(name, reports_dir / f"{ARTIFACT_PREFIX}{name}" / REPORT_FILE) for name in names]


def load_reports(expected: Sequence[tuple[str, Path]]) -> DriftReport:
    reports: list[DriftReport] = []
    missing: list[CheckResult] = []
    for name, path in expected:
        try:
            reports.append(DriftReport.from_json(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            missing.append(_missing(name, f"no report at {path}: the job failed before the check ran"))
        except (ValueError, KeyError, TypeError) as exc:
            missing.append(_missing(name, f"unreadable report {path}: {type(exc).__name__}: {exc}"[:300]))
    return DriftReport.merge(reports, missing)


def _missing(name: str, observed: str) -> CheckResult:
    return CheckResult(
        target=name,
        check="run",
        expected="a drift report",
        observed=observed,
        verdict=Verdict.ERROR,
        fix="open the workflow run's log for this job: usually the AWS role (OIDC) could not be assumed",
        probe=f"job {name}",
    )


def _plan_failed(observed: str) -> CheckResult:
    return CheckResult(
        target="plan",
        check="run",
        expected="the job matrix from the partition registry",
        observed=observed,
        verdict=Verdict.ERROR,
        fix="open the workflow run's log for the plan job (runtime-platform-drift --github-matrix)",
        probe="job plan",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m arda_ops.drift.merge", description=__doc__.splitlines()[0])
    parser.add_argument("--expect", type=_expected, action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--matrix", metavar="JSON", help="the job matrix (runtime-platform-drift --github-matrix)")
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"), metavar="DIR")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write the merged report as Markdown")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the merged report as JSON")
    parser.add_argument("--title", default="runtime-platform-drift")
    parser.add_argument("--run-url", default=None)
    args = parser.parse_args(argv)
    expected = list(args.expect)
    planning: list[CheckResult] = []
    if args.matrix is not None:
        try:
            expected += expected_from_matrix(json.loads(args.matrix), args.reports_dir)
        except (ValueError, KeyError, TypeError, AttributeError):
            planning.append(_plan_failed(f"no usable job matrix: {args.matrix[:80]!r}"))
    if not expected and not planning:
        parser.error("give --expect NAME=PATH or --matrix JSON")
    report = load_reports(expected)
    if planning:
        report = DriftReport.merge([report], planning)
    if args.markdown:
        args.markdown.write_text(report.render_markdown(title=args.title, run_url=args.run_url), encoding="utf-8")
    if args.json:
        args.json.write_text(report.to_json(), encoding="utf-8")
    print(report.render_table(), end="")
    return report.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The drift report: its exit code, a plain-text table, JSON, and Markdown for the GitHub issue.

Exit codes: ``0`` every row ok; ``1`` at least one row drifted; ``2`` at least one probe could not answer
(the report is incomplete, so it wins over ``1``: a run that could not look is never "clean"). Skipped rows
(their prerequisite drifted) do not change the exit code.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from arda_ops.drift.checks import CheckResult, Verdict

EXIT_CLEAN = 0
EXIT_DRIFT = 1
EXIT_PROBE_FAILED = 2
REPORT_VERSION = 1
COLUMNS = ("partition", "check", "expected", "observed", "verdict")
_VERDICT_TEXT = {Verdict.OK: "ok", Verdict.DRIFT: "DRIFT", Verdict.ERROR: "ERROR", Verdict.SKIPPED: "skipped"}


def exit_code_for(results: Iterable[CheckResult]) -> int:
    verdicts = {r.verdict for r in results}
    if Verdict.ERROR in verdicts:
        return EXIT_PROBE_FAILED
    if Verdict.DRIFT in verdicts:
        return EXIT_DRIFT
    return EXIT_CLEAN


@dataclass(frozen=True)
class DriftReport:
    """The outcome of one run (or of several merged runs)."""

    results: tuple[CheckResult, ...]
    targets: tuple[str, ...] = ()
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    duration_s: float = 0.0

    @property
    def exit_code(self) -> int:
        return exit_code_for(self.results)

    @property
    def clean(self) -> bool:
        return self.exit_code == EXIT_CLEAN

    def counts(self) -> dict[str, int]:
        counter = Counter(r.verdict.value for r in self.results)
        return {v.value: counter.get(v.value, 0) for v in Verdict}

    @property
    def failed_probes(self) -> list[str]:
        """The probes that could not answer, each once, in report order."""
        seen: dict[str, None] = {}
        for result in self.results:
            if result.verdict is Verdict.ERROR and result.probe:
                seen.setdefault(result.probe, None)
        return list(seen)

    def rows(self, verdict: Verdict) -> list[CheckResult]:
        return [r for r in self.results if r.verdict is verdict]

    def find(self, target: str, check: str) -> CheckResult:
        """The row of ``check`` for ``target`` (KeyError when there is none)."""
        for result in self.results:
            if result.target == target and result.check == check:
                return result
        raise KeyError(f"no row {check} for {target}")

    def summary_line(self) -> str:
        counts = self.counts()
        status = {EXIT_CLEAN: "clean", EXIT_DRIFT: "DRIFT", EXIT_PROBE_FAILED: "COULD NOT PROBE"}[self.exit_code]
        text = (
            f"{status}: {len(self.results)} checks on {len(self.targets)} targets in {self.duration_s:.1f} s — "
            f"{counts['ok']} ok, {counts['drift']} drift, {counts['error']} error, {counts['skipped']} skipped"
        )
        if self.failed_probes:
            text += f"; could not probe: {', '.join(self.failed_probes)}"
        return text + f" (exit {self.exit_code})"

    # -- JSON ------------------------------------------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": REPORT_VERSION,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 3),
            "exit_code": self.exit_code,
            "targets": list(self.targets),
            "summary": self.counts(),
            "failed_probes": self.failed_probes,
            "results": [r.as_dict() for r in self.results],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftReport:
        if data.get("version") != REPORT_VERSION:
            raise ValueError(f"unsupported drift report version {data.get('version')!r}")
        return cls(
            results=tuple(CheckResult.from_dict(r) for r in data.get("results", [])),
            targets=tuple(data.get("targets", [])),
            started_at=str(data.get("started_at", "")),
            duration_s=float(data.get("duration_s", 0.0)),
        )

    @classmethod
    def from_json(cls, text: str) -> DriftReport:
        return cls.from_dict(json.loads(text))

    @classmethod
    def merge(cls, reports: Sequence[DriftReport], extra: Iterable[CheckResult] = ()) -> DriftReport:
        """One report of several runs (the workflow runs one per AWS account)."""
        targets: dict[str, None] = {}
        for report in reports:
            targets.update(dict.fromkeys(report.targets))
        extra_rows = tuple(extra)
        targets.update(dict.fromkeys(r.target for r in extra_rows))
        return cls(
            results=tuple(r for report in reports for r in report.results) + extra_rows,
            targets=tuple(targets),
            started_at=min((r.started_at for r in reports), default=datetime.now(UTC).isoformat(timespec="seconds")),
            duration_s=max((r.duration_s for r in reports), default=0.0),
        )

    # -- text ------------------------------------------------------------------------------------------------

    def render_table(self, *, width: int = 52, fixes: bool = True) -> str:
        """The readable table (one row per check) and, below it, what to fix for every row that is not ok."""
        rows = [COLUMNS] + [
            (r.target, r.check, _cell(r.expected, width), _cell(r.observed, width), _VERDICT_TEXT[r.verdict])
            for r in self.results
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
        lines = []
        for index, row in enumerate(rows):
            lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
            if index == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines.append("")
        lines.append(self.summary_line())
        if fixes:
            todo = self.todo()
            if todo:
                lines.append("")
                lines.append("What to fix:")
                lines.extend(f"- {where}: {what}" for where, what in todo)
        return "\n".join(lines) + "\n"

    def todo(self) -> list[tuple[str, str]]:
        """``(where, what to do)`` for every row that is not ok; rows failed by the same probe for the same
        reason are one item (an unreachable Postmark fails a dozen checks, and needs one fix)."""
        items: dict[tuple[str, ...], list[CheckResult]] = {}
        for r in self.results:
            if r.verdict is Verdict.DRIFT:
                items[("drift", r.target, r.check)] = [r]
            elif r.verdict is Verdict.ERROR:
                key = ("error", r.probe, r.fix) if r.probe else ("error", r.target, r.check)
                items.setdefault(key, []).append(r)
        out = []
        for rows in items.values():
            first = rows[0]
            if first.verdict is Verdict.DRIFT:
                out.append((f"{first.target} {first.check}", first.fix or first.observed))
                continue
            targets: dict[str, list[str]] = {}
            for r in rows:
                targets.setdefault(r.target, []).append(r.check)
            where = "; ".join(f"{t} {', '.join(checks)}" for t, checks in targets.items())
            similar = len({r.observed for r in rows}) - 1
            what = _todo(first)
            if similar:
                what = what.replace(" — ", f" (and {similar} similar) — ", 1)
            out.append((where, what))
        return out

    def render_markdown(self, *, title: str = "runtime-platform-drift", run_url: str | None = None) -> str:
        """A Markdown body for the GitHub issue: the summary, what to fix, then the full table."""
        out = [f"### {title}: {self.summary_line()}", ""]
        if run_url:
            out += [f"Run: {run_url}", ""]
        todo = self.todo()
        if todo:
            out += ["**What to fix**", ""]
            out += [f"- `{where}`: {_md(what)}" for where, what in todo]
            out.append("")
        out += ["<details><summary>All checks</summary>", ""]
        out += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        for r in self.results:
            cells = (r.target, r.check, _cell(r.expected, 80), _cell(r.observed, 80), _VERDICT_TEXT[r.verdict])
            out.append("| " + " | ".join(_md(c) for c in cells) + " |")
        out += ["", "</details>", ""]
        return "\n".join(out)


def _todo(result: CheckResult) -> str:
    """The line of "What to fix": for a probe that could not answer, why, then what to do."""
    if result.verdict is Verdict.ERROR:
        return f"{result.observed} — {result.fix}" if result.fix else result.observed
    return result.fix or result.observed


def _cell(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")

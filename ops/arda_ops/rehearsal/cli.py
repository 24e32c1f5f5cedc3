"""``make rehearse``: the offline rehearsal of one partition's custom-resource lifecycle.

Starts the loopback world (:mod:`arda_ops.loopback`: moto in server mode recording every call, the Postmark
emulator, two authoritative DNS servers and an HTTPS response receiver); drives the real handlers with
CloudFormation-shaped events in CloudFormation's order; runs the drift check while the stack is up; tears
everything down and checks nothing is orphaned. Prints each step as it goes and a verdict; ``--json`` prints a
machine-readable report instead. Exit code 0 when every step behaved as CloudFormation requires, 1 otherwise, 2
when the rehearsal could not start.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from arda_mail.partitions import SuspendedPartitionError, UnknownPartitionError, active_partition_names
from arda_mail.placement import (
    CORPORATE_SCOPE,
    CorporatePlacement,
    PartitionPlacement,
    corporate_placement,
    partition_placement,
)
from arda_ops.loopback.calls import describe
from arda_ops.rehearsal.scenario import Rehearsal, StepResult
from arda_ops.rehearsal.world import World

_KIND_LABEL = {
    "setup": "setup",
    "cfn": "cfn",
    "Create": "Create",
    "Update": "Update",
    "Delete": "Delete",
    "check": "check",
}
#: Attributes too long to be worth a progress line (the records table shows the DKIM value in full).
_HIDDEN_ATTRIBUTES = frozenset({"DkimTextValue", "DkimRecordValue", "NameServers"})
LOG_DIR = Path(".rehearsal")


def _attr_line(attributes: dict[str, Any]) -> str:
    return "  ".join(f"{key}={value}" for key, value in attributes.items() if key not in _HIDDEN_ATTRIBUTES)


class Printer:
    """The human-readable progress: one block per step, short and ordered."""

    def __init__(self, out: TextIO, total: int) -> None:
        self.out, self.total = out, total

    def __call__(self, r: StepResult) -> None:
        mark = "ok " if r.ok else "FAIL"
        status = f" {r.status}" if r.status else ""
        head = f"[{r.number:2d}/{self.total}] {mark} {_KIND_LABEL[r.kind]:<6} {r.title}{status}"
        print(f"{head}  ({r.seconds * 1000:.0f} ms)", file=self.out)
        if r.physical_id and r.kind in {"Create", "Update", "Delete"}:
            print(f"          PhysicalResourceId {r.physical_id}", file=self.out)
        if r.attributes:
            print(f"          {_attr_line(r.attributes)}", file=self.out)
        for line in r.details:
            print(f"          {line}", file=self.out)
        if r.kind in {"Create", "Update", "Delete"}:
            postmark = ", ".join(r.postmark_calls) or "none"
            print(f"          calls: Postmark [{postmark}]  AWS [{describe(r.aws_calls)}]", file=self.out)
        if r.error:
            print(f"          !! {r.error}", file=self.out)
        self.out.flush()


def rehearsed(name: str) -> tuple[PartitionPlacement | CorporatePlacement, str]:
    """The stack ``--partition`` names (an active partition's, or ``corporate``: Corporate's) and its Postmark
    account; raises for unknown and suspended partitions."""
    if name == CORPORATE_SCOPE:
        corporate = corporate_placement()
        return corporate, corporate.postmark_account.value
    placement = partition_placement(name)
    return placement, placement.partition.postmark_account.value


def run(partition: str, *, out: TextIO | None, drift: bool = True, rotate: bool = False) -> dict[str, Any]:
    """Run the rehearsal; ``out`` receives the progress (None for silence). Returns the report."""
    placement, account = rehearsed(partition)
    started = time.perf_counter()
    with World(placement) as world:
        if out is not None:
            print(f"Offline rehearsal of {placement.stack_name} ({partition}, Postmark account {account})", file=out)
            print(
                f"  moto {world.moto.url} | Postmark emulator {world.postmark.url} | "
                f"responses {world.receiver.base_url} | DNS {world.parent_dns.endpoint} (parent), "
                f"{world.child_dns.endpoint} (mail zone)\n",
                file=out,
            )
        LOG_DIR.mkdir(exist_ok=True)
        log_path = LOG_DIR / f"{partition}-handlers.log"
        with log_path.open("w", encoding="utf-8") as handler_log:
            _route_logging(handler_log)
            rehearsal = Rehearsal(world, placement, handler_log=handler_log, rotate=rotate)
            if out is not None:
                rehearsal.on_step = Printer(out, len(rehearsal.plan()))
            from arda_ops.rehearsal.drift_step import run_drift_against

            passed = rehearsal.run(account, run_drift_against if drift else None)
            _route_logging(None)
        records = rehearsal.state.get("records_snapshot", [])
        exports = rehearsal.state.get("exports", {})
    elapsed = time.perf_counter() - started
    return {
        "partition": partition,
        "stack": placement.stack_name,
        "passed": passed,
        "seconds": round(elapsed, 3),
        "steps": [r.as_dict() for r in rehearsal.results],
        "records": records,
        "exports": exports,
        "handler_log": str(log_path),
    }


def _route_logging(stream: TextIO | None) -> None:
    """Send every log record (crhelper, botocore, our modules) to the handler log, or back to stderr."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO if stream else logging.WARNING)


def print_summary(report: dict[str, Any], out: TextIO) -> None:
    if report["records"]:
        print("\nRecords of the mail zone while the stack was up:", file=out)
        for rec in report["records"]:
            print(f"  {rec['Type']:<5} {rec['Name']:<58} {rec['Value']}", file=out)
    if report["exports"]:
        print("\nExports the stack publishes:", file=out)
        for name, value in sorted(report["exports"].items()):
            print(f"  {name:<58} {value}", file=out)
    steps = report["steps"]
    handler_steps = [s for s in steps if s["kind"] in {"Create", "Update", "Delete"}]
    slowest = max(handler_steps, key=lambda s: s["seconds"], default=None)
    print("\nCustom-resource requests:", file=out)
    print(
        f"  {len(handler_steps)} requests, every one answered over HTTPS; "
        f"{sum(len(s['postmark_calls']) for s in handler_steps)} Postmark calls, "
        f"{sum(sum(s['aws_calls'].values()) for s in handler_steps)} AWS calls"
        + (f"; slowest: {slowest['title']} {slowest['seconds'] * 1000:.0f} ms" if slowest else ""),
        file=out,
    )
    failed = [s for s in steps if not s["ok"]]
    verdict = "PASS" if report["passed"] else "FAIL"
    detail = (
        f"all {len(steps)} steps behaved as CloudFormation requires"
        if report["passed"]
        else f"{len(failed)} step(s) failed: " + "; ".join(f"{s['step']} {s['title']}" for s in failed)
    )
    print(f"\nHandler logs: {report['handler_log']}", file=out)
    print(f"\nVerdict: {verdict} - {detail} ({report['seconds']:.1f} s)", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make rehearse", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--partition",
        default="dev",
        help=f"one of {', '.join(active_partition_names())}, or {CORPORATE_SCOPE} (the Corporate mail stack)",
    )
    parser.add_argument("--json", action="store_true", help="print a machine-readable report instead")
    parser.add_argument("--no-drift", action="store_true", help="skip the drift check step")
    parser.add_argument(
        "--rotate", action="store_true", help="add a full DKIM key rotation (DkimKeyRotation) while the stack is up"
    )
    parser.add_argument(
        "--tenant", metavar="SLUG", help="rehearse this tenant's own sending-domain stack on top of the partition"
    )
    args = parser.parse_args(argv)
    try:
        rehearsed(args.partition)
        if args.tenant is not None:
            from arda_mail.placement import tenant_placement

            tenant_placement(args.partition, args.tenant)
    except (UnknownPartitionError, SuspendedPartitionError, ValueError) as exc:
        print(f"rehearse: {exc}", file=sys.stderr)
        return 2
    if args.tenant is not None:
        from arda_ops.rehearsal.tenant import run_tenant

        tenant_report = run_tenant(
            args.partition, args.tenant, out=None if args.json else sys.stdout, drift=not args.no_drift
        )
        return _finish(tenant_report, as_json=args.json)
    report = run(args.partition, out=None if args.json else sys.stdout, drift=not args.no_drift, rotate=args.rotate)
    return _finish(report, as_json=args.json)


def _finish(report: dict[str, Any], *, as_json: bool) -> int:
    if as_json:
        json.dump(report, sys.stdout, indent=2, default=str)
        print()
    else:
        print_summary(report, sys.stdout)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""The rehearsal's drift step: ``runtime-platform-drift`` against the rehearsed partition (or Corporate).

It runs the same checks the daily job runs, through the same probes: Postmark through the emulator with the
token read from the partition's account-token secret (moto), live DNS through the loopback authoritative
servers (the parent zone's for the delegation, the mail zone's for the records), and the exports through
CloudFormation (moto).
"""

from __future__ import annotations

from arda_mail.placement import CorporatePlacement
from arda_ops.drift.probes import Endpoint
from arda_ops.drift.runner import DriftConfig, run_drift
from arda_ops.rehearsal.world import World


def run_drift_against(world: World) -> tuple[bool, list[str]]:
    """Run the drift check; returns whether it was clean and the report's lines to print."""
    placement = world.placement
    corporate = isinstance(placement, CorporatePlacement)
    # Corporate's job checks Corporate only (in its own account, with the credentials its functions run with).
    partitions = () if isinstance(placement, CorporatePlacement) else (placement.partition.name,)
    child_host, child_port = world.child_dns.address
    parent_host, parent_port = world.parent_dns.address
    report = run_drift(
        DriftConfig(
            partitions=partitions,
            corporate=corporate,
            dns_server=Endpoint(child_host, child_port),
            parent_dns_server=Endpoint(parent_host, parent_port),
            postmark_api_url=world.postmark.url,
            aws_endpoint_url=world.moto.url,
            timeout=5.0,
        )
    )
    lines = [report.summary_line()]
    lines += [f"{r.check}: {r.verdict.value} ({r.observed})" for r in report.results if r.verdict.value != "ok"]
    return report.exit_code == 0, lines

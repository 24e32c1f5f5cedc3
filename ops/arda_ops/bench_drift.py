"""Drift-check timings for ``make bench``: the 4 active partitions, then N synthetic ones, all on loopback.

Each run builds a healthy world in the one loopback world the drift tests use
(:func:`arda_ops.loopback.healthy.build_healthy_world`: zones, records, secrets and export stacks in moto;
verified Postmark domains in the emulator; NS delegations in the Platform Root's parent zone; two
authoritative DNS servers reading moto), then times :func:`arda_ops.drift.runner.run_drift` alone in a child
process (``python -m arda_ops.bench_drift CONFIG``): moto, the emulator and the DNS servers keep serving from this
process, so the figure is the drift check's own time, not shared with the threads that play its world.
Synthetic partitions are tenant-shaped mail domains below the dev partition's zone (names from the placement
function), so every check really runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from arda_mail.partitions import active_partition_names, get_partition
from arda_mail.placement import PartitionPlacement, mail_domain_placement, partition_placement
from arda_mail.values import replace
from arda_ops.drift.checks import Target
from arda_ops.drift.mail_checks import PARTITION_MAIL, partition_target
from arda_ops.drift.probes import Endpoint
from arda_ops.drift.runner import DriftConfig, run_drift
from arda_ops.loopback.accounts import REGION
from arda_ops.loopback.healthy import build_healthy_world, partition_mail_target
from arda_ops.loopback.world import LoopbackWorld

#: The drift check's own AWS clients read the ambient configuration: loopback-only, never a real profile.
_ENV = {
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "AKIABENCHDRIFT",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def synthetic_placement(index: int) -> PartitionPlacement:
    """A made-up active partition whose mail domain is a tenant-shaped name below dev's zone."""
    dev = get_partition("dev")
    partition = replace(dev, name=f"bench{index:03d}")
    return PartitionPlacement(partition=partition, mail=mail_domain_placement("dev", tenant=f"bench{index:03d}"))


def _target(placement: PartitionPlacement) -> Target:
    facts = dict(partition_target("dev").facts)
    facts.update(
        placement=placement,
        mail=placement.mail,
        token_secret_name=placement.account_token_secret_name,
    )
    return Target(name=placement.partition.name, kind=PARTITION_MAIL, facts=facts)


def _timed(placements: Sequence[PartitionPlacement], registry_targets: bool) -> dict[str, Any]:
    tokens = {"PostmarkNonProd": f"bench-{uuid.uuid4().hex}", "PostmarkProd": f"bench-{uuid.uuid4().hex}"}
    with _environment(_ENV), LoopbackWorld(tokens=tokens, dns=True) as world:
        build_healthy_world(world, [partition_mail_target(p) for p in placements])
        child_config = {
            "registry_targets": registry_targets,
            "synthetic": 0 if registry_targets else len(placements),
            "dns_server": list(world.zone_dns.address),
            "parent_dns_server": list(world.parent_dns.address),
            "postmark_api_url": world.postmark.url,
            "aws_endpoint_url": world.moto.url,
        }
        out = subprocess.run(
            [sys.executable, "-m", "arda_ops.bench_drift", json.dumps(child_config)],
            env={**os.environ, **_ENV},
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def _measure_in_this_process(child_config: dict[str, Any]) -> dict[str, Any]:
    """The child's side: build the same targets, time :func:`run_drift` alone."""
    synthetic = int(child_config["synthetic"])
    registry_targets = bool(child_config["registry_targets"])
    config = DriftConfig(
        partitions=None if registry_targets else (),
        mail_targets=registry_targets,
        extra_targets=tuple(_target(synthetic_placement(i)) for i in range(synthetic)),
        dns_server=Endpoint(*child_config["dns_server"]),
        parent_dns_server=Endpoint(*child_config["parent_dns_server"]),
        postmark_api_url=child_config["postmark_api_url"],
        aws_endpoint_url=child_config["aws_endpoint_url"],
        timeout=10.0,
    )
    targets = len(active_partition_names()) if registry_targets else synthetic
    started = time.perf_counter()
    report = run_drift(config)
    seconds = time.perf_counter() - started
    return {"targets": targets, "seconds": seconds, "checks": len(report.results), "exit_code": report.exit_code}


def time_drift(synthetic: int) -> dict[str, Any]:
    active = [partition_placement(name) for name in active_partition_names()]
    runs = [_timed(active, registry_targets=True)]
    if synthetic:
        runs.append(_timed([synthetic_placement(i) for i in range(synthetic)], registry_targets=False))
    return {"runs": runs}


if __name__ == "__main__":
    print(json.dumps(_measure_in_this_process(json.loads(sys.argv[1]))))

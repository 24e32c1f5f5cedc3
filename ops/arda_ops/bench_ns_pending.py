"""The NS delegation's polling path for ``make bench``: Create and Delete while Route 53 answers PENDING.

moto answers every change INSYNC, so the lifecycle figures of the rehearsal only show the NS delegation's fast
path. Here the handler's Route 53 calls go through :class:`~arda_ops.loopback.route53_pending.PendingRoute53Front`,
which answers each change PENDING for its first N looks (N = 0, 1, 2), and the real handler is driven through the
custom-resource protocol (same account: the parent zone is in the handler's own account, so no AssumeRole adds to
the figure). What is measured is the handler's own time: its first look is immediate, then it waits 1 s, 2 s, …
between looks (``arda_mail.route53_delegation``), so N PENDING looks after the write cost about the sum of the
first N delays.

Run as ``python -m arda_ops.bench_ns_pending`` (``make bench`` runs it in a fresh process); prints JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from typing import Any

from arda_ops.cfn_protocol import EventFactory, invoke
from arda_ops.handlers import load_function_module
from arda_ops.loopback.accounts import PARTITION_ACCOUNT, REGION
from arda_ops.loopback.route53_pending import PendingRoute53Front
from arda_ops.loopback.world import LoopbackWorld

PENDING_LOOKS = (0, 1, 2)
RESOURCE_TYPE = "Custom::NsDelegation"
_ENV = {
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "AKIABENCHNSPENDING",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_EC2_METADATA_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}


def _one_round(world: LoopbackWorld, pending_looks: int, name_servers: list[str]) -> list[dict[str, Any]]:
    from arda_mail.placement import MAIL_ROOT_DOMAIN, mail_domain_placement

    handler = load_function_module("ns_delegation").handler
    mail = mail_domain_placement("dev")
    props = {"DelegatedZoneName": mail.mail_domain, "NameServers": name_servers, "ParentZoneName": MAIL_ROOT_DOMAIN}
    events = EventFactory(world.receiver, stack_name=f"bench-ns-{uuid.uuid4().hex[:8]}", region=REGION)
    rows = []
    with PendingRoute53Front(world.moto.url, pending_looks=pending_looks) as front:
        os.environ["AWS_ENDPOINT_URL_ROUTE_53"] = front.url
        try:
            physical_id = ""
            for request in ("Create", "Delete"):
                if request == "Create":
                    event = events.create(RESOURCE_TYPE, "NsDelegation", props)
                else:
                    event = events.delete(RESOURCE_TYPE, "NsDelegation", physical_id, props)
                looks_before = sum(front.looks.values())
                started = time.perf_counter()
                response = invoke(handler, event, world.receiver, timeout_ms=300_000, wait_s=60)
                seconds = time.perf_counter() - started
                physical_id = response.physical_id
                rows.append(
                    {
                        "operation": f"{request} NsDelegation, {pending_looks} PENDING look(s)",
                        "status": response.status,
                        "change_status": response.data.get("ChangeStatus", ""),
                        "change_answers": sum(front.looks.values()) - looks_before,
                        "seconds": seconds,
                    }
                )
        finally:
            os.environ.pop("AWS_ENDPOINT_URL_ROUTE_53", None)
    return rows


def measure() -> list[dict[str, Any]]:
    os.environ.update(_ENV)
    with LoopbackWorld(receiver=True) as world:
        os.environ["AWS_ENDPOINT_URL"] = world.moto.url
        route53 = world.client("route53", PARTITION_ACCOUNT)
        from arda_mail.placement import MAIL_ROOT_DOMAIN

        route53.create_hosted_zone(Name=MAIL_ROOT_DOMAIN, CallerReference=uuid.uuid4().hex)
        name_servers = [f"ns-{i}.awsdns-bench.example" for i in range(1, 5)]
        rows: list[dict[str, Any]] = []
        for looks in PENDING_LOOKS:
            rows.extend(_one_round(world, looks, name_servers))
    return rows


def main() -> int:
    json.dump(measure(), sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The loopback world's PENDING-playing Route 53 front (used by ``make bench`` for the NS polling path).

A real botocore client parses what the front answers, so a rewrite that broke Route 53's XML would fail here.
"""

from __future__ import annotations

import uuid

import boto3
import pytest

from arda_mail.placement import MAIL_ROOT_DOMAIN, mail_domain_placement
from arda_ops.cfn_protocol import EventFactory, invoke
from arda_ops.handlers import load_function_module
from arda_ops.loopback.accounts import REGION
from arda_ops.loopback.route53_pending import PendingRoute53Front
from arda_ops.loopback.world import LoopbackWorld

NAME_SERVERS = ["ns-1.awsdns-front.example", "ns-2.awsdns-front.example"]


def _upsert(route53: object, zone_id: str, name: str) -> dict[str, object]:
    return route53.change_resource_record_sets(  # type: ignore[attr-defined, no-any-return]
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": name,
                        "Type": "NS",
                        "TTL": 300,
                        "ResourceRecords": [{"Value": v} for v in NAME_SERVERS],
                    },
                }
            ]
        },
    )


def test_a_change_is_pending_for_its_first_looks_then_insync() -> None:
    with LoopbackWorld() as world, PendingRoute53Front(world.moto.url, pending_looks=2) as front:
        moto_route53 = world.client("route53")
        zone_id = moto_route53.create_hosted_zone(Name=MAIL_ROOT_DOMAIN, CallerReference=uuid.uuid4().hex)[
            "HostedZone"
        ]["Id"]
        fronted = boto3.client(
            "route53",
            endpoint_url=front.url,
            region_name=REGION,
            aws_access_key_id="AKIAFRONTTEST",
            aws_secret_access_key="test",
        )
        change = _upsert(fronted, zone_id, f"a.{MAIL_ROOT_DOMAIN}")["ChangeInfo"]
        change_id = change["Id"].split("/")[-1]  # type: ignore[index]
        assert change["Status"] == "PENDING"  # type: ignore[index]
        assert fronted.get_change(Id=change_id)["ChangeInfo"]["Status"] == "PENDING"
        assert fronted.get_change(Id=change_id)["ChangeInfo"]["Status"] == "INSYNC"
        assert front.looks[change_id] == 3
        # moto itself, asked directly, never saw anything but INSYNC: the front only rewrites its answers.
        assert moto_route53.get_change(Id=change_id)["ChangeInfo"]["Status"] == "INSYNC"


@pytest.mark.parametrize("pending_looks", [1, 2])
def test_the_ns_handler_polls_a_pending_change_until_insync(
    pending_looks: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        LoopbackWorld(receiver=True) as world,
        PendingRoute53Front(world.moto.url, pending_looks=pending_looks) as front,
    ):
        world.client("route53").create_hosted_zone(Name=MAIL_ROOT_DOMAIN, CallerReference=uuid.uuid4().hex)
        monkeypatch.setenv("AWS_ENDPOINT_URL", world.moto.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_ROUTE_53", front.url)
        monkeypatch.setenv("AWS_REGION", REGION)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFRONTTEST")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
        props = {
            "DelegatedZoneName": mail_domain_placement("dev").mail_domain,
            "NameServers": NAME_SERVERS,
            "ParentZoneName": MAIL_ROOT_DOMAIN,
        }
        events = EventFactory(world.receiver, region=REGION)
        handler = load_function_module("ns_delegation").handler
        response = invoke(handler, events.create("Custom::NsDelegation", "NsDelegation", props), world.receiver)
        assert response.status == "SUCCESS", response.reason
        assert response.data["ChangeStatus"] == "INSYNC"
        # The write's own answer, then one GetChange per PENDING look after it until INSYNC.
        assert sum(front.looks.values()) == pending_looks + 1

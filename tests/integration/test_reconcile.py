"""Repair through the stack: ``bin/deploy <partition> --reconcile`` changes only the ``Reconcile`` property of every
custom resource, so CloudFormation sends each an Update; each must then re-assert what it owns.

A deploy without changes sends the custom resources nothing, so without this an NS delegation or a Postmark domain
removed out of band could not be restored by re-deploying. The properties are rendered from ``template.yaml`` for
dev (so the test also proves the template passes ``Reconcile`` to each resource), attribute references are filled
with what the earlier responses and moto returned, and the real handlers run through the real custom-resource
protocol: moto for Route 53 (partition account and Platform Root) and Secrets Manager, the Postmark emulator over
HTTP. Each Update below differs from the previous properties ONLY in ``Reconcile`` (asserted), as CloudFormation's
Update would after ``--reconcile``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from support.aws import PARTITION_ACCOUNT, PLATFORM_ROOT_ACCOUNT, client_in
from support.cfn_render import Renderer
from support.postmark import (  # noqa: F401 - the *_fixture imports register the fixtures
    DOMAIN_TYPE,
    NON_PROD,
    VERIFICATION_TYPE,
    CfnDriver,
    aws_fixture,
    emulator_fixture,
    fast_retries_fixture,
    make_emulator_fixture,
    postmark_tokens_fixture,
    publish_records,
    token_secrets_fixture,
)

from arda_mail.placement import MAIL_ROOT_DOMAIN, ROOT_DELEGATION_ROLE_NAME, partition_placement
from arda_ops.handlers import REPO_ROOT, load_function_module
from arda_ops.sam_translate import sam_to_cfn

DEV = partition_placement("dev")
DOMAIN = DEV.mail.mail_domain
ROLE_ARN = f"arn:aws:iam::{PLATFORM_ROOT_ACCOUNT}:role/{ROOT_DELEGATION_ROLE_NAME}"
FIRST, REPAIR = "", "20261201T221500Z"  # the parameter's default, then what --reconcile passes


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return sam_to_cfn(REPO_ROOT / "template.yaml")


@pytest.fixture(autouse=True)
def _fast(fast_retries):
    return fast_retries


@dataclass
class Stack:
    """Plays CloudFormation for the three custom resources of one dev stack."""

    template: dict[str, Any]
    emulator: Any
    secret_arn: str
    root_r53: Any
    parent_zone_id: str
    name_servers: list[str]
    domains: CfnDriver
    verifications: CfnDriver
    delegations: CfnDriver

    def props(self, logical_id: str, reconcile: str, domain_id: str = "") -> dict[str, Any]:
        """The resource's properties as the template renders them, attribute references filled in."""
        params = {
            "Partition": "dev",
            "PostmarkAccountToken": "x",
            "DelegationRoleArn": ROLE_ARN,
            # The template accepts only Postmark's own URL; the test points the rendered ApiUrl at the emulator.
            "PostmarkApiUrl": self.emulator.url,
            "VerificationMaxWaitSeconds": "0",
            "Reconcile": reconcile,
        }
        rendered = Renderer(self.template, params, DEV.stack_name).resource(logical_id)["Properties"]
        known = {
            "<Ref PostmarkAccountTokenSecret>": self.secret_arn,
            "<GetAtt MailZone.NameServers>": self.name_servers,
            "<GetAtt PostmarkDomain.DomainId>": domain_id,
        }
        props = {k: known.get(v, v) if isinstance(v, str) else v for k, v in rendered.items() if k != "ServiceToken"}
        assert not [v for v in props.values() if isinstance(v, str) and v.startswith("<")], props
        assert props["Reconcile"] == reconcile
        return props

    def ns_rrset(self) -> dict[str, Any] | None:
        page = self.root_r53.list_resource_record_sets(
            HostedZoneId=self.parent_zone_id, StartRecordName=DOMAIN, StartRecordType="NS"
        )
        found = (r for r in page["ResourceRecordSets"] if r["Name"].rstrip(".") == DOMAIN and r["Type"] == "NS")
        return next(found, None)

    def ns_record(self) -> tuple[int, list[str]] | None:
        rrset = self.ns_rrset()
        if rrset is None:
            return None
        return rrset["TTL"], sorted(r["Value"].rstrip(".") for r in rrset["ResourceRecords"])

    def change_ns_record(self, action: str, rrset: dict[str, Any]) -> None:
        """Someone edits the parent zone directly in Platform Root (console, CLI)."""
        self.root_r53.change_resource_record_sets(
            HostedZoneId=self.parent_zone_id,
            ChangeBatch={"Changes": [{"Action": action, "ResourceRecordSet": rrset}]},
        )


def only_reconcile_changed(new: dict[str, Any], old: dict[str, Any]) -> None:
    changed = {k for k in new.keys() | old.keys() if new.get(k) != old.get(k)}
    assert changed == {"Reconcile"}, changed


@pytest.fixture
def stack(template, aws, emulator, token_secrets, *, events, receiver):
    root_r53 = client_in(PLATFORM_ROOT_ACCOUNT, "route53")
    parent = root_r53.create_hosted_zone(Name=MAIL_ROOT_DOMAIN, CallerReference="root")["HostedZone"]
    partition_r53 = client_in(PARTITION_ACCOUNT, "route53")
    sub_zone = partition_r53.create_hosted_zone(Name=DOMAIN, CallerReference="mail-zone")
    name_servers = sub_zone["DelegationSet"]["NameServers"]

    def driver(function: str, resource_type: str, logical_id: str) -> CfnDriver:
        return CfnDriver(load_function_module(function).handler, events, receiver, resource_type, logical_id)

    return Stack(
        template=template,
        emulator=emulator,
        secret_arn=token_secrets[NON_PROD],
        root_r53=root_r53,
        parent_zone_id=parent["Id"].rsplit("/", 1)[-1],
        name_servers=name_servers,
        domains=driver("postmark_domain", DOMAIN_TYPE, "PostmarkDomain"),
        verifications=driver("postmark_domain_verification", VERIFICATION_TYPE, "PostmarkDomainVerification"),
        delegations=driver("ns_delegation", "Custom::NsDelegation", "NsDelegation"),
    )


def create_delegation(stack: Stack) -> tuple[Any, dict[str, Any]]:
    props = stack.props("NsDelegation", FIRST)
    created = stack.delegations.create(props)
    assert created.status == "SUCCESS", created.reason
    assert stack.ns_record() == (172800, sorted(stack.name_servers))
    return created, props


# -- Custom::NsDelegation -----------------------------------------------------------------------------------------
def test_ns_delegation_deleted_out_of_band_is_restored_by_a_reconcile_update(stack):
    created, old = create_delegation(stack)
    stack.change_ns_record("DELETE", stack.ns_rrset())
    assert stack.ns_record() is None

    new = stack.props("NsDelegation", REPAIR)
    only_reconcile_changed(new, old)
    updated = stack.delegations.update(created.physical_id, new, old)

    assert updated.status == "SUCCESS", updated.reason
    assert updated.physical_id == created.physical_id  # same record: no cleanup Delete follows
    assert stack.ns_record() == (172800, sorted(stack.name_servers))


def test_ns_delegation_changed_out_of_band_is_restored_by_a_reconcile_update(stack):
    created, old = create_delegation(stack)
    stale = ["ns-1.awsdns-00.com", "ns-1025.awsdns-02.org"]
    stack.change_ns_record(
        "UPSERT", {"Name": DOMAIN, "Type": "NS", "TTL": 300, "ResourceRecords": [{"Value": v} for v in stale]}
    )
    assert stack.ns_record() == (300, stale)

    new = stack.props("NsDelegation", REPAIR)
    only_reconcile_changed(new, old)
    updated = stack.delegations.update(created.physical_id, new, old)

    assert updated.status == "SUCCESS", updated.reason
    assert updated.physical_id == created.physical_id
    assert stack.ns_record() == (172800, sorted(stack.name_servers))


# -- Custom::PostmarkDomain and Custom::PostmarkDomainVerification -----------------------------------------------
def test_postmark_domain_deleted_out_of_band_is_registered_again_and_verified(stack):
    emulator = stack.emulator
    domain_old = stack.props("PostmarkDomain", FIRST)
    created = stack.domains.create(domain_old)
    assert created.status == "SUCCESS", created.reason
    publish_records(emulator, created.data)  # what CloudFormation creates from the attributes
    verification_old = stack.props("PostmarkDomainVerification", FIRST, created.physical_id)
    verified = stack.verifications.create(verification_old)
    assert verified.status == "SUCCESS", verified.reason
    assert verified.data == {"DkimVerified": "true", "ReturnPathVerified": "true"}

    emulator.api.delete_domain(NON_PROD, int(created.physical_id))  # removed in Postmark's UI
    assert emulator.find(NON_PROD, DOMAIN) is None

    # 1. Custom::PostmarkDomain: only Reconcile changed; the domain is registered again under a new ID.
    domain_new = stack.props("PostmarkDomain", REPAIR)
    only_reconcile_changed(domain_new, domain_old)
    updated = stack.domains.update(created.physical_id, domain_new, domain_old)
    assert updated.status == "SUCCESS", updated.reason
    assert updated.physical_id != created.physical_id
    stored = emulator.find(NON_PROD, DOMAIN)
    assert stored is not None
    assert stored["ID"] == int(updated.physical_id)
    # The attributes carry the NEW domain's DKIM key, so the template's DkimRecord (built from them) follows.
    assert updated.data["DomainId"] == updated.physical_id
    assert updated.data["DkimTextValue"] == (stored["DKIMTextValue"] or stored["DKIMPendingTextValue"])
    assert updated.data["DkimTextValue"] != created.data["DkimTextValue"]
    assert updated.data["ReturnPathHostName"] == DEV.mail.return_path_host

    # 2. CloudFormation's cleanup Delete of the old PhysicalResourceId: already gone, which is success.
    cleanup = stack.domains.delete(created.physical_id, domain_old)
    assert cleanup.status == "SUCCESS", cleanup.reason
    assert [d["ID"] for d in emulator.domains(NON_PROD)] == [int(updated.physical_id)]

    # 3. CloudFormation updates the DKIM record from the new attributes, then the verification re-runs against the
    #    new domain (its DomainId changed along with Reconcile).
    publish_records(emulator, updated.data)
    emulator.clear_requests()
    verification_new = stack.props("PostmarkDomainVerification", REPAIR, updated.physical_id)
    reverified = stack.verifications.update(verified.physical_id, verification_new, verification_old)
    assert reverified.status == "SUCCESS", reverified.reason
    assert reverified.data == {"DkimVerified": "true", "ReturnPathVerified": "true"}
    assert emulator.calls() == [
        f"PUT /domains/{updated.physical_id}/verifyDkim",
        f"PUT /domains/{updated.physical_id}/verifyReturnPath",
    ]


def test_verification_reruns_when_only_reconcile_changed(stack):
    """The records were missing at the first deploy (verification answered "false"); they are fixed by hand, and a
    reconcile re-runs the verification without any other change."""
    emulator = stack.emulator
    created = stack.domains.create(stack.props("PostmarkDomain", FIRST))
    assert created.status == "SUCCESS", created.reason
    old = stack.props("PostmarkDomainVerification", FIRST, created.physical_id)
    first = stack.verifications.create(old)
    assert first.status == "SUCCESS", first.reason
    assert first.data == {"DkimVerified": "false", "ReturnPathVerified": "false"}

    publish_records(emulator, created.data)
    emulator.clear_requests()
    new = stack.props("PostmarkDomainVerification", REPAIR, created.physical_id)
    only_reconcile_changed(new, old)
    again = stack.verifications.update(first.physical_id, new, old)

    assert again.status == "SUCCESS", again.reason
    assert again.data == {"DkimVerified": "true", "ReturnPathVerified": "true"}
    assert emulator.calls() == [
        f"PUT /domains/{created.physical_id}/verifyDkim",
        f"PUT /domains/{created.physical_id}/verifyReturnPath",
    ]


def test_an_intact_domain_is_kept_by_a_reconcile_update(stack):
    """Reconcile on a healthy stack changes nothing: same domain, same ID, no new registration."""
    old = stack.props("PostmarkDomain", FIRST)
    created = stack.domains.create(old)
    assert created.status == "SUCCESS", created.reason
    stack.emulator.clear_requests()

    updated = stack.domains.update(created.physical_id, stack.props("PostmarkDomain", REPAIR), old)

    assert updated.status == "SUCCESS", updated.reason
    assert updated.physical_id == created.physical_id
    assert updated.data["DkimTextValue"] == created.data["DkimTextValue"]
    assert "POST /domains" not in stack.emulator.calls()

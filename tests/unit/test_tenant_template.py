"""tenant/template.yaml, rendered for every active partition against the partition template's own exports.

The tenant template composes the tenant's domain with ``!Sub`` and imports everything else; rendering both
templates and resolving each import against the partition template's rendered Outputs proves the names agree with
the placement function and with each other.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.cfn_render import Renderer

from arda_mail.dns_names import label_problem
from arda_mail.partitions import active_partition_names
from arda_mail.placement import partition_placement, tenant_placement
from arda_mail.txt_records import route53_txt_value
from arda_ops import tenant_mappings
from arda_ops.handlers import REPO_ROOT, load_function_module
from arda_ops.sam_translate import load_sam, sam_to_cfn
from arda_ops.tenant_stack import (
    RECORD_TTL,
    PartitionImports,
    dmarc_record,
    domain_properties,
    verification_properties,
)

TENANT_TEMPLATE = REPO_ROOT / "tenant" / "template.yaml"
SLUGS = ("acme", "a", "x-1", "t" * 63)
#: CloudFormation stack names: a letter, then letters, digits and hyphens, at most 128 characters
#: (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html).
STACK_NAME = re.compile(r"[A-Za-z][-A-Za-z0-9]{0,127}")


class ImportingRenderer(Renderer):
    """The test renderer plus ``Fn::ImportValue``, resolved from the exports given (an unknown name fails)."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, str], exports: dict[str, Any]) -> None:
        super().__init__(template, parameters)
        self.exports = exports

    def value(self, node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"Fn::ImportValue"}:
            name = super().value(node["Fn::ImportValue"])
            assert name in self.exports, f"{name} is not exported by the partition stack"
            return self.exports[name]
        return super().value(node)


@pytest.fixture(scope="module")
def tenant_cfn():
    return sam_to_cfn(TENANT_TEMPLATE)


@pytest.fixture(scope="module")
def partition_cfn():
    return sam_to_cfn(REPO_ROOT / "template.yaml")


def partition_exports(partition_cfn, partition):
    rendered = Renderer(partition_cfn, {"Partition": partition, "PostmarkAccountToken": "x"}).outputs()
    return {out["Export"]["Name"]: out["Value"] for out in rendered.values() if "Export" in out}


def render(tenant_cfn, partition_cfn, partition, slug):
    exports = partition_exports(partition_cfn, partition)
    return ImportingRenderer(tenant_cfn, {"Partition": partition, "TenantSlug": slug}, exports)


def test_generated_block_is_up_to_date():
    assert tenant_mappings.main(["--check"]) == 0


def test_no_function_and_nothing_of_the_partition_repeated():
    sam = load_sam(TENANT_TEMPLATE)
    assert "Transform" not in sam
    assert {r["Type"] for r in sam["Resources"].values()} == {
        "Custom::PostmarkDomain",
        "Custom::PostmarkDomainVerification",
        "AWS::Route53::RecordSet",
    }
    assert sorted(sam["Resources"]) == [
        "DkimRecord",
        "DmarcRecord",
        "PostmarkDomain",
        "PostmarkDomainVerification",
        "ReturnPathRecord",
    ]
    assert sam["Parameters"]["Partition"]["AllowedValues"] == list(active_partition_names())
    assert set(sam["Mappings"]["Partitions"]) == set(active_partition_names())
    text = TENANT_TEMPLATE.read_text(encoding="utf-8")
    body = text.replace(tenant_mappings.current_block(text), "")
    for partition in active_partition_names():
        p = partition_placement(partition)
        # No partition name, fqn or mail domain outside the generated block.
        assert p.fqn not in body
        assert p.mail.mail_domain not in body


@pytest.mark.parametrize("partition", active_partition_names())
@pytest.mark.parametrize("slug", SLUGS)
def test_rendered_names_match_placement_and_the_partition_exports(tenant_cfn, partition_cfn, partition, slug):
    r = render(tenant_cfn, partition_cfn, partition, slug)
    tenant = tenant_placement(partition, slug)
    domain = r.resource("PostmarkDomain")["Properties"]
    assert domain["DomainName"] == tenant.mail.postmark_domain_name
    assert domain["TenantSlug"] == slug
    # The partition's own function, secret and zone: the imports resolve to what template.yaml exports.
    assert domain["ServiceToken"] == "<GetAtt PostmarkDomainFunction.Arn>"
    assert domain["AccountTokenSecretArn"] == "<Ref PostmarkAccountTokenSecret>"
    assert domain["PostmarkAccount"] == tenant.partition.partition.postmark_account.value
    assert "ReturnPathDomain" not in domain  # the handler's default: placement's pm-bounces.{tenant domain}
    verification = r.resource("PostmarkDomainVerification")
    assert verification["Properties"]["ServiceToken"] == "<GetAtt PostmarkDomainVerificationFunction.Arn>"
    assert verification["Properties"]["DomainId"] == "<GetAtt PostmarkDomain.DomainId>"
    assert sorted(verification["DependsOn"]) == ["DkimRecord", "ReturnPathRecord"]
    for logical_id, rtype in (("DkimRecord", "TXT"), ("ReturnPathRecord", "CNAME"), ("DmarcRecord", "TXT")):
        record = r.resource(logical_id)["Properties"]
        assert (record["HostedZoneId"], record["Type"]) == ("<Ref MailZone>", rtype)
    assert STACK_NAME.fullmatch(tenant.stack_name)


@pytest.mark.parametrize("partition", active_partition_names())
@pytest.mark.parametrize("slug", SLUGS)
def test_the_tenant_domain_has_its_own_dmarc_record_with_the_partitions_policy(
    tenant_cfn, partition_cfn, partition, slug
):
    """RFC 7489 section 6.6.3: a receiver reads _dmarc.<From domain>, then only the Organizational Domain's, so the
    partition's record never covers the tenant's domain. The record is the placement function's, in the partition
    zone, with the partition's value, and is what the CloudFormation player creates."""
    r = render(tenant_cfn, partition_cfn, partition, slug)
    tenant = tenant_placement(partition, slug)
    dmarc = r.resource("DmarcRecord")
    props = dmarc["Properties"]
    assert props["Name"] == tenant.mail.dmarc_host
    assert props["ResourceRecords"] == [route53_txt_value(tenant.partition.mail.dmarc_value)]
    # The partition's own record carries the same value (template.yaml, rendered the same way).
    partition_dmarc = Renderer(partition_cfn, {"Partition": partition, "PostmarkAccountToken": "x"}).resource(
        "DmarcRecord"
    )["Properties"]
    assert props["ResourceRecords"] == partition_dmarc["ResourceRecords"]
    assert props["Name"] != partition_dmarc["Name"]
    assert (props["Name"], props["Type"], props["ResourceRecords"]) == dmarc_record(tenant)
    assert int(props["TTL"]) == RECORD_TTL
    # Written only after the domain is this stack's (the collision rule: nothing below a name someone else holds).
    assert dmarc["DependsOn"] == "PostmarkDomain"


@pytest.mark.parametrize("partition", active_partition_names())
def test_the_players_properties_are_the_rendered_ones(tenant_cfn, partition_cfn, partition):
    """The tests and the rehearsal send what the template renders (imports given the partition's values)."""
    r = render(tenant_cfn, partition_cfn, partition, "acme")
    tenant = tenant_placement(partition, "acme")
    imports = PartitionImports("Z1", tenant.partition.mail.mail_domain, "<Ref PostmarkAccountTokenSecret>")
    rendered = r.resource("PostmarkDomain")["Properties"]
    expected = domain_properties(tenant, imports, "https://api.postmarkapp.com")
    assert {k: v for k, v in rendered.items() if k not in {"ServiceToken", "ServiceTimeout", "Reconcile"}} == expected
    rendered_verification = r.resource("PostmarkDomainVerification")["Properties"]
    expected_verification = verification_properties(imports, "<GetAtt PostmarkDomain.DomainId>", rendered["ApiUrl"])
    skip = {"ServiceToken", "ServiceTimeout", "Reconcile"}
    assert {k: str(v) for k, v in rendered_verification.items() if k not in skip} == expected_verification


def test_every_property_the_template_sends_is_one_the_handlers_read(tenant_cfn, partition_cfn):
    r = render(tenant_cfn, partition_cfn, "dev", "acme")
    domain_module = load_function_module("postmark_domain")
    verification_module = load_function_module("postmark_domain_verification")
    protocol = {"ServiceToken", "ServiceTimeout"}
    assert set(r.resource("PostmarkDomain")["Properties"]) - protocol <= set(domain_module.PROPERTIES)
    verification_props = set(r.resource("PostmarkDomainVerification")["Properties"]) - protocol
    assert verification_props <= set(verification_module.PROPERTIES)


@pytest.mark.parametrize("slug", ["acme", "a", "0", "a-b", "t" * 63, "t" * 64, "-a", "a-", "A", "a_b", "a.b", ""])
def test_the_slug_parameter_pattern_is_the_label_rule(slug):
    pattern = load_sam(TENANT_TEMPLATE)["Parameters"]["TenantSlug"]["AllowedPattern"]
    assert (re.fullmatch(pattern, slug) is not None) == (label_problem(slug) is None)


def test_cfn_lint_is_clean():
    """`make validate` runs the same; here so a lint finding fails the tests too (W6001 was one: an Output that
    re-exports an import)."""
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), str(TENANT_TEMPLATE)], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr

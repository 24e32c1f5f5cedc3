"""``corporate/template.yaml``: the Corporate mail stack, rendered and compared with the placement function.

The shared mail-domain block is checked against its source by test_template_blocks.py; here the rendered Corporate
stack is checked name by name against :func:`arda_mail.placement.corporate_placement`, its Corporate-only parts
(the Free Kanban Tool's DMARC record, the zone outputs) are checked, and it is linted (cfn-lint, checkov's input
translation) like the partition template.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.cfn_render import Renderer

from arda_mail.placement import FUNCTION_ROLE_PATH, corporate_placement, partition_placement
from arda_ops.handlers import REPO_ROOT
from arda_ops.sam_translate import load_sam, sam_to_cfn

TEMPLATE = REPO_ROOT / "corporate" / "template.yaml"
PARTITION_ONLY = {"EncryptionKeySecret", "EmailDnsProvisioningRole", "EmailEncryptionKeyFallbackRole"}


@pytest.fixture(scope="module")
def cfn():
    return sam_to_cfn(TEMPLATE)


@pytest.fixture(scope="module")
def rendered(cfn):
    return Renderer(
        cfn,
        {"PostmarkAccountToken": "x", "DelegationRoleArn": "arn:aws:iam::210987654321:role/R"},
        corporate_placement().stack_name,
    )


def test_rendered_names_equal_placement(rendered):
    c = corporate_placement()
    mail = c.mail
    assert rendered.resource("MailZone")["Properties"]["Name"] == mail.mail_domain
    assert rendered.resource("SpfRecord")["Properties"]["Name"] == mail.spf_host
    assert rendered.resource("SpfRecord")["Properties"]["ResourceRecords"] == [f'"{mail.spf_value}"']
    assert rendered.resource("DmarcRecord")["Properties"]["Name"] == mail.dmarc_host
    assert rendered.resource("DmarcRecord")["Properties"]["ResourceRecords"] == [f'"{mail.dmarc_value}"']
    domain = rendered.resource("PostmarkDomain")["Properties"]
    assert (domain["DomainName"], domain["ReturnPathDomain"]) == (mail.postmark_domain_name, mail.return_path_host)
    assert domain["PostmarkAccount"] == c.postmark_account.value == "PostmarkProd"
    ns = rendered.resource("NsDelegation")["Properties"]
    assert (ns["DelegatedZoneName"], ns["ParentZoneName"]) == (mail.mail_domain, mail.parent_zone_name)
    assert ns["DelegationRoleArn"] == "arn:aws:iam::210987654321:role/R"
    assert rendered.resource("PostmarkAccountTokenSecret")["Properties"]["Name"] == c.account_token_secret_name
    role = rendered.resource("NsDelegationFunctionRole")["Properties"]
    # The Platform Root role trusts exactly this name and path (root/template.yaml, test_root_template.py).
    assert (role["Path"], role["RoleName"]) == (FUNCTION_ROLE_PATH, c.ns_delegation_function_role_name)
    comment = rendered.resource("MailZone")["Properties"]["HostedZoneConfig"]["Comment"]
    assert c.fqn in comment
    assert c.stack_name in comment


def test_every_corporate_name_differs_from_every_partitions():
    """Corporate's stack can never collide with a partition's resources, wherever both live."""
    c = corporate_placement()
    dev = partition_placement("dev")
    pairs = [
        (c.stack_name, dev.stack_name),
        (c.account_token_secret_name, dev.account_token_secret_name),
        (c.ns_delegation_function_role_name, dev.ns_delegation_function_role_name),
        (c.mail.mail_domain, dev.mail.mail_domain),
    ]
    assert all(a != b for a, b in pairs)
    assert c.mail.parent_zone_name == dev.mail.parent_zone_name


def test_the_free_kanban_tool_gets_a_dmarc_record_and_no_signature_of_its_own(cfn, rendered):
    c = corporate_placement()
    fkt = c.free_kanban
    assert fkt.mail_domain.endswith("." + c.mail.mail_domain)
    assert fkt.parent_zone_name == c.mail.mail_domain
    record = rendered.resource("FreeKanbanDmarcRecord")["Properties"]
    assert record["HostedZoneId"] == "<Ref MailZone>"  # in Corporate's zone: no zone or delegation of its own
    assert (record["Name"], record["Type"], record["ResourceRecords"]) == (
        fkt.dmarc_host,
        "TXT",
        [f'"{fkt.dmarc_value}"'],
    )
    # DKIM is anchored at the parent (one Postmark domain): nothing registers the Free Kanban Tool's domain.
    domains = [r for r in cfn["Resources"].values() if r["Type"] == "Custom::PostmarkDomain"]
    assert len(domains) == 1
    assert rendered.outputs()["FreeKanbanDomain"]["Value"] == fkt.mail_domain


def test_outputs_name_the_zone_and_export_corporates_zone_id(rendered):
    c = corporate_placement()
    outputs = rendered.outputs()
    assert outputs["MailZoneId"] == {
        "Description": outputs["MailZoneId"]["Description"],
        "Value": "<Ref MailZone>",
        "Export": {"Name": c.mail_zone_id_export},
    }
    assert outputs["MailZoneName"]["Value"] == c.mail.mail_domain
    exports = {o["Export"]["Name"] for o in outputs.values() if "Export" in o}
    assert exports == {c.mail_zone_id_export}  # none of a partition's -API- or -I- exports
    assert outputs["PostmarkDomainId"]["Value"] == "<GetAtt PostmarkDomain.DomainId>"


def test_the_output_keys_tooling_reads_are_the_templates(cfn):
    from arda_ops import corporate_stack

    keys = {
        corporate_stack.ZONE_ID_OUTPUT,
        corporate_stack.ZONE_NAME_OUTPUT,
        corporate_stack.FREE_KANBAN_OUTPUT,
        corporate_stack.POSTMARK_DOMAIN_ID_OUTPUT,
    }
    assert keys <= set(cfn["Outputs"])


def test_partition_only_resources_and_parameters_are_absent(cfn):
    assert not PARTITION_ONLY & set(cfn["Resources"])
    assert "Partition" not in cfn["Parameters"]
    assert set(cfn["Mappings"]) == {"Corporate"}
    users = [k for k, v in cfn["Resources"].items() if "'Ref': 'PostmarkAccountToken'" in str(v)]
    assert users == ["PostmarkAccountTokenSecret"]
    assert cfn["Parameters"]["PostmarkAccountToken"]["NoEcho"] is True


def test_every_function_ships_the_repositorys_code(cfn):
    """The template lives in corporate/: its local code paths must reach the same folders template.yaml's do."""
    sam = load_sam(TEMPLATE)
    for resource in sam["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if key in props:
                path = (TEMPLATE.parent / props[key]).resolve()
                assert path.is_dir(), path
                assert path.is_relative_to(REPO_ROOT / "functions") or path == REPO_ROOT / "layers" / "shared"
    functions = [r for r in cfn["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert len(functions) >= 3
    assert all(f["Properties"]["Role"]["Fn::GetAtt"][0].endswith("FunctionRole") for f in functions)


@pytest.mark.parametrize(
    ("resource", "function"),
    [
        ("PostmarkDomain", "postmark_domain"),
        ("PostmarkDomainVerification", "postmark_domain_verification"),
        ("NsDelegation", "ns_delegation"),
    ],
)
def test_custom_resource_properties_pass_their_handlers_validation(rendered, resource, function):
    from arda_ops.handlers import load_function_module

    plausible = {
        "<Ref PostmarkAccountTokenSecret>": "arn:aws:secretsmanager:us-east-1:123456789012:secret:tok-AbCdEf",
        "<GetAtt PostmarkDomain.DomainId>": "36735",
        "<GetAtt MailZone.NameServers>": ["ns-1.awsdns-00.com", "ns-2.awsdns-01.net"],
    }
    props = rendered.resource(resource)["Properties"]
    props = {k: plausible.get(v, v) if isinstance(v, str) else v for k, v in props.items()}
    props = {k: v for k, v in props.items() if k not in {"ServiceToken", "ServiceTimeout"}}
    module = load_function_module(function)
    reader = getattr(module, "read_properties", None)
    if reader is None:
        from arda_mail.route53_delegation import read_properties as reader
    reader(props)


def test_cfn_lint_is_clean():
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True, check=False, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr


def test_samconfig_corporate_overrides_are_parameters_of_the_template(cfn):
    from arda_ops import samconfig

    names = {o.split("=", 1)[0] for o in samconfig.corporate_parameter_overrides()}
    assert names == {"DelegationRoleArn", "ParentZoneId"}
    assert names <= set(cfn["Parameters"])
    (assertion,) = cfn["Rules"]["PostmarkAccountTokenGiven"]["Assertions"]
    assert "bin/deploy corporate" in assertion["AssertDescription"]

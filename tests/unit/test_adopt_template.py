"""The import template and the resources-to-import document, derived from the real template, against
CloudFormation's resource-import rules.

The rules, as AWS states them:

* "Each resource to import must have a DeletionPolicy attribute for the import operation to succeed", and "Import
  operations don't allow new resource creations, resource deletions, or changes to property configurations"
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resource-import.html, "Considerations");
* creating a stack from existing resources takes a template describing the resources it imports
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resource-import-new-stack.html), and each target
  is identified by its type's identifier property (``ResourceIdentifier``);
* only types that support import can be imported
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resource-import-supported-resources.html):
  ``AWS::Route53::HostedZone``, ``AWS::SecretsManager::Secret`` and ``AWS::IAM::Role`` do; custom resources and
  ``AWS::Route53::RecordSet`` do not (https://github.com/aws-cloudformation/cloudformation-coverage-roadmap/issues/560);
* an import cannot add Outputs ("As part of the import operation, you cannot modify or add [Outputs]",
  https://github.com/awslabs/aws-security-assessment-solution/issues/6).

The primary identifiers are checked against the resource schemas cfn-lint ships (copies of the CloudFormation
registry's ``primaryIdentifier``), not against a list written here. Nothing in moto implements an IMPORT change set,
so these documents are what can be checked offline; CloudFormation's own acceptance of them is not proven here.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from arda_mail.partitions import active_partition_names
from arda_mail.placement import FUNCTION_ROLE_PATH, partition_placement
from arda_ops.adopt_template import (
    IMPORT_IDENTIFIERS,
    ImportSelection,
    import_rule_problems,
    import_template,
    resources_to_import,
    select_resources,
)
from arda_ops.handlers import REPO_ROOT
from arda_ops.sam_translate import sam_to_cfn

PARTITIONS = active_partition_names()


@pytest.fixture(scope="module")
def deploy_templates() -> dict[str, dict[str, Any]]:
    return {p: sam_to_cfn(REPO_ROOT / "template.yaml", {"Partition": p}) for p in PARTITIONS}


def build(template: dict[str, Any], partition: str) -> tuple[ImportSelection, dict[str, Any], list[dict[str, Any]]]:
    selection = select_resources(template, {"Partition": partition})
    found = {n.logical_id: f"id-of-{n.logical_id}" for n in selection.imported}
    return selection, import_template(template, selection), resources_to_import(selection, found)


def registry_primary_identifier(resource_type: str) -> list[str]:
    """The type's ``primaryIdentifier`` from the registry schema cfn-lint ships."""
    import cfnlint

    schemas = Path(cfnlint.__file__).parent / "data" / "schemas"
    digest = json.loads((schemas / "providers" / "us-east-1.json").read_text())[resource_type]
    schema = json.loads((schemas / "resources" / f"{digest}.json").read_text())
    return [str(p).rsplit("/", 1)[-1] for p in schema["primaryIdentifier"]]


@pytest.mark.parametrize("partition", PARTITIONS)
def test_the_import_follows_every_rule_for_every_partition(deploy_templates, partition):
    template = deploy_templates[partition]
    _, tpl, documents = build(template, partition)

    assert import_rule_problems(tpl, template, documents) == []
    assert "Transform" not in tpl
    assert "Outputs" not in tpl
    for logical_id, resource in tpl["Resources"].items():
        assert resource["DeletionPolicy"] == "Retain", logical_id
        # no other change: exactly the deploy template's properties, so the deploy that follows updates nothing
        assert resource["Properties"] == template["Resources"][logical_id]["Properties"], logical_id
    for entry in documents:
        assert list(entry["ResourceIdentifier"]) == registry_primary_identifier(entry["ResourceType"])
    assert [e["LogicalResourceId"] for e in documents] == list(tpl["Resources"])


@pytest.mark.parametrize("partition", PARTITIONS)
def test_what_is_imported_is_named_by_the_placement_function(deploy_templates, partition):
    placement = partition_placement(partition)
    selection, _, _ = build(deploy_templates[partition], partition)

    assert {(n.resource_type, n.name, n.path) for n in selection.imported} == {
        ("AWS::Route53::HostedZone", placement.mail.mail_domain, None),
        ("AWS::SecretsManager::Secret", placement.account_token_secret_name, None),
        ("AWS::SecretsManager::Secret", placement.encryption_key_secret_name, None),
        ("AWS::IAM::Role", placement.dns_provisioning_role_name, "/"),
        ("AWS::IAM::Role", placement.encryption_key_fallback_role_name, "/"),
    }
    # The functions' named role is the deploy's to create (and must not exist: see the discovery tests).
    assert {(n.name, n.path) for n in selection.created} == {
        (placement.ns_delegation_function_role_name, FUNCTION_ROLE_PATH)
    }


def test_the_encryption_key_is_imported_with_the_templates_generate_secret_string(deploy_templates):
    """Unchanged GenerateSecretString: the deploy after the import finds nothing to update on the key's secret."""
    template = deploy_templates["dev"]
    _, tpl, _ = build(template, "dev")
    generated = tpl["Resources"]["EncryptionKeySecret"]["Properties"]["GenerateSecretString"]
    assert generated == template["Resources"]["EncryptionKeySecret"]["Properties"]["GenerateSecretString"]


def test_the_import_template_passes_cfn_lint_without_errors(deploy_templates):
    from cfnlint.api import ManualArgs, lint

    _, tpl, _ = build(deploy_templates["dev"], "dev")
    matches = lint(json.dumps(tpl), config=ManualArgs(regions=["us-east-1"]))
    assert [str(m) for m in matches if m.rule.id.startswith("E")] == []


def test_the_identifiers_are_the_registry_primary_identifiers():
    for resource_type, key in IMPORT_IDENTIFIERS.items():
        assert registry_primary_identifier(resource_type) == [key]


# -- each rule, broken on purpose, is caught -------------------------------------------------------------------
def broken(deploy_templates: dict[str, dict[str, Any]], change: str) -> list[str]:
    template = deploy_templates["dev"]
    _, tpl, documents = build(template, "dev")
    tpl, documents = copy.deepcopy(tpl), copy.deepcopy(documents)
    if change == "transform":
        tpl["Transform"] = "AWS::Serverless-2016-10-31"
    elif change == "outputs":
        tpl["Outputs"] = {"ZoneId": {"Value": {"Ref": "MailZone"}}}
    elif change == "no-deletion-policy":
        del tpl["Resources"]["EncryptionKeySecret"]["DeletionPolicy"]
    elif change == "record-set":
        tpl["Resources"]["SpfRecord"] = {
            **copy.deepcopy(template["Resources"]["SpfRecord"]),
            "DeletionPolicy": "Retain",
        }
        documents.append(
            {
                "ResourceType": "AWS::Route53::RecordSet",
                "LogicalResourceId": "SpfRecord",
                "ResourceIdentifier": {"Id": "x"},
            }
        )
    elif change == "custom-resource":
        tpl["Resources"]["NsDelegation"] = {
            **copy.deepcopy(template["Resources"]["NsDelegation"]),
            "DeletionPolicy": "Retain",
        }
    elif change == "property-changed":
        tpl["Resources"]["EncryptionKeySecret"]["Properties"]["GenerateSecretString"]["PasswordLength"] = 32
    elif change == "dangling-reference":
        del tpl["Resources"]["MailZone"]
        documents = [d for d in documents if d["LogicalResourceId"] != "MailZone"]
    elif change == "missing-entry":
        documents.pop()
    elif change == "duplicate-entry":
        documents.append(documents[0])
    elif change == "wrong-identifier":
        documents[0]["ResourceIdentifier"] = {"Name": "dev.ardamails.com"}
    return import_rule_problems(tpl, template, documents)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("transform", "the import template has a Transform"),
        ("outputs", "the import template has Outputs (an import cannot add them)"),
        ("no-deletion-policy", "EncryptionKeySecret: no DeletionPolicy (every resource to import needs one)"),
        ("record-set", "SpfRecord: AWS::Route53::RecordSet does not support resource import"),
        ("custom-resource", "NsDelegation: Custom::NsDelegation does not support resource import"),
        (
            "property-changed",
            "EncryptionKeySecret: Properties differ from the deploy template (the deploy would update it)",
        ),
        ("dangling-reference", "EmailDnsProvisioningRole: refers to MailZone, which the import template does not hold"),
        ("missing-entry", "each must be imported exactly once"),
        ("duplicate-entry", "each must be imported exactly once"),
        ("wrong-identifier", "MailZone: ResourceIdentifier must be {Id: …}"),
    ],
)
def test_each_broken_rule_is_named(deploy_templates, change, expected):
    problems = broken(deploy_templates, change)
    assert any(expected in p for p in problems), problems


def test_corporate_is_adopted_from_its_own_template_and_placement():
    """The same derivation on Corporate's template: its zone and its token secret, named by the placement function."""
    from arda_mail.placement import corporate_placement
    from arda_ops.adopt import target_for

    corporate = corporate_placement()
    target = target_for("corporate")
    assert (target.stack_name, target.domain_name, target.token_secret_name) == (
        corporate.stack_name,
        corporate.mail.postmark_domain_name,
        corporate.account_token_secret_name,
    )
    template = sam_to_cfn(target.template, {})
    selection = select_resources(template, {})
    names = {(n.resource_type, n.name) for n in selection.imported}
    assert ("AWS::Route53::HostedZone", corporate.mail.mail_domain) in names
    assert ("AWS::SecretsManager::Secret", corporate.account_token_secret_name) in names
    found = {n.logical_id: f"id-of-{n.logical_id}" for n in selection.imported}
    documents = resources_to_import(selection, found)
    assert import_rule_problems(import_template(template, selection), template, documents) == []

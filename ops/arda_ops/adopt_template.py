"""The import half of adoption: which resources of the real template CloudFormation imports, the import template and
the resources-to-import document, and CloudFormation's import rules checked on both.

Everything here is derived from the template the stack is deployed with (translated by the real ``samtranslator``,
as CloudFormation's ``AWS::Serverless`` transform does), never copied from it: a resource added to, renamed in or
moved out of the template changes what is imported with it.

CloudFormation's resource-import rules this module follows (and :func:`import_rule_problems` checks):

* only resource types that support import can be imported; a custom resource type and ``AWS::Route53::RecordSet``
  cannot (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resource-import-supported-resources.html;
  for ``RecordSet``: https://github.com/aws-cloudformation/cloudformation-coverage-roadmap/issues/560). The three
  types imported here identify a resource by the type's primary identifier in its registry schema
  (``aws cloudformation describe-type --type RESOURCE --type-name <type>``, ``primaryIdentifier``): a hosted zone by
  ``Id``, a secret by ``Id`` (its ARN), a role by ``RoleName``;
* every resource to import must carry a ``DeletionPolicy`` in the template
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resource-import.html, "Considerations");
* an import operation creates, deletes and modifies nothing else: "Import operations don't allow new resource
  creations, resource deletions, or changes to property configurations" (same page), and creating a stack from
  existing resources takes a template that describes only the resources it imports
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resource-import-new-stack.html). So the import
  template holds the imported resources alone, and no ``Outputs`` (an import refuses to add them: "As part of the
  import operation, you cannot modify or add [Outputs]",
  https://github.com/awslabs/aws-security-assessment-solution/issues/6); the ``sam deploy`` that follows adds the
  functions, the custom resources, the records and the exports;
* no ``Transform``: the import template is already plain CloudFormation (the transform only expands
  ``AWS::Serverless::*`` resources, and none is imported), so nothing is left for a transform to change between the
  import and the deploy.

Why nothing is regenerated: an import only reads the resource (CloudFormation "does not check that the template
configuration matches the actual configuration", resource-import.html), so ``GenerateSecretString`` is not acted on;
it is a write-only property of ``AWS::SecretsManager::Secret`` (``writeOnlyProperties`` in the type's schema), never
read back or compared. The ``sam deploy`` after the import updates only resources whose definition changed
("CloudFormation updates resources based on differences between what you submit and the stack's current template",
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-update-behaviors.html), and
:func:`import_rule_problems` proves each imported resource's ``Properties`` are exactly the deploy template's, so the
encryption key's secret (and the token secret, given the same token) gets no update at all: no new value, and its
``AWSCURRENT``/``AWSPREVIOUS`` versions stay as they are.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from arda_mail.placement import FUNCTION_ROLE_PATH
from arda_ops.cfn_intrinsics import SUB_VARIABLE, Resolver, UnresolvableError

HOSTED_ZONE: Final = "AWS::Route53::HostedZone"
SECRET: Final = "AWS::SecretsManager::Secret"  # noqa: S105 - a resource type, not a value
ROLE: Final = "AWS::IAM::Role"
RECORD_SET: Final = "AWS::Route53::RecordSet"
#: Importable types and their primary identifier (the ``ResourceIdentifier`` key of resources-to-import).
IMPORT_IDENTIFIERS: Final = {HOSTED_ZONE: "Id", SECRET: "Id", ROLE: "RoleName"}
#: The property that names a resource of each type (create-only: an import cannot change it).
NAME_PROPERTY: Final = {HOSTED_ZONE: "Name", SECRET: "Name", ROLE: "RoleName"}
#: The DeletionPolicy of every resource in the import template, whatever the deploy template says (the runtime roles
#: have none there; the zone and secrets ``RetainExceptOnCreate``): should the import be rolled back, nothing it was
#: about is deleted. The deploy that follows sets the template's own policy, a change of the attribute only, which
#: CloudFormation applies without touching the resource.
IMPORT_DELETION_POLICY: Final = "Retain"
_PSEUDO: Final = frozenset(
    {
        "AWS::AccountId",
        "AWS::Partition",
        "AWS::Region",
        "AWS::StackName",
        "AWS::StackId",
        "AWS::URLSuffix",
        "AWS::NoValue",
    }
)


@dataclass(frozen=True, slots=True)
class NamedResource:
    """A resource of the template that has a fixed name: what adoption looks up or must not find."""

    logical_id: str
    resource_type: str
    name: str
    path: str | None = None  # roles only

    @property
    def identifier_key(self) -> str:
        return IMPORT_IDENTIFIERS[self.resource_type]


@dataclass(frozen=True, slots=True)
class ImportSelection:
    """``imported``: brought under the stack; ``created``: fixed-name resources the deploy creates (none may exist)."""

    imported: tuple[NamedResource, ...]
    created: tuple[NamedResource, ...]

    def of_type(self, resource_type: str) -> tuple[NamedResource, ...]:
        return tuple(r for r in self.imported if r.resource_type == resource_type)


def select_resources(template: Mapping[str, Any], parameters: Mapping[str, str]) -> ImportSelection:
    """The template's hosted zones, secrets and fixed-name roles outside the functions' path are imported; the
    fixed-name roles under the functions' path (``FUNCTION_ROLE_PATH``) are the deploy's to create."""
    resolver = Resolver(template, parameters)
    imported: list[NamedResource] = []
    created: list[NamedResource] = []
    for logical_id, resource in template.get("Resources", {}).items():
        resource_type = resource.get("Type")
        if resource_type not in NAME_PROPERTY:
            continue
        props = resource.get("Properties", {})
        if NAME_PROPERTY[resource_type] not in props:
            continue  # a generated name: nothing to find, nothing to collide with
        if "Condition" in resource:
            raise UnresolvableError(f"{logical_id} has a Condition; adoption does not decide conditional resources")
        name = str(resolver.value(props[NAME_PROPERTY[resource_type]]))
        path = str(resolver.value(props.get("Path", "/"))) if resource_type == ROLE else None
        named = NamedResource(logical_id, resource_type, name, path)
        (created if path == FUNCTION_ROLE_PATH else imported).append(named)
    return ImportSelection(tuple(imported), tuple(created))


def import_template(deploy_template: Mapping[str, Any], selection: ImportSelection) -> dict[str, Any]:
    """The template of the IMPORT change set: the deploy template's parameters, rules, mappings and conditions, and
    its imported resources exactly as it defines them, each with the DeletionPolicy :data:`IMPORT_DELETION_POLICY`."""
    resources: dict[str, Any] = {}
    for named in selection.imported:
        resource = copy.deepcopy(deploy_template["Resources"][named.logical_id])
        resource["DeletionPolicy"] = IMPORT_DELETION_POLICY
        resources[named.logical_id] = resource
    template: dict[str, Any] = {"AWSTemplateFormatVersion": "2010-09-09"}
    description = deploy_template.get("Description")
    if description:
        template["Description"] = description
    for section in ("Parameters", "Rules", "Mappings", "Conditions"):
        if section in deploy_template:
            template[section] = copy.deepcopy(deploy_template[section])
    template["Resources"] = resources
    return template


def identifier_value(named: NamedResource, found: Mapping[str, str]) -> str:
    """The identifier of a discovered resource: ``found`` maps logical IDs to zone ID / secret ARN / role name."""
    return found[named.logical_id]


def resources_to_import(selection: ImportSelection, found: Mapping[str, str]) -> list[dict[str, Any]]:
    """The ``ResourcesToImport`` document of ``CreateChangeSet`` (``ChangeSetType=IMPORT``)."""
    return [
        {
            "ResourceType": named.resource_type,
            "LogicalResourceId": named.logical_id,
            "ResourceIdentifier": {named.identifier_key: identifier_value(named, found)},
        }
        for named in selection.imported
    ]


def _references(node: Any) -> Iterator[str]:
    """Logical names a template node refers to (``Ref``, ``Fn::GetAtt``, ``Fn::Sub`` variables, ``DependsOn``)."""
    if isinstance(node, list):
        for item in node:
            yield from _references(item)
        return
    if not isinstance(node, dict):
        return
    for key, arg in node.items():
        if key == "Ref" and isinstance(arg, str):
            yield arg
        elif key == "Fn::GetAtt":
            yield (arg.split(".", 1)[0] if isinstance(arg, str) else str(arg[0]))
        elif key == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            for name in SUB_VARIABLE.findall(str(text)):
                if name.split(".", 1)[0] not in variables:
                    yield name.split(".", 1)[0]
            yield from _references(variables)
        else:
            yield from _references(arg)


def import_rule_problems(
    import_tpl: Mapping[str, Any], deploy_template: Mapping[str, Any], to_import: list[dict[str, Any]]
) -> list[str]:
    """Every way the import template and the resources-to-import document break CloudFormation's import rules (see
    the module docstring), or differ from the deploy template in a way the deploy after the import would act on."""
    problems: list[str] = []
    if "Transform" in import_tpl:
        problems.append("the import template has a Transform")
    if "Outputs" in import_tpl:
        problems.append("the import template has Outputs (an import cannot add them)")
    resources = import_tpl.get("Resources", {})
    declared = {**import_tpl.get("Parameters", {}), **resources}
    for logical_id, resource in resources.items():
        resource_type = resource.get("Type")
        if resource_type not in IMPORT_IDENTIFIERS:
            problems.append(f"{logical_id}: {resource_type} does not support resource import")
        if "DeletionPolicy" not in resource:
            problems.append(f"{logical_id}: no DeletionPolicy (every resource to import needs one)")
        deployed = deploy_template.get("Resources", {}).get(logical_id, {})
        if json.dumps(resource.get("Properties"), sort_keys=True) != json.dumps(
            deployed.get("Properties"), sort_keys=True
        ):
            problems.append(f"{logical_id}: Properties differ from the deploy template (the deploy would update it)")
        for name in sorted(set(_references(resource))):
            if name not in declared and name not in _PSEUDO:
                problems.append(f"{logical_id}: refers to {name}, which the import template does not hold")
    listed = [entry.get("LogicalResourceId") for entry in to_import]
    if sorted(map(str, listed)) != sorted(resources) or len(set(listed)) != len(listed):
        problems.append(
            f"resources-to-import lists {sorted(map(str, listed))}, the import template holds {sorted(resources)}: "
            "each must be imported exactly once"
        )
    for entry in to_import:
        resource = resources.get(entry.get("LogicalResourceId"), {})
        resource_type = entry.get("ResourceType")
        if resource_type != resource.get("Type"):
            problems.append(f"{entry.get('LogicalResourceId')}: ResourceType {resource_type} is not the template's")
        identifier = entry.get("ResourceIdentifier", {})
        expected_key = IMPORT_IDENTIFIERS.get(str(resource_type))
        if list(identifier) != [expected_key] or not identifier.get(expected_key):
            problems.append(f"{entry.get('LogicalResourceId')}: ResourceIdentifier must be {{{expected_key}: …}}")
    return problems

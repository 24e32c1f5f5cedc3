"""The discovery half of adoption: find what the old deployment left, by name, and check every precondition.

Each check becomes a :class:`Finding`; the operator sees all of them in the plan, and adoption refuses when any
one failed, saying what to fix. Nothing here writes anything, and no secret value is ever printed: the token
secret's value is only compared, in memory, with the token the deploy will pass.

Sources of the AWS behaviour relied on:

* a hosted zone is found by exact name with ``ListHostedZonesByName`` (zones sorted by name, so the matches are
  the first ones; https://docs.aws.amazon.com/Route53/latest/APIReference/API_ListHostedZonesByName.html); only
  public zones count (``Config.PrivateZone``);
* ``DescribeSecret`` gives a secret's ARN, ``DeletedDate`` when it is scheduled for deletion, and
  ``VersionIdsToStages`` with the ``AWSCURRENT``/``AWSPREVIOUS`` labels
  (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html);
* a resource belongs to a stack while the stack (in any state but ``DELETE_COMPLETE``) lists its physical ID among
  its resources (``ListStacks``, ``ListStackResources``); a resource that belongs to another stack cannot be
  imported ("The resource to import does not belong to another stack",
  https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resource-import.html), and an export name is
  unique in a Region (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/outputs-section-structure.html),
  so the old stack's exports must be gone before the deploy publishes them again;
* an ``AWS::Route53::RecordSet`` that the deploy creates where a record of that name and type already exists: the
  Route 53 ``CREATE`` fails ("Tried to create resource record set … but it already exists"), and CloudFormation
  then takes the record over only when it is identical (name, type, values and TTL), in one atomic change, as
  observed and reported in https://github.com/aws-cloudformation/cloudformation-coverage-roadmap/issues/560 (not
  documented by AWS, so not proven offline). A record that differs must be set to the template's value first.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote

from arda_mail.dns_names import relative
from arda_mail.postmark.errors import PostmarkAuthError, PostmarkError
from arda_mail.postmark.models import PostmarkDomain
from arda_mail.txt_records import route53_txt_value
from arda_ops.adopt_template import (
    HOSTED_ZONE,
    RECORD_SET,
    ROLE,
    SECRET,
    ImportSelection,
    NamedResource,
)
from arda_ops.cfn_intrinsics import Resolver, UnresolvableError

CURRENT: Final = "AWSCURRENT"
PREVIOUS: Final = "AWSPREVIOUS"
#: Every stack state but DELETE_COMPLETE: a stack in any of them exists, and owns its resources.
_LIVE_STATES: Final = (
    "CREATE_IN_PROGRESS",
    "CREATE_FAILED",
    "CREATE_COMPLETE",
    "ROLLBACK_IN_PROGRESS",
    "ROLLBACK_FAILED",
    "ROLLBACK_COMPLETE",
    "DELETE_IN_PROGRESS",
    "DELETE_FAILED",
    "UPDATE_IN_PROGRESS",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
    "UPDATE_COMPLETE",
    "UPDATE_FAILED",
    "UPDATE_ROLLBACK_IN_PROGRESS",
    "UPDATE_ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
    "UPDATE_ROLLBACK_COMPLETE",
    "REVIEW_IN_PROGRESS",
    "IMPORT_IN_PROGRESS",
    "IMPORT_COMPLETE",
    "IMPORT_ROLLBACK_IN_PROGRESS",
    "IMPORT_ROLLBACK_FAILED",
    "IMPORT_ROLLBACK_COMPLETE",
)

#: Finds the Postmark domain of a name with the token the deploy passes (None: no such domain on that account).
PostmarkLookup = Callable[[str], PostmarkDomain | None]


class AdoptionRefusedError(RuntimeError):
    """Adoption must not start; the message lists every failed precondition and its fix."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's outcome; ``warning``: not a refusal, but something to act on after the adoption."""

    check: str
    ok: bool
    detail: str
    warning: bool = False


@dataclass
class Discovered:
    """What was found, keyed by the template's logical IDs (identifiers: zone ID, secret ARN, role name)."""

    identifiers: dict[str, str] = field(default_factory=dict)
    zone_name_servers: dict[str, list[str]] = field(default_factory=dict)
    secret_stages: dict[str, set[str]] = field(default_factory=dict)
    postmark_domain: PostmarkDomain | None = None
    findings: list[Finding] = field(default_factory=list)

    def add(self, check: str, ok: bool, detail: str, *, warning: bool = False) -> None:
        self.findings.append(Finding(check, ok, detail, warning))

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]


@dataclass(frozen=True)
class Clients:
    """boto3 clients in the account and Region of the stack (the operator's credentials)."""

    route53: Any
    secretsmanager: Any
    iam: Any
    cloudformation: Any


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, Mapping) else ""


def public_zones_named(route53: Any, name: str) -> list[dict[str, Any]]:
    """Every public hosted zone called exactly ``name`` (paged: the matches come first, in name order)."""
    wanted = relative(name)
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"DNSName": wanted}
    while True:
        page = route53.list_hosted_zones_by_name(**kwargs)
        for zone in page.get("HostedZones", []):
            if relative(zone["Name"]) != wanted:
                return found
            if not zone.get("Config", {}).get("PrivateZone", False):
                found.append(zone)
        if not page.get("IsTruncated"):
            return found
        kwargs = {"DNSName": page["NextDNSName"], "HostedZoneId": page["NextHostedZoneId"]}


def _zone_id(zone: Mapping[str, Any]) -> str:
    return str(zone["Id"]).rsplit("/", 1)[-1]


def discover_zone(clients: Clients, named: NamedResource, found: Discovered) -> None:
    zones = public_zones_named(clients.route53, named.name)
    if len(zones) != 1:
        ids = ", ".join(_zone_id(z) for z in zones)
        fix = (
            "nothing to adopt: create the stack with `bin/deploy` instead, or check the account and Region"
            if not zones
            else f"delete the stale zone(s) ({ids}) after moving their records, keeping the one the parent delegates to"
        )
        found.add(f"zone {named.name}", False, f"{len(zones)} public hosted zones named {named.name}: {fix}")
        return
    zone_id = _zone_id(zones[0])
    servers = list(clients.route53.get_hosted_zone(Id=zone_id).get("DelegationSet", {}).get("NameServers", []))
    found.identifiers[named.logical_id] = zone_id
    found.zone_name_servers[named.logical_id] = servers
    found.add(f"zone {named.name}", True, f"hosted zone {zone_id} (name servers {', '.join(servers)}) is kept")


def discover_secret(clients: Clients, named: NamedResource, found: Discovered) -> None:
    try:
        described = clients.secretsmanager.describe_secret(SecretId=named.name)
    except Exception as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise
        found.add(f"secret {named.name}", False, "no secret of that name: nothing to adopt for it")
        return
    if described.get("Name") != named.name:
        found.add(f"secret {named.name}", False, f"the secret found is called {described.get('Name')}")
        return
    if described.get("DeletedDate"):
        found.add(
            f"secret {named.name}",
            False,
            "scheduled for deletion: restore it first (`aws secretsmanager restore-secret --secret-id …`)",
        )
        return
    stages = {stage for labels in described.get("VersionIdsToStages", {}).values() for stage in labels}
    found.identifiers[named.logical_id] = str(described["ARN"])
    found.secret_stages[named.logical_id] = stages
    if CURRENT not in stages:
        found.add(f"secret {named.name}", False, f"{described['ARN']} has no {CURRENT} value")
        return
    kept = " and ".join(s for s in (CURRENT, PREVIOUS) if s in stages)
    found.add(f"secret {named.name}", True, f"{described['ARN']} is kept with its {kept} versions")


def discover_role(clients: Clients, named: NamedResource, found: Discovered, *, must_exist: bool) -> None:
    try:
        role = clients.iam.get_role(RoleName=named.name)["Role"]
    except Exception as exc:
        if _code(exc) != "NoSuchEntity":
            raise
        if must_exist:
            found.add(f"role {named.name}", False, "no role of that name: nothing to adopt for it")
        else:
            found.add(f"role {named.name}", True, "absent: the deploy creates it")
        return
    if not must_exist:
        found.add(
            f"role {named.name}",
            False,
            f"{role['Arn']} already exists, and the deploy must create it: delete it (it is a custom-resource "
            "function's role, not the runtime's)",
        )
        return
    if role.get("Path", "/") != named.path:
        found.add(
            f"role {named.name}",
            False,
            f"path {role.get('Path', '/')} differs from the template's {named.path} (a role's path cannot change)",
        )
        return
    found.identifiers[named.logical_id] = named.name
    found.add(f"role {named.name}", True, f"{role['Arn']} is kept")


def _normalised(document: Any) -> Any:
    """A policy document compared as IAM means it: a one-element list is the same as its element, order of
    statements and of values is irrelevant (``Version`` and ``Sid`` included as they are)."""
    if isinstance(document, str):
        try:
            return _normalised(json.loads(unquote(document)))
        except ValueError:
            return document
    if isinstance(document, dict):
        return {k: _normalised(v) for k, v in sorted(document.items())}
    if isinstance(document, list):
        items = [_normalised(v) for v in document]
        if len(items) == 1:
            return items[0]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    return document


def check_role_policies(
    clients: Clients,
    template: Mapping[str, Any],
    parameters: Mapping[str, str],
    selection: ImportSelection,
    found: Discovered,
) -> None:
    """Warn when an imported role's trust or inline policies differ from the template's: the import does not change
    them, and the deploy after it does not either (the role's definition is unchanged), so they must be set by hand.
    Not a refusal: the runtime keeps working with the old policies meanwhile."""
    refs: dict[str, Any] = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", **found.identifiers}
    for named in selection.of_type(ROLE):
        if named.logical_id not in found.identifiers:
            continue
        role = clients.iam.get_role(RoleName=named.name)["Role"]
        refs["AWS::AccountId"] = str(role["Arn"]).split(":")[4]
        resolver = Resolver(template, parameters, refs=refs)
        props = template["Resources"][named.logical_id].get("Properties", {})
        differences: list[str] = []
        try:
            if _normalised(resolver.value(props.get("AssumeRolePolicyDocument"))) != _normalised(
                role.get("AssumeRolePolicyDocument")
            ):
                differences.append("trust policy")
            wanted = {
                p["PolicyName"]: _normalised(resolver.value(p["PolicyDocument"])) for p in props.get("Policies", [])
            }
        except UnresolvableError as exc:
            found.add(f"policies of {named.name}", True, f"not compared ({exc})", warning=True)
            continue
        names = clients.iam.list_role_policies(RoleName=named.name).get("PolicyNames", [])
        have = {
            name: _normalised(clients.iam.get_role_policy(RoleName=named.name, PolicyName=name)["PolicyDocument"])
            for name in names
        }
        differences += [
            f"inline policy {name}"
            for name in sorted(wanted.keys() | have.keys())
            if wanted.get(name) != have.get(name)
        ]
        attached = clients.iam.list_attached_role_policies(RoleName=named.name).get("AttachedPolicies", [])
        if sorted(a["PolicyArn"] for a in attached) != sorted(props.get("ManagedPolicyArns", [])):
            differences.append("attached managed policies")
        if differences:
            found.add(
                f"policies of {named.name}",
                True,
                f"{', '.join(differences)} differ from the template's: neither the import nor the deploy rewrites "
                "them; set them by hand afterwards (README, Adopting, step 4)",
                warning=True,
            )
        else:
            found.add(f"policies of {named.name}", True, "trust and inline policies are the template's")


def live_stacks(cloudformation: Any) -> list[dict[str, Any]]:
    stacks: list[dict[str, Any]] = []
    for page in cloudformation.get_paginator("list_stacks").paginate(StackStatusFilter=_LIVE_STATES):
        stacks.extend(page.get("StackSummaries", []))
    return stacks


def owners(cloudformation: Any, physical_ids: Iterable[str]) -> dict[str, str]:
    """Physical ID → name of the live stack that lists it among its resources."""
    wanted = set(physical_ids)
    owned: dict[str, str] = {}
    for stack in live_stacks(cloudformation):
        pages = cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack["StackId"])
        for page in pages:
            for resource in page.get("StackResourceSummaries", []):
                pid = str(resource.get("PhysicalResourceId", "")).rsplit("/hostedzone/", 1)[-1]
                if pid in wanted:
                    owned[pid] = str(stack["StackName"])
    return owned


def check_ownership(clients: Clients, stack_name: str, selection: ImportSelection, found: Discovered) -> None:
    """The old stack is gone (the stack name is free) and no live stack still owns what is to be imported."""
    same_name = [s for s in live_stacks(clients.cloudformation) if s["StackName"] == stack_name]
    if same_name:
        found.add(
            f"stack {stack_name}",
            False,
            f"exists ({same_name[0]['StackStatus']}): release its resources (DeletionPolicy Retain) and delete it "
            "first (README, Adopting an existing deployment); a stack left in REVIEW_IN_PROGRESS by an earlier "
            "import attempt can simply be deleted",
        )
    else:
        found.add(f"stack {stack_name}", True, "does not exist: the import creates it")
    names = {n.logical_id: n for n in selection.imported}
    by_pid = {pid: names[lid] for lid, pid in found.identifiers.items() if lid in names}
    # A secret's physical ID is its ARN, but some tools record its name; a zone's is its ID and a role's its name
    # (a zone's name would also match the record sets at its apex, which are not the zone).
    aliases = {
        names[lid].name: pid
        for lid, pid in found.identifiers.items()
        if lid in names and names[lid].resource_type == SECRET
    }
    owned = owners(clients.cloudformation, [*by_pid, *aliases])
    for pid, stack in sorted(owned.items()):
        named = by_pid.get(pid) or by_pid[aliases[pid]]
        found.add(
            f"owner of {named.name}",
            False,
            f"still a resource of stack {stack}: give it DeletionPolicy Retain there and remove it from that stack "
            "(or delete the stack) before the import",
        )
    if not owned and by_pid:
        found.add("owners", True, f"no live stack owns any of the {len(by_pid)} resources to import")


def check_exports(clients: Clients, export_names: Sequence[str], found: Discovered) -> None:
    wanted = set(export_names)
    taken: dict[str, str] = {}
    for page in clients.cloudformation.get_paginator("list_exports").paginate():
        for export in page.get("Exports", []):
            if export["Name"] in wanted:
                taken[export["Name"]] = str(export.get("ExportingStackId", ""))
    for name, stack in sorted(taken.items()):
        found.add(f"export {name}", False, f"still exported by {stack}: delete that stack first")
    if not taken:
        found.add("exports", True, f"none of the {len(wanted)} export names is taken")


def check_token(clients: Clients, named: NamedResource, token: str, found: Discovered) -> None:
    """The token the deploy passes must be the one the secret holds: the import template declares it, so the deploy
    that follows sees no change and writes no new version (``AWSPREVIOUS`` stays the value it is)."""
    arn = found.identifiers.get(named.logical_id)
    if arn is None:
        return
    current = clients.secretsmanager.get_secret_value(SecretId=arn, VersionStage=CURRENT).get("SecretString", "")
    if hmac.compare_digest(str(current).encode(), token.encode()):
        found.add(f"token in {named.name}", True, "equals the token from 1Password: the deploy leaves the secret as is")
    else:
        found.add(
            f"token in {named.name}",
            False,
            "differs from the token from 1Password: the deploy would write a new version and move AWSPREVIOUS; "
            "make the 1Password item hold the token of the Postmark account that has the domain, then retry",
        )


def check_postmark(lookup: PostmarkLookup, domain_name: str, found: Discovered) -> None:
    """The domain on the token's Postmark account. Postmark unreachable, or refusing the token, is a refusal like any
    other failed precondition (named, with what to do), not a traceback that hides the rest of the plan."""
    try:
        domain = lookup(domain_name)
    except PostmarkAuthError as exc:
        found.add(
            f"Postmark domain {domain_name}",
            False,
            f"could not ask Postmark: it rejected the token from 1Password ({exc.message}); put the account token of "
            "the partition's Postmark account into the 1Password item, then retry",
        )
        return
    except PostmarkError as exc:
        found.add(
            f"Postmark domain {domain_name}",
            False,
            f"could not ask Postmark: {exc.message}; retry when Postmark answers",
        )
        return
    if domain is None:
        found.add(
            f"Postmark domain {domain_name}",
            False,
            "not on the Postmark account of the token: the take-over would register a new domain with a new DKIM key; "
            "check the token (1Password) and the partition's Postmark account",
        )
        return
    found.postmark_domain = domain
    verified = "DKIM verified" if domain.dkim_verified else "DKIM NOT verified yet"
    found.add(
        f"Postmark domain {domain_name}",
        True,
        f"ID {domain.id}, {verified}, DKIM host {domain.dkim_record_host}: taken over as it is (same ID, same key)",
    )


def postmark_attributes(template: Mapping[str, Any], domain: PostmarkDomain | None) -> dict[str, Any]:
    """The ``Fn::GetAtt`` values a taken-over ``Custom::PostmarkDomain`` will answer (as the handler builds them)."""
    if domain is None:
        return {}
    values = {
        "DomainId": str(domain.id),
        "DkimHostName": domain.dkim_record_host,
        "DkimRecordValue": route53_txt_value(domain.dkim_record_text),
        "ReturnPathHostName": domain.return_path_domain,
        "ReturnPathCnameTarget": domain.return_path_cname_value,
    }
    return {
        f"{logical_id}.{key}": value
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == "Custom::PostmarkDomain"
        for key, value in values.items()
        if value
    }


def _record_sets(route53: Any, zone_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    records: dict[tuple[str, str], dict[str, Any]] = {}
    for page in route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id):
        for rrset in page.get("ResourceRecordSets", []):
            records[(relative(rrset["Name"]), rrset["Type"])] = rrset
    return records


def check_records(
    clients: Clients,
    template: Mapping[str, Any],
    parameters: Mapping[str, str],
    selection: ImportSelection,
    found: Discovered,
) -> None:
    """Each record set the deploy creates in an imported zone is absent, or exactly the template's."""
    resolver = Resolver(template, parameters, postmark_attributes(template, found.postmark_domain))
    zones = {n.logical_id for n in selection.of_type(HOSTED_ZONE)}
    cache: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        zone_ref = props.get("HostedZoneId", {})
        if resource.get("Type") != RECORD_SET or not isinstance(zone_ref, dict) or zone_ref.get("Ref") not in zones:
            continue
        zone_id = found.identifiers.get(zone_ref["Ref"])
        if zone_id is None:
            continue
        try:
            name = relative(str(resolver.value(props["Name"])))
            values = sorted(str(v) for v in resolver.value(props.get("ResourceRecords", [])))
        except UnresolvableError as exc:
            found.add(f"record {logical_id}", True, f"not checked ({exc}); the deploy creates it")
            continue
        records = cache.setdefault(zone_id, _record_sets(clients.route53, zone_id))
        existing = records.get((name, props["Type"]))
        if existing is None:
            found.add(f"record {logical_id}", True, f"{props['Type']} {name} absent: the deploy creates it")
            continue
        have = sorted(r["Value"] for r in existing.get("ResourceRecords", []))
        ttl = int(props.get("TTL", 0))
        if have == values and int(existing.get("TTL", -1)) == ttl:
            found.add(f"record {logical_id}", True, f"{props['Type']} {name} is already exactly the template's")
            continue
        found.add(
            f"record {logical_id}",
            False,
            f"{props['Type']} {name} holds {have} TTL {existing.get('TTL')}, the template {values} TTL {ttl}: the "
            "deploy's create would fail on it; UPSERT it to the template's value and TTL first (one atomic change, "
            "the name keeps resolving)",
        )


def discover(
    clients: Clients,
    *,
    stack_name: str,
    template: Mapping[str, Any],
    parameters: Mapping[str, str],
    selection: ImportSelection,
    export_names: Sequence[str],
    token: str,
    token_secret: str,
    domain_name: str,
    postmark: PostmarkLookup,
) -> Discovered:
    """Find every resource to import and run every precondition; :class:`Discovered` holds the outcome."""
    found = Discovered()
    for named in selection.imported:
        if named.resource_type == HOSTED_ZONE:
            discover_zone(clients, named, found)
        elif named.resource_type == SECRET:
            discover_secret(clients, named, found)
        elif named.resource_type == ROLE:
            discover_role(clients, named, found, must_exist=True)
    for named in selection.created:
        discover_role(clients, named, found, must_exist=False)
    check_ownership(clients, stack_name, selection, found)
    check_exports(clients, export_names, found)
    for named in selection.of_type(SECRET):
        if named.logical_id == token_secret:
            check_token(clients, named, token, found)
    check_postmark(postmark, domain_name, found)
    check_records(clients, template, parameters, selection, found)
    check_role_policies(clients, template, parameters, selection, found)
    return found


def refuse_if_needed(found: Discovered) -> None:
    if found.problems:
        lines = "\n".join(f"  - {f.check}: {f.detail}" for f in found.problems)
        raise AdoptionRefusedError(f"adoption refused, {len(found.problems)} precondition(s) failed:\n{lines}")

"""``bin/deploy <partition> --adopt``: move an existing deployment onto the SAM stack, nothing regenerated.

The partitions' mail was first deployed by another tool (a CDK stack of the same name, ``{fqn}-Email``). Its hosted
zone (whose name servers the parent delegates to), its two secrets (the encryption key protects every tenant's
Postmark server token: a new one would lose them all) and its two runtime roles must become the SAM stack's as
they are. CloudFormation can only do that with a resource **import**; everything else the stack holds is then
created, or adopted by the custom resources, by the ordinary ``sam deploy`` that follows:

1. the preflight of ``bin/deploy`` (partition, accounts, samconfig, tools, the profile's account), then the token
   from 1Password, into memory only;
2. from the real template (:mod:`arda_ops.adopt_template`): which resources are imported, the import template and
   the resources-to-import document, checked against CloudFormation's import rules;
3. discovery by name and every precondition (:mod:`arda_ops.adopt_discovery`), shown to the operator as a plan;
   any failed precondition refuses the whole adoption (exit 2) before anything is written to AWS;
4. ``--dry-run`` stops here, having written the two documents under ``.adopt/<stack>/`` and printed the commands;
5. the ``IMPORT`` change set is created, checked to hold nothing but imports, executed and waited for;
6. ``sam deploy`` (through :func:`arda_ops.deploy.deploy`, so the token stays in memory) with
   ``TakeOverExistingPostmarkDomain=true`` (``Custom::PostmarkDomain`` takes the existing domain over, with its ID
   and DKIM key) and ``--disable-rollback``: a failure leaves what was adopted in place, because a rollback would
   send the custom resources a Delete and remove the taken-over domain and the adopted NS delegation.

Everything is driven by the placement function and the template, never by partition names written here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from arda_mail import log_redaction
from arda_mail.placement import CORPORATE_SCOPE, corporate_placement, partition_placement
from arda_mail.postmark.client import DEFAULT_API_URL
from arda_mail.postmark.models import PostmarkDomain
from arda_ops import deploy as deploy_wrapper
from arda_ops.adopt_discovery import (
    AdoptionRefusedError,
    Clients,
    Discovered,
    PostmarkLookup,
    discover,
    refuse_if_needed,
)
from arda_ops.adopt_template import (
    SECRET,
    ImportSelection,
    import_rule_problems,
    import_template,
    resources_to_import,
    select_resources,
)
from arda_ops.cfn_intrinsics import Resolver, UnresolvableError

TAKE_OVER_PARAMETER: Final = deploy_wrapper.TAKE_OVER_PARAMETER
#: ``sam deploy`` option that keeps a failed deploy's resources instead of rolling them back.
NO_ROLLBACK: Final = "--disable-rollback"
OUT_DIR: Final = deploy_wrapper.REPO_ROOT / ".adopt"
TEMPLATE: Final = deploy_wrapper.REPO_ROOT / "template.yaml"
CORPORATE_TEMPLATE: Final = deploy_wrapper.REPO_ROOT / "corporate" / "template.yaml"
CAPABILITIES: Final = ["CAPABILITY_NAMED_IAM"]
#: What ``bin/deploy`` refuses after ``--``, plus ``--no-disable-rollback``, which would undo the adoption's
#: ``--disable-rollback``.
FORBIDDEN_SAM_ARGS: Final = deploy_wrapper.FORBIDDEN_SAM_ARGS | {"--no-disable-rollback"}

ClientsFactory = Callable[[str, str | None], Clients]
PostmarkFactory = Callable[[str, str], PostmarkLookup]


@dataclass(frozen=True)
class AdoptTarget:
    """What is adopted: the stack, its template, its Postmark domain, and which secret holds the account token."""

    config_env: str
    stack_name: str
    template: Path
    domain_name: str
    token_secret_name: str


def target_for(name: str) -> AdoptTarget:
    """Every name from the placement function: an active partition's stack, or Corporate's (``corporate``, with its
    own template); raises for unknown or suspended partitions."""
    if name == CORPORATE_SCOPE:
        corporate = corporate_placement()
        return AdoptTarget(
            config_env=CORPORATE_SCOPE,
            stack_name=corporate.stack_name,
            template=CORPORATE_TEMPLATE,
            domain_name=corporate.mail.postmark_domain_name,
            token_secret_name=corporate.account_token_secret_name,
        )
    placement = partition_placement(name)
    return AdoptTarget(
        config_env=name,
        stack_name=placement.stack_name,
        template=TEMPLATE,
        domain_name=placement.mail.postmark_domain_name,
        token_secret_name=placement.account_token_secret_name,
    )


def boto_clients(region: str, profile: str | None) -> Clients:
    import boto3

    session = boto3.Session(profile_name=profile, region_name=region)
    return Clients(
        route53=session.client("route53"),
        secretsmanager=session.client("secretsmanager"),
        iam=session.client("iam"),
        cloudformation=session.client("cloudformation"),
    )


def postmark_lookup(token: str, api_url: str) -> PostmarkLookup:
    """The Postmark domain of a name on the token's account, read with the layer's own client."""

    def lookup(name: str) -> PostmarkDomain | None:
        from arda_mail.postmark.client import PostmarkClient

        with PostmarkClient(token, api_url) as client:
            summary = client.find_domain_by_name(name)
            return None if summary is None else client.get_domain(summary.id)

    return lookup


def parameters_of(overrides: Sequence[str]) -> dict[str, str]:
    """``Key=Value`` overrides (samconfig's list) as a mapping."""
    return dict(item.split("=", 1) for item in overrides if "=" in item)


def export_names(template: Mapping[str, Any], parameters: Mapping[str, str]) -> list[str]:
    resolver = Resolver(template, parameters)
    names: list[str] = []
    for output in template.get("Outputs", {}).values():
        if "Export" in output:
            try:
                names.append(str(resolver.value(output["Export"]["Name"])))
            except UnresolvableError:
                continue
    return names


@dataclass
class Adoption:
    """Everything the plan shows and the import needs."""

    target: AdoptTarget
    parameters: dict[str, str]
    selection: ImportSelection
    import_template: dict[str, Any]
    resources_to_import: list[dict[str, Any]]
    found: Discovered


def prepare(
    target: AdoptTarget,
    parameters: Mapping[str, str],
    token: str,
    clients: Clients,
    postmark: PostmarkFactory,
) -> Adoption:
    """Derive the import from the template, discover, and check every precondition (nothing is written)."""
    from arda_ops.sam_translate import sam_to_cfn

    # Discovery reads the token secret to compare it with the token (GetSecretValue, whose answer botocore dumps at
    # DEBUG) and sends the token to Postmark: the redaction must stand before the first call, not only at the import.
    log_redaction.install()
    log_redaction.register_value(token)

    params = {**parameters, TAKE_OVER_PARAMETER: "true"}
    template = sam_to_cfn(target.template, params)
    selection = select_resources(template, params)
    token_secret = next((n.logical_id for n in selection.of_type(SECRET) if n.name == target.token_secret_name), "")
    api_url = (
        str(Resolver(template, params).value({"Ref": "PostmarkApiUrl"}))
        if "PostmarkApiUrl" in template.get("Parameters", {})
        else DEFAULT_API_URL
    )
    found = discover(
        clients,
        stack_name=target.stack_name,
        template=template,
        parameters=params,
        selection=selection,
        export_names=export_names(template, params),
        token=token,
        token_secret=token_secret,
        domain_name=target.domain_name,
        postmark=postmark(token, api_url),
    )
    if not token_secret:
        found.add("token secret", False, f"the template declares no secret named {target.token_secret_name}")
    tpl = import_template(template, selection)
    documents = resources_to_import(selection, found.identifiers) if not _missing(selection, found) else []
    problems = import_rule_problems(tpl, template, documents) if documents else []
    for problem in problems:
        found.add("import rules", False, problem)
    if documents and not problems:
        found.add(
            "import rules",
            True,
            f"{len(documents)} resources, each importable, each with a DeletionPolicy, Properties exactly the deploy "
            "template's (so the deploy after the import updates none of them), no Transform, no Outputs",
        )
    for named in selection.of_type(SECRET):
        generated = "GenerateSecretString" in template["Resources"][named.logical_id].get("Properties", {})
        if generated and named.logical_id in found.identifiers:
            found.add(
                f"{named.logical_id} not regenerated",
                True,
                "the import only reads the secret; GenerateSecretString is write-only and unchanged, so the deploy "
                "sends the secret no update: its value and versions stay",
            )
    return Adoption(target, params, selection, tpl, documents, found)


def _missing(selection: ImportSelection, found: Discovered) -> list[str]:
    return [n.logical_id for n in selection.imported if n.logical_id not in found.identifiers]


def write_documents(adoption: Adoption, out_dir: Path) -> tuple[Path, Path]:
    """The two documents of the IMPORT change set, for the record and for a by-hand run (no secret in them)."""
    folder = out_dir / adoption.target.stack_name
    folder.mkdir(parents=True, exist_ok=True)
    template_file = folder / "import-template.json"
    document_file = folder / "resources-to-import.json"
    template_file.write_text(json.dumps(adoption.import_template, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    document_file.write_text(json.dumps(adoption.resources_to_import, indent=2) + "\n", encoding="utf-8")
    return template_file, document_file


def plan_text(adoption: Adoption) -> str:
    target = adoption.target
    lines = [f"Adoption of {target.domain_name} into stack {target.stack_name} (config-env {target.config_env})", ""]
    lines.append("Imported (CloudFormation resource import, nothing created or changed):")
    for named in adoption.selection.imported:
        ident = adoption.found.identifiers.get(named.logical_id, "NOT FOUND")
        lines.append(f"  {named.logical_id:<32} {named.resource_type:<28} {named.name} -> {ident}")
    lines.append("Then `sam deploy` with TakeOverExistingPostmarkDomain=true and --disable-rollback: creates the")
    lines.append("functions, the records that are missing, and the custom resources, which adopt the Postmark domain")
    lines.append("(same ID and DKIM key) and an NS delegation that already holds the zone's name servers (no change).")
    lines.append("")
    lines.append("Preconditions:")
    for finding in adoption.found.findings:
        state = "REFUSED" if not finding.ok else "WARN" if finding.warning else "ok"
        lines.append(f"  [{state}] {finding.check}: {finding.detail}")
    return "\n".join(lines)


def _cli_parameters(parameters: Mapping[str, str]) -> str:
    parts = [
        f"ParameterKey={k},ParameterValue={'<token from 1Password>' if k == deploy_wrapper.TOKEN_PARAMETER else v}"
        for k, v in sorted(parameters.items())
    ]
    return " ".join(parts)


def dry_run_commands(adoption: Adoption, template_file: Path, document_file: Path) -> str:
    params = {**adoption.parameters, deploy_wrapper.TOKEN_PARAMETER: ""}
    name = adoption.target.stack_name
    return "\n".join(
        [
            "Dry run: nothing was sent. Without --dry-run, bin/deploy --adopt runs:",
            f"  aws cloudformation create-change-set --stack-name {name} --change-set-name adopt-<UTC stamp> "
            f"--change-set-type IMPORT --template-body file://{template_file} "
            f"--resources-to-import file://{document_file} --capabilities {' '.join(CAPABILITIES)} "
            f"--parameters {_cli_parameters(params)}",
            f"  aws cloudformation execute-change-set --stack-name {name} --change-set-name adopt-<UTC stamp>"
            "  (after checking that every change is an Import)",
            f"  sam deploy --config-env {adoption.target.config_env} {NO_ROLLBACK} "
            f"--parameter-overrides <samconfig's> {TAKE_OVER_PARAMETER}=true PostmarkAccountToken=<hidden>",
        ]
    )


class ImportFailedError(RuntimeError):
    """The IMPORT change set could not be created or executed; nothing after it ran."""


def run_import(cloudformation: Any, adoption: Adoption, token: str, stamp: str) -> None:
    """Create the IMPORT change set, check that it imports and does nothing else, execute it and wait."""
    # The token travels to CloudFormation as the import's NoEcho parameter: botocore's DEBUG dump of CreateChangeSet,
    # and any answer that echoes it (moto's DescribeChangeSet does), must print <redacted>.
    log_redaction.install()
    log_redaction.register_value(token)
    name = adoption.target.stack_name
    change_set = f"adopt-{stamp}"
    params = {**adoption.parameters, deploy_wrapper.TOKEN_PARAMETER: token}
    cloudformation.create_change_set(
        StackName=name,
        ChangeSetName=change_set,
        ChangeSetType="IMPORT",
        TemplateBody=json.dumps(adoption.import_template),
        ResourcesToImport=adoption.resources_to_import,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(params.items())],
        Capabilities=CAPABILITIES,
    )
    cloudformation.get_waiter("change_set_create_complete").wait(
        StackName=name, ChangeSetName=change_set, WaiterConfig={"Delay": 5, "MaxAttempts": 120}
    )
    described = cloudformation.describe_change_set(StackName=name, ChangeSetName=change_set)
    actions = {
        change["ResourceChange"]["LogicalResourceId"]: change["ResourceChange"]["Action"]
        for change in described.get("Changes", [])
    }
    expected = {entry["LogicalResourceId"]: "Import" for entry in adoption.resources_to_import}
    if actions != expected:
        cloudformation.delete_change_set(StackName=name, ChangeSetName=change_set)
        raise ImportFailedError(f"the change set would do {actions}, not only the imports {expected}; deleted it")
    cloudformation.execute_change_set(StackName=name, ChangeSetName=change_set)
    cloudformation.get_waiter("stack_import_complete").wait(
        StackName=name, WaiterConfig={"Delay": 10, "MaxAttempts": 180}
    )


def _confirmed(adoption: Adoption) -> bool:
    if not sys.stdin.isatty():
        return False
    answer = input(f"Type the stack name ({adoption.target.stack_name}) to import and deploy: ")
    return answer.strip() == adoption.target.stack_name


def adopt(
    partition: str,
    *,
    profile: str | None = None,
    dry_run: bool = False,
    yes: bool = False,
    skip_build: bool = False,
    extra_sam_args: Sequence[str] = (),
    identity: deploy_wrapper.Identity = deploy_wrapper.caller_account_id,
    token_reader: Callable[[str], str] = deploy_wrapper.read_token_with_op,
    clients_factory: ClientsFactory = boto_clients,
    postmark: PostmarkFactory = postmark_lookup,
    build: Callable[[], None] | None = None,
    sam: Callable[[Sequence[str]], int] = deploy_wrapper.run_sam_in_process,
    out_dir: Path = OUT_DIR,
    stamp: Callable[[], str] = deploy_wrapper.utc_stamp,
) -> int:
    """The whole adoption; raises :class:`deploy.PreflightError` or :class:`AdoptionRefusedError` to refuse."""
    target = target_for(partition)
    # The option's name only: its `=value` may be the token itself (`--parameter-overrides=…Token=…`).
    refused_args = deploy_wrapper.refused_sam_args(extra_sam_args, FORBIDDEN_SAM_ARGS)
    if refused_args:  # refused before the import, not by the deploy after it
        raise deploy_wrapper.PreflightError(f"not allowed through bin/deploy: {refused_args}")
    plan = deploy_wrapper.preflight(partition, profile=profile, identity=identity, skip_build=skip_build)
    overrides = deploy_wrapper.sam_parameter_overrides(partition, plan.samconfig)
    token = token_reader(partition)
    clients = clients_factory(plan.region, plan.profile)
    adoption = prepare(target, parameters_of(overrides), token, clients, postmark)
    template_file, document_file = write_documents(adoption, out_dir)
    print(plan_text(adoption))
    print(f"\nImport template: {template_file}\nResources to import: {document_file}")
    refuse_if_needed(adoption.found)
    if dry_run:
        print(dry_run_commands(adoption, template_file, document_file))
        return 0
    if not yes and not _confirmed(adoption):
        print("not confirmed: nothing was sent (pass --yes to skip the question)", file=sys.stderr)
        return 2
    try:
        run_import(clients.cloudformation, adoption, token, stamp())
    except Exception as exc:  # botocore's ClientError/WaiterError, or ImportFailedError: the stack says what happened
        print(
            f"adopt: the import did not complete: {exc}; nothing was deployed. See the stack's events, and README, "
            "Adopting an existing deployment, step 3 (roll back)",
            file=sys.stderr,
        )
        return 1
    print(f"import complete: {target.stack_name} holds {len(adoption.resources_to_import)} imported resources")
    return deploy_wrapper.deploy(
        partition,
        extra_sam_args=[NO_ROLLBACK, *extra_sam_args],
        skip_build=skip_build,
        profile=profile,
        identity=identity,
        token_reader=lambda _: token,
        build=build,
        sam=sam,
        extra_overrides=[f"{TAKE_OVER_PARAMETER}=true"],
    )


__all__ = ["AdoptionRefusedError", "adopt", "prepare", "target_for"]

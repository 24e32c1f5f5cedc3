"""``Custom::PostmarkDomain``: the partition's Postmark sender domain, inside CloudFormation's lifecycle.

Properties: ``DomainName`` (required), ``ReturnPathDomain`` (default from the placement function; a sub-domain
of ``DomainName``), ``AccountTokenSecretArn`` (required; the token never travels in properties), ``ApiUrl``
(Postmark's API, or loopback for tests), ``PostmarkAccount`` (the registry's account: a change makes
CloudFormation send the Update that moves the domain), ``TakeOverExisting`` (``"true"`` to take over a domain
that already exists and that this resource did not create), ``Reconcile`` (changed by
``bin/deploy --reconcile``) and ``TenantSlug`` (a tenant stack's: the slug passes the registry's validator and
``DomainName`` is exactly that tenant's domain, checked before any call). Attributes: ``DomainId`` (also the
PhysicalResourceId), ``DkimHostName``, ``DkimTextValue``, ``DkimRecordValue``, ``ReturnPathHostName``,
``ReturnPathCnameTarget``, ``DkimVerified``, ``ReturnPathVerified``.

Ownership, replacement and the previous-token Delete live in :mod:`arda_mail.postmark.domain_service`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.logging import Logger

from arda_mail.cfn import event_summary, new_resource_helper
from arda_mail.deadline import Deadline
from arda_mail.dns_names import is_strict_subdomain
from arda_mail.partitions import PostmarkAccount
from arda_mail.placement import return_path_host_for, tenant_domain_problem
from arda_mail.postmark.access import PostmarkAccess
from arda_mail.postmark.client import DEFAULT_API_URL
from arda_mail.postmark.domain_service import (
    DomainSpec,
    create_domain,
    names_a_domain,
    reconcile_domain,
    retire_domain,
)
from arda_mail.postmark.errors import explained_failures
from arda_mail.postmark.ownership import SecretTagLedger, owner_name
from arda_mail.properties import PropertyReader
from arda_mail.values import Value

helper = new_resource_helper()
logger = Logger()  # service name: POWERTOOLS_SERVICE_NAME, set per function in the template

PROPERTIES = (
    "DomainName",
    "ReturnPathDomain",
    "AccountTokenSecretArn",
    "ApiUrl",
    "PostmarkAccount",
    "TakeOverExisting",
    "Reconcile",
    "TenantSlug",
)
POSTMARK_ACCOUNTS = tuple(sorted(account.value for account in PostmarkAccount))


class DomainProperties(Value):
    spec: DomainSpec
    secret_arn: str
    api_url: str
    postmark_account: str | None = None

    def loggable(self) -> dict[str, object]:
        return {
            "domain_name": self.spec.name,
            "return_path_domain": self.spec.return_path_domain,
            "take_over_existing": self.spec.take_over,
            "account_token_secret_arn": self.secret_arn,
            "api_url": self.api_url,
            "postmark_account": self.postmark_account,
        }


def known_account(value: object) -> str | None:
    """``value`` if it names a Postmark account of the registry, else None (safe to log: never free text)."""
    return value if isinstance(value, str) and value in POSTMARK_ACCOUNTS else None


def read_properties(raw: Mapping[str, Any] | None, context: Any = None) -> DomainProperties:
    """Validate every property; raises one InvalidPropertiesError naming all problems."""
    reader = PropertyReader(raw, PROPERTIES, context=context)
    # A tenant stack's domain (tenant/template.yaml): the slug and the exact name are checked before any call, and
    # first, so the Reason leads with the tenant's problem rather than its consequences for the names.
    tenant = reader.string("TenantSlug")
    if isinstance(raw, Mapping) and "TenantSlug" in raw and raw["TenantSlug"] in ("", None):
        # Present but empty (or null) is a tenant stack that lost its slug, not a partition's domain: without this the
        # resource would skip every tenant check and register whatever DomainName says.
        reader.problem("TenantSlug: the tenant slug is empty: give the tenant's slug (a DNS label), or leave it out")
    if tenant:
        given = raw.get("DomainName") if isinstance(raw, Mapping) else None
        problem = tenant_domain_problem(tenant, given if isinstance(given, str) else "")
        if problem:
            reader.problem(f"TenantSlug: {problem}")
    name = reader.domain("DomainName", required=True)
    return_path = reader.domain("ReturnPathDomain", return_path_host_for(name) if name else None)
    if name and return_path and not is_strict_subdomain(return_path, name):
        reader.problem(f"ReturnPathDomain {return_path!r} must be a sub-domain of DomainName {name!r}")
    secret_arn = reader.secret_arn("AccountTokenSecretArn", required=True)
    api_url = reader.api_url("ApiUrl", DEFAULT_API_URL)
    account = reader.string("PostmarkAccount")
    if account and known_account(account) is None:
        # The value is not echoed: a token pasted here by mistake must not reach the Reason.
        reader.problem(f"PostmarkAccount must be one of {', '.join(POSTMARK_ACCOUNTS)}")
    take_over = reader.boolean("TakeOverExisting", default=False)
    reader.raise_if_invalid()
    return DomainProperties(DomainSpec(name, return_path, take_over), secret_arn, api_url, account or None)


def _ledger(event: Mapping[str, Any], secret_arn: str, deadline: Deadline) -> SecretTagLedger:
    owner = owner_name(str(event.get("StackId", "")), str(event.get("LogicalResourceId", "")))
    return SecretTagLedger(secret_arn, owner, deadline)


def _set_physical_id(physical_id: str) -> None:
    # A Create failing from here on answers with this ID, so its rollback's Delete removes what exists ("" brings
    # back crhelper's placeholder: nothing of ours to remove).
    helper.PhysicalResourceId = physical_id


@helper.create
def create(event: dict[str, Any], context: Any) -> str:
    props = read_properties(event.get("ResourceProperties"), context)
    logger.info("Create: registering the Postmark domain", extra=props.loggable())
    deadline = Deadline.from_context(context)
    access = PostmarkAccess(props.secret_arn, props.api_url, deadline)
    ledger = _ledger(event, props.secret_arn, deadline)
    with explained_failures(secret_arn=props.secret_arn):
        result = access.run(lambda client: create_domain(client, ledger, props.spec, _set_physical_id))
        helper.Data.update(result.attributes())
    logger.info("Create: Postmark domain ready", extra=result.summary())
    return result.physical_id


@helper.update
def update(event: dict[str, Any], context: Any) -> str:
    props = read_properties(event.get("ResourceProperties"), context)
    old = event.get("OldResourceProperties") or {}
    old_name = old.get("DomainName") if isinstance(old.get("DomainName"), str) else None
    old_account = known_account(old.get("PostmarkAccount"))
    logger.info(
        "Update: reconciling the Postmark domain", extra={**props.loggable(), "old_postmark_account": old_account}
    )
    deadline = Deadline.from_context(context)
    access = PostmarkAccess(props.secret_arn, props.api_url, deadline)
    ledger = _ledger(event, props.secret_arn, deadline)
    with explained_failures(secret_arn=props.secret_arn):
        result = reconcile_domain(
            access,
            ledger,
            event.get("PhysicalResourceId"),
            props.spec,
            old_name=old_name,
            old_account=old_account,
            new_account=props.postmark_account,
        )
        helper.Data.update(result.attributes())
    logger.info("Update: Postmark domain ready", extra=result.summary())
    return result.physical_id


@helper.delete
def delete(event: dict[str, Any], context: Any) -> None:
    physical_id = event.get("PhysicalResourceId")
    if not names_a_domain(physical_id):
        # crhelper's placeholder after a Create that failed before anything existed: nothing to call.
        logger.info("Delete: the PhysicalResourceId is not a Postmark domain; nothing to delete")
        return
    # Lenient: only what a Delete needs is read, so a property this version does not know (after a code
    # downgrade) never blocks the removal.
    reader = PropertyReader(event.get("ResourceProperties"), allowed=None, context=context)
    secret_arn = reader.secret_arn("AccountTokenSecretArn", required=True)
    api_url = reader.api_url("ApiUrl", DEFAULT_API_URL)
    reader.raise_if_invalid()
    deadline = Deadline.from_context(context)
    access = PostmarkAccess(secret_arn, api_url, deadline)
    ledger = _ledger(event, secret_arn, deadline)
    with explained_failures(secret_arn=secret_arn):
        outcome = retire_domain(
            access, ledger, physical_id, expected_name=_tenant_domain(event.get("ResourceProperties"))
        )
    logger.info("Delete: done", extra={"physical_id": physical_id, "outcome": outcome})


def _tenant_domain(raw: Any) -> str | None:
    """A tenant resource's own domain, the only one its Delete may remove (None for a partition's or Corporate's, and
    for properties that fail the tenant checks: a Delete never fails on its properties)."""
    if not isinstance(raw, Mapping):
        return None
    slug, name = raw.get("TenantSlug"), raw.get("DomainName")
    if not slug or not isinstance(slug, str) or not isinstance(name, str) or tenant_domain_problem(slug, name):
        return None
    return name


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> None:
    logger.append_keys(**event_summary(event))
    helper(event, context)

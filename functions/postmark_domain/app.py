"""``Custom::PostmarkDomain``: the partition's Postmark sender domain, inside CloudFormation's lifecycle.

Properties (BRIEF 4.1): ``DomainName`` (required), ``ReturnPathDomain`` (default ``return_path_host_for(DomainName)``
from the placement function; a sub-domain of ``DomainName``), ``AccountTokenSecretArn`` (required; the token
never travels in properties), ``ApiUrl`` (default ``https://api.postmarkapp.com``; plain http only towards
loopback) and ``PostmarkAccount`` (optional, ``PostmarkProd``/``PostmarkNonProd``: the registry's account, so a
partition moved to the other account changes a property and CloudFormation sends an Update). Attributes:
``DomainId`` (also the PhysicalResourceId), ``DkimHostName``, ``DkimTextValue``, ``DkimRecordValue``,
``ReturnPathHostName``, ``ReturnPathCnameTarget``, ``DkimVerified``, ``ReturnPathVerified``.

The work is in :mod:`arda_mail.postmark.domain_service`; this module validates the properties before any
external call, reads the token, makes one service call and hands the attributes to crhelper. Two failure paths
need more than that:

* a replacing Update that fails after its ``POST /domains`` created the new domain deletes that domain again
  (best effort, within the deadline): CloudFormation only hears of the old PhysicalResourceId, so nothing else
  ever would. An adopted domain (ErrorCode 512) is left alone.
* a Delete whose ``DELETE`` answers 510 with the secret's current token retries with its previous version
  (``AWSPREVIOUS``): after a partition moved to another Postmark account, that is the old account's token, and
  the cleanup Delete of the old domain must reach the old account.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from arda_mail.cfn import event_summary, new_resource_helper
from arda_mail.deadline import Deadline
from arda_mail.dns_names import is_strict_subdomain
from arda_mail.partitions import PostmarkAccount
from arda_mail.placement import return_path_host_for
from arda_mail.postmark.client import DEFAULT_API_URL, PostmarkClient
from arda_mail.postmark.domain_service import (
    delete_domain,
    discard_created_domain,
    ensure_domain,
    parse_physical_id,
    update_domain,
)
from arda_mail.postmark.errors import PostmarkAuthError, explained_failures
from arda_mail.properties import PropertyReader
from arda_mail.secrets import PREVIOUS_STAGE, UnusableTokenError, get_account_token, get_previous_account_token

helper = new_resource_helper()
logger = Logger(service="postmark-domain")

PROPERTIES = ("DomainName", "ReturnPathDomain", "AccountTokenSecretArn", "ApiUrl", "PostmarkAccount")
POSTMARK_ACCOUNTS = tuple(sorted(account.value for account in PostmarkAccount))


@dataclass(frozen=True, slots=True)
class DomainProperties:
    domain_name: str
    return_path_domain: str
    secret_arn: str
    api_url: str
    postmark_account: str | None = None

    def loggable(self) -> dict[str, str | None]:
        return {
            "domain_name": self.domain_name,
            "return_path_domain": self.return_path_domain,
            "account_token_secret_arn": self.secret_arn,
            "api_url": self.api_url,
            "postmark_account": self.postmark_account,
        }


def known_account(value: object) -> str | None:
    """``value`` if it names a Postmark account of the registry, else None (safe to log: never free text)."""
    return value if isinstance(value, str) and value in POSTMARK_ACCOUNTS else None


def read_properties(raw: Mapping[str, Any] | None) -> DomainProperties:
    """Validate every property; raises one InvalidPropertiesError naming all problems."""
    reader = PropertyReader(raw, PROPERTIES)
    name = reader.domain("DomainName", required=True)
    default_return_path = return_path_host_for(name) if name else None
    return_path = reader.domain("ReturnPathDomain", default_return_path)
    if name and return_path and not is_strict_subdomain(return_path, name):
        reader.problem(f"ReturnPathDomain {return_path!r} must be a sub-domain of DomainName {name!r}")
    secret_arn = reader.secret_arn("AccountTokenSecretArn", required=True)
    api_url = reader.api_url("ApiUrl", DEFAULT_API_URL)
    account = reader.string("PostmarkAccount")
    if account and known_account(account) is None:
        # The value is not echoed: a token pasted here by mistake must not reach the Reason.
        reader.problem(f"PostmarkAccount must be one of {', '.join(POSTMARK_ACCOUNTS)}")
    reader.raise_if_invalid()
    return DomainProperties(name, return_path, secret_arn, api_url, account or None)


def _client(props: DomainProperties, context: Any, *, fresh_token: bool = False) -> PostmarkClient:
    deadline = Deadline.from_context(context)
    return PostmarkClient(get_account_token(props.secret_arn, force_fetch=fresh_token), props.api_url, deadline)


def _record_physical_id(domain_id: int) -> None:
    # As soon as the domain exists: a Create failing after this point answers with the real ID, so the
    # rollback's Delete removes the domain (otherwise crhelper would send a random placeholder ID).
    helper.PhysicalResourceId = str(domain_id)


@helper.create
def create(event: dict[str, Any], context: Any) -> str:
    props = read_properties(event.get("ResourceProperties"))
    logger.info("Create: registering the Postmark domain", extra=props.loggable())
    with explained_failures(secret_arn=props.secret_arn), _client(props, context) as client:
        result = ensure_domain(client, props.domain_name, props.return_path_domain, on_exists=_record_physical_id)
        helper.Data.update(result.attributes())
    logger.info("Create: Postmark domain ready", extra=result.summary())
    return result.physical_id


@helper.update
def update(event: dict[str, Any], context: Any) -> str:
    props = read_properties(event.get("ResourceProperties"))
    old = event.get("OldResourceProperties") or {}
    old_name = old.get("DomainName")
    old_account = known_account(old.get("PostmarkAccount"))
    account_changed = old_account != props.postmark_account
    logger.info("Update: reconciling the Postmark domain", extra=props.loggable())
    if account_changed:
        # A registry move, its rollback, or the property's first appearance. The token is read past the cache:
        # the deployment has just put the new account's token into the secret (a rollback, the old one back).
        logger.info(
            "Update: PostmarkAccount changed",
            extra={"old_postmark_account": old_account, "postmark_account": props.postmark_account},
        )
    created: list[int] = []
    with (
        explained_failures(secret_arn=props.secret_arn),
        _client(props, context, fresh_token=account_changed) as client,
    ):
        try:
            result = update_domain(
                client,
                event.get("PhysicalResourceId"),
                props.domain_name,
                props.return_path_domain,
                old_name=old_name if isinstance(old_name, str) else None,
                on_created=created.append,
            )
            helper.Data.update(result.attributes())
        except Exception:
            # The FAILED answer carries the old PhysicalResourceId: CloudFormation never learns of a domain this
            # Update created, and its rollback would never delete it.
            for domain_id in created:
                discard_created_domain(client, domain_id)
            raise
    if account_changed and old_account and props.postmark_account and not result.replaced:
        logger.warning(
            "Update: PostmarkAccount changed but the token in the secret still sees the domain, so it stays where "
            "it is; if the partition is meant to move, the secret does not hold the new account's token "
            "(docs/postmark-domain.md, moving a partition to the other Postmark account)",
            extra={
                "old_postmark_account": old_account,
                "postmark_account": props.postmark_account,
                "account_token_secret_arn": props.secret_arn,
                "domain_id": result.domain.id,
            },
        )
    logger.info("Update: Postmark domain ready", extra=result.summary())
    return result.physical_id


@helper.delete
def delete(event: dict[str, Any], context: Any) -> None:
    domain_id = parse_physical_id(event.get("PhysicalResourceId"))
    if domain_id is None:
        # crhelper's placeholder after a failed Create: no domain was ever recorded, nothing to call.
        logger.info("Delete: the PhysicalResourceId is not a Postmark domain ID; nothing to delete")
        return
    reader = PropertyReader(event.get("ResourceProperties"), PROPERTIES)
    secret_arn = reader.secret_arn("AccountTokenSecretArn", required=True)
    api_url = reader.api_url("ApiUrl", DEFAULT_API_URL)
    reader.raise_if_invalid()
    deadline = Deadline.from_context(context)
    with explained_failures(secret_arn=secret_arn):
        token = get_account_token(secret_arn)
        with PostmarkClient(token, api_url, deadline) as client:
            deleted = delete_domain(client, domain_id)
        outcome = "deleted" if deleted else _delete_with_previous_token(domain_id, secret_arn, api_url, token, deadline)
    logger.info("Delete: done", extra={"domain_id": domain_id, "outcome": outcome})


def _delete_with_previous_token(
    domain_id: int, secret_arn: str, api_url: str, current_token: str, deadline: Deadline
) -> str:
    """The current token does not see the domain (510). After a move to another Postmark account the old
    domain is on the old account, whose token is the secret's previous version: delete it with that one."""
    extra = {"domain_id": domain_id, "account_token_secret_arn": secret_arn}
    try:
        previous = get_previous_account_token(secret_arn)
    except UnusableTokenError as exc:
        logger.warning(
            "Delete: the secret's previous version holds no usable token; not used",
            extra={**extra, "problem": str(exc)},
        )
        return "already_gone"
    if previous is None or previous == current_token:
        reason = "the secret has no previous version" if previous is None else "its previous version is the same token"
        logger.info(f"Delete: domain already gone ({reason})", extra=extra)
        return "already_gone"
    with PostmarkClient(previous, api_url, deadline) as client:
        try:
            deleted = delete_domain(client, domain_id)
        except PostmarkAuthError:
            logger.warning(
                f"Delete: Postmark rejected the previous token ({PREVIOUS_STAGE}) of the secret (ErrorCode 10); if "
                "the domain is still on the previous Postmark account, delete it there by hand",
                extra=extra,
            )
            return "previous_token_rejected"
    if deleted:
        logger.info(f"Delete: domain deleted with the secret's previous token ({PREVIOUS_STAGE})", extra=extra)
        return "deleted_with_previous_token"
    return "already_gone"


def handler(event: dict[str, Any], context: Any) -> None:
    logger.append_keys(**event_summary(event))
    try:
        helper(event, context)
    finally:
        logger.remove_keys(list(event_summary(event)))

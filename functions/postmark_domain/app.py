"""``Custom::PostmarkDomain``: the partition's Postmark sender domain, inside CloudFormation's lifecycle.

Properties (BRIEF 4.1): ``DomainName`` (required), ``ReturnPathDomain`` (default ``return_path_host_for(DomainName)``
from the placement function; a sub-domain of ``DomainName``), ``AccountTokenSecretArn`` (required; the token
never travels in properties) and ``ApiUrl`` (default ``https://api.postmarkapp.com``; plain http only towards
loopback). Attributes: ``DomainId`` (also the PhysicalResourceId), ``DkimHostName``, ``DkimTextValue``,
``DkimRecordValue``, ``ReturnPathHostName``, ``ReturnPathCnameTarget``, ``DkimVerified``, ``ReturnPathVerified``.

The work is in :mod:`arda_mail.postmark.domain_service`; this module validates the properties before any
external call, reads the token, makes one service call and hands the attributes to crhelper.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from arda_mail.cfn import event_summary, new_resource_helper
from arda_mail.deadline import Deadline
from arda_mail.dns_names import is_strict_subdomain
from arda_mail.placement import return_path_host_for
from arda_mail.postmark.client import DEFAULT_API_URL, PostmarkClient
from arda_mail.postmark.domain_service import delete_domain, ensure_domain, parse_physical_id, update_domain
from arda_mail.postmark.errors import explained_failures
from arda_mail.properties import PropertyReader
from arda_mail.secrets import get_account_token

helper = new_resource_helper()
logger = Logger(service="postmark-domain")

PROPERTIES = ("DomainName", "ReturnPathDomain", "AccountTokenSecretArn", "ApiUrl")


@dataclass(frozen=True, slots=True)
class DomainProperties:
    domain_name: str
    return_path_domain: str
    secret_arn: str
    api_url: str

    def loggable(self) -> dict[str, str]:
        return {
            "domain_name": self.domain_name,
            "return_path_domain": self.return_path_domain,
            "account_token_secret_arn": self.secret_arn,
            "api_url": self.api_url,
        }


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
    reader.raise_if_invalid()
    return DomainProperties(name, return_path, secret_arn, api_url)


def _client(props: DomainProperties, context: Any) -> PostmarkClient:
    deadline = Deadline.from_context(context)
    return PostmarkClient(get_account_token(props.secret_arn), props.api_url, deadline)


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
    old_name = (event.get("OldResourceProperties") or {}).get("DomainName")
    logger.info("Update: reconciling the Postmark domain", extra=props.loggable())
    with explained_failures(secret_arn=props.secret_arn), _client(props, context) as client:
        result = update_domain(
            client,
            event.get("PhysicalResourceId"),
            props.domain_name,
            props.return_path_domain,
            old_name=old_name if isinstance(old_name, str) else None,
        )
        helper.Data.update(result.attributes())
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
    props = DomainProperties("", "", secret_arn, api_url)
    with explained_failures(secret_arn=secret_arn), _client(props, context) as client:
        deleted = delete_domain(client, domain_id)
    logger.info("Delete: done", extra={"domain_id": domain_id, "deleted": deleted, "already_gone": not deleted})


def handler(event: dict[str, Any], context: Any) -> None:
    logger.append_keys(**event_summary(event))
    try:
        helper(event, context)
    finally:
        logger.remove_keys(list(event_summary(event)))

"""``Custom::PostmarkDomainVerification``: ask Postmark to verify a domain, inside the lifecycle.

Properties: ``DomainId`` (required; ``!GetAtt PostmarkDomain.DomainId``), ``AccountTokenSecretArn`` (required),
``ApiUrl`` (default ``https://api.postmarkapp.com``), ``MaxWaitSeconds`` (default 180, at most
285 s (``MAX_WAIT_CAP_S``), and never beyond the function's remaining time), ``PollIntervalSeconds`` (default 5),
``FailIfUnverified`` (default ``"false"``) and ``Reconcile``. Attributes: ``DkimVerified`` and
``ReturnPathVerified`` (``"true"``/``"false"``).

Create/Update call ``PUT /domains/{id}/verifyDkim`` and ``…/verifyReturnPath`` and repeat them until both pass
or the wait runs out. Still unverified is SUCCESS with false attributes (the drift job reports it) unless
``FailIfUnverified``. Delete is a no-op. The resource must depend on the DKIM and Return-Path records and on the
NS delegation: a lookup made before they exist can be cached negatively for about 15 minutes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.logging import Logger

from arda_mail.cfn import event_summary, new_resource_helper
from arda_mail.deadline import Deadline
from arda_mail.postmark.access import PostmarkAccess
from arda_mail.postmark.client import DEFAULT_API_URL
from arda_mail.postmark.errors import explained_failures
from arda_mail.postmark.models import MAX_ID_DIGITS, parse_physical_id
from arda_mail.postmark.verification import verify_domain
from arda_mail.properties import PropertyReader
from arda_mail.values import Value

helper = new_resource_helper()
logger = Logger()  # service name: POWERTOOLS_SERVICE_NAME, set per function in the template

PROPERTIES = (
    "DomainId",
    "AccountTokenSecretArn",
    "ApiUrl",
    "MaxWaitSeconds",
    "PollIntervalSeconds",
    "FailIfUnverified",
    "Reconcile",
)
PHYSICAL_ID_PREFIX = "verification-"


class VerificationProperties(Value):
    domain_id: int
    secret_arn: str
    api_url: str
    max_wait_s: int
    poll_interval_s: int
    fail_if_unverified: bool

    @property
    def physical_id(self) -> str:
        return f"{PHYSICAL_ID_PREFIX}{self.domain_id}"

    def loggable(self) -> dict[str, object]:
        return {
            "domain_id": self.domain_id,
            "account_token_secret_arn": self.secret_arn,
            "api_url": self.api_url,
            "max_wait_s": self.max_wait_s,
            "poll_interval_s": self.poll_interval_s,
            "fail_if_unverified": self.fail_if_unverified,
        }


def read_properties(raw: Mapping[str, Any] | None, context: Any = None) -> VerificationProperties:
    reader = PropertyReader(raw, PROPERTIES, context=context)
    domain_id = reader.string("DomainId", required=True)
    if domain_id and parse_physical_id(domain_id) is None:
        reader.problem(
            f"DomainId must be a Postmark domain ID (at most {MAX_ID_DIGITS} digits), got {domain_id[:40]!r}"
        )
    secret_arn = reader.secret_arn("AccountTokenSecretArn", required=True)
    api_url = reader.api_url("ApiUrl", DEFAULT_API_URL)
    max_wait, interval = reader.wait()
    fail_if_unverified = reader.boolean("FailIfUnverified", False)
    reader.raise_if_invalid()
    return VerificationProperties(int(domain_id), secret_arn, api_url, max_wait, interval, fail_if_unverified)


def _verify(event: dict[str, Any], context: Any) -> str:
    props = read_properties(event.get("ResourceProperties"), context)
    logger.info(f"{event['RequestType']}: verifying the Postmark domain", extra=props.loggable())
    deadline = Deadline.from_context(context)
    access = PostmarkAccess(props.secret_arn, props.api_url, deadline)
    with explained_failures(secret_arn=props.secret_arn):
        result = verify_domain(
            access,
            props.domain_id,
            max_wait_s=props.max_wait_s,
            interval_s=props.poll_interval_s,
        )
    logger.info(
        "verification finished",
        extra={
            "domain_id": props.domain_id,
            "dkim_verified": result.dkim_verified,
            "return_path_verified": result.return_path_verified,
            "rounds": result.rounds,
            "waited_s": round(result.waited_s, 2),
        },
    )
    if props.fail_if_unverified:
        result.require_verified()
    helper.Data.update(result.attributes())
    return props.physical_id


@helper.create
def create(event: dict[str, Any], context: Any) -> str:
    return _verify(event, context)


@helper.update
def update(event: dict[str, Any], context: Any) -> str:
    return _verify(event, context)


@helper.delete
def delete(event: dict[str, Any], context: Any) -> None:
    logger.info("Delete: nothing to undo (verification has no remote state)")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> None:
    logger.append_keys(**event_summary(event))
    helper(event, context)

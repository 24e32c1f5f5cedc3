"""``Custom::PostmarkDkim``: a Postmark domain's DKIM TXT records, and the rotation of its key, inside the lifecycle.

Properties: ``DomainId`` (``!GetAtt PostmarkDomain.DomainId``), ``DomainName``, ``AccountTokenSecretArn``,
``HostedZoneId`` (the mail zone), ``ApiUrl`` (default ``https://api.postmarkapp.com``), ``Rotation`` (the template
parameter ``DkimKeyRotation``: ``YYYY-MM`` or ``YYYY-MM-DD``; empty never rotates), ``MaxWaitSeconds`` (default 180,
at most 285 s (``MAX_WAIT_CAP_S``), never beyond the function's remaining time), ``PollIntervalSeconds`` (default 5) and
``Reconcile``. Attributes: ``DkimHostName`` and ``DkimTextValue`` (the key Postmark signs with: the active one, else
the first pending one), ``PendingDkimHostName``, ``RevokedDkimHostName``, ``DkimRotationPhase``, ``DkimRotation``.
The PhysicalResourceId is ``dkim/<HostedZoneId>/<DomainId>``.

Why a custom resource owns these records rather than ``AWS::Route53::RecordSet``: during a rotation two keys are
published side by side, the pending one under a selector that exists only while it is pending (CloudFormation
cannot create a record from an attribute that may be empty), and a template record at the active selector would
collide with the pending key's record the moment Postmark activates it. The handler only reads the event and calls
:mod:`arda_mail.postmark.dkim_rotation`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.logging import Logger

from arda_mail.cfn import event_summary, new_resource_helper
from arda_mail.deadline import Deadline
from arda_mail.dns_names import hosted_zone_id
from arda_mail.postmark.client import DEFAULT_API_URL
from arda_mail.postmark.dkim_rotation import future_problem, rotation_problem
from arda_mail.postmark.dkim_service import DkimTarget, converge_dkim, names_dkim_records, retire_dkim
from arda_mail.postmark.models import MAX_ID_DIGITS, parse_physical_id
from arda_mail.properties import InvalidPropertiesError, PropertyReader
from arda_mail.values import Value

helper = new_resource_helper()
logger = Logger()  # service name: POWERTOOLS_SERVICE_NAME, set per function in the template

PROPERTIES = (
    "DomainId",
    "DomainName",
    "AccountTokenSecretArn",
    "HostedZoneId",
    "ApiUrl",
    "Rotation",
    "MaxWaitSeconds",
    "PollIntervalSeconds",
    "Reconcile",
)


class DkimProperties(Value):
    target: DkimTarget
    rotation: str

    def loggable(self) -> dict[str, object]:
        t = self.target
        return {
            "domain_id": t.domain_id,
            "domain_name": t.domain_name,
            "account_token_secret_arn": t.secret_arn,
            "hosted_zone_id": t.zone_id,
            "api_url": t.api_url,
            "rotation": self.rotation,
            "max_wait_s": t.max_wait_s,
        }


def read_properties(raw: Mapping[str, Any] | None, context: Any = None, *, lenient: bool = False) -> DkimProperties:
    """The validated properties; ``lenient`` (a Delete) accepts properties this version does not know."""
    reader = PropertyReader(raw, None if lenient else PROPERTIES, context=context)
    domain_id = reader.string("DomainId", required=True)
    if domain_id and parse_physical_id(domain_id) is None:
        reader.problem(f"DomainId must be a Postmark domain ID (at most {MAX_ID_DIGITS} digits)")
    domain_name = reader.domain("DomainName", required=True)
    secret_arn = reader.secret_arn("AccountTokenSecretArn", required=True)
    raw_zone_id = reader.string("HostedZoneId", required=True)
    zone_id = hosted_zone_id(raw_zone_id) or ""
    if raw_zone_id and not zone_id:
        reader.problem("HostedZoneId must be a Route 53 hosted zone ID")
    api_url = reader.api_url("ApiUrl", DEFAULT_API_URL)
    rotation = reader.string("Rotation").strip()
    problem = (rotation_problem(rotation) or future_problem(rotation)) if rotation else None
    if problem:
        reader.problem(f"Rotation {rotation[:20]!r} {problem}")
    max_wait, interval = reader.wait()
    reader.raise_if_invalid()
    target = DkimTarget(int(domain_id), domain_name, secret_arn, zone_id, api_url, max_wait, interval)
    return DkimProperties(target, rotation)


def _converge(event: dict[str, Any], context: Any) -> str:
    props = read_properties(event.get("ResourceProperties"), context)  # raises before any call
    logger.info(f"{event['RequestType']}: DKIM records and rotation", extra=props.loggable())
    if event["RequestType"] == "Create":
        helper.PhysicalResourceId = props.target.physical_id  # a failed Create's rollback cleans up what it wrote
    outcome = converge_dkim(props.target, props.rotation, Deadline.from_context(context))
    helper.Data.update(outcome.attributes())
    logger.info("DKIM converged", extra={"phase": outcome.phase, "rotation": outcome.rotation, **outcome.records})
    return props.target.physical_id


@helper.create
def create(event: dict[str, Any], context: Any) -> str:
    return _converge(event, context)


@helper.update
def update(event: dict[str, Any], context: Any) -> str:
    return _converge(event, context)


@helper.delete
def delete(event: dict[str, Any], context: Any) -> None:
    physical_id = str(event.get("PhysicalResourceId") or "")
    if not names_dkim_records(physical_id):
        logger.info("PhysicalResourceId names no DKIM records (a Create that failed early): nothing to delete")
        return
    try:
        props = read_properties(event.get("ResourceProperties"), context, lenient=True)
    except InvalidPropertiesError as exc:
        logger.warning("Delete: properties unreadable, records left in place", extra={"error": str(exc)})
        return
    removed = retire_dkim(props.target.at(physical_id), Deadline.from_context(context))
    if removed is None:
        logger.warning("Delete: no token sees the Postmark domain; DKIM records left in place")
        return
    logger.info("DKIM records removed where they were this resource's", extra=removed)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> None:
    logger.append_keys(**event_summary(event))
    helper(event, context)

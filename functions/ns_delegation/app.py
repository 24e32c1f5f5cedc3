"""``Custom::NsDelegation``: the partition sub-zone's NS delegation in the parent zone.

Properties: ``DelegatedZoneName``, ``NameServers``, ``ParentZoneName`` or ``ParentZoneId``, ``DelegationRoleArn``
(absent: the function's own account), ``Ttl`` and ``Reconcile``. Attributes: ``RecordName``, ``ParentZoneId``,
``ParentZoneName``, ``NameServers``, ``Ttl``, ``ChangeId``, ``ChangeStatus``. The PhysicalResourceId is
``<ParentZoneId>/<DelegatedZoneName>/NS``.

This module only reads the event, assumes ``DelegationRoleArn`` (session named after the stack and the logical
ID) and calls one capability; when to write, what to clean up after a failure and which record is this
resource's to delete live in :mod:`arda_mail.ns_delegation_service`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import Logger

from arda_mail.aws_sessions import AwsClients, Caller, role_session_name
from arda_mail.cfn import event_summary, new_resource_helper
from arda_mail.deadline import Deadline
from arda_mail.ns_delegation_service import Delegated, delegate, previous_properties, redelegate, undelegate
from arda_mail.route53_delegation import DelegationProperties, DelegationTarget, Route53Delegation, read_properties

helper = new_resource_helper()
logger = Logger()  # service name: POWERTOOLS_SERVICE_NAME, set per function in the template


def _route53(event: dict[str, Any], props: DelegationProperties, context: Any) -> Route53Delegation:
    deadline = Deadline.from_context(context)
    clients = AwsClients(deadline)
    caller = Caller(None)
    if props.delegation_role_arn:
        session_name = role_session_name(event["StackId"], event["LogicalResourceId"])
        caller = Caller(props.delegation_role_arn, session_name)
        clients = clients.assume_role(props.delegation_role_arn, session_name)
    return Route53Delegation(clients.route53(), deadline, caller)


def _requested(event: dict[str, Any]) -> DelegationProperties:
    props = read_properties(event.get("ResourceProperties"))  # raises before any call
    logger.info(
        "NS delegation requested",
        extra={
            "delegated_zone_name": props.delegated_zone_name,
            "name_servers": list(props.name_servers),
            "ttl": props.ttl,
            "parent_zone_name": props.parent_zone_name,
            "parent_zone_id": props.parent_zone_id,
            "delegation_role_arn": props.delegation_role_arn,
        },
    )
    return props


def _set_physical_id(physical_id: str) -> None:
    # A Create failing from here on answers with this ID, so its rollback's Delete removes what it may have written.
    helper.PhysicalResourceId = physical_id


def _answer(result: Delegated) -> str:
    helper.Data.update(result.attributes())
    logger.info("NS delegation written", extra={"physical_id": result.physical_id, "status": result.status})
    return result.physical_id


@helper.create
def create(event: dict[str, Any], context: Any) -> str:
    props = _requested(event)
    return _answer(delegate(_route53(event, props, context), props, on_target=_set_physical_id))


@helper.update
def update(event: dict[str, Any], context: Any) -> str:
    props = _requested(event)
    old = previous_properties(event.get("OldResourceProperties"))
    route53 = _route53(event, props, context)
    return _answer(redelegate(route53, props, previous_id=event.get("PhysicalResourceId"), old=old))


@helper.delete
def delete(event: dict[str, Any], context: Any) -> None:
    target = DelegationTarget.parse(event.get("PhysicalResourceId"))
    if target is None:
        logger.info("PhysicalResourceId names no delegation (a Create that failed early): nothing to delete")
        return
    # Lenient: a property this version does not know (after a code downgrade) must never block the removal.
    props = read_properties(event.get("ResourceProperties"), lenient=True)  # raises before any call
    result = undelegate(_route53(event, props, context), target, props)
    logger.info(result.message, extra=result.summary())


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> None:
    logger.append_keys(**event_summary(event))
    helper(event, context)

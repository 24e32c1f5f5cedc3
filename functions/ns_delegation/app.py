"""``Custom::NsDelegation``: the partition sub-zone's NS delegation in the parent zone (BRIEF 4.3).

Create/Update assume ``DelegationRoleArn`` (when given) with a session name made of the stack name and the
logical ID, find the parent zone, ``UPSERT`` the NS record and wait, bounded, for ``INSYNC``. The
PhysicalResourceId is ``<ParentZoneId>/<DelegatedZoneName>/NS``: a changed name or parent yields a new one,
and CloudFormation deletes the old record in its cleanup phase, after the update succeeded (never during it,
so a rollback finds the old delegation untouched). Delete removes the record only while it still holds the
values this resource wrote; a record someone else changed since is left alone with a warning.

Rollback safety beyond the contract:
- once the UPSERT has been sent, a failed Create still answers with the real PhysicalResourceId, so the
  rollback's Delete removes a record the failed attempt may have committed;
- a failed Update to a new name or parent removes what it may have written before failing, because
  CloudFormation's rollback never hears of that new PhysicalResourceId;
- a change still PENDING at the end of the bounded wait (or a GetChange that fails) is SUCCESS with
  ``ChangeStatus`` saying so: the record is committed and Route 53 finishes propagating it on its own, whereas
  FAILED would roll back and delete a delegation that is about to work.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from arda_mail.aws_sessions import AwsClients, Caller, role_session_name
from arda_mail.cfn import event_summary, new_resource_helper
from arda_mail.deadline import Deadline
from arda_mail.properties import InvalidPropertiesError
from arda_mail.route53_delegation import (
    DelegationError,
    DelegationProperties,
    DelegationTarget,
    DeleteOutcome,
    Route53Delegation,
    read_properties,
    require_strict_subdomain,
)

helper = new_resource_helper()
logger = Logger(service="arda-mail-ns-delegation")


def _delegation(event: dict[str, Any], props: DelegationProperties, context: Any) -> Route53Delegation:
    deadline = Deadline.from_context(context)
    clients = AwsClients(deadline)
    caller = Caller(None)
    if props.delegation_role_arn:
        session_name = role_session_name(event["StackId"], event["LogicalResourceId"])
        caller = Caller(props.delegation_role_arn, session_name)
        clients = clients.assume_role(props.delegation_role_arn, session_name)
    return Route53Delegation(clients.route53(), deadline, caller)


def _logged_properties(props: DelegationProperties) -> dict[str, Any]:
    return {
        "delegated_zone_name": props.delegated_zone_name,
        "name_servers": list(props.name_servers),
        "ttl": props.ttl,
        "parent_zone_name": props.parent_zone_name,
        "parent_zone_id": props.parent_zone_id,
        "delegation_role_arn": props.delegation_role_arn,
    }


def _apply(event: dict[str, Any], context: Any) -> str:
    props = read_properties(event.get("ResourceProperties"))  # raises before any call
    logger.info("NS delegation requested", extra=_logged_properties(props))
    delegation = _delegation(event, props, context)
    zone = delegation.find_parent_zone(name=props.parent_zone_name, zone_id=props.parent_zone_id)
    require_strict_subdomain(props.delegated_zone_name, zone)
    target = DelegationTarget(zone.zone_id, props.delegated_zone_name)
    previous_id = event.get("PhysicalResourceId")
    replacing = event["RequestType"] == "Update" and previous_id != target.physical_resource_id

    existing = delegation.current(target)
    if existing is not None and not existing.matches(props.name_servers, props.ttl):
        extra = {"record": target.record_name, "zone_id": target.zone_id, "previous": existing.describe()}
        old = _previous_properties(event) if not replacing else None
        if old is not None and existing.matches(old.name_servers, old.ttl):
            logger.info("Updating the NS record this resource wrote", extra=extra)
        else:
            # Someone else's values: logged in full so an operator can restore them, since UPSERT replaces them.
            logger.warning("Replacing an NS record with different values", extra=extra)
    if event["RequestType"] == "Create":
        # From here on the record may exist: a failure must still name it, so the rollback's Delete removes it.
        helper.PhysicalResourceId = target.physical_resource_id
    try:
        change = delegation.upsert(target, props.name_server_values, props.ttl)
    except DelegationError:
        if replacing:
            _compensate(delegation, target, props)
        raise
    try:
        change = delegation.wait_insync(change)
        status = change.status
    except DelegationError as exc:
        logger.warning("Could not confirm INSYNC; the change is committed", extra={"error": str(exc)})
        status = "UNKNOWN"
    if status != "INSYNC":
        logger.warning(
            "NS change not INSYNC within the bounded wait; Route 53 completes it on its own",
            extra={"change_id": change.change_id, "status": status},
        )
    if replacing:
        logger.info(
            "New PhysicalResourceId: CloudFormation deletes the previous record during cleanup",
            extra={"previous": previous_id, "current": target.physical_resource_id},
        )
    helper.Data.update(
        {
            "RecordName": target.record_name,
            "ParentZoneId": zone.zone_id,
            "ParentZoneName": zone.name,
            "NameServers": ",".join(props.name_servers),
            "Ttl": str(props.ttl),
            "ChangeId": change.change_id,
            "ChangeStatus": status,
        }
    )
    logger.info("NS delegation written", extra={"physical_id": target.physical_resource_id, "status": status})
    return target.physical_resource_id


def _previous_properties(event: dict[str, Any]) -> DelegationProperties | None:
    """The properties of the last successful Create/Update (an Update's OldResourceProperties), if readable."""
    if event["RequestType"] != "Update":
        return None
    try:
        return read_properties(event.get("OldResourceProperties"))
    except InvalidPropertiesError:
        return None


def _compensate(delegation: Route53Delegation, target: DelegationTarget, props: DelegationProperties) -> None:
    """Best effort: remove what a failed replacing Update may have committed (nobody else will)."""
    try:
        result = delegation.delete_if_owned(target, props.name_servers, props.ttl)
    except Exception as exc:  # the original failure is what the Reason must say
        logger.warning("Could not clean up after the failed update", extra={"error": str(exc)})
        return
    logger.info("Cleaned up after the failed update", extra={"outcome": result.outcome.value})


@helper.create
def create(event: dict[str, Any], context: Any) -> str:
    return _apply(event, context)


@helper.update
def update(event: dict[str, Any], context: Any) -> str:
    return _apply(event, context)


@helper.delete
def delete(event: dict[str, Any], context: Any) -> None:
    target = DelegationTarget.parse(event.get("PhysicalResourceId"))
    if target is None:
        logger.info("PhysicalResourceId names no delegation (a Create that failed early): nothing to delete")
        return
    props = read_properties(event.get("ResourceProperties"))  # raises before any call
    if props.delegated_zone_name != target.record_name:
        logger.warning(
            "Properties and PhysicalResourceId name different records; deleting the one the ID names",
            extra={"physical_id": target.physical_resource_id, "property": props.delegated_zone_name},
        )
    result = _delegation(event, props, context).delete_if_owned(target, props.name_servers, props.ttl)
    extra = {"record": target.record_name, "zone_id": target.zone_id, "outcome": result.outcome.value}
    if result.outcome is DeleteOutcome.FOREIGN and result.found is not None:
        logger.warning(
            "NS record changed by another owner: left in place",
            extra={**extra, "found": result.found.describe(), "ours": ", ".join(props.name_servers)},
        )
    elif result.outcome is DeleteOutcome.ZONE_GONE:
        logger.warning("Parent zone no longer exists: nothing to delete", extra=extra)
    else:
        logger.info("NS delegation removed" if result.outcome is DeleteOutcome.DELETED else "Already gone", extra=extra)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> None:
    logger.append_keys(**event_summary(event))
    helper(event, context)

"""What ``Custom::NsDelegation`` does to Route 53: delegate, redelegate, undelegate, and stay rollback-safe.

:mod:`arda_mail.route53_delegation` knows how to read, write and remove one NS record; this module decides *when*,
so that the handler only reads the event and calls one of the three capabilities:

* :func:`delegate` (Create) writes the record. Once the ``UPSERT`` may have been sent, the resource stands for
  the real PhysicalResourceId (``on_target``), so a failed Create's rollback Delete removes a record the failed
  attempt may have committed.
* :func:`redelegate` (Update) writes the record at the (possibly new) name. A new name or parent is a new
  PhysicalResourceId: CloudFormation deletes the old record in its cleanup phase, after the update succeeded, so
  a rollback finds the old delegation untouched. A failed replacing Update removes what it may have written,
  because CloudFormation never hears of that new ID; and a successful Update removes the record a failed
  replacing Update may have left when that clean-up could not run (its ``OldResourceProperties`` name it).
* :func:`undelegate` (Delete) removes the record only while it is still this resource's (the same set of name
  servers, whatever its TTL); a record someone else changed since is left alone with a warning.

A record that already holds the declared name servers and TTL is adopted without any change request (moving an
existing deployment onto the stack must not touch the parent zone); see :func:`_adopted`.

Outcomes that are not failures: an ``UPSERT`` whose answer was lost is settled by reading the record back
(holding the declared values, it is written); a change still ``PENDING`` at the end of the bounded wait, or a
``GetChange`` that fails, is success with ``ChangeStatus`` saying so, because the record is committed and
Route 53 finishes propagating it on its own, whereas FAILED would roll back a delegation about to work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

from arda_mail.deadline import DeadlineExceededError
from arda_mail.properties import InvalidPropertiesError
from arda_mail.route53_delegation import (
    INSYNC,
    ChangeOutcomeUnknownError,
    DelegationError,
    DelegationProperties,
    DelegationTarget,
    DeleteOutcome,
    NsRecord,
    ParentZone,
    Route53Delegation,
    read_properties,
    require_strict_subdomain,
)
from arda_mail.values import Value

logger = logging.getLogger(__name__)

#: ``ChangeId``/``ChangeStatus`` when the record is known to be written but its Route 53 change is not.
UNKNOWN: Final = "UNKNOWN"
#: ``ChangeId`` when the record already held the declared values and no change was submitted.
UNCHANGED: Final = "UNCHANGED"

_DELETE_MESSAGES: Final = {
    DeleteOutcome.DELETED: "NS delegation removed",
    DeleteOutcome.ABSENT: "Already gone",
    DeleteOutcome.FOREIGN: "NS record left in place",
    DeleteOutcome.ZONE_GONE: "Parent zone gone: nothing deleted",
}

#: Called with the PhysicalResourceId a Create stands for from the moment its record may exist.
OnTarget = Callable[[str], None]


class Delegated(Value):
    """A written delegation: what the handler answers (attributes and PhysicalResourceId)."""

    target: DelegationTarget
    zone: ParentZone
    name_servers: tuple[str, ...]
    ttl: int
    change_id: str
    status: str

    @property
    def physical_id(self) -> str:
        return self.target.physical_resource_id

    def attributes(self) -> dict[str, str]:
        """The resource's ``Fn::GetAtt`` attributes (strings: CloudFormation hands them on as such)."""
        return {
            "RecordName": self.target.record_name,
            "ParentZoneId": self.zone.zone_id,
            "ParentZoneName": self.zone.name,
            "NameServers": ",".join(self.name_servers),
            "Ttl": str(self.ttl),
            "ChangeId": self.change_id,
            "ChangeStatus": self.status,
        }


class Undelegated(Value):
    """What a Delete found and did, for the handler's one log line."""

    target: DelegationTarget
    outcome: DeleteOutcome

    @property
    def message(self) -> str:
        """The handler's closing line; the outcomes that leave a record were already logged as warnings here."""
        return _DELETE_MESSAGES[self.outcome]

    def summary(self) -> dict[str, str]:
        return {"record": self.target.record_name, "zone_id": self.target.zone_id, "outcome": self.outcome.value}


def previous_properties(raw: Mapping[str, Any] | None) -> DelegationProperties | None:
    """An Update's ``OldResourceProperties``, or None when unreadable: they only steer a best-effort clean-up, and
    must never make the Update itself fail."""
    try:
        return read_properties(raw)
    except InvalidPropertiesError:
        return None


def delegate(delegation: Route53Delegation, props: DelegationProperties, *, on_target: OnTarget) -> Delegated:
    """Create: write the delegation; ``on_target`` is called once the record may exist, before the ``UPSERT``."""
    return _write_delegation(delegation, props, on_target=on_target)


def redelegate(
    delegation: Route53Delegation,
    props: DelegationProperties,
    *,
    previous_id: str | None,
    old: DelegationProperties | None,
) -> Delegated:
    """Update: write the delegation at the declared name; a new name or parent answers a new PhysicalResourceId.

    ``previous_id`` is the PhysicalResourceId CloudFormation knows, ``old`` the ``OldResourceProperties`` (see
    :func:`previous_properties`)."""
    return _write_delegation(delegation, props, update=(previous_id, old))


def _write_delegation(
    delegation: Route53Delegation,
    props: DelegationProperties,
    *,
    on_target: OnTarget | None = None,
    update: tuple[str | None, DelegationProperties | None] | None = None,
) -> Delegated:
    zone = delegation.find_parent_zone(name=props.parent_zone_name, zone_id=props.parent_zone_id)
    require_strict_subdomain(props.delegated_zone_name, zone)
    target = DelegationTarget(zone.zone_id, props.delegated_zone_name)
    previous_id, old = update if update is not None else (None, None)
    replacing = update is not None and previous_id != target.physical_resource_id

    existing = delegation.current(target)
    _log_existing(existing, target, props, None if replacing else old)
    if on_target is not None:
        on_target(target.physical_resource_id)
    try:
        change_id, status = _adopted(existing, target, props) or _write(delegation, target, props)
    except Exception:
        if replacing:
            _compensate(delegation, target, props)
        raise
    if status != INSYNC:
        logger.warning(
            "NS change not INSYNC within the bounded wait; Route 53 completes it on its own",
            extra={"change_id": change_id, "status": status},
        )
    if replacing:
        logger.info(
            "New PhysicalResourceId: CloudFormation deletes the previous record during cleanup",
            extra={"previous": previous_id, "current": target.physical_resource_id},
        )
    if old is not None:
        _remove_stray(delegation, zone=zone, target=target, props=props, old=old, previous_id=previous_id)
    return Delegated(target, zone, props.name_servers, props.ttl, change_id, status)


def _log_existing(
    existing: NsRecord | None, target: DelegationTarget, props: DelegationProperties, old: DelegationProperties | None
) -> None:
    """Say what the UPSERT is about to replace; someone else's values are logged in full so an operator can
    restore them."""
    if existing is None or existing.matches(props.name_servers, props.ttl):
        return
    extra = {"record": target.record_name, "zone_id": target.zone_id, "previous": existing.describe()}
    if existing.has_name_servers(props.name_servers) or (
        old is not None and existing.has_name_servers(old.name_servers)
    ):
        logger.info("Updating the NS record this resource wrote", extra=extra)
    else:
        logger.warning("Replacing an NS record with different values", extra=extra)


def _adopted(
    existing: NsRecord | None, target: DelegationTarget, props: DelegationProperties
) -> tuple[str, str] | None:
    """A record that already holds exactly the declared name servers and TTL is adopted as it is: no change request.

    This is what moving an existing deployment onto the stack needs (the old stack's delegation, released with
    ``Retain``, already points at the imported zone's name servers): the parent zone is not touched at all, so no
    resolver ever sees a gap, and nothing is sent that the Platform Root role would have to allow. An ``UPSERT`` of
    the same values would be a no-op for DNS anyway; skipping it also spares a reconcile of a healthy delegation a
    call. Route 53 lists a record only once it accepted the change that wrote it, and propagates accepted changes
    to all its name servers, generally within 60 seconds
    (https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html), so a record found
    in place is reported ``INSYNC``; ``ChangeId`` says that no change was submitted.
    """
    if existing is None or not existing.matches(props.name_servers, props.ttl):
        return None
    logger.info(
        "NS record already holds the declared name servers and TTL: adopted without a change",
        extra={"record": target.record_name, "zone_id": target.zone_id},
    )
    return UNCHANGED, INSYNC


def _write(delegation: Route53Delegation, target: DelegationTarget, props: DelegationProperties) -> tuple[str, str]:
    """UPSERT, then wait for INSYNC; returns the change ID and its status.

    Raises only when the record is not known to hold the declared values. An UPSERT whose answer was lost is
    settled by reading the record back: Route 53 applies a change batch whole or not at all
    (https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html), so a record that
    holds exactly the declared name servers and TTL is written, whichever attempt wrote it. Once the record is
    written, nothing that happens while confirming INSYNC makes the request fail.
    """
    try:
        change = delegation.upsert(target, props.name_server_values, props.ttl)
    except ChangeOutcomeUnknownError as exc:
        if not _holds_declared_values(delegation, target, props):
            raise
        logger.warning(
            "The UPSERT's answer was lost, but the record holds the declared values", extra={"error": str(exc)}
        )
        return UNKNOWN, UNKNOWN
    try:
        change = delegation.wait_insync(change)
    except (DelegationError, DeadlineExceededError) as exc:
        logger.warning("Could not confirm INSYNC; the change is committed", extra={"error": str(exc)})
        return change.change_id, UNKNOWN
    return change.change_id, change.status


def _holds_declared_values(
    delegation: Route53Delegation, target: DelegationTarget, props: DelegationProperties
) -> bool:
    try:
        record = delegation.current(target)
    except (DelegationError, DeadlineExceededError) as exc:
        logger.warning("Could not read the record back after a lost answer", extra={"error": str(exc)})
        return False
    return record is not None and record.matches(props.name_servers, props.ttl)


def _compensate(delegation: Route53Delegation, target: DelegationTarget, props: DelegationProperties) -> None:
    """Best effort: remove what a failed replacing Update may have committed (nobody else will)."""
    try:
        result = delegation.delete_if_owned(target, props.name_servers)
    except Exception as exc:  # the original failure is what the Reason must say
        logger.warning(
            "Could not clean up after the failed update; the rollback's Update retries it",
            extra={"error": str(exc), "record": target.record_name, "zone_id": target.zone_id},
        )
        return
    logger.info("Cleaned up after the failed update", extra={"outcome": result.outcome.value})


def _remove_stray(
    delegation: Route53Delegation,
    *,
    zone: ParentZone,
    target: DelegationTarget,
    props: DelegationProperties,
    old: DelegationProperties,
    previous_id: str | None,
) -> None:
    """Best effort, after a successful Update: remove the record a failed replacing Update may have left.

    CloudFormation rolls a failed Update back with another Update to the resource's last good properties, on the
    PhysicalResourceId it still knows, and with the failed attempt's properties as ``OldResourceProperties``
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requesttypes-update.html; observed in
    https://github.com/aws/aws-cdk/issues/17040). When those old properties name a record that is neither this
    request's nor the one the PhysicalResourceId names, nothing in CloudFormation will ever delete it: it can only
    be what a failed replacing Update wrote and could not remove (its answers lost, Route 53 unreachable). It goes
    while it holds that attempt's name servers. In every ordinary Update the names agree and this costs no call.
    """
    same_parent = (old.parent_zone_id, old.parent_zone_name) == (props.parent_zone_id, props.parent_zone_name)
    if same_parent and old.delegated_zone_name == target.record_name:
        return
    try:
        old_zone_id = (
            zone.zone_id
            if same_parent
            else delegation.find_parent_zone(name=old.parent_zone_name, zone_id=old.parent_zone_id).zone_id
        )
        stray = DelegationTarget(old_zone_id, old.delegated_zone_name)
        if stray == target or stray.physical_resource_id == previous_id:
            return
        result = delegation.delete_if_owned(stray, old.name_servers)
    except Exception as exc:  # this request itself succeeded; a failure here must not turn it into FAILED
        logger.warning(
            "Could not check for a record a failed update may have left",
            extra={"error": str(exc), "record": old.delegated_zone_name},
        )
        return
    extra = {"record": stray.record_name, "zone_id": stray.zone_id, "outcome": result.outcome.value}
    if result.outcome is DeleteOutcome.DELETED:
        logger.warning("Removed the NS record a failed update had left behind", extra=extra)
    else:
        logger.info("Checked for a record a failed update may have left", extra=extra)


def undelegate(delegation: Route53Delegation, target: DelegationTarget, props: DelegationProperties) -> Undelegated:
    """Delete: remove the record the PhysicalResourceId names while it holds this resource's name servers.

    Ownership is the name-server set, not the TTL: a TTL edited by hand, or left by a rollback CloudFormation
    skipped, does not make the stack's own delegation someone else's. A record with other name servers is another
    owner's delegation and stays (success: blocking the stack's Delete would not make it ours)."""
    if props.delegated_zone_name != target.record_name:
        logger.warning(
            "Properties and PhysicalResourceId name different records; deleting the one the ID names",
            extra={"physical_id": target.physical_resource_id, "property": props.delegated_zone_name},
        )
    result = delegation.delete_if_owned(target, props.name_servers)
    done = Undelegated(target, result.outcome)
    found = result.found
    if result.outcome is DeleteOutcome.DELETED and found is not None and found.ttl != props.ttl:
        logger.info(
            "NS record deleted although its TTL differed from the declared one",
            extra={**done.summary(), "found": found.describe(), "declared_ttl": props.ttl},
        )
    if result.outcome is DeleteOutcome.FOREIGN and found is not None:
        logger.warning(
            "NS record changed by another owner: left in place",
            extra={**done.summary(), "found": found.describe(), "ours": ", ".join(props.name_servers)},
        )
    elif result.outcome is DeleteOutcome.ZONE_GONE:
        logger.warning("Parent zone no longer exists: nothing to delete", extra=done.summary())
    return done

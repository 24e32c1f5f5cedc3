"""The NS delegation of a sub-zone in its parent Route 53 zone: the capability behind ``Custom::NsDelegation``.

The contract: Create/Update ``UPSERT`` the NS record and wait, bounded, for ``INSYNC``; Delete removes
the record only while it is still this resource's, and leaves a record someone else has since changed. Every
Route 53 call goes through a client from :mod:`arda_mail.aws_sessions` (botocore's standard retries for
throttling, ``PriorRequestNotComplete``, 5xx and connection errors, stopped by the deadline).

Ownership: an NS record at the delegated name is this resource's when it holds the same *set* of name servers
(compared lower case, without trailing dots, in any order). The TTL is not part of it: a hand edit of only the
TTL, or a rollback that CloudFormation skipped (``ContinueUpdateRollback``), must not turn the stack's own
delegation into someone else's. A DELETE then sends the record exactly as Route 53 holds it, current TTL
included, because Route 53 deletes a record set only when every value matches ("To delete a resource record
set, you must specify all the same values that you specified when you created it":
https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html).

Lost answers: a change request that ends in a network error (botocore's ``EndpointConnectionError``,
``ConnectTimeoutError``, ``ReadTimeoutError``, ``ConnectionClosedError``, all ``BotoCoreError`` subclasses:
https://github.com/boto/botocore/blob/develop/botocore/exceptions.py), a 5xx or throttling after botocore's
retries may still have been applied by an earlier attempt. Such failures raise :class:`ChangeOutcomeUnknownError`,
and the callers read the record back before deciding anything.

Error shapes: real Route 53 rejects a DELETE of a missing or different record with ``InvalidChangeBatch``; moto
answers ``InvalidInput``. Both are handled the same way, by re-reading the record rather than by parsing
messages. Record names are sent lower case without the trailing dot, which is exactly the form the IAM condition
key ``route53:ChangeResourceRecordSetsNormalizedRecordNames`` compares against.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Literal

from arda_mail.aws_sessions import ACCESS_DENIED_CODES, Caller
from arda_mail.deadline import Deadline
from arda_mail.dns_names import ZONE_ID, absolute, domain_problem, hosted_zone_id, is_strict_subdomain, relative
from arda_mail.properties import PropertyReader
from arda_mail.values import Value

if TYPE_CHECKING:
    from botocore.exceptions import BotoCoreError, ClientError
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_route53.type_defs import (
        ChangeBatchTypeDef,
        ResourceRecordSetOutputTypeDef,
        ResourceRecordSetTypeDef,
    )

RECORD_TYPE: Final = "NS"
DEFAULT_TTL = 172800
MIN_TTL = 60
MAX_TTL = 604800
MAX_NAME_SERVERS = 13
#: Route 53 usually reports INSYNC within 60 s; the wait never runs past the function's deadline either.
MAX_INSYNC_WAIT_S = 150.0
#: Time kept for the GetChange call that follows a pause.
POLL_ALLOWANCE_S = 1.0
#: The first look is immediate: a change Route 53 (or moto) already reports INSYNC costs no wait at all.
_POLL_DELAYS_S = (0.0, 1.0, 2.0, 3.0, 5.0)
INSYNC = "INSYNC"
PENDING = "PENDING"
#: What Route 53 (``InvalidChangeBatch``) and moto (``InvalidInput``) answer to a DELETE that does not match.
CHANGE_REJECTED_CODES = frozenset({"InvalidChangeBatch", "InvalidInput"})
# Always used with ``fullmatch``: ``$`` would also match before a final newline.
_PHYSICAL_ID = re.compile(rf"({ZONE_ID})/([a-z0-9.-]{{1,253}})/NS")
PROPERTY_NAMES = (
    "DelegatedZoneName",
    "NameServers",
    "ParentZoneName",
    "ParentZoneId",
    "DelegationRoleArn",
    "Ttl",
    "Reconcile",
)
_REASON_DETAIL = 120
#: DELETEs tried when Route 53 rejects one (the record changed between the read and the write) or its answer is
#: lost (each of them retried by botocore first).
_DELETE_ATTEMPTS = 2
#: Error codes that prove Route 53 did not apply a change request (its documented errors:
#: https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html#API_ChangeResourceRecordSets_Errors);
#: any other failure may hide an applied one (an earlier attempt of botocore's retries may have committed before
#: its answer was lost).
_NOT_APPLIED_CODES = ACCESS_DENIED_CODES | CHANGE_REJECTED_CODES | {"NoSuchHostedZone"}


class DelegationError(Exception):
    """The delegation could not be written or removed; the message is a one-line Reason."""


class ParentZoneNotFoundError(DelegationError):
    """No (public) parent zone matches the properties."""


class AmbiguousParentZoneError(DelegationError):
    """Several public zones carry the parent's name."""


class NotASubdomainError(DelegationError):
    """The delegated name does not lie below the parent zone."""


class DelegationAccessDeniedError(DelegationError):
    """Route 53 refused a call for lack of permission."""


class ChangeOutcomeUnknownError(DelegationError):
    """A change request failed in a way that does not tell whether Route 53 applied it (its answer was lost)."""


# -- names and values -----------------------------------------------------------------------------------------


def normalise_name_server(value: str) -> str:
    """Lower case, no trailing dot: the form name servers are compared in."""
    return relative(value)


def normalise_zone_id(value: str) -> str:
    """``/hostedzone/Z123`` or ``Z123`` → ``Z123``; raises ValueError for anything else (whitespace included)."""
    zone_id = hosted_zone_id(value)
    if zone_id is None:
        raise ValueError(f"not a Route 53 hosted zone ID: {value!r}")
    return zone_id


class NsRecord(Value):
    """An NS record set as Route 53 holds it (values verbatim, for an exact DELETE)."""

    name: str
    ttl: int
    values: tuple[str, ...]

    @property
    def normalised_values(self) -> frozenset[str]:
        return frozenset(normalise_name_server(v) for v in self.values)

    def has_name_servers(self, name_servers: Iterable[str]) -> bool:
        """The same name servers as a set (case and trailing dots ignored): what makes a record this resource's."""
        return self.normalised_values == frozenset(normalise_name_server(n) for n in name_servers)

    def matches(self, name_servers: Iterable[str], ttl: int) -> bool:
        """Exactly what an UPSERT of ``name_servers``/``ttl`` leaves: the same name servers and the same TTL."""
        return self.ttl == ttl and self.has_name_servers(name_servers)

    def describe(self) -> str:
        return f"TTL {self.ttl}, {', '.join(sorted(self.normalised_values))}"


class ParentZone(Value):
    zone_id: str
    name: str


class DelegationTarget(Value):
    """Where the record lives: the parent zone's ID and the record's name. It is the PhysicalResourceId."""

    zone_id: str
    record_name: str

    @property
    def physical_resource_id(self) -> str:
        return f"{self.zone_id}/{self.record_name}/{RECORD_TYPE}"

    @classmethod
    def parse(cls, physical_id: str | None) -> DelegationTarget | None:
        """The target a PhysicalResourceId names, or None (crhelper's placeholder after a failed Create)."""
        match = _PHYSICAL_ID.fullmatch(physical_id or "")
        if not match or domain_problem(match.group(2)):
            return None
        return cls(match.group(1), match.group(2))


class ChangeResult(Value):
    change_id: str
    status: str

    @property
    def in_sync(self) -> bool:
        return self.status == INSYNC


class DeleteOutcome(StrEnum):
    DELETED = "deleted"
    ABSENT = "absent"
    FOREIGN = "foreign"
    ZONE_GONE = "zone-gone"


class DeleteResult(Value):
    outcome: DeleteOutcome
    found: NsRecord | None = None


# -- properties -----------------------------------------------------------------------------------------------


class DelegationProperties(Value):
    """The validated ``ResourceProperties`` of a ``Custom::NsDelegation``."""

    delegated_zone_name: str
    name_servers: tuple[str, ...]
    ttl: int
    parent_zone_name: str | None
    parent_zone_id: str | None
    delegation_role_arn: str | None

    @property
    def name_server_values(self) -> list[str]:
        """The values as written to Route 53 (fully qualified)."""
        return [absolute(n) for n in self.name_servers]


def _name_servers(reader: PropertyReader, raw: list[str]) -> tuple[str, ...]:
    servers: list[str] = []
    for value in raw:
        server = normalise_name_server(value)
        problem = "must not contain whitespace" if any(c.isspace() for c in value) else domain_problem(server)
        if problem:
            reader.problem(f"NameServers entry {value!r} {problem}")
        elif server in servers:
            reader.problem(f"NameServers lists {server} twice")
        else:
            servers.append(server)
    if len(raw) > MAX_NAME_SERVERS:
        reader.problem(f"NameServers has {len(raw)} entries (at most {MAX_NAME_SERVERS})")
    return tuple(servers)


def read_properties(properties: Mapping[str, Any] | None, *, lenient: bool = False) -> DelegationProperties:
    """Validate everything before any call; raises ``InvalidPropertiesError`` naming every problem.

    ``lenient`` (a Delete) accepts properties this version does not know: after a code downgrade the stack may
    hold one, and it must never block the removal."""
    reader = PropertyReader(properties, None if lenient else PROPERTY_NAMES)
    delegated = reader.domain("DelegatedZoneName", required=True)
    name_servers = _name_servers(reader, reader.string_list("NameServers", required=True))
    ttl = reader.integer("Ttl", DEFAULT_TTL, minimum=MIN_TTL, maximum=MAX_TTL)
    parent_name = reader.domain("ParentZoneName")
    raw_zone_id = reader.string("ParentZoneId")
    role_arn = reader.role_arn("DelegationRoleArn")
    zone_id = ""
    if raw_zone_id:
        try:
            zone_id = normalise_zone_id(raw_zone_id)
        except ValueError:
            reader.problem(f"ParentZoneId {raw_zone_id!r} is not a Route 53 hosted zone ID")
    if bool(parent_name) == bool(raw_zone_id):
        reader.problem("exactly one of ParentZoneName and ParentZoneId is required")
    elif (
        parent_name
        and delegated
        and not domain_problem(delegated)
        and not domain_problem(parent_name)  # already reported
        and not is_strict_subdomain(delegated, parent_name)
    ):
        reader.problem(f"DelegatedZoneName {delegated!r} must be a strict sub-domain of ParentZoneName {parent_name!r}")
    reader.raise_if_invalid()
    return DelegationProperties(
        delegated_zone_name=delegated,
        name_servers=name_servers,
        ttl=ttl,
        parent_zone_name=parent_name or None,
        parent_zone_id=zone_id or None,
        delegation_role_arn=role_arn or None,
    )


def require_strict_subdomain(delegated_zone_name: str, zone: ParentZone) -> None:
    if not is_strict_subdomain(delegated_zone_name, zone.name):
        raise NotASubdomainError(
            f"DelegatedZoneName {delegated_zone_name} is not a strict sub-domain of the parent zone "
            f"{zone.name} ({zone.zone_id})"
        )


# -- Route 53 -------------------------------------------------------------------------------------------------


def _error(exc: ClientError) -> tuple[str, str]:
    error = exc.response.get("Error", {})
    return str(error.get("Code", "")), str(error.get("Message", ""))[:_REASON_DETAIL]


def _unanswered(exc: BotoCoreError, action: str) -> str:
    """A one-line Reason for a call botocore gave up on without an AWS answer (no URL: it adds nothing)."""
    from botocore.exceptions import ConnectionError as BotocoreConnectionError
    from botocore.exceptions import HTTPClientError

    if isinstance(exc, (BotocoreConnectionError, HTTPClientError)):
        return f"{action} failed: {type(exc).__name__} (no answer from Route 53 after botocore's retries)"
    return f"{action} failed: {type(exc).__name__}: {str(exc)[:_REASON_DETAIL]}"


def _poll_delays() -> Iterator[float]:
    yield from _POLL_DELAYS_S
    while True:
        yield _POLL_DELAYS_S[-1]


class Route53Delegation:
    """Route 53 operations on one parent zone's NS records, as ``caller``, bounded by ``deadline``."""

    def __init__(
        self,
        client: Route53Client,
        deadline: Deadline,
        caller: Caller,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._deadline = deadline
        self._caller = caller
        self._sleep = sleep

    def _failure(self, exc: ClientError, action: str, permission: str) -> DelegationError:
        code, message = _error(exc)
        if code in ACCESS_DENIED_CODES:
            return DelegationAccessDeniedError(
                f"AccessDenied on {permission} ({action}) as {self._caller.describe()}: its policy must allow it"
            )
        return DelegationError(f"{action} failed: {code}: {message}")

    # -- the parent zone ---------------------------------------------------------------------------------------
    def find_parent_zone(self, *, name: str | None = None, zone_id: str | None = None) -> ParentZone:
        """The parent zone by ID, or the one public zone with exactly this name."""
        if zone_id:
            return self._zone_by_id(zone_id)
        if name:
            return self._zone_by_name(name)
        raise ValueError("find_parent_zone needs a name or a zone ID")

    def _zone_by_id(self, zone_id: str) -> ParentZone:
        from botocore.exceptions import BotoCoreError, ClientError

        self._deadline.check("GetHostedZone")
        try:
            zone = self._client.get_hosted_zone(Id=zone_id)["HostedZone"]
        except ClientError as exc:
            if _error(exc)[0] == "NoSuchHostedZone":
                raise ParentZoneNotFoundError(
                    f"parent zone {zone_id} not found (as {self._caller.describe()})"
                ) from exc
            raise self._failure(exc, f"GetHostedZone {zone_id}", "route53:GetHostedZone") from exc
        except BotoCoreError as exc:
            raise DelegationError(_unanswered(exc, f"GetHostedZone {zone_id}")) from exc
        if zone.get("Config", {}).get("PrivateZone", False):
            raise ParentZoneNotFoundError(f"parent zone {zone_id} is a private zone; a delegation needs a public one")
        return ParentZone(normalise_zone_id(zone["Id"]), relative(zone["Name"]))

    def _zone_by_name(self, name: str) -> ParentZone:
        from botocore.exceptions import BotoCoreError, ClientError

        matches: list[str] = []
        next_zone_id: str | None = None
        dns_name = name
        while True:
            self._deadline.check("ListHostedZonesByName")
            try:
                if next_zone_id:
                    page = self._client.list_hosted_zones_by_name(
                        DNSName=dns_name, HostedZoneId=next_zone_id, MaxItems="100"
                    )
                else:
                    page = self._client.list_hosted_zones_by_name(DNSName=dns_name, MaxItems="100")
            except ClientError as exc:
                raise self._failure(exc, f"ListHostedZonesByName {name}", "route53:ListHostedZonesByName") from exc
            except BotoCoreError as exc:
                raise DelegationError(_unanswered(exc, f"ListHostedZonesByName {name}")) from exc
            past_the_name = False
            for zone in page.get("HostedZones", []):
                if relative(zone["Name"]) != name:
                    past_the_name = True  # zones come sorted by name: no later one can match
                    break
                if not zone.get("Config", {}).get("PrivateZone", False):
                    matches.append(normalise_zone_id(zone["Id"]))
            if past_the_name or not (page.get("IsTruncated") and page.get("NextHostedZoneId")):
                break
            dns_name = page.get("NextDNSName", name)
            next_zone_id = page["NextHostedZoneId"]
        if not matches:
            raise ParentZoneNotFoundError(f"no public hosted zone named {name} is visible to {self._caller.describe()}")
        if len(matches) > 1:
            raise AmbiguousParentZoneError(
                f"{len(matches)} public hosted zones are named {name} ({', '.join(matches[:4])}): "
                "set ParentZoneId instead of ParentZoneName"
            )
        return ParentZone(matches[0], name)

    # -- the record --------------------------------------------------------------------------------------------
    def read_ns(self, zone_id: str, record_name: str) -> NsRecord | None:
        """The NS record set at ``record_name`` in the zone, or None. Raises botocore's errors as they come."""
        self._deadline.check("ListResourceRecordSets")
        page = self._client.list_resource_record_sets(
            HostedZoneId=zone_id, StartRecordName=record_name, StartRecordType=RECORD_TYPE, MaxItems="1"
        )
        for rrset in page.get("ResourceRecordSets", [])[:1]:
            if relative(rrset["Name"]) == record_name and rrset["Type"] == RECORD_TYPE:
                return _ns_record(rrset)
        return None

    def _read_ns(self, zone_id: str, record_name: str) -> NsRecord | None:
        from botocore.exceptions import BotoCoreError, ClientError

        action = f"ListResourceRecordSets {record_name} in {zone_id}"
        try:
            return self.read_ns(zone_id, record_name)
        except ClientError as exc:
            raise self._failure(exc, action, "route53:ListResourceRecordSets") from exc
        except BotoCoreError as exc:
            raise DelegationError(_unanswered(exc, action)) from exc

    def current(self, target: DelegationTarget) -> NsRecord | None:
        """The record as it is now (every error mapped to :class:`DelegationError`)."""
        return self._read_ns(target.zone_id, target.record_name)

    def upsert(self, target: DelegationTarget, name_servers: Iterable[str], ttl: int) -> ChangeResult:
        """UPSERT the record; raises :class:`ChangeOutcomeUnknownError` when the change may have been applied."""
        from botocore.exceptions import BotoCoreError, ClientError

        self._deadline.check("ChangeResourceRecordSets UPSERT")
        action = f"UPSERT NS {target.record_name} in {target.zone_id}"
        try:
            response = self._client.change_resource_record_sets(
                HostedZoneId=target.zone_id,
                ChangeBatch=_change_batch("UPSERT", _rrset(target.record_name, ttl, name_servers)),
            )
        except ClientError as exc:
            failure = self._failure(exc, action, "route53:ChangeResourceRecordSets (NS, UPSERT)")
            if _error(exc)[0] in _NOT_APPLIED_CODES:
                raise failure from exc
            raise ChangeOutcomeUnknownError(str(failure)) from exc
        except BotoCoreError as exc:
            raise ChangeOutcomeUnknownError(_unanswered(exc, action)) from exc
        info = response["ChangeInfo"]
        return ChangeResult(_change_id(info["Id"]), str(info["Status"]))

    def wait_insync(self, change: ChangeResult, *, max_wait_s: float = MAX_INSYNC_WAIT_S) -> ChangeResult:
        """Poll GetChange until INSYNC, within ``max_wait_s`` and the deadline; never sleeps past either.

        Returns the last status seen: PENDING when time ran out (the change is committed and Route 53 will
        finish propagating it; :mod:`arda_mail.ns_delegation_service` says why that is still a success). Any
        failure of GetChange, network errors included, is a :class:`DelegationError`.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        budget = Deadline(min(self._deadline.at, Deadline.after(max_wait_s).at))
        for delay in _poll_delays():
            if change.in_sync:
                return change
            remaining = budget.remaining()
            if remaining <= POLL_ALLOWANCE_S:
                return change
            if delay > 0:
                self._sleep(min(delay, remaining - POLL_ALLOWANCE_S))
            action = f"GetChange {change.change_id}"
            try:
                info = self._client.get_change(Id=change.change_id)["ChangeInfo"]
            except ClientError as exc:
                raise self._failure(exc, action, "route53:GetChange") from exc
            except BotoCoreError as exc:
                raise DelegationError(_unanswered(exc, action)) from exc
            change = ChangeResult(change.change_id, str(info["Status"]))
        return change  # pragma: no cover - the generator never ends

    def delete_if_owned(self, target: DelegationTarget, name_servers: Iterable[str]) -> DeleteResult:
        """DELETE the record only while it holds ``name_servers`` (any TTL); absent is success, foreign is left.

        A DELETE that Route 53 rejects (the record changed since the read) or whose answer is lost is followed by
        a fresh read, and the decision is taken again on what is there now.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        expected = tuple(name_servers)
        action = f"DELETE NS {target.record_name} in {target.zone_id}"
        try:
            found = self.read_ns(target.zone_id, target.record_name)
        except ClientError as exc:
            if _error(exc)[0] == "NoSuchHostedZone":
                return DeleteResult(DeleteOutcome.ZONE_GONE)
            read = f"ListResourceRecordSets {target.record_name} in {target.zone_id}"
            raise self._failure(exc, read, "route53:ListResourceRecordSets") from exc
        except BotoCoreError as exc:
            raise DelegationError(
                _unanswered(exc, f"ListResourceRecordSets {target.record_name} in {target.zone_id}")
            ) from exc
        maybe_deleted = False
        last_error = ""
        for attempt in range(_DELETE_ATTEMPTS + 1):
            if found is None:
                return DeleteResult(DeleteOutcome.DELETED if maybe_deleted else DeleteOutcome.ABSENT)
            if not found.has_name_servers(expected):
                return DeleteResult(DeleteOutcome.FOREIGN, found)
            if attempt == _DELETE_ATTEMPTS:
                break
            self._deadline.check("ChangeResourceRecordSets DELETE")
            try:
                self._client.change_resource_record_sets(
                    HostedZoneId=target.zone_id,
                    ChangeBatch=_change_batch("DELETE", _rrset(target.record_name, found.ttl, found.values)),
                )
            except ClientError as exc:
                code, message = _error(exc)
                if code in _NOT_APPLIED_CODES and code not in CHANGE_REJECTED_CODES:
                    raise self._failure(exc, action, "route53:ChangeResourceRecordSets (NS, DELETE)") from exc
                # Rejected: the record changed between the read and the DELETE (or a retried DELETE already
                # succeeded). Anything else (5xx, throttling after the retries) may have been applied.
                maybe_deleted = maybe_deleted or code not in CHANGE_REJECTED_CODES
                last_error = f"{code}: {message}"
            except BotoCoreError as exc:
                maybe_deleted = True
                last_error = type(exc).__name__
            else:
                return DeleteResult(DeleteOutcome.DELETED, found)
            found = self._read_ns(target.zone_id, target.record_name)
        raise DelegationError(
            f"{action} did not take effect in {_DELETE_ATTEMPTS} attempts although the record is this resource's "
            f"(last: {last_error[:80]})"
        )


def _rrset(name: str, ttl: int, values: Iterable[str]) -> ResourceRecordSetTypeDef:
    return {"Name": name, "Type": RECORD_TYPE, "TTL": ttl, "ResourceRecords": [{"Value": v} for v in values]}


def _change_batch(action: Literal["UPSERT", "DELETE"], rrset: ResourceRecordSetTypeDef) -> ChangeBatchTypeDef:
    return {
        "Comment": f"Custom::NsDelegation {rrset['Name']}",
        "Changes": [{"Action": action, "ResourceRecordSet": rrset}],
    }


def _ns_record(rrset: ResourceRecordSetOutputTypeDef) -> NsRecord:
    return NsRecord(
        name=relative(rrset["Name"]),
        ttl=int(rrset.get("TTL", 0)),
        values=tuple(r["Value"] for r in rrset.get("ResourceRecords", [])),
    )


def _change_id(raw: str) -> str:
    return raw.rsplit("/", 1)[-1]

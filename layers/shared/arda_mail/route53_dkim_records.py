"""The DKIM TXT records of one mail zone, written and removed with an ownership check: the Route 53 side of
``Custom::PostmarkDkim``.

Ownership is the record's content: a TXT record set at a Postmark selector host is this resource's when it is one
record whose character-strings, joined, are the key Postmark states for that host (whitespace around ``;``
ignored, the way DKIM's tag lists are parsed: RFC 6376 section 3.2). So

* a record that already holds the key is adopted, whoever wrote it (a stack that used to publish the key through
  an ``AWS::Route53::RecordSet`` keeps it without a gap);
* a record someone changed is never overwritten nor deleted: :class:`ForeignDkimRecordError` names it;
* a DELETE sends the record exactly as Route 53 holds it (TTL included), because Route 53 deletes a record set
  only when every value matches ("To delete a resource record set, you must specify all the same values that you
  specified when you created it": https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html).
  A record changed between the read and the DELETE is therefore refused by Route 53 itself, then read again.

Writes use ``CREATE``, never ``UPSERT``: Route 53 refuses a CREATE when a record set of that name and type exists
(same page: "CREATE: Creates a resource record set that has the specified values" … fails if it already exists),
so a record written by someone else between the read and the write is never overwritten. (moto only refuses a
CREATE of the *same* values, which is why the code always reads first.)

Only names ``<selector>._domainkey.<mail domain>`` are ever touched, and only TXT: the role's IAM policy says the
same (``route53:ChangeResourceRecordSetsNormalizedRecordNames`` and ``…RecordTypes`` in ``template.yaml``), so
the records the runtime writes in the same zone (per-tenant records) are out of this code's reach.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Literal

from arda_mail.aws_sessions import ACCESS_DENIED_CODES
from arda_mail.deadline import Deadline
from arda_mail.dns_names import relative
from arda_mail.txt_records import route53_txt_value
from arda_mail.values import Value

if TYPE_CHECKING:
    from botocore.exceptions import BotoCoreError, ClientError
    from mypy_boto3_route53 import Route53Client

RECORD_TYPE: Final = "TXT"
#: The DKIM record's TTL: the one the template's record used, so an adopted record is taken over as it is.
DKIM_TTL: Final = 3600
DKIM_LABEL: Final = "._domainkey."
INSYNC: Final = "INSYNC"
#: Longest wait for a change to reach Route 53's name servers before Postmark is asked to look (bounded again
#: by the deadline); Route 53 usually propagates within 60 seconds (API_GetChange).
MAX_INSYNC_WAIT_S: Final = 60.0
_POLL_DELAYS_S: Final = (0.0, 1.0, 2.0, 3.0, 5.0)
_ESCAPE = re.compile(r"\\(\d{3}|.)")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


class DkimRecordError(RuntimeError):
    """A Route 53 call failed; the message is a one-line Reason."""


class ForeignDkimRecordError(DkimRecordError):
    """A record at a selector host holds something other than Postmark's key: it is not this resource's."""


class RecordOutcome(StrEnum):
    CREATED = "created"
    ADOPTED = "adopted"
    DELETED = "deleted"
    ABSENT = "absent"
    FOREIGN = "foreign"


def normalise_key_text(text: str) -> str:
    """A DKIM key record's text compared as DKIM reads it: whitespace around ``;`` and at the ends ignored."""
    return re.sub(r"\s*;\s*", ";", text.strip())


def key_digest(text: str) -> str:
    """A short fingerprint of a key record's text as DKIM compares it (SHA-256, hex): what is remembered of a
    revoked key, whose whole text is too long for a tag, to recognise its record later."""
    return hashlib.sha256(normalise_key_text(text).encode()).hexdigest()


def _unescape(chunk: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        return chr(int(code, 8)) if code.isdigit() else code

    return _ESCAPE.sub(one, chunk)


def record_text(value: str) -> str:
    """One Route 53 TXT value (``"a" "b"``) as the text a resolver hands DKIM: the strings joined."""
    chunks = _QUOTED.findall(value)
    return "".join(_unescape(chunk) for chunk in chunks) if chunks else value


class TxtRecordSet(Value):
    name: str
    ttl: int
    values: tuple[str, ...]

    def holds(self, text: str) -> bool:
        """One record whose joined strings are ``text`` (as DKIM compares it)."""
        return len(self.values) == 1 and normalise_key_text(record_text(self.values[0])) == normalise_key_text(text)

    def digest(self) -> str | None:
        """:func:`key_digest` of the one record's text; None for a record set of several records."""
        return key_digest(record_text(self.values[0])) if len(self.values) == 1 else None

    def describe(self) -> str:
        shown = " | ".join(v[:60] + ("…" if len(v) > 60 else "") for v in self.values)
        return f"TXT {self.name} ({len(self.values)} record(s): {shown})"


def require_dkim_host(name: str, domain_name: str) -> None:
    """Refuse any name but ``<selector>._domainkey.<domain_name>``: nothing else in the zone is this code's."""
    suffix = DKIM_LABEL + domain_name
    selector = name[: -len(suffix)] if name.endswith(suffix) else ""
    if not selector or "." in selector or not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,62}", selector):
        raise DkimRecordError(f"{name[:120]!r} is not a DKIM selector host of {domain_name}: refusing to touch it")


class DkimRecords:
    """The DKIM TXT records of the zone ``zone_id``, as this function's role, bounded by ``deadline``."""

    def __init__(
        self,
        client: Route53Client,
        zone_id: str,
        domain_name: str,
        deadline: Deadline,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self.zone_id = zone_id
        self.domain_name = domain_name
        self._deadline = deadline
        self._sleep = sleep
        #: Route 53 change IDs of this invocation's writes (waited for before Postmark is asked to verify).
        self.changes: list[str] = []

    # -- reading -----------------------------------------------------------------------------------------------
    def read(self, name: str) -> TxtRecordSet | None:
        from botocore.exceptions import BotoCoreError, ClientError

        require_dkim_host(name, self.domain_name)
        self._deadline.check("ListResourceRecordSets")
        try:
            page = self._client.list_resource_record_sets(
                HostedZoneId=self.zone_id, StartRecordName=name, StartRecordType=RECORD_TYPE, MaxItems="1"
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._failure(exc, f"ListResourceRecordSets {name}", "route53:ListResourceRecordSets") from exc
        for rrset in page.get("ResourceRecordSets", [])[:1]:
            if relative(rrset["Name"]) == name and rrset["Type"] == RECORD_TYPE:
                values = tuple(r["Value"] for r in rrset.get("ResourceRecords", []))
                return TxtRecordSet(name, int(rrset.get("TTL", 0)), values)
        return None

    # -- writing -----------------------------------------------------------------------------------------------
    def ensure(self, name: str, text: str) -> RecordOutcome:
        """Publish ``text`` at ``name``: adopt a record that already holds it, create it when absent, and fail
        (:class:`ForeignDkimRecordError`) when something else is there."""
        from botocore.exceptions import BotoCoreError, ClientError

        found = self.read(name)
        if found is not None:
            return self._adopt_or_refuse(found, text)
        self._deadline.check("ChangeResourceRecordSets CREATE")
        try:
            answer = self._change("CREATE", name, DKIM_TTL, (route53_txt_value(text),))
        except (BotoCoreError, ClientError) as exc:
            # Refused (someone wrote it meanwhile) or lost (it may be written): what is there now decides.
            found = self.read(name)
            if found is None:
                raise self._failure(exc, f"CREATE TXT {name}", "route53:ChangeResourceRecordSets") from exc
            return self._adopt_or_refuse(found, text)
        self.changes.append(str(answer["ChangeInfo"]["Id"]).rsplit("/", 1)[-1])
        return RecordOutcome.CREATED

    def _adopt_or_refuse(self, found: TxtRecordSet, text: str) -> RecordOutcome:
        if found.holds(text):
            return RecordOutcome.ADOPTED
        raise ForeignDkimRecordError(
            f"{found.describe()} in zone {self.zone_id} does not hold Postmark's DKIM key for that selector; it was "
            "not written by this stack and is left as is: remove or correct it, then deploy again"
        )

    def remove_if_ours(self, name: str, text: str) -> RecordOutcome:
        """Delete the record at ``name`` only while it holds ``text``; absent is success, anything else stays."""
        return self._remove_if(name, lambda found: found.holds(text))

    def remove_if_digest(self, name: str, digest: str) -> RecordOutcome:
        """Delete the record at ``name`` only while its text has the fingerprint ``digest`` (:func:`key_digest`)."""
        return self._remove_if(name, lambda found: found.digest() == digest)

    def _remove_if(self, name: str, ours: Callable[[TxtRecordSet], bool]) -> RecordOutcome:
        from botocore.exceptions import BotoCoreError, ClientError

        for _ in range(2):
            found = self.read(name)
            if found is None:
                return RecordOutcome.ABSENT
            if not ours(found):
                return RecordOutcome.FOREIGN
            self._deadline.check("ChangeResourceRecordSets DELETE")
            try:
                self._change("DELETE", name, found.ttl, found.values)
            except ClientError as exc:
                if _code(exc) in ACCESS_DENIED_CODES:
                    raise self._failure(exc, f"DELETE TXT {name}", "route53:ChangeResourceRecordSets") from exc
                continue  # refused (changed meanwhile) or lost: read again and decide again
            except BotoCoreError:
                continue
            return RecordOutcome.DELETED
        found = self.read(name)
        if found is None:
            return RecordOutcome.DELETED
        if not ours(found):
            return RecordOutcome.FOREIGN
        raise DkimRecordError(f"DELETE TXT {name} in zone {self.zone_id} did not take effect in 2 attempts")

    def wait_insync(self, *, max_wait_s: float = MAX_INSYNC_WAIT_S) -> bool:
        """Wait (bounded) until this invocation's changes are INSYNC; False when time ran out or GetChange
        failed (the changes are committed either way; Postmark's check may then simply find nothing yet)."""
        from botocore.exceptions import BotoCoreError, ClientError

        budget = Deadline(min(self._deadline.at, Deadline.after(max_wait_s).at))
        pending = list(self.changes)
        delays = iter(_POLL_DELAYS_S)
        while pending:
            delay = next(delays, _POLL_DELAYS_S[-1])
            if budget.remaining() <= delay + 1.0:
                return False
            if delay:
                self._sleep(delay)
            try:
                status = self._client.get_change(Id=pending[0])["ChangeInfo"]["Status"]
            except (BotoCoreError, ClientError):
                return False
            if status == INSYNC:
                pending.pop(0)
        return True

    # -- plumbing ----------------------------------------------------------------------------------------------
    def _change(self, action: Literal["CREATE", "DELETE"], name: str, ttl: int, values: tuple[str, ...]) -> Any:
        return self._client.change_resource_record_sets(
            HostedZoneId=self.zone_id,
            ChangeBatch={
                "Comment": f"Custom::PostmarkDkim {action} {name}",
                "Changes": [
                    {
                        "Action": action,
                        "ResourceRecordSet": {
                            "Name": name,
                            "Type": RECORD_TYPE,
                            "TTL": ttl,
                            "ResourceRecords": [{"Value": v} for v in values],
                        },
                    }
                ],
            },
        )

    def _failure(self, exc: BotoCoreError | ClientError, action: str, permission: str) -> DkimRecordError:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            code = _code(exc)
            if code in ACCESS_DENIED_CODES:
                return DkimRecordError(
                    f"AccessDenied on {permission} ({action} in zone {self.zone_id}): the function's role must allow it"
                )
            message = str(exc.response.get("Error", {}).get("Message", ""))[:120]
            return DkimRecordError(f"{action} in zone {self.zone_id} failed: {code}: {message}")
        return DkimRecordError(
            f"{action} in zone {self.zone_id} failed: {type(exc).__name__} (no answer from Route 53)"
        )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))

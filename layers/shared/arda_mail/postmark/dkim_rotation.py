"""What ``Custom::PostmarkDkim`` does: publish a domain's DKIM keys and rotate them once per requested value.

Postmark's rotation (Domains API, "Rotate DKIM keys", https://postmarkapp.com/developer/api/domains-api, and the
support article https://postmarkapp.com/support/article/1305-how-often-should-i-generate-a-new-dkim-key):
``POST /domains/{id}/rotatedkim`` puts a new key in ``DKIMPendingHost``/``DKIMPendingTextValue`` while the current
one keeps signing; once Postmark has seen the new key in DNS (``PUT …/verifyDkim``) it signs with it and reports the
old one in ``DKIMRevokedHost``/``DKIMRevokedTextValue``; ``SafeToRemoveRevokedKeyFromDNS`` turns true later. A
rotate call while a key is pending answers ErrorCode 505 ("already being renewed").

One invocation (Create or Update) converges, in this order, never unpublishing a key that may sign:

1. publish the active key and the pending key (adopting records that already hold them:
   :mod:`arda_mail.route53_dkim_records`);
2. remove the revoked key's record once Postmark says it is safe (only while it still holds that key);
3. rotate when ``Rotation`` is newer than the last value rotated for this domain (recorded in a tag of the
   account-token secret *before* the call, see :class:`RotationLedger`) and no earlier rotation is unfinished;
4. while a new key is pending beside an active one, ask Postmark to verify it, bounded by ``max_wait_s`` and the
   function's deadline; still pending at the end is SUCCESS with the phase saying so (the next deploy, or
   ``bin/deploy <partition> --reconcile``, continues).

Once per value: a retry, a duplicate delivery, a re-deploy and a rollback (an Update whose ``Rotation`` goes back)
find the ledger at or past the requested value and never rotate. A rotate whose answer is lost is settled from
Postmark's state: a pending key means it committed (the ledger reads ``<value>:from:<previous>`` until then, so an
outcome that could not be settled at once is settled by the next invocation). ErrorCode 505 means a rotation is
already under way: it is continued. A newer value requested while an earlier rotation is unfinished waits (phase
``waiting-for-previous``) and starts on a later deploy once that one has finished.

A domain whose first key is not active yet (a new domain) is never rotated: its key is already new, so a requested
value is recorded as done. That first key is verified by ``Custom::PostmarkDomainVerification``, which waits for the
NS delegation (an early lookup would be cached negatively); this resource verifies only a rotation's new key.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Protocol

from arda_mail.deadline import Deadline
from arda_mail.postmark.errors import (
    CODE_DKIM_RENEWING,
    PostmarkError,
    PostmarkResponseError,
    PostmarkUnavailable,
    PostmarkValidationError,
    ResourceFailedError,
)
from arda_mail.postmark.models import PostmarkDomain
from arda_mail.reasons import one_line
from arda_mail.route53_dkim_records import DKIM_LABEL, DkimRecords, RecordOutcome, key_digest
from arda_mail.values import Value, field

logger = logging.getLogger(__name__)

# The phases (attribute ``DkimRotationPhase`` and the stack output of the same name; the README explains each).
IDLE: Final = "idle"
PENDING_VERIFICATION: Final = "pending-verification"
REVOKED_KEY_PUBLISHED: Final = "revoked-key-published"
COMPLETE: Final = "complete"
WAITING_FOR_PREVIOUS: Final = "waiting-for-previous"

LEDGER_TAG_PREFIX: Final = "arda-mail:dkim-rotation:"
#: A ledger value ``<value>:from:<previous>:signing:<selector>`` means "rotate for <value> sent, outcome not known;
#: <selector> signed when it was sent"; while the invocation that sent it still runs, ``:at:<epoch seconds>``
#: follows (Secrets Manager tag values allow letters, digits, spaces and ``+ - = . _ : / @`` only; a selector is
#: ``[a-z0-9_-]``, at most 63 characters, so the value stays far below 256).
STARTED_MARK: Final = ":from:"
#: The tag (after the ledger's key) that remembers the revoked key: see :class:`RotationLedger`.
REVOKED_SUFFIX: Final = ":revoked"
SIGNING_MARK: Final = ":signing:"
AT_MARK: Final = ":at:"
#: How long a rotate sent by another invocation may still be in flight: the function's 300 s timeout (template)
#: plus a margin. Within it, an unsettled mark is waited for rather than taken for a rotate that did not happen.
IN_FLIGHT_S: Final = 330.0
#: How often the ledger and Postmark are read again while another invocation's rotate is in flight.
IN_FLIGHT_POLL_S: Final = 1.0
#: Time kept for the rest of the invocation (publish, verify, the response) when waiting for another's rotate.
IN_FLIGHT_RESERVE_S: Final = 30.0
#: How far past today (UTC) a rotation value may lie: a planned label such as next quarter's is fine, a typo that
#: lands decades ahead (2062-12 for 2026-12) is not.
MAX_AHEAD: Final = timedelta(days=366)
#: Upper bound on verify rounds, whatever the interval (a zero interval is for tests).
MAX_ROUNDS: Final = 60
#: ASCII digits only: ``\d`` alone would also take full-width or Arabic-Indic digits, which ``int`` reads as 2026.
_ROTATION = re.compile(r"(\d{4})-(\d{2})(?:-(\d{2}))?", re.ASCII)


def rotation_problem(value: str) -> str | None:
    """Why ``value`` is not a rotation value (``YYYY-MM`` or ``YYYY-MM-DD``, a real date), or None."""
    match = _ROTATION.fullmatch(value)
    if match is None:
        return "must be YYYY-MM or YYYY-MM-DD (or empty: never rotate)"
    year, month, day = int(match[1]), int(match[2]), int(match[3] or 1)
    try:
        date(year, month, day)
    except ValueError:
        return "is not a real date"
    return None


def future_problem(value: str, today: date | None = None) -> str | None:
    """Why a well-formed ``value`` cannot be used, or None. A value far ahead would rotate once and then make every
    real later value look older, so nothing would rotate again until that date (a typo such as 2062-12 for 2026-12
    would stop rotations for decades)."""
    year, month, day = rotation_order(value)
    today = today or datetime.now(UTC).date()
    if date(year, month, day or 1) > today + MAX_AHEAD:
        return (
            f"is more than a year in the future (today is {today.isoformat()} UTC): no later value could rotate "
            "before that date; use the current month or date"
        )
    return None


def rotation_order(value: str) -> tuple[int, int, int]:
    """The order of rotation values: ``2026-12`` comes before ``2026-12-01``, which comes before ``2026-12-02``."""
    match = _ROTATION.fullmatch(value)
    if match is None:
        raise ValueError(f"not a rotation value: {value[:40]!r}")
    return int(match[1]), int(match[2]), int(match[3] or 0)


def is_newer(requested: str, last: str | None) -> bool:
    if not requested:
        return False
    return last is None or rotation_problem(last) is not None or rotation_order(requested) > rotation_order(last)


class DkimApi(Protocol):
    def get_domain(self, domain_id: int) -> PostmarkDomain: ...
    def verify_dkim(self, domain_id: int) -> PostmarkDomain: ...
    def rotate_dkim(self, domain_id: int) -> PostmarkDomain: ...


class LedgerError(RuntimeError):
    """The rotation ledger could not be read or written (the message names the secret, never its value)."""


class RotationLedger(Value, frozen=False):
    """The last rotation value started for a domain: tag ``arda-mail:dkim-rotation:<domain ID>`` = ``<value>`` on
    the account-token secret (beside the domain ownership tags of :mod:`arda_mail.postmark.ownership`).

    Unlike the ownership record, writing it is not best effort: it is written *before* ``rotatedkim`` and is the only
    thing that stops a retry, a duplicate delivery or a re-deploy from rotating a second time, so a rotation is
    never started unless it is written. Postmark domain IDs are never reused, so the key needs nothing else.

    Beside it, tag ``…:<domain ID>:revoked`` = ``<selector>:<SHA-256 of the key text>`` remembers the revoked key
    while its record stays published (best effort), so that the record can still be recognised and removed should
    Postmark stop reporting the revoked key (:meth:`DkimRotation._forgotten_revoked`)."""

    secret_arn: str
    domain_id: int
    client: Any = None
    _value: str | None = None
    _revoked: str | None = None
    _read: bool = False

    @property
    def key(self) -> str:
        return f"{LEDGER_TAG_PREFIX}{int(self.domain_id)}"

    @property
    def revoked_key(self) -> str:
        return f"{self.key}{REVOKED_SUFFIX}"

    def revoked(self) -> str | None:
        """The remembered revoked key (``<selector>:<digest>``), or None."""
        self.last()
        return self._revoked

    def set_revoked(self, value: str | None) -> None:
        """Best effort: remember (or, with None, forget) the revoked key; a failure is logged and retried next time."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if value is None:
                self._secrets().untag_resource(SecretId=self.secret_arn, TagKeys=[self.revoked_key])
            else:
                self._secrets().tag_resource(SecretId=self.secret_arn, Tags=[{"Key": self.revoked_key, "Value": value}])
        except (BotoCoreError, ClientError) as exc:
            logger.warning("could not record the revoked DKIM key in secret %s: %s", self.secret_arn, _aws_error(exc))
            return
        self._revoked = value

    def _secrets(self) -> Any:
        if self.client is None:
            import boto3

            from arda_mail.secrets import client_config

            self.client = boto3.client("secretsmanager", config=client_config())
        return self.client

    def last(self, *, fresh: bool = False) -> str | None:
        """The recorded value (read once per invocation; ``fresh`` reads it again)."""
        from botocore.exceptions import BotoCoreError, ClientError

        if fresh or not self._read:
            try:
                tags = self._secrets().describe_secret(SecretId=self.secret_arn).get("Tags", [])
            except (BotoCoreError, ClientError) as exc:
                raise LedgerError(
                    f"could not read the DKIM rotation ledger of secret {self.secret_arn} ({_aws_error(exc)}): "
                    "nothing was rotated; deploy again"
                    + (" once the function's role allows secretsmanager:DescribeSecret" if _denied(exc) else "")
                ) from None
            self._value = next((t.get("Value") for t in tags if t.get("Key") == self.key), None)
            self._revoked = next((t.get("Value") for t in tags if t.get("Key") == self.revoked_key), None)
            self._read = True
        return self._value

    def record(self, value: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._secrets().tag_resource(SecretId=self.secret_arn, Tags=[{"Key": self.key, "Value": value}])
        except (BotoCoreError, ClientError) as exc:
            # The value alone (not the in-flight mark): the Reason must keep its actionable end within 250 chars.
            shown = value.split(STARTED_MARK, 1)[0]
            raise LedgerError(
                f"could not record DKIM rotation {shown} in a tag of secret {self.secret_arn} ({_aws_error(exc)}): "
                "nothing was rotated; deploy again"
                + (" once the function's role allows secretsmanager:TagResource on that tag" if _denied(exc) else "")
            ) from None
        self._value, self._read = value, True

    def restore(self, previous: str | None) -> bool:
        """Best effort, after a rotate that certainly did not happen: put the previous value back."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if previous is None:
                self._secrets().untag_resource(SecretId=self.secret_arn, TagKeys=[self.key])
            else:
                self._secrets().tag_resource(SecretId=self.secret_arn, Tags=[{"Key": self.key, "Value": previous}])
        except (BotoCoreError, ClientError) as exc:
            logger.warning("could not restore the DKIM rotation ledger of secret %s: %s", self.secret_arn, exc)
            return False
        self._value, self._read = previous, True
        return True


def _aws_error(exc: Exception) -> str:
    """A failed AWS call in a few words: the error code, or the kind of network failure (botocore's own text is
    long and would push the Reason's advice past CloudFormation's limit)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", "")) or type(exc).__name__
    return type(exc).__name__


def _denied(exc: Exception) -> bool:
    from arda_mail.aws_sessions import ACCESS_DENIED_CODES

    return _aws_error(exc) in ACCESS_DENIED_CODES


class DkimOutcome(Value):
    """What a Create/Update leaves: the attributes CloudFormation receives."""

    domain: PostmarkDomain
    phase: str
    rotation: str
    requested: str
    records: dict[str, str] = field(default_factory=dict)

    def attributes(self) -> dict[str, str]:
        domain = self.domain
        return {
            "DkimHostName": domain.dkim_record_host,
            "DkimTextValue": domain.dkim_record_text,
            "PendingDkimHostName": domain.dkim_pending_host if domain.dkim_host else "",
            "RevokedDkimHostName": domain.dkim_revoked_host,
            "DkimRotationPhase": self.phase,
            "DkimRotation": self.rotation,
        }


class DkimRotation(Value, frozen=False):
    """One invocation's work on one domain: Postmark through ``api``, Route 53 through ``records``."""

    api: DkimApi
    records: DkimRecords
    ledger: RotationLedger
    domain_id: int
    domain_name: str
    deadline: Deadline
    max_wait_s: float
    interval_s: float
    sleep: Callable[[float], None] = time.sleep
    done: dict[str, str] = field(default_factory=dict)

    # -- Create / Update ---------------------------------------------------------------------------------------
    def converge(self, requested: str) -> DkimOutcome:
        domain = self._domain()
        self._publish(domain)
        revoked_done = self._clean_up_revoked(domain)
        last, domain = self._settle_started(self.ledger.last(), domain, requested)
        self._publish(domain)  # a key that went pending meanwhile (another invocation's rotate) is published first
        waiting = False
        if is_newer(requested, last):
            if not domain.dkim_host:
                # A new domain: its first key is as new as a rotation would make it.
                self.ledger.record(requested)
                last = requested
                logger.info("first key not active yet: rotation %s recorded without rotating", requested)
            elif domain.dkim_pending_host or not revoked_done:
                waiting = True
                logger.info("rotation %s waits: the previous one (%s) is unfinished", requested, last)
            else:
                domain = self._rotate(requested, last, domain)
                last = requested
                self._publish(domain)
        if domain.dkim_host and domain.dkim_pending_host:
            domain = self._verify_pending(domain)
            self._publish(domain)
            revoked_done = self._clean_up_revoked(domain)
        self._track_revoked(domain)
        phase = _phase(domain, revoked_done=revoked_done, rotated=last is not None, waiting=waiting)
        rotation = requested if waiting else (last or "")
        return DkimOutcome(domain, phase, rotation, requested, dict(self.done))

    def _domain(self) -> PostmarkDomain:
        domain = self.api.get_domain(self.domain_id)
        if domain.name.lower() != self.domain_name:
            raise ResourceFailedError(
                one_line(
                    f"Postmark domain {self.domain_id} is {domain.name!r}, not DomainName {self.domain_name}: "
                    "its DKIM records are not this resource's to publish"
                )
            )
        return domain

    def _publish(self, domain: PostmarkDomain) -> None:
        """The key that signs (active) and the key that will (pending): both must be in DNS first."""
        for host, text in (
            (domain.dkim_host, domain.dkim_text_value),
            (domain.dkim_pending_host, domain.dkim_pending_text_value),
        ):
            if host and text and host not in self.done:
                outcome = self.records.ensure(host, text)
                self.done[host] = outcome.value
                logger.info("DKIM record %s: %s", host, outcome.value)

    def _clean_up_revoked(self, domain: PostmarkDomain) -> bool:
        """True when no revoked key needs its record any more (none, or removed once Postmark said it is safe)."""
        host = domain.dkim_revoked_host
        if not host or host in (domain.dkim_host, domain.dkim_pending_host):
            return True
        if not domain.safe_to_remove_revoked_key:
            return False
        if self.done.get(host) in (RecordOutcome.DELETED, RecordOutcome.ABSENT, RecordOutcome.FOREIGN):
            return True
        outcome = self.records.remove_if_ours(host, domain.dkim_revoked_text_value)
        self.done[host] = outcome.value
        if outcome is RecordOutcome.FOREIGN:
            logger.warning("revoked DKIM record %s holds another value: not this resource's, left in place", host)
        else:
            logger.info("revoked DKIM record %s: %s (Postmark: safe to remove)", host, outcome.value)
        return True

    def _track_revoked(self, domain: PostmarkDomain) -> None:
        """Remember a revoked key whose record stays published (its removal is :meth:`_clean_up_revoked`'s, once
        Postmark says it is safe); remove the record of one Postmark no longer reports (:meth:`_forgotten_revoked`)."""
        host = domain.dkim_revoked_host
        reported = bool(host and host not in (domain.dkim_host, domain.dkim_pending_host))
        remembered = self.ledger.revoked()
        if remembered is not None and (not reported or remembered.partition(":")[0] != _selector(host)):
            self._forgotten_revoked(domain, remembered)  # no longer reported (or replaced by a later revoked key)
            remembered = None
        if not reported or not domain.dkim_revoked_text_value:
            return
        if self.done.get(host) in (RecordOutcome.DELETED, RecordOutcome.ABSENT, RecordOutcome.FOREIGN):
            if remembered is not None:
                self.ledger.set_revoked(None)
            return
        value = f"{_selector(host)}:{key_digest(domain.dkim_revoked_text_value)}"
        if remembered != value:
            self.ledger.set_revoked(value)

    def _forgotten_revoked(self, domain: PostmarkDomain, remembered: str) -> None:
        """A revoked key Postmark reported earlier and no longer reports: Postmark is done with it (its API reports a
        revoked key until then, with ``SafeToRemoveRevokedKeyFromDNS``; whether it keeps reporting it afterwards
        is not documented). Its record is removed while it still holds that key (the digest says so); a record
        someone changed stays."""
        selector, _, digest = remembered.partition(":")
        host = f"{selector}{DKIM_LABEL}{self.domain_name}"
        if host not in (domain.dkim_host, domain.dkim_pending_host) and digest:
            outcome = self.records.remove_if_digest(host, digest)
            self.done[host] = outcome.value
            logger.info("DKIM record %s of a revoked key Postmark no longer reports: %s", host, outcome.value)
        self.ledger.set_revoked(None)

    def _settle_started(
        self, recorded: str | None, domain: PostmarkDomain, requested: str
    ) -> tuple[str | None, PostmarkDomain]:
        """The last value rotated (and the domain as last read), once a rotate whose outcome was never learnt (the
        function stopped, or Postmark could not be read back) is settled from Postmark's state: a pending key beside
        the active one, or an active key other than the one that signed when the rotate was sent, means it
        happened; neither means it did not, and the previous value counts again (so the requested one rotates).

        A mark still carrying ``:at:`` belongs to an invocation that may still be running (a duplicate delivery of
        the same request): its rotate may be in flight, so "no sign of it yet" proves nothing. When this invocation
        would rotate because of it, it waits (bounded) until that invocation records the outcome or Postmark shows
        it; taking it for a rotate that did not happen would rotate a second time when the first one lands. An
        invocation that would not rotate anyway (a rollback, a re-deploy of an older value) leaves the mark to its
        owner and goes on at once."""
        while recorded is not None and STARTED_MARK in recorded:
            value, previous, signing, started_at = _parse_started(recorded)
            if _rotated_since(domain, signing):
                logger.info("rotation %s: its outcome was unknown; Postmark's keys show it happened", value)
                self._confirm(value)
                return value, domain
            if started_at is not None and time.time() - started_at < IN_FLIGHT_S and not is_newer(requested, previous):
                logger.info("rotation %s may be in flight in another invocation: left to it", value)
                return previous or None, domain
            if started_at is None or time.time() - started_at >= IN_FLIGHT_S:
                logger.warning(
                    "rotation %s: its outcome was unknown; Postmark shows no new key: it did not happen", value
                )
                self._undo_ledger(previous or None)
                return previous or None, domain
            if self.deadline.remaining() <= IN_FLIGHT_POLL_S + IN_FLIGHT_RESERVE_S:
                raise ResourceFailedError(
                    one_line(
                        f"DKIM rotation {value} may still be in flight in another invocation (started "
                        f"{time.time() - started_at:.0f} s ago, tag {self.ledger.key} of the account-token secret): "
                        f"deploy again in {IN_FLIGHT_S:.0f} s"
                    )
                )
            logger.info("rotation %s: another invocation's rotate may be in flight: waiting for its outcome", value)
            self.sleep(IN_FLIGHT_POLL_S)
            recorded = self.ledger.last(fresh=True)
            domain = self._domain()
        return recorded, domain

    def _confirm(self, value: str) -> None:
        """Best effort: an unconfirmed record is settled again next time, from Postmark's state."""
        try:
            self.ledger.record(value)
        except LedgerError as exc:
            logger.warning("could not confirm rotation %s in the ledger: %s", value, exc)

    def _rotate(self, requested: str, last: str | None, domain: PostmarkDomain) -> PostmarkDomain:
        """Record ``requested`` as started (with the selector that signs now and the time: in flight), ask
        Postmark to rotate, then record it as done; settle a lost answer from Postmark's state (now, or on the next
        invocation when Postmark cannot be read now: the mark then loses its time, so that invocation settles it
        at once instead of waiting for a rotate in flight)."""
        started = f"{requested}{STARTED_MARK}{last or ''}{SIGNING_MARK}{_selector(domain.dkim_host)}"
        in_flight = f"{started}{AT_MARK}{int(time.time())}"
        try:
            self.ledger.record(in_flight)
        except LedgerError:
            # Nothing was rotated, but the write may have committed with its answer lost: put the previous value
            # back (best effort), or the next deploy would wait for a rotate in flight that was never sent.
            self._undo_ledger(last)
            raise
        try:
            domain = self._call_rotate(requested, last)
        except Exception:
            if self.ledger.last() == in_flight:  # neither settled nor put back: outcome unknown, this invocation ends
                try:
                    self.ledger.record(started)
                except LedgerError as exc:
                    logger.warning("could not mark rotation %s as ended with its outcome unknown: %s", requested, exc)
            raise
        self._confirm(requested)
        return domain

    def _call_rotate(self, requested: str, last: str | None) -> PostmarkDomain:
        try:
            self.api.rotate_dkim(self.domain_id)
            logger.info("rotation %s started", requested)
        except PostmarkValidationError as exc:
            if exc.error_code != CODE_DKIM_RENEWING:
                self._undo_ledger(last)
                raise
            logger.info("rotation %s: Postmark says a rotation is already under way (505): continuing it", requested)
        except (PostmarkUnavailable, PostmarkResponseError) as exc:
            domain = self._domain()
            if not domain.dkim_pending_host:
                self._undo_ledger(last)
                raise
            logger.warning(
                "rotation %s: the answer was lost, but a pending key exists: it committed (%s)", requested, exc
            )
            return domain
        except PostmarkError:
            self._undo_ledger(last)
            raise
        return self._domain()  # the rotate answer is a reduced object: read the whole domain

    def _undo_ledger(self, last: str | None) -> None:
        if not self.ledger.restore(last):
            logger.warning("the rotation ledger may name a rotation that did not happen; a later value will rotate")

    def _verify_pending(self, domain: PostmarkDomain) -> PostmarkDomain:
        """Ask Postmark to verify the pending key until it signs with it, or the wait runs out."""
        started = time.monotonic()
        wait = Deadline(min(self.deadline.at, started + max(0.0, self.max_wait_s)))
        self.records.wait_insync(max_wait_s=wait.remaining())
        for _ in range(MAX_ROUNDS):
            domain = self.api.verify_dkim(self.domain_id)
            if not domain.dkim_pending_host or wait.remaining() <= self.interval_s:
                break
            self.sleep(self.interval_s)
        if domain.dkim_pending_host:
            logger.info("pending DKIM key %s not verified yet by Postmark", domain.dkim_pending_host)
        else:
            logger.info("Postmark now signs with %s", domain.dkim_host)
        return domain

    # -- Delete ------------------------------------------------------------------------------------------------
    def remove(self) -> dict[str, str]:
        """Remove the pending key's record (while another key signs) and the revoked key's, each only while it
        holds Postmark's key. The record of the key Postmark signs with (or, on a new domain, will sign with) is
        never removed: a Delete is also how CloudFormation rolls a Create back, and that must not unpublish a
        signing key. (With the stack gone, that record names a deleted domain's selector: harmless.)

        A domain that is not ``DomainName``'s (the Create was refused for it) has no record of this resource's:
        nothing is removed, and the Delete succeeds (a failing rollback Delete would leave the stack stuck)."""
        domain = self.api.get_domain(self.domain_id)
        if domain.name.lower() != self.domain_name:
            logger.warning(
                "Postmark domain %s is %r, not %s: none of its DKIM records is this resource's; nothing removed",
                self.domain_id,
                domain.name,
                self.domain_name,
            )
            return {}
        for host, text in (
            (domain.dkim_pending_host if domain.dkim_host else "", domain.dkim_pending_text_value),
            (domain.dkim_revoked_host, domain.dkim_revoked_text_value),
        ):
            if host and text:
                self.done[host] = self.records.remove_if_ours(host, text).value
        try:  # forgets the remembered revoked key, or removes one Postmark forgot; never fails the Delete
            self._track_revoked(domain)
        except LedgerError as exc:
            logger.warning("Delete: the remembered revoked DKIM key could not be read: %s", exc)
        return dict(self.done)


def _parse_started(recorded: str) -> tuple[str, str, str, float | None]:
    """``<value>:from:<previous>[:signing:<selector>[:at:<epoch>]]`` as (value, previous, selector, epoch)."""
    value, rest = recorded.split(STARTED_MARK, 1)
    previous, _, rest = rest.partition(SIGNING_MARK)
    signing, _, at = rest.partition(AT_MARK)
    return value, previous, signing, float(at) if at.isdigit() else None


def _rotated_since(domain: PostmarkDomain, signing: str) -> bool:
    """Postmark's keys show a rotation: a pending key beside the active one, or an active key other than the one
    that signed when the rotate was sent (only a rotation changes a domain's key)."""
    if domain.dkim_host and domain.dkim_pending_host:
        return True
    return bool(signing and domain.dkim_host and _selector(domain.dkim_host) != signing)


def _selector(host: str) -> str:
    """The selector of a DKIM host ``<selector>._domainkey.<domain>``."""
    return host.split(".", 1)[0].lower()


def _phase(domain: PostmarkDomain, *, revoked_done: bool, rotated: bool, waiting: bool) -> str:
    if waiting:
        return WAITING_FOR_PREVIOUS
    if domain.dkim_host and domain.dkim_pending_host:
        return PENDING_VERIFICATION
    if not revoked_done:
        return REVOKED_KEY_PUBLISHED
    return COMPLETE if rotated else IDLE

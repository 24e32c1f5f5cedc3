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
from dataclasses import dataclass, field
from datetime import date
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
from arda_mail.route53_dkim_records import DkimRecords, RecordOutcome

logger = logging.getLogger(__name__)

# The phases (attribute ``DkimRotationPhase`` and the stack output of the same name; the README explains each).
IDLE: Final = "idle"
PENDING_VERIFICATION: Final = "pending-verification"
REVOKED_KEY_PUBLISHED: Final = "revoked-key-published"
COMPLETE: Final = "complete"
WAITING_FOR_PREVIOUS: Final = "waiting-for-previous"
PHASES: Final = (IDLE, PENDING_VERIFICATION, REVOKED_KEY_PUBLISHED, COMPLETE, WAITING_FOR_PREVIOUS)

LEDGER_TAG_PREFIX: Final = "arda-mail:dkim-rotation:"
#: A ledger value ``<value>:from:<previous>`` means "rotate for <value> sent, outcome not known yet" (Secrets Manager
#: tag values allow letters, digits, spaces and ``+ - = . _ : / @`` only).
STARTED_MARK: Final = ":from:"
#: Upper bound on verify rounds, whatever the interval (a zero interval is for tests).
MAX_ROUNDS: Final = 60
_ROTATION = re.compile(r"(\d{4})-(\d{2})(?:-(\d{2}))?")


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


@dataclass
class RotationLedger:
    """The last rotation value started for a domain: tag ``arda-mail:dkim-rotation:<domain ID>`` = ``<value>`` on
    the account-token secret (beside the domain ownership tags of :mod:`arda_mail.postmark.ownership`).

    Unlike the ownership record, writing it is not best effort: it is written *before* ``rotatedkim`` and is the only
    thing that stops a retry, a duplicate delivery or a re-deploy from rotating a second time, so a rotation is
    never started unless it is written. Postmark domain IDs are never reused, so the key needs nothing else."""

    secret_arn: str
    domain_id: int
    client: Any = None
    _value: str | None = None
    _read: bool = False

    @property
    def key(self) -> str:
        return f"{LEDGER_TAG_PREFIX}{int(self.domain_id)}"

    def _secrets(self) -> Any:
        if self.client is None:
            import boto3

            from arda_mail.secrets import client_config

            self.client = boto3.client("secretsmanager", config=client_config())
        return self.client

    def last(self) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        if not self._read:
            try:
                tags = self._secrets().describe_secret(SecretId=self.secret_arn).get("Tags", [])
            except (BotoCoreError, ClientError) as exc:
                raise LedgerError(
                    f"could not read the DKIM rotation ledger of secret {self.secret_arn}: {exc}"
                ) from None
            self._value = next((t.get("Value") for t in tags if t.get("Key") == self.key), None)
            self._read = True
        return self._value

    def record(self, value: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._secrets().tag_resource(SecretId=self.secret_arn, Tags=[{"Key": self.key, "Value": value}])
        except (BotoCoreError, ClientError) as exc:
            raise LedgerError(
                f"could not record DKIM rotation {value} in a tag of secret {self.secret_arn} ({exc}); nothing was "
                "rotated: the function's role must allow secretsmanager:TagResource on that tag key"
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


@dataclass(frozen=True, slots=True)
class DkimOutcome:
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


@dataclass
class DkimRotation:
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
        last = self._settle_started(self.ledger.last(), domain)
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
                domain = self._rotate(requested, last)
                last = requested
                self._publish(domain)
        if domain.dkim_host and domain.dkim_pending_host:
            domain = self._verify_pending(domain)
            self._publish(domain)
            revoked_done = self._clean_up_revoked(domain)
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

    def _settle_started(self, recorded: str | None, domain: PostmarkDomain) -> str | None:
        """The last value rotated, once a rotate whose outcome was never learnt (the function stopped, or Postmark
        could not be read back) is settled from Postmark's state: a pending key beside the active one means it
        happened; none means it did not, and the previous value counts again (so the requested one rotates)."""
        if recorded is None or STARTED_MARK not in recorded:
            return recorded
        value, previous = recorded.split(STARTED_MARK, 1)
        if domain.dkim_host and domain.dkim_pending_host:
            logger.info("rotation %s: its outcome was unknown; Postmark has a pending key: it happened", value)
            self._confirm(value)
            return value
        logger.warning("rotation %s: its outcome was unknown; Postmark has no pending key: it did not happen", value)
        self._undo_ledger(previous or None)
        return previous or None

    def _confirm(self, value: str) -> None:
        """Best effort: an unconfirmed record is settled again next time, from Postmark's state."""
        try:
            self.ledger.record(value)
        except LedgerError as exc:
            logger.warning("could not confirm rotation %s in the ledger: %s", value, exc)

    def _rotate(self, requested: str, last: str | None) -> PostmarkDomain:
        """Record ``requested`` as started, ask Postmark to rotate, then record it as done; settle a lost answer
        from Postmark's state (now, or on the next invocation when Postmark cannot be read now)."""
        self.ledger.record(f"{requested}{STARTED_MARK}{last or ''}")
        domain = self._call_rotate(requested, last)
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
        signing key. (With the stack gone, that record names a deleted domain's selector: harmless.)"""
        domain = self._domain()
        for host, text in (
            (domain.dkim_pending_host if domain.dkim_host else "", domain.dkim_pending_text_value),
            (domain.dkim_revoked_host, domain.dkim_revoked_text_value),
        ):
            if host and text:
                self.done[host] = self.records.remove_if_ours(host, text).value
        return dict(self.done)


def _phase(domain: PostmarkDomain, *, revoked_done: bool, rotated: bool, waiting: bool) -> str:
    if waiting:
        return WAITING_FOR_PREVIOUS
    if domain.dkim_host and domain.dkim_pending_host:
        return PENDING_VERIFICATION
    if not revoked_done:
        return REVOKED_KEY_PUBLISHED
    return COMPLETE if rotated else IDLE

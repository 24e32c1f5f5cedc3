"""What ``Custom::PostmarkDkim`` does, as two calls: :func:`converge_dkim` (Create and Update) and
:func:`retire_dkim` (Delete).

The handler only validates the event; which token reads the domain, when a Delete falls back to the secret's
previous token, when it leaves records in place, and how a Route 53 or ledger failure becomes a Reason are decided
here, beside :class:`~arda_mail.postmark.dkim_rotation.DkimRotation` (the phases) and
:class:`~arda_mail.route53_dkim_records.DkimRecords` (the records).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

from arda_mail.aws_sessions import AwsClients
from arda_mail.deadline import Deadline
from arda_mail.dns_names import ZONE_ID
from arda_mail.postmark.access import PostmarkAccess
from arda_mail.postmark.client import PostmarkClient
from arda_mail.postmark.dkim_rotation import DkimOutcome, DkimRotation, LedgerError, RotationLedger
from arda_mail.postmark.errors import PostmarkAuthError, PostmarkDomainNotVisible, ResourceFailedError
from arda_mail.postmark.errors import explained_failures as postmark_failures
from arda_mail.postmark.models import MAX_ID_DIGITS
from arda_mail.reasons import one_line
from arda_mail.route53_dkim_records import DkimRecordError, DkimRecords
from arda_mail.values import Value

logger = logging.getLogger(__name__)
PHYSICAL_ID_PREFIX = "dkim/"
_PHYSICAL_ID = re.compile(rf"{PHYSICAL_ID_PREFIX}({ZONE_ID})/(\d{{1,{MAX_ID_DIGITS}}})")


class DkimTarget(Value):
    """One Postmark domain's DKIM records in one hosted zone, and how long a Create/Update may wait for Postmark."""

    domain_id: int
    domain_name: str
    secret_arn: str
    zone_id: str
    api_url: str
    max_wait_s: int = 0
    poll_interval_s: int = 0

    @property
    def physical_id(self) -> str:
        return f"{PHYSICAL_ID_PREFIX}{self.zone_id}/{self.domain_id}"

    def at(self, physical_id: str) -> DkimTarget:
        """The records ``physical_id`` names, read with this target's token and API: a Delete removes what the
        resource wrote, where it wrote it, even when the properties already name a replacement."""
        match = _PHYSICAL_ID.fullmatch(physical_id)
        if match is None:
            raise ValueError(f"not a DKIM records PhysicalResourceId: {physical_id!r}")
        return DkimTarget(int(match[2]), self.domain_name, self.secret_arn, match[1], self.api_url)


def names_dkim_records(physical_id: str) -> bool:
    """Whether ``physical_id`` is one :attr:`DkimTarget.physical_id` made (a Create that failed before choosing
    its PhysicalResourceId has CloudFormation's placeholder instead)."""
    return _PHYSICAL_ID.fullmatch(physical_id) is not None


def converge_dkim(target: DkimTarget, rotation: str, deadline: Deadline) -> DkimOutcome:
    """Publish the signing key (and a pending one), and start or continue the rotation ``rotation`` asks for."""
    with postmark_failures(secret_arn=target.secret_arn), _route53_failures():
        return PostmarkAccess(target.secret_arn, target.api_url, deadline).run(
            lambda client: _rotation(target, client, deadline).converge(rotation)
        )


def retire_dkim(target: DkimTarget, deadline: Deadline) -> dict[str, str] | None:
    """Remove the records that are still this resource's; None when no token sees the domain any more (its keys
    sign nothing then, and nothing is left to check ownership by: the records stay)."""
    access = PostmarkAccess(target.secret_arn, target.api_url, deadline)

    def remove(client: PostmarkClient) -> dict[str, str]:
        return _rotation(target, client, deadline).remove()

    try:
        with postmark_failures(secret_arn=target.secret_arn), _route53_failures():
            try:
                return access.run(remove)
            except PostmarkDomainNotVisible:
                # The cleanup Delete after Custom::PostmarkDomain moved the domain to the other Postmark account:
                # the old domain (and its pending or revoked key, which can never sign now) is on the old account,
                # whose token the secret kept as its previous version (as for Custom::PostmarkDomain's Delete).
                logger.info("Delete: the current token does not see the domain; trying the secret's previous one")
                return access.run_with_previous(remove)
    except ResourceFailedError as exc:
        if isinstance(exc.__cause__, (PostmarkDomainNotVisible, PostmarkAuthError)):
            logger.warning("Delete: the Postmark domain is not visible; DKIM records left in place: %s", exc)
            return None
        raise


def _rotation(target: DkimTarget, client: PostmarkClient, deadline: Deadline) -> DkimRotation:
    records = DkimRecords(AwsClients(deadline).route53(), target.zone_id, target.domain_name, deadline)
    return DkimRotation(
        client,
        records,
        RotationLedger(target.secret_arn, target.domain_id),
        target.domain_id,
        target.domain_name,
        deadline,
        max_wait_s=target.max_wait_s,
        interval_s=target.poll_interval_s,
    )


@contextmanager
def _route53_failures() -> Iterator[None]:
    """Route 53 and ledger failures as one-line Reasons (their messages already name the record, zone or secret)."""
    try:
        yield
    except (DkimRecordError, LedgerError) as exc:
        raise ResourceFailedError(one_line(str(exc))) from exc

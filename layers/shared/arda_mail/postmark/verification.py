"""What ``Custom::PostmarkDomainVerification`` does: ask Postmark to verify, poll, report.

Postmark only re-checks DNS when asked (``PUT /domains/{id}/verifyDkim`` and ``…/verifyReturnPath``), so polling
repeats those calls, skipping a check once it passed. The wait is bounded twice: by ``max_wait_s`` and by the
function's :class:`~arda_mail.deadline.Deadline`, whichever comes first, and never sleeps past either.

Errors are not caught here. A domain the token does not see (ErrorCode 510 under 422 or 404, 513, or a 404 with a
Postmark body: :class:`~arda_mail.postmark.errors.PostmarkDomainNotVisible`) is never retried, and the handler's
``explained_failures`` turns it into a Reason naming the token's secret, the likeliest cause.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from arda_mail.deadline import Deadline
from arda_mail.postmark.errors import ResourceFailedError
from arda_mail.postmark.models import PostmarkDomain
from arda_mail.reasons import one_line
from arda_mail.values import Value

if TYPE_CHECKING:
    from arda_mail.postmark.access import PostmarkAccess

#: Upper bound on verify rounds, whatever the interval (a zero interval is for tests).
MAX_ROUNDS = 60


class VerifyApi(Protocol):
    def verify_dkim(self, domain_id: int) -> PostmarkDomain: ...
    def verify_return_path(self, domain_id: int) -> PostmarkDomain: ...


class VerificationResult(Value):
    domain: PostmarkDomain
    rounds: int
    waited_s: float

    @property
    def dkim_verified(self) -> bool:
        return self.domain.dkim_verified

    @property
    def return_path_verified(self) -> bool:
        return self.domain.return_path_domain_verified

    @property
    def verified(self) -> bool:
        return self.dkim_verified and self.return_path_verified

    def attributes(self) -> dict[str, str]:
        return {
            "DkimVerified": "true" if self.dkim_verified else "false",
            "ReturnPathVerified": "true" if self.return_path_verified else "false",
        }

    def require_verified(self) -> None:
        """``FailIfUnverified``: still unverified when the wait ended fails the resource, with a Reason naming what
        Postmark did not find (otherwise it is a result, which the drift job reports)."""
        if not self.verified:
            raise ResourceFailedError(
                one_line(
                    f"Postmark domain {self.domain.id} ({self.domain.name}) is not verified after "
                    f"{self.waited_s:.0f} s: {self.describe_unverified()} not found by Postmark; check the records "
                    "and the NS delegation, then retry"
                )
            )

    def describe_unverified(self) -> str:
        """What is still missing, with the record a person should check (empty when verified)."""
        domain = self.domain
        missing = []
        if not self.dkim_verified:
            missing.append(f"DKIM (TXT record at {domain.dkim_record_host or 'the DKIM host'})")
        if not self.return_path_verified:
            target = domain.return_path_cname_value or "Postmark's Return-Path host"
            missing.append(f"Return-Path (CNAME {domain.return_path_domain or '(none set)'} -> {target})")
        return " and ".join(missing)


def verify_until(
    client: VerifyApi,
    domain_id: int,
    *,
    deadline: Deadline,
    max_wait_s: float,
    interval_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> VerificationResult:
    """Verify DKIM and Return-Path, repeating until both pass or the wait runs out (then report as is)."""
    started = time.monotonic()
    wait = Deadline(min(deadline.at, started + max(0.0, max_wait_s)))
    dkim_ok = return_path_ok = False
    domain: PostmarkDomain | None = None
    rounds = 0
    while True:
        rounds += 1
        if not dkim_ok:
            domain = client.verify_dkim(domain_id)
            dkim_ok = domain.dkim_verified
        if not return_path_ok:
            domain = client.verify_return_path(domain_id)
            return_path_ok = domain.return_path_domain_verified
        if (dkim_ok and return_path_ok) or rounds >= MAX_ROUNDS or wait.remaining() <= interval_s:
            break
        sleep(interval_s)
    assert domain is not None
    return VerificationResult(domain, rounds, time.monotonic() - started)


def verify_domain(
    access: PostmarkAccess, domain_id: int, *, max_wait_s: float, interval_s: float
) -> VerificationResult:
    """:func:`verify_until` with the secret's token, within the access's deadline."""
    return access.run(
        lambda client: verify_until(
            client, domain_id, deadline=access.deadline, max_wait_s=max_wait_s, interval_s=interval_s
        )
    )

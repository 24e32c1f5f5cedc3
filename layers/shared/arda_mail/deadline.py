"""A time budget derived from the Lambda's remaining time.

Every wait and every retry in the handlers is bounded by a :class:`Deadline`, so the function always
has time left to send its own response with a clear Reason, before the response helper's last-resort timer
(:data:`arda_mail.cfn.TIMER_MARGIN_S` before the Lambda times out) and long before CloudFormation's
``ServiceTimeout``.
"""

from __future__ import annotations

import time
from typing import Protocol

from arda_mail.values import Value

#: Time kept back for building and sending the response after the last external call.
DEFAULT_RESERVE_S = 3.0


class RemainingTime(Protocol):
    """The part of the Lambda context object a deadline needs."""

    def get_remaining_time_in_millis(self) -> int: ...


class DeadlineExceededError(TimeoutError):
    """The budget ran out before the operation completed."""


class Deadline(Value):
    """An absolute point on the monotonic clock."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + max(0.0, seconds))

    @classmethod
    def from_context(cls, context: RemainingTime, reserve_s: float = DEFAULT_RESERVE_S) -> Deadline:
        """The Lambda's remaining time minus ``reserve_s`` (never negative)."""
        remaining = context.get_remaining_time_in_millis() / 1000.0
        return cls.after(remaining - reserve_s)

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.at - time.monotonic())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def cap(self, seconds: float) -> float:
        """``seconds`` or the time left, whichever is smaller (for timeouts and sleeps)."""
        return min(seconds, self.remaining())

    def check(self, what: str) -> None:
        """Raise :class:`DeadlineExceededError` naming ``what`` when the budget is spent."""
        if self.expired:
            raise DeadlineExceededError(f"{what}: no time left before the function's deadline")

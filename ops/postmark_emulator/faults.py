"""One-shot (or N-shot) fault injection, matched by HTTP method and path regex.

A fault fires on the first API request it matches, in the order the faults were injected, and is used up
after ``times`` matches (``times=None``: every match, for persistent failures). What it does:

* ``delay_s``: wait before answering (to hit client timeouts); alone, the request is then processed normally;
* ``status`` (+ ``body`` or ``raw``, ``headers``): answer that instead of processing the request;
* ``drop_connection``: close the connection without any answer;
* ``commit_then_fail``: process the request (the create *is* stored) and then answer ``status`` (default 500)
  or, with ``drop_connection``, drop the connection: the orphan-then-512 scenario.
"""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Fault:
    method: str = ".*"
    path: str = ".*"
    status: int | None = None
    body: Any = None
    raw: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop_connection: bool = False
    commit_then_fail: bool = False
    times: int | None = 1
    #: Matching requests to let through untouched before the fault applies ("the second lookup fails").
    skip: int = 0

    def __post_init__(self) -> None:
        re.compile(self.method)
        re.compile(self.path)
        if self.times is not None and self.times < 1:
            raise ValueError("times must be at least 1 (or None for every match)")
        if not (self.status or self.delay_s or self.drop_connection or self.commit_then_fail):
            raise ValueError("a fault needs status, delay_s, drop_connection or commit_then_fail")

    def matches(self, method: str, path: str) -> bool:
        return bool(re.fullmatch(self.method, method, re.IGNORECASE) and re.search(self.path, path, re.IGNORECASE))

    # -- the common faults -----------------------------------------------------------------------
    @classmethod
    def rate_limited(cls, retry_after: float | str | None = 1, **match: Any) -> Fault:
        """429 / ErrorCode 429; ``retry_after`` is sent as given (``1.5`` or ``"soon"`` for a malformed header)."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        body = {"ErrorCode": 429, "Message": "Rate limit exceeded."}
        return cls(status=429, body=body, headers=headers, **match)

    @classmethod
    def server_error(cls, **match: Any) -> Fault:
        return cls(status=500, raw="Internal Server Error", **match)

    @classmethod
    def unavailable(cls, retry_after: float | str | None = None, **match: Any) -> Fault:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return cls(status=503, body={"ErrorCode": 100, "Message": "Maintenance"}, headers=headers, **match)

    @classmethod
    def slow(cls, delay_s: float, **match: Any) -> Fault:
        return cls(delay_s=delay_s, **match)

    @classmethod
    def commit_then_error(cls, *, drop: bool = False, **match: Any) -> Fault:
        """Store the request's effect, then answer 500 (or drop the connection when ``drop``)."""
        return cls(commit_then_fail=True, drop_connection=drop, **match)

    @classmethod
    def bare_404(cls, **match: Any) -> Fault:
        return cls(status=404, **match)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultQueue:
    """The injected faults, in order; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault matching the request, used up by one; None when nothing matches."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(method, path):
                    if fault.skip > 0:
                        fault.skip -= 1
                        return None
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            del self._faults[index]
                    return fault
            return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_json() for f in self._faults]

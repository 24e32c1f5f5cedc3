"""The drift check's building blocks: targets, check units, their results and the registry.

A *target* is something the run inspects (a partition's mail, Corporate's mail; later anything else the
runtime platform owns). A *check* is a small unit with a name and the target kinds it applies to; it reads
what it needs through the run's probes (:class:`CheckContext`) and returns one or more
:class:`CheckResult` rows. Checks register in a :class:`CheckRegistry`; the runner runs every registered
check against every target of a kind it applies to, concurrently. A non-mail check joins the same run by
registering itself for a new target kind and letting the runner build targets of that kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from arda_ops.drift.probes import Probes


class Verdict(StrEnum):
    """The outcome of one row."""

    OK = "ok"
    DRIFT = "drift"
    #: The check could not observe what it needs (a probe failed or timed out): never a silent "clean".
    ERROR = "error"
    #: Not evaluated because something it builds on already drifted (that row says what to fix).
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One row of the report: what was expected, what was observed, and what to do about a difference."""

    target: str
    check: str
    expected: str
    observed: str
    verdict: Verdict
    fix: str = ""
    #: For ERROR rows: the probe that could not answer (e.g. ``dns 127.0.0.1:53``).
    probe: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "check": self.check,
            "expected": self.expected,
            "observed": self.observed,
            "verdict": self.verdict.value,
            "fix": self.fix,
            "probe": self.probe,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(
            target=str(data["target"]),
            check=str(data["check"]),
            expected=str(data.get("expected", "")),
            observed=str(data.get("observed", "")),
            verdict=Verdict(data["verdict"]),
            fix=str(data.get("fix") or ""),
            probe=data.get("probe"),
        )


@dataclass(frozen=True, slots=True)
class Target:
    """Something a run inspects. ``kind`` selects the checks; ``name`` is the report's first column."""

    name: str
    kind: str
    #: Free-form facts the target's checks need (placement objects, account names, regions…).
    facts: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What a check gets: its target and the run's shared, memoised probes."""

    target: Target
    probes: Probes


class Check(Protocol):
    """A pluggable unit: a name, the target kinds it applies to, and ``run``."""

    @property
    def name(self) -> str: ...

    @property
    def target_kinds(self) -> frozenset[str]: ...

    def run(self, context: CheckContext) -> list[CheckResult]: ...


@dataclass(frozen=True, slots=True)
class FunctionCheck:
    """A check made of a plain function (what :func:`register_check` builds)."""

    name: str
    target_kinds: frozenset[str]
    function: Callable[[CheckContext], list[CheckResult]]
    description: str = ""

    def run(self, context: CheckContext) -> list[CheckResult]:
        return self.function(context)


class DuplicateCheckError(ValueError):
    """Two checks with the same name."""


class CheckRegistry:
    """Named checks, in registration order (which is also the order of the report's rows)."""

    def __init__(self, checks: Iterable[Check] = ()) -> None:
        self._checks: dict[str, Check] = {}
        for check in checks:
            self.add(check)

    def add(self, check: Check) -> Check:
        if check.name in self._checks:
            raise DuplicateCheckError(f"a check named {check.name!r} is already registered")
        self._checks[check.name] = check
        return check

    def register(
        self, name: str, *, kinds: Iterable[str], description: str = ""
    ) -> Callable[[Callable[[CheckContext], list[CheckResult]]], Callable[[CheckContext], list[CheckResult]]]:
        """Decorator: register ``function`` as a check named ``name`` for targets of ``kinds``."""

        def decorate(
            function: Callable[[CheckContext], list[CheckResult]],
        ) -> Callable[[CheckContext], list[CheckResult]]:
            doc = description or (function.__doc__ or "").strip().split("\n\n")[0]
            self.add(FunctionCheck(name, frozenset(kinds), function, " ".join(doc.split())))
            return function

        return decorate

    def for_target(self, target: Target) -> list[Check]:
        return [c for c in self._checks.values() if target.kind in c.target_kinds]

    def names(self) -> list[str]:
        return list(self._checks)

    def get(self, name: str) -> Check:
        return self._checks[name]

    def subset(self, names: Iterable[str]) -> CheckRegistry:
        """A registry with only the named checks (unknown names raise KeyError)."""
        return CheckRegistry(self._checks[n] for n in names)

    def __iter__(self) -> Iterator[Check]:
        return iter(self._checks.values())

    def __len__(self) -> int:
        return len(self._checks)


#: The registry the CLI runs. Mail checks register themselves when :mod:`arda_ops.drift.mail_checks` loads.
REGISTRY = CheckRegistry()


def register_check(
    name: str, *, kinds: Iterable[str], description: str = ""
) -> Callable[[Callable[[CheckContext], list[CheckResult]]], Callable[[CheckContext], list[CheckResult]]]:
    """Register a check in the default :data:`REGISTRY` (decorator)."""
    return REGISTRY.register(name, kinds=kinds, description=description)


def description_of(check: Check) -> str:
    return str(getattr(check, "description", "") or "")

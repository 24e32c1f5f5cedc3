"""Validation of custom-resource properties, before any external call.

CloudFormation passes every property as a string (numbers and booleans included), and a person reads
the failure in the console's one-line Reason. :class:`PropertyReader` therefore collects every problem
of an event and raises one :class:`InvalidPropertiesError` naming them all, so a single fix-and-redeploy
is enough.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from arda_mail.dns_names import domain_problem

#: Properties CloudFormation itself adds to every custom resource.
PROTOCOL_PROPERTIES = frozenset({"ServiceToken", "ServiceTimeout"})
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")
_TRUE_FALSE = {"true": True, "false": False}


#: crhelper keeps only the last 240 characters of a longer Reason; stay below, so the start is never cut.
MAX_REASON_LENGTH = 240
_PREFIX = "Invalid properties: "


class InvalidPropertiesError(ValueError):
    """The resource's properties cannot be acted on; nothing outside the function was called."""


def summarise(problems: list[str] | tuple[str, ...], limit: int = MAX_REASON_LENGTH) -> str:
    """``Invalid properties: a; b (+N more)``: as many whole problems as fit in ``limit`` characters.

    A single problem longer than the limit is cut with an ellipsis; the count of the others always shows.
    """
    text = _PREFIX + "; ".join(problems)
    if len(text) <= limit:
        return text
    shown: list[str] = []
    for index, problem in enumerate(problems):
        rest = len(problems) - index - 1
        suffix = f" (+{rest} more)" if rest else ""
        candidate = _PREFIX + "; ".join([*shown, problem]) + suffix
        if len(candidate) > limit:
            break
        shown.append(problem)
    hidden = len(problems) - len(shown)
    if not shown:
        suffix = f" (+{hidden - 1} more)" if hidden > 1 else ""
        room = limit - len(_PREFIX) - len(suffix) - 3
        return _PREFIX + problems[0][:room] + "..." + suffix
    return _PREFIX + "; ".join(shown) + (f" (+{hidden} more)" if hidden else "")


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PropertyReader:
    """Reads typed values out of ``ResourceProperties`` and collects the problems it finds."""

    def __init__(self, properties: Mapping[str, Any] | None, allowed: Iterable[str]) -> None:
        self._props: Mapping[str, Any] = properties or {}
        self._problems: list[str] = []
        unknown = sorted(set(self._props) - set(allowed) - PROTOCOL_PROPERTIES)
        if unknown:
            self._problems.append(f"unknown propert{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}")

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(self._problems)

    def problem(self, message: str) -> None:
        """Record a cross-property problem found by the caller."""
        self._problems.append(message)

    def raise_if_invalid(self) -> None:
        """Raise one error naming the problems, shortened to fit CloudFormation's one-line Reason."""
        if self._problems:
            raise InvalidPropertiesError(summarise(self._problems))

    def _raw(self, name: str) -> Any:
        value = self._props.get(name)
        return None if value == "" else value

    def string(self, name: str, default: str | None = None, *, required: bool = False) -> str:
        value = self._raw(name)
        if value is None:
            if required:
                self._problems.append(f"{name} is required")
            return default or ""
        if not isinstance(value, str):
            self._problems.append(f"{name} must be a string")
            return default or ""
        return value

    def domain(self, name: str, default: str | None = None, *, required: bool = False) -> str:
        """A canonical host name: lower case, no trailing dot, at least two labels."""
        value = self.string(name, default, required=required)
        if value and value != default:
            problem = domain_problem(value)
            if problem:
                self._problems.append(f"{name} {value!r} {problem}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value in _TRUE_FALSE:
            return _TRUE_FALSE[value]
        self._problems.append(f'{name} must be "true" or "false", got {value!r}')
        return default

    def integer(self, name: str, default: int, *, minimum: int, maximum: int) -> int:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = int(str(value), 10)
        except ValueError:
            self._problems.append(f"{name} must be a whole number, got {value!r}")
            return default
        if not minimum <= number <= maximum:
            self._problems.append(f"{name} must be between {minimum} and {maximum}, got {number}")
            return default
        return number

    def string_list(self, name: str, *, required: bool = False) -> list[str]:
        value = self._props.get(name)
        if value in (None, "", []):
            if required:
                self._problems.append(f"{name} is required")
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self._problems.append(f"{name} must be a list of non-empty strings")
            return []
        return list(value)

    def secret_arn(self, name: str, *, required: bool = False) -> str:
        value = self.string(name, required=required)
        if value and not _SECRET_ARN.match(value):
            self._problems.append(f"{name} must be a Secrets Manager secret ARN")
        return value

    def role_arn(self, name: str, *, required: bool = False) -> str:
        value = self.string(name, required=required)
        if value and not _ROLE_ARN.match(value):
            self._problems.append(f"{name} must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
        return value

    def api_url(self, name: str, default: str) -> str:
        """An HTTPS base URL; plain HTTP only towards loopback (tests and the offline rehearsal)."""
        value = self.string(name, default)
        try:
            parts = urlsplit(value)
            host = parts.hostname or ""
        except ValueError:
            self._problems.append(f"{name} {value!r} is not a URL")
            return default
        if (parts.scheme == "https" and host) or (parts.scheme == "http" and is_loopback_host(host)):
            pass
        else:
            self._problems.append(f"{name} must be an https:// URL (plain http only for loopback), got {value!r}")
            return default
        if parts.query or parts.fragment or parts.username or parts.password:
            self._problems.append(f"{name} must not carry credentials, a query or a fragment")
            return default
        return value.rstrip("/")

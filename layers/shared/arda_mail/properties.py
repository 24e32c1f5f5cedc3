"""Validation of custom-resource properties, before any external call.

CloudFormation passes every property as a string (numbers and booleans included), and a person reads
the failure in the console's one-line Reason. :class:`PropertyReader` therefore collects every problem
of an event and raises one :class:`InvalidPropertiesError` naming them all, so a single fix-and-redeploy
is enough.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from arda_mail.dns_names import domain_problem
from arda_mail.reasons import ELLIPSIS, MAX_REASON_LENGTH

#: Properties CloudFormation itself adds to every custom resource.
PROTOCOL_PROPERTIES = frozenset({"ServiceToken", "ServiceTimeout"})
# Matched with fullmatch: `$` would also accept a trailing newline.
_SECRET_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):secretsmanager:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):secret:[A-Za-z0-9/_+=.@-]+"
)
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}")
_TRUE_FALSE = {"true": True, "false": False}
#: The only host the Postmark account token is ever sent to, besides loopback (tests, the offline rehearsal).
POSTMARK_API_HOST = "api.postmarkapp.com"
#: ``MaxWaitSeconds`` of the resources that wait for Postmark (verification, DKIM): the default, and the hard cap,
#: below the functions' 300 s timeout in the templates and equal to the template parameters' MaxValue (template
#: tests keep the three in step); the function's remaining time (``Deadline.from_context``) caps a wait further.
DEFAULT_MAX_WAIT_S = 180
MAX_WAIT_CAP_S = 285
#: ``PollIntervalSeconds``: the default and the longest allowed.
DEFAULT_POLL_INTERVAL_S = 5
MAX_POLL_INTERVAL_S = 60
#: Longest whole number a property may hold (Postmark IDs are 64-bit); longer input is refused before parsing.
MAX_INTEGER_DIGITS = 19


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
        room = limit - len(_PREFIX) - len(suffix) - len(ELLIPSIS)
        return _PREFIX + problems[0][:room] + ELLIPSIS + suffix
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

    def __init__(
        self, properties: Mapping[str, Any] | None, allowed: Iterable[str] | None, *, context: Any = None
    ) -> None:
        """``allowed=None`` accepts any other property (a Delete reads only what it needs). ``context`` (the
        Lambda context) lets ARNs be checked against the function's own account and region."""
        self._props: Mapping[str, Any] = properties if isinstance(properties, Mapping) else {}
        self._problems: list[str] = []
        self._account, self._region = _function_account_and_region(context)
        if properties is not None and not isinstance(properties, Mapping):
            self._problems.append("ResourceProperties must be an object")
        unknown = sorted(set(self._props) - set(allowed) - PROTOCOL_PROPERTIES) if allowed is not None else []
        if unknown:
            shown = [name if _is_plain_name(name) else "<unprintable name>" for name in unknown]
            self._problems.append(f"unknown propert{'y' if len(unknown) == 1 else 'ies'} {', '.join(shown)}")

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
        """A canonical host name: lower case, no trailing dot, at least two labels (a default too: one derived
        from another property may break the rules, e.g. by length)."""
        value = self.string(name, default, required=required)
        if value:
            problem = domain_problem(value)
            if problem:
                shown = f"{value!r}" if len(value) <= 80 else f"{value[:60]!r}… ({len(value)} characters)"
                self._problems.append(f"{name} {shown} {problem}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value in _TRUE_FALSE:
            return _TRUE_FALSE[value]
        # Not echoed: whatever was put here by mistake (a token?) must not reach the Reason.
        self._problems.append(f'{name} must be "true" or "false"')
        return default

    def integer(self, name: str, default: int, *, minimum: int, maximum: int) -> int:
        value = self._raw(name)
        if value is None:
            return default
        text = str(value).strip()
        if len(text) > MAX_INTEGER_DIGITS or not (text.isascii() and text.lstrip("-").isdigit()):
            self._problems.append(f"{name} must be a whole number of at most {MAX_INTEGER_DIGITS} digits")
            return default
        number = int(text, 10)
        if not minimum <= number <= maximum:
            self._problems.append(f"{name} must be between {minimum} and {maximum}, got {number}")
            return default
        return number

    def wait(self) -> tuple[int, int]:
        """``MaxWaitSeconds`` and ``PollIntervalSeconds``, as every resource that waits for Postmark reads them."""
        max_wait = self.integer("MaxWaitSeconds", DEFAULT_MAX_WAIT_S, minimum=0, maximum=MAX_WAIT_CAP_S)
        interval = self.integer("PollIntervalSeconds", DEFAULT_POLL_INTERVAL_S, minimum=0, maximum=MAX_POLL_INTERVAL_S)
        return max_wait, interval

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
        """A Secrets Manager ARN in the function's own account and region (the only secrets its role may read)."""
        value = self.string(name, required=required)
        if not value:
            return value
        match = _SECRET_ARN.fullmatch(value)
        if match is None:
            self._problems.append(f"{name} must be a Secrets Manager secret ARN")
        elif self._region and match["region"] != self._region:
            self._problems.append(f"{name} is in region {match['region']}; the function reads only {self._region}")
        elif self._account and match["account"] != self._account:
            self._problems.append(
                f"{name} is in account {match['account']}; the function reads only its own account {self._account}"
            )
        return value

    def role_arn(self, name: str, *, required: bool = False) -> str:
        value = self.string(name, required=required)
        if value and not _ROLE_ARN.fullmatch(value):
            self._problems.append(f"{name} must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
        return value

    def api_url(self, name: str, default: str) -> str:
        """Postmark's API (``https://api.postmarkapp.com``) or a loopback URL (tests, the offline rehearsal):
        the account token is sent to this URL, so no other host is accepted. The value is never echoed whole
        (a URL's userinfo may hold a credential)."""
        value = self.string(name, default)
        problem = _api_url_problem(value)
        if problem:
            self._problems.append(f"{name} {problem}")
            return default
        return value.rstrip("/")


def _api_url_problem(value: str) -> str | None:
    try:
        parts = urlsplit(value)
        host = (parts.hostname or "").lower()
        port = parts.port  # raises ValueError for a port out of range
    except ValueError:
        return "is not a valid URL"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "must not carry credentials"
    if parts.query or parts.fragment or parts.path not in ("", "/") or any(c.isspace() for c in value):
        return "must be a bare base URL (no path, query or fragment)"
    if host == POSTMARK_API_HOST and parts.scheme == "https" and port in (None, 443):
        return None
    if is_loopback_host(host) and parts.scheme in ("http", "https"):
        return None
    return f"must be https://{POSTMARK_API_HOST} (or a loopback URL for tests); the account token is sent nowhere else"


def _function_account_and_region(context: Any) -> tuple[str | None, str | None]:
    arn = getattr(context, "invoked_function_arn", None)
    fields = arn.split(":") if isinstance(arn, str) else []
    account = fields[4] if len(fields) > 4 and fields[4].isdigit() else None
    region = fields[3] if len(fields) > 3 and fields[3] else os.environ.get("AWS_REGION")
    return account, region


def _is_plain_name(name: object) -> bool:
    return isinstance(name, str) and name.isascii() and name.isidentifier() and len(name) <= 64

"""DNS name rules shared by the placement code, the property validators and the tenant-slug validator.

Names are handled in their canonical form throughout the project: lower case, no trailing dot. Input in
any other form is rejected rather than silently normalised, so that what CloudFormation stores is exactly
what Postmark and Route 53 see.
"""

from __future__ import annotations

import re

MAX_LABEL_LENGTH = 63
MAX_NAME_LENGTH = 253
# Always used with fullmatch: `$` would accept a trailing newline.
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")

#: A Route 53 hosted zone ID: upper-case letters and digits, at most 32 (the API's ``Id`` length limit,
#: https://docs.aws.amazon.com/Route53/latest/APIReference/API_HostedZone.html); :func:`hosted_zone_id` also
#: accepts the ``/hostedzone/`` prefix some answers carry.
ZONE_ID = r"[A-Z0-9]{1,32}"
_HOSTED_ZONE_ID = re.compile(rf"(?:/hostedzone/)?({ZONE_ID})")


def hosted_zone_id(value: str) -> str | None:
    """``/hostedzone/Z123`` or ``Z123`` → ``Z123``; None for anything else (whitespace included)."""
    match = _HOSTED_ZONE_ID.fullmatch(value)
    return match.group(1) if match else None


def label_problem(label: str) -> str | None:
    """Why ``label`` is not a valid host label, or None when it is."""
    if not label:
        return "is empty"
    if len(label) > MAX_LABEL_LENGTH:
        return f"is {len(label)} characters long (at most {MAX_LABEL_LENGTH})"
    if label != label.lower():
        return "must be lower case"
    if label.startswith("-") or label.endswith("-"):
        return "must not start or end with a hyphen"
    if not _LABEL.fullmatch(label):
        return "may contain only a-z, 0-9 and hyphens"
    return None


def domain_problem(name: str, *, min_labels: int = 2) -> str | None:
    """Why ``name`` is not a canonical host name (lower case, no trailing dot), or None when it is."""
    if not name:
        return "is empty"
    if name.endswith("."):
        return "must not end with a dot"
    if len(name) > MAX_NAME_LENGTH:
        return f"is {len(name)} characters long (at most {MAX_NAME_LENGTH})"
    labels = name.split(".")
    if len(labels) < min_labels:
        return f"must have at least {min_labels} labels"
    for label in labels:
        problem = label_problem(label)
        if problem:
            return f"has a label {label!r} that {problem}"
    if labels[-1].isdigit():
        # No top-level domain is numeric (RFC 3696 section 2): this is an IP address, not a host name.
        return "is an IP address, not a host name"
    return None


def is_strict_subdomain(name: str, parent: str) -> bool:
    """True when ``name`` lies below ``parent`` (``a.b.c`` below ``b.c``), never when they are equal."""
    return name.endswith("." + parent) and len(name) > len(parent) + 1


def absolute(name: str) -> str:
    """The fully qualified form with the trailing dot, as Route 53 returns names."""
    return name if name.endswith(".") else name + "."


def relative(name: str) -> str:
    """The canonical form without the trailing dot, lower case."""
    return name.rstrip(".").lower()

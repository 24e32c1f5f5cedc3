"""Reserved names and the tenant-slug validator for tenant sending domains below a partition's mail domain.

Every partition name (suspended ones included) and the Corporate label are reserved at the mail-root
level, so a tenant can never claim a name that collides with a partition's own mail zone.
"""

from __future__ import annotations

from arda_mail.dns_names import label_problem
from arda_mail.partitions import all_partition_names

#: Corporate's own sub-zone label (``arda.<mail root>``).
CORPORATE_LABEL = "arda"


class InvalidTenantSlugError(ValueError):
    """The slug cannot name a tenant sending domain."""


def reserved_names() -> frozenset[str]:
    """Labels no tenant may use: Corporate and every registered partition, suspended or not."""
    return frozenset({CORPORATE_LABEL, *all_partition_names()})


def partition_own_labels() -> dict[str, str]:
    """Labels the partition's own records use directly below its mail domain, with why each is taken.

    The Return-Path label names the partition's bounce host (a CNAME to Postmark): a tenant of that name would be a
    Postmark sender domain sitting on the partition's bounce host. The DMARC and DKIM labels need no entry: their
    underscore already fails the label rules. The label comes from the placement module, the one place that
    composes names (imported here, not at the top, because placement imports this module).
    """
    from arda_mail.placement import RETURN_PATH_LABEL

    return {RETURN_PATH_LABEL: "is the partition's Return-Path host (its CNAME to Postmark's bounce server)"}


def _non_ascii_problem(slug: str) -> str | None:
    """Name the first non-ASCII character: a look-alike (Cyrillic a U+0430, the Kelvin sign U+212A) is invisible in the
    slug itself, and the generic label message ("must be lower case") would send the operator the wrong way."""
    for char in slug:
        if not char.isascii():
            return (
                f"may contain only a-z, 0-9 and hyphens, and has the non-ASCII character {char!r} (U+{ord(char):04X}), "
                "perhaps a look-alike: type it in plain ASCII"
            )
    return None


def _reserved_ldh_problem(slug: str) -> str | None:
    """Hyphens in the third and fourth positions mark a reserved LDH label, of which ``xn--`` (punycode) is the one
    in use: it displays as Unicode, so a tenant could pass for another (RFC 5890 section 2.3.1,
    https://www.rfc-editor.org/rfc/rfc5890#section-2.3.1)."""
    if slug[2:4] == "--":
        return "has '--' in the third and fourth positions, reserved for internationalised names (xn--…)"
    return None


def validate_tenant_slug(slug: str) -> str:
    """Return ``slug`` when it is a usable tenant label; raise with a message a person can act on.

    Beyond the DNS label rules: no look-alike characters, no internationalised (``xn--``) or other reserved LDH
    label, none of the names reserved at the mail-root level, and no label the partition's own records use below its
    mail domain (a tenant's domain must never be one of the partition's record names).
    """
    if not isinstance(slug, str):
        raise InvalidTenantSlugError(f"tenant slug must be a string, got {type(slug).__name__}")
    problem = _non_ascii_problem(slug) or label_problem(slug) or _reserved_ldh_problem(slug)
    if problem:
        raise InvalidTenantSlugError(f"tenant slug {slug!r} {problem}")
    if slug in reserved_names():
        raise InvalidTenantSlugError(
            f"tenant slug {slug!r} is reserved (reserved names: {', '.join(sorted(reserved_names()))})"
        )
    taken = partition_own_labels().get(slug)
    if taken:
        raise InvalidTenantSlugError(
            f"tenant slug {slug!r} is taken by the partition's own records: {slug}.<partition mail domain> {taken}; "
            "choose another slug"
        )
    return slug

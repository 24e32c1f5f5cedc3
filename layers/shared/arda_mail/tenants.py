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


def validate_tenant_slug(slug: str) -> str:
    """Return ``slug`` when it is a usable tenant label; raise with a message a person can act on."""
    problem = label_problem(slug)
    if problem:
        raise InvalidTenantSlugError(f"tenant slug {slug!r} {problem}")
    if slug in reserved_names():
        raise InvalidTenantSlugError(
            f"tenant slug {slug!r} is reserved (reserved names: {', '.join(sorted(reserved_names()))})"
        )
    return slug

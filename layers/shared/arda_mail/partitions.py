"""The partition registry: the single source of truth for Application Runtime partitions.

Every consumer (template mappings, samconfig, the deploy preflight, the drift check, the rehearsal) reads
this module or is tested against it, so a partition is added, suspended or moved in exactly one place.
Account IDs and regions are configuration, not code: they live in ``config/accounts.toml`` and are read by
:mod:`arda_ops.accounts` (operator tooling: the Lambda functions never need them).
"""

from __future__ import annotations

from enum import StrEnum

from arda_mail.values import Value


class MailStatus(StrEnum):
    """Whether a partition has a mail block."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


class PostmarkAccount(StrEnum):
    """The Postmark account a partition's sender domain is registered on."""

    PROD = "PostmarkProd"
    NON_PROD = "PostmarkNonProd"


class UnknownPartitionError(ValueError):
    """The name is not in the registry."""


class SuspendedPartitionError(ValueError):
    """The partition exists but has no mail block; every consumer skips it."""


class Partition(Value):
    """One Application Runtime partition as far as mail is concerned."""

    name: str
    infrastructure: str
    postmark_account: PostmarkAccount
    status: MailStatus
    onepassword_vault: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status is MailStatus.ACTIVE

    @property
    def fqn(self) -> str:
        """``{infrastructure}-{partition}``, the prefix of every resource and export name."""
        return f"{self.infrastructure}-{self.name}"


PARTITIONS: tuple[Partition, ...] = (
    Partition("dev", "Alpha002", PostmarkAccount.NON_PROD, MailStatus.ACTIVE, "Arda-DevOAM"),
    Partition("stage", "Alpha002", PostmarkAccount.NON_PROD, MailStatus.ACTIVE, "Arda-StageOAM"),
    Partition("demo", "Alpha001", PostmarkAccount.PROD, MailStatus.ACTIVE, "Arda-DemoOAM"),
    Partition("prod", "Alpha001", PostmarkAccount.PROD, MailStatus.ACTIVE, "Arda-ProdOAM"),
    # Suspended: no mail block, skipped by every consumer, but the name stays reserved.
    Partition("kyle", "SandboxKyle002", PostmarkAccount.NON_PROD, MailStatus.SUSPENDED),
)

#: The order in which partitions are rolled out (documented, not enforced by CI).
ROLLOUT_ORDER: tuple[str, ...] = ("dev", "stage", "demo", "prod")

_BY_NAME: dict[str, Partition] = {p.name: p for p in PARTITIONS}


def all_partition_names() -> tuple[str, ...]:
    """Every registered name, suspended ones included (they stay reserved)."""
    return tuple(_BY_NAME)


def active_partitions() -> tuple[Partition, ...]:
    """The partitions that have mail, in rollout order."""
    return tuple(_BY_NAME[name] for name in ROLLOUT_ORDER if _BY_NAME[name].is_active)


def active_partition_names() -> tuple[str, ...]:
    return tuple(p.name for p in active_partitions())


def get_partition(name: str, *, allow_suspended: bool = False) -> Partition:
    """Look a partition up by name.

    Raises :class:`UnknownPartitionError` for a name not in the registry and, unless ``allow_suspended``,
    :class:`SuspendedPartitionError` for a partition without mail, so callers cannot act on ``kyle`` by mistake.
    """
    partition = _BY_NAME.get(name)
    if partition is None:
        known = ", ".join(active_partition_names())
        raise UnknownPartitionError(f"unknown partition {name!r}; the active partitions are: {known}")
    if not partition.is_active and not allow_suspended:
        raise SuspendedPartitionError(
            f"partition {name!r} is {partition.status.value}: it has no mail block and is skipped"
        )
    return partition


def postmark_token_reference(name: str) -> str:
    """The 1Password reference (``op://…``) of the partition's Postmark account token."""
    partition = get_partition(name)
    if partition.onepassword_vault is None:  # pragma: no cover - every active partition has a vault
        raise SuspendedPartitionError(f"partition {name!r} has no 1Password vault for its Postmark token")
    return f"op://{partition.onepassword_vault}/Postmark/credential"

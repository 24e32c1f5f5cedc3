"""AWS account IDs and regions, read from the checked-in ``config/accounts.toml``.

They are configuration rather than code so that an operator fills them in without touching Python; the
placeholders (``00000000000N``) are recognisable, and the deploy preflight refuses to run against them.
Nothing here is imported by the Lambda handlers: it serves the operator tooling and the tests.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from arda_mail.partitions import Partition, active_partitions

ACCOUNTS_FILE_ENV = "ARDA_MAIL_ACCOUNTS_FILE"
PLATFORM_ROOT = "PlatformRoot"
_ACCOUNT_ID = re.compile(r"^\d{12}\Z")
_PLACEHOLDER = re.compile(r"^0{11}\d\Z")
_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,32}\Z")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d\Z")


class AccountsConfigError(ValueError):
    """``config/accounts.toml`` is missing an entry or holds a malformed value."""


@dataclass(frozen=True, slots=True)
class AwsAccount:
    """Where an infrastructure lives."""

    infrastructure: str
    account_id: str
    region: str

    @property
    def is_placeholder(self) -> bool:
        """True while the checked-in placeholder has not been replaced by a real account ID."""
        return bool(_PLACEHOLDER.match(self.account_id))


def default_accounts_file() -> Path:
    """``$ARDA_MAIL_ACCOUNTS_FILE``, else ``config/accounts.toml`` at the repository root."""
    override = os.environ.get(ACCOUNTS_FILE_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "config" / "accounts.toml"


@cache
def load_accounts(path: Path | None = None) -> dict[str, AwsAccount]:
    """Parse and validate the accounts file; every problem is reported with the key to fix."""
    source = path or default_accounts_file()
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise AccountsConfigError(f"accounts file not found: {source}") from exc
    table = raw.get("infrastructure")
    if not isinstance(table, dict):
        raise AccountsConfigError(f"{source}: missing [infrastructure.<name>] tables")
    accounts: dict[str, AwsAccount] = {}
    for name, entry in table.items():
        account_id = str(entry.get("account_id", ""))
        region = str(entry.get("region", ""))
        if not _ACCOUNT_ID.match(account_id):
            raise AccountsConfigError(f"{source}: infrastructure.{name}.account_id must be 12 digits")
        if not _REGION.match(region):
            raise AccountsConfigError(f"{source}: infrastructure.{name}.region is not an AWS region: {region!r}")
        accounts[name] = AwsAccount(name, account_id, region)
    return accounts


def mail_root_zone_id(path: Path | None = None) -> str:
    """The hosted zone ID of the mail-root zone in the Platform Root account (``[mail_root] zone_id``)."""
    source = path or default_accounts_file()
    raw = tomllib.loads(source.read_text(encoding="utf-8"))
    zone_id = str(raw.get("mail_root", {}).get("zone_id", ""))
    if not _ZONE_ID.match(zone_id):
        raise AccountsConfigError(f"{source}: mail_root.zone_id must be a Route 53 hosted zone ID, got {zone_id!r}")
    return zone_id


def is_placeholder_zone_id(zone_id: str) -> bool:
    return zone_id.startswith("ZPLACEHOLDER")


def account_for(infrastructure: str, path: Path | None = None) -> AwsAccount:
    accounts = load_accounts(path)
    try:
        return accounts[infrastructure]
    except KeyError:
        raise AccountsConfigError(f"no [infrastructure.{infrastructure}] entry in the accounts file") from None


def partition_account(partition: Partition, path: Path | None = None) -> AwsAccount:
    return account_for(partition.infrastructure, path)


def platform_root_account(path: Path | None = None) -> AwsAccount:
    return account_for(PLATFORM_ROOT, path)


def active_partition_account_ids(path: Path | None = None) -> tuple[str, ...]:
    """The distinct AWS accounts that host an active partition, sorted (the root role trusts exactly these)."""
    return tuple(sorted({partition_account(p, path).account_id for p in active_partitions()}))

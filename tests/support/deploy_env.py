"""What bin/deploy's unit tests stand on: an accounts file with real-looking IDs, the samconfig rendered from it
(what ``samconfig --write`` would produce), both named through their environment variables, and exactly the tools
bin/deploy calls (``op`` and a ``make`` that records its arguments; no aws, no sam: SAM runs in-process)."""

from __future__ import annotations

from pathlib import Path

import pytest

from arda_ops import samconfig
from arda_ops.accounts import ACCOUNTS_FILE_ENV, load_accounts
from arda_ops.deploy import SAMCONFIG_ENV

ROOT = "210987654321"
ALPHA001 = "111122223333"
ALPHA002 = "123456789012"
CORPORATE = "444455556666"
ZONE = "Z0123456789ABCDEFGHIJ"
REGION = "eu-west-1"


def write_accounts(path: Path, *, zone_id: str = ZONE, region: str = REGION, corporate: str | None = CORPORATE) -> None:
    entries = [("PlatformRoot", ROOT), ("Alpha001", ALPHA001), ("Alpha002", ALPHA002)]
    if corporate is not None:
        entries.append(("Corporate", corporate))
    tables = [f'[infrastructure.{name}]\naccount_id = "{acct}"\nregion = "{region}"' for name, acct in entries]
    path.write_text("\n".join([*tables, f'[mail_root]\nzone_id = "{zone_id}"']) + "\n")
    load_accounts.cache_clear()


def use_accounts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Write the accounts file and its samconfig under ``tmp_path`` and point bin/deploy at them."""
    accounts = tmp_path / "accounts.toml"
    monkeypatch.setenv(ACCOUNTS_FILE_ENV, str(accounts))
    write_accounts(accounts)
    config = tmp_path / "samconfig.toml"
    config.write_text(samconfig.render())
    monkeypatch.setenv(SAMCONFIG_ENV, str(config))
    return accounts


def use_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``op`` and ``make`` alone on PATH; returns the file where ``make`` records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "op").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "make").write_text(f'#!/bin/sh\necho "$@" >> "{tmp_path}/make.log"\n')
    for tool in ("op", "make"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    return tmp_path / "make.log"

import pytest

from arda_mail.partitions import get_partition
from arda_ops import accounts
from arda_ops.accounts import AccountsConfigError, load_accounts


@pytest.fixture(autouse=True)
def _clear_cache():
    load_accounts.cache_clear()
    yield
    load_accounts.cache_clear()


def test_checked_in_file_has_every_infrastructure_as_placeholder():
    loaded = load_accounts()
    assert set(loaded) == {"PlatformRoot", "Alpha001", "Alpha002", "Corporate", "SandboxKyle002"}
    assert all(a.is_placeholder for a in loaded.values())
    assert accounts.partition_account(get_partition("dev")).infrastructure == "Alpha002"


def test_active_partition_account_ids_are_distinct_and_exclude_suspended():
    assert accounts.active_partition_account_ids() == ("000000000001", "000000000002")


def test_env_override_and_real_ids(tmp_path, monkeypatch):
    f = tmp_path / "a.toml"
    f.write_text('[infrastructure.Alpha002]\naccount_id = "123456789012"\nregion = "eu-west-1"\n')
    monkeypatch.setenv(accounts.ACCOUNTS_FILE_ENV, str(f))
    acct = accounts.account_for("Alpha002")
    assert (acct.account_id, acct.region, acct.is_placeholder) == ("123456789012", "eu-west-1", False)
    with pytest.raises(AccountsConfigError, match=r"no \[infrastructure.Alpha001\] entry"):
        accounts.account_for("Alpha001")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[infrastructure.X]\naccount_id = "12"\nregion = "us-east-1"\n', "account_id must be 12 digits"),
        ('[infrastructure.X]\naccount_id = "123456789012"\nregion = "mars"\n', "not an AWS region"),
        ("title = 'x'\n", "missing"),
    ],
)
def test_malformed_files_name_the_key(tmp_path, content, message):
    f = tmp_path / "a.toml"
    f.write_text(content)
    with pytest.raises(AccountsConfigError, match=message):
        load_accounts(f)


def test_missing_file(tmp_path):
    with pytest.raises(AccountsConfigError, match="not found"):
        load_accounts(tmp_path / "nope.toml")


def test_mail_root_zone_id(tmp_path):
    assert accounts.is_placeholder_zone_id(accounts.mail_root_zone_id())
    f = tmp_path / "a.toml"
    f.write_text('[mail_root]\nzone_id = "Z0123ABC"\n')
    assert accounts.mail_root_zone_id(f) == "Z0123ABC"
    assert not accounts.is_placeholder_zone_id("Z0123ABC")
    f.write_text('[mail_root]\nzone_id = "nope"\n')
    with pytest.raises(AccountsConfigError, match="hosted zone ID"):
        accounts.mail_root_zone_id(f)

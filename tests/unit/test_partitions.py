import pytest

from arda_mail import partitions
from arda_mail.partitions import (
    MailStatus,
    PostmarkAccount,
    SuspendedPartitionError,
    UnknownPartitionError,
    active_partition_names,
    get_partition,
    postmark_token_reference,
)


def test_active_partitions_in_rollout_order():
    assert active_partition_names() == ("dev", "stage", "demo", "prod")


@pytest.mark.parametrize(
    ("name", "infrastructure", "account"),
    [
        ("dev", "Alpha002", PostmarkAccount.NON_PROD),
        ("stage", "Alpha002", PostmarkAccount.NON_PROD),
        ("demo", "Alpha001", PostmarkAccount.PROD),
        ("prod", "Alpha001", PostmarkAccount.PROD),
    ],
)
def test_registry_rows(name, infrastructure, account):
    p = get_partition(name)
    assert (p.infrastructure, p.postmark_account, p.status) == (infrastructure, account, MailStatus.ACTIVE)
    assert p.fqn == f"{infrastructure}-{name}"


def test_kyle_is_suspended_but_registered():
    assert "kyle" in partitions.all_partition_names()
    assert "kyle" not in active_partition_names()
    with pytest.raises(SuspendedPartitionError, match=r"kyle.*suspended"):
        get_partition("kyle")
    assert get_partition("kyle", allow_suspended=True).infrastructure == "SandboxKyle002"


@pytest.mark.parametrize("bad", ["", "Dev", "qa", "dev ", "arda"])
def test_unknown_partition_names_the_active_ones(bad):
    with pytest.raises(UnknownPartitionError, match=r"active partitions are: dev, stage, demo, prod"):
        get_partition(bad)


@pytest.mark.parametrize(
    ("name", "ref"),
    [
        ("dev", "op://Arda-DevOAM/Postmark/credential"),
        ("stage", "op://Arda-StageOAM/Postmark/credential"),
        ("demo", "op://Arda-DemoOAM/Postmark/credential"),
        ("prod", "op://Arda-ProdOAM/Postmark/credential"),
    ],
)
def test_postmark_token_reference(name, ref):
    assert postmark_token_reference(name) == ref


def test_token_reference_refuses_suspended_and_unknown():
    with pytest.raises(SuspendedPartitionError):
        postmark_token_reference("kyle")
    with pytest.raises(UnknownPartitionError):
        postmark_token_reference("nope")

"""The tenant names of the placement function: stack name, tags, the -I- exports, and the tenant-domain rule."""

from __future__ import annotations

import pytest

from arda_mail.partitions import active_partition_names, all_partition_names
from arda_mail.placement import (
    CORPORATE_LABEL,
    TENANT_TAG_KEY,
    partition_placement,
    tenant_domain_problem,
    tenant_placement,
    tenant_slug_of_stack,
)
from arda_mail.tenants import InvalidTenantSlugError


@pytest.mark.parametrize("partition", active_partition_names())
def test_tenant_names_below_the_partition(partition):
    p = partition_placement(partition)
    t = tenant_placement(partition, "acme")
    assert t.mail.mail_domain == f"acme.{p.mail.mail_domain}"
    assert t.mail.parent_zone_name == p.mail.mail_domain
    assert t.mail.return_path_host == f"pm-bounces.acme.{p.mail.mail_domain}"
    assert t.stack_name == f"{p.fqn}-Email-Tenant-acme"
    assert t.tags == {TENANT_TAG_KEY: "acme"}
    assert TENANT_TAG_KEY == "arda:tenant"
    assert p.intra_platform_exports == (
        f"{p.fqn}-I-EmailPostmarkDomainFunctionArn",
        f"{p.fqn}-I-EmailPostmarkDomainVerificationFunctionArn",
    )
    # The -I- exports never collide with the six -API- ones of the runtime's contract.
    assert not set(p.intra_platform_exports) & set(p.exports.as_dict().values())


def test_the_same_slug_on_two_partitions_is_two_tenants():
    dev, stage = tenant_placement("dev", "acme"), tenant_placement("stage", "acme")
    assert dev.mail.mail_domain != stage.mail.mail_domain
    assert dev.stack_name != stage.stack_name


@pytest.mark.parametrize("slug", [CORPORATE_LABEL, *all_partition_names(), "-a", "A", "a_b", "t" * 64, ""])
def test_a_reserved_or_malformed_slug_has_no_placement(slug):
    with pytest.raises(InvalidTenantSlugError):
        tenant_placement("dev", slug)


def test_tenant_slug_of_stack_reads_only_this_partitions_tenant_stacks():
    assert tenant_slug_of_stack("dev", tenant_placement("dev", "acme").stack_name) == "acme"
    assert tenant_slug_of_stack("dev", tenant_placement("stage", "acme").stack_name) is None
    assert tenant_slug_of_stack("dev", partition_placement("dev").stack_name) is None
    assert tenant_slug_of_stack("dev", partition_placement("dev").tenant_stack_prefix + "kyle") is None
    assert tenant_slug_of_stack("dev", partition_placement("dev").tenant_stack_prefix) is None


def test_tenant_domain_problem():
    dev = partition_placement("dev").mail.mail_domain
    assert tenant_domain_problem("acme", f"acme.{dev}") is None
    for name in active_partition_names():
        assert tenant_domain_problem("acme", tenant_placement(name, "acme").mail.mail_domain) is None
    assert "is reserved" in (tenant_domain_problem("kyle", f"kyle.{dev}") or "")
    assert "is reserved" in (tenant_domain_problem(CORPORATE_LABEL, f"arda.{dev}") or "")
    assert "is not a sending domain of tenant 'acme'" in (tenant_domain_problem("acme", f"other.{dev}") or "")
    assert "is not a sending domain" in (tenant_domain_problem("acme", dev) or "")
    assert "must not start or end with a hyphen" in (tenant_domain_problem("acme-", f"acme-.{dev}") or "")

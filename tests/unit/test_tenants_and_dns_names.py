import pytest

from arda_mail import dns_names
from arda_mail.tenants import InvalidTenantSlugError, reserved_names, validate_tenant_slug


def test_reserved_names_cover_corporate_and_every_partition():
    assert reserved_names() == {"arda", "dev", "stage", "demo", "prod", "kyle"}


@pytest.mark.parametrize("slug", ["a", "acme", "acme-2", "0", "a" * 63, "x1-y2"])
def test_valid_slugs(slug):
    assert validate_tenant_slug(slug) == slug


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("", "is empty"),
        ("a" * 64, "64 characters long"),
        ("-acme", "hyphen"),
        ("acme-", "hyphen"),
        ("Acme", "lower case"),
        ("ac_me", "only a-z, 0-9 and hyphens"),
        ("ac.me", "only a-z, 0-9 and hyphens"),
        ("acmé", "only a-z, 0-9 and hyphens"),
        ("kyle", "reserved"),
        ("arda", "reserved"),
        ("prod", "reserved"),
    ],
)
def test_invalid_slugs(slug, message):
    with pytest.raises(InvalidTenantSlugError, match=message):
        validate_tenant_slug(slug)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("dev.ardamails.com", None),
        ("", "is empty"),
        ("dev.ardamails.com.", "must not end with a dot"),
        ("com", "at least 2 labels"),
        ("Dev.ardamails.com", "lower case"),
        ("a..b", "is empty"),
        ("a" * 64 + ".com", "at most 63"),
        (("a" * 60 + ".") * 5 + "com", "at most 253"),
    ],
)
def test_domain_problem(name, problem):
    result = dns_names.domain_problem(name)
    if problem is None:
        assert result is None
    else:
        assert result is not None
        assert problem in result


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("_dmarc.dev.ardamails.com", True),
        ("20260101123456pm._domainkey.dev.ardamails.com", True),
        ("pm-bounces.dev.ardamails.com", True),
        ("bad_label.dev.ardamails.com", False),
        ("UPPER.dev", False),
        ("x.", False),
        ("", False),
    ],
)
def test_record_name_problem(name, ok):
    assert (dns_names.record_name_problem(name) is None) is ok


def test_subdomain_and_forms():
    assert dns_names.is_strict_subdomain("dev.ardamails.com", "ardamails.com")
    assert not dns_names.is_strict_subdomain("ardamails.com", "ardamails.com")
    assert not dns_names.is_strict_subdomain("devardamails.com", "ardamails.com")
    assert dns_names.absolute("a.b") == "a.b."
    assert dns_names.absolute("a.b.") == "a.b."
    assert dns_names.relative("A.B.") == "a.b"

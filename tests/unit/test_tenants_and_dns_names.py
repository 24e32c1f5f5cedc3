import re

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


def test_subdomain_and_forms():
    assert dns_names.is_strict_subdomain("dev.ardamails.com", "ardamails.com")
    assert not dns_names.is_strict_subdomain("ardamails.com", "ardamails.com")
    assert not dns_names.is_strict_subdomain("devardamails.com", "ardamails.com")
    assert dns_names.absolute("a.b") == "a.b."
    assert dns_names.absolute("a.b.") == "a.b."
    assert dns_names.relative("A.B.") == "a.b"


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        # The partition's Return-Path host: a tenant of that name would be a sender domain on the partition's CNAME.
        ("pm-bounces", "the partition's Return-Path host"),
        # Punycode and every other reserved LDH label (RFC 5890 section 2.3.1).
        ("xn--80ak6aa92e", "reserved for internationalised names"),
        ("ab--cd", "reserved for internationalised names"),
        # Look-alikes are named by code point, never sent to "lower case".
        ("\u0430cme", "U+0430"),
        ("\u212aacme", "U+212A"),
        ("acme\u200b", "U+200B"),
    ],
)
def test_slugs_that_collide_or_deceive(slug, message):
    with pytest.raises(InvalidTenantSlugError, match=re.escape(message)):
        validate_tenant_slug(slug)


@pytest.mark.parametrize("slug", ["a--b", "ab-c--d", "pm-bounce", "pm-bounces2", "bounces", "0123456789"])
def test_near_misses_stay_valid(slug):
    assert validate_tenant_slug(slug) == slug


@pytest.mark.parametrize("slug", [None, 0, ["acme"]])
def test_a_slug_that_is_no_string_is_refused_by_the_validator(slug):
    with pytest.raises(InvalidTenantSlugError, match="must be a string"):
        validate_tenant_slug(slug)

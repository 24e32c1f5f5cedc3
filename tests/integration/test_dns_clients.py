"""The records the stack publishes, read by DNS clients nobody here wrote: checkdmarc and dkimpy.

The drift check's own reading of SPF, DMARC and DKIM could share a misunderstanding with the code that writes
the records. Here the same loopback world the drift tests use (moto's Route 53 served by the loopback
authoritative DNS server) is read by two independent libraries, both on dnspython, with their resolvers
pointed at that server:

- checkdmarc (https://github.com/domainaware/checkdmarc) parses the partition's SPF and DMARC records: the
  only error is the ``include:spf.mtasv.net`` lookup, which cannot resolve offline; DMARC is valid with no
  warning, which needs the report domain's MX and its authorization of the mail domain (RFC 7489 section 7.1,
  https://www.rfc-editor.org/rfc/rfc7489#section-7.1, checked by checkdmarc's
  ``verify_dmarc_report_destination``);
- dkimpy (https://launchpad.net/dkimpy) loads the DKIM public key at Postmark's selector for 1024- and
  2048-bit keys (a 2048-bit key is longer than one 255-octet character-string, so it is published as several
  strings in ONE record, RFC 7208 section 3.3 / RFC 6376 section 3.6.2.2), and a message signed with a real
  private key, published the same way, verifies through dkimpy's own DNS lookup.
"""

from __future__ import annotations

import base64

import checkdmarc.utils
import dkim
import dkim.dnsplug
import dns.resolver
import pytest
from checkdmarc.dmarc import check_dmarc
from checkdmarc.spf import check_spf
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from support import secret_scan
from support.drift import build_world, loopback_services

from arda_mail.placement import DMARC_REPORT_DOMAIN, partition_placement
from arda_mail.txt_records import MAX_STRING_OCTETS, route53_txt_value
from postmark_emulator import new_token

TOKENS = {"PostmarkNonProd": new_token(), "PostmarkProd": new_token()}
secret_scan.register(*TOKENS.values())
#: A hang guard for each DNS lookup, not a latency budget (loopback answers in milliseconds).
DNS_TIMEOUT_S = 10.0
#: The SPF include Postmark asks for; its name lives outside every zone the loopback server hosts.
POSTMARK_SPF_INCLUDE = "spf.mtasv.net"


@pytest.fixture(scope="module")
def loopback():
    with loopback_services(TOKENS) as loopback:
        yield loopback


@pytest.fixture
def key_bits(loopback):
    """The size of the DKIM keys the emulator hands out (1024 by default); restored afterwards."""
    emulator = loopback.postmark
    saved = emulator.settings()["dkim_key_bits"]
    yield lambda bits: emulator.configure(dkim_key_bits=bits)
    emulator.configure(dkim_key_bits=saved)


@pytest.fixture
def world(loopback):
    return build_world(loopback, ["dev"])


@pytest.fixture
def resolver(world, monkeypatch):
    """A dnspython resolver asking only the loopback server, also installed as dnspython's default resolver
    (dkimpy's own lookup, ``dkim.dnsplug.get_txt``, goes through ``dns.resolver.resolve``)."""
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    res.port = world.zone_dns.port
    res.timeout = DNS_TIMEOUT_S
    res.lifetime = DNS_TIMEOUT_S
    res.cache = None
    monkeypatch.setattr(dns.resolver, "default_resolver", res)
    checkdmarc.utils.DNS_CACHE.clear()  # checkdmarc caches answers process-wide, across worlds
    yield res
    checkdmarc.utils.DNS_CACHE.clear()


# -- checkdmarc: SPF and DMARC ---------------------------------------------------------------------------------


def test_checkdmarc_parses_spf_with_only_the_offline_include_failing(world, resolver):
    mail = partition_placement("dev").mail
    result = check_spf(mail.mail_domain, resolver=resolver, timeout=DNS_TIMEOUT_S)
    assert result["record"] == mail.spf_value
    assert result["valid"] is False
    # exactly one problem, and it is the lookup of Postmark's include (the loopback server refuses that zone)
    assert result["error"].startswith(f"The include target {POSTMARK_SPF_INCLUDE} has no SPF record")
    assert result["error"].endswith(
        f"{POSTMARK_SPF_INCLUDE}. IN TXT: Server Do53:127.0.0.1@{world.zone_dns.port} answered REFUSED"
    )
    assert result["warnings"] == []
    assert ("spf.mtasv.net", "TXT") in world.zone_dns.queries  # checkdmarc really followed the include


def test_checkdmarc_finds_the_dmarc_record_valid_without_warnings(world, resolver):
    mail = partition_placement("dev").mail
    result = check_dmarc(mail.mail_domain, resolver=resolver, timeout=DNS_TIMEOUT_S)
    assert result["valid"] is True, result
    assert result["record"] == mail.dmarc_value
    assert result["location"] == mail.mail_domain
    assert result["warnings"] == []
    tags = result["tags"]
    assert tags["p"]["value"] == "quarantine"
    assert tags["sp"]["value"] == "quarantine"
    assert tags["aspf"]["value"] == "r"  # relaxed (the default): Postmark's Return-Path aligns only relaxed
    assert [uri["address"] for uri in tags["rua"]["value"]] == [f"dmarc-reports@{DMARC_REPORT_DOMAIN}"]
    # the report domain's authorization was asked for, at the name the placement function composes
    authorization = f"{mail.mail_domain}._report._dmarc.{DMARC_REPORT_DOMAIN}"
    assert (authorization, "TXT") in world.zone_dns.queries


def test_checkdmarc_warns_like_the_drift_check_when_the_report_domain_does_not_authorize(world, resolver):
    """The authorization record the drift check asks for is the one checkdmarc (independently) looks for."""
    mail = partition_placement("dev").mail
    world.delete_report_authorization(mail.mail_domain)
    result = check_dmarc(mail.mail_domain, resolver=resolver, timeout=DNS_TIMEOUT_S)
    assert result["valid"] is True  # a warning, not an error: the record itself is fine
    (warning,) = result["warnings"]
    assert f"{DMARC_REPORT_DOMAIN} does not indicate that it accepts DMARC reports about {mail.mail_domain}" in (
        warning
    )
    report = world.run()
    assert report.find("dev", "dns.dmarc-report-authorization").verdict.value == "drift"


# -- dkimpy: the DKIM key ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [1024, 2048])
def test_dkimpy_loads_postmarks_key_from_the_published_record(loopback, key_bits, bits, monkeypatch):
    """Postmark's key as the stack publishes it (DkimRecordValue: one record, ≤255-octet strings)."""
    key_bits(bits)
    world = build_world(loopback, ["dev"])
    domain = world.postmark_domain("dev")
    host, value = domain["DKIMHost"], domain["DKIMTextValue"]
    _use_loopback(monkeypatch, world.zone_dns.port)

    answer = dns.resolver.resolve(host, "TXT")
    (record,) = list(answer)  # ONE record …
    assert len(record.strings) == (2 if bits == 2048 else 1)  # … of one or several character-strings
    assert all(len(s) <= MAX_STRING_OCTETS for s in record.strings)

    _pk, keysize, ktag, _tlsrpt = dkim.load_pk_from_dns(host.encode(), dnsfunc=dkim.dnsplug.get_txt)
    assert (keysize, ktag) == (bits, b"rsa")
    assert dkim.dnsplug.get_txt(host.encode()) == value.encode()


@pytest.mark.parametrize("bits", [1024, 2048])
def test_a_message_signed_with_a_real_key_published_the_same_way_verifies(world, resolver, bits):
    selector, domain = "arda-test", partition_placement("dev").mail.mail_domain
    private_pem, text_value = _real_key(bits)
    host = f"{selector}._domainkey.{domain}"
    world.change("dev", "UPSERT", host, "TXT", [route53_txt_value(text_value)])
    message = (
        f"From: Arda <no-reply@{domain}>\r\nTo: someone@example.com\r\nSubject: hello\r\n"
        "Date: Tue, 01 Dec 2026 00:00:00 +0000\r\nMessage-ID: <1@arda.test>\r\n\r\nHello.\r\n"
    ).encode()
    signature = dkim.sign(message, selector.encode(), domain.encode(), private_pem, include_headers=[b"from", b"to"])
    signed = signature + message
    assert dkim.verify(signed, dnsfunc=dkim.dnsplug.get_txt, timeout=DNS_TIMEOUT_S) is True
    assert (host, "TXT") in world.zone_dns.queries
    # the same check fails when it should: a changed body, or the key split into two records instead of one
    assert dkim.verify(signed.replace(b"Hello.", b"Hullo."), dnsfunc=dkim.dnsplug.get_txt) is False
    if bits == 2048:
        half = len(text_value) // 2
        world.change("dev", "UPSERT", host, "TXT", [f'"{text_value[:half]}"', f'"{text_value[half:]}"'])
        assert dkim.verify(signed, dnsfunc=dkim.dnsplug.get_txt, timeout=DNS_TIMEOUT_S) is False


def _use_loopback(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    res.port = port
    res.timeout = res.lifetime = DNS_TIMEOUT_S
    monkeypatch.setattr(dns.resolver, "default_resolver", res)


def _real_key(bits: int) -> tuple[bytes, str]:
    """A fresh RSA key: its PEM private key and the DKIM TXT value Postmark's form gives its public key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, f"k=rsa; p={base64.b64encode(spki).decode('ascii')}"

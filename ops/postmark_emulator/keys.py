"""DKIM keys shaped like Postmark's: ``k=rsa; p=<base64 SubjectPublicKeyInfo>``.

The keys are not real RSA keys (nothing signs with them); they are DER structures of the right shape and size,
so their base64 text has exactly the length and prefix of a real 1024- or 2048-bit public key: 216 characters
starting ``MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQ`` for 1024 bits, 392 starting
``MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA`` for 2048 bits (which a TXT record must split).
"""

from __future__ import annotations

import base64
import random
from datetime import datetime

#: DER prefixes (SubjectPublicKeyInfo, rsaEncryption, BIT STRING, RSAPublicKey, modulus INTEGER header).
_SPKI_PREFIX = {
    1024: bytes.fromhex("30819f300d06092a864886f70d010101050003818d0030818902818100"),
    2048: bytes.fromhex("30820122300d06092a864886f70d01010105000382010f003082010a0282010100"),
}
_EXPONENT = bytes.fromhex("0203010001")
SUPPORTED_KEY_BITS = tuple(sorted(_SPKI_PREFIX))


def public_key_base64(bits: int, rng: random.Random) -> str:
    """A base64 public key of ``bits`` bits (1024 or 2048) with a random-looking modulus."""
    try:
        prefix = _SPKI_PREFIX[bits]
    except KeyError:
        raise ValueError(f"dkim_key_bits must be one of {SUPPORTED_KEY_BITS}, got {bits}") from None
    modulus = bytearray(rng.getrandbits(8) for _ in range(bits // 8))
    modulus[0] |= 0x80  # a full-size modulus has its top bit set
    modulus[-1] |= 0x01  # and is odd
    return base64.b64encode(prefix + bytes(modulus) + _EXPONENT).decode("ascii")


def dkim_text_value(bits: int, rng: random.Random) -> str:
    return f"k=rsa; p={public_key_base64(bits, rng)}"


def dkim_selector_host(when: datetime, domain_name: str) -> str:
    """Postmark's selector host: the UTC timestamp, ``pm._domainkey.`` and the domain name."""
    return f"{when:%Y%m%d%H%M%S}pm._domainkey.{domain_name}"

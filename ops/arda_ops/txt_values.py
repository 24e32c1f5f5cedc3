"""Route 53 TXT record values read back into their character-strings: the inverse of
:func:`arda_mail.txt_records.route53_txt_value`, for the DNS tooling (the loopback DNS server, the tests). The
Lambda functions only ever write TXT values, so this lives outside the layer.
"""

from __future__ import annotations


def parse_route53_txt(value: str) -> list[str]:
    """The character-strings of one Route 53 TXT record value (inverse of :func:`route53_txt_value`).

    Raises ValueError on an unterminated string or text outside quotes, which Route 53 would also reject.
    """
    return [s.decode("utf-8", errors="replace") for s in _parse_octets(value)]


def _parse_octets(value: str) -> list[bytes]:
    strings: list[bytes] = []
    i, n = 0, len(value)
    while i < n:
        if value[i] == " ":
            i += 1
            continue
        if value[i] != '"':
            raise ValueError(f"TXT value must consist of double-quoted strings: {value!r}")
        i += 1
        buf = bytearray()
        while True:
            if i >= n:
                raise ValueError(f"unterminated string in TXT value: {value!r}")
            char = value[i]
            if char == '"':
                i += 1
                break
            if char == "\\" and i + 1 < n:
                nxt = value[i + 1 : i + 4]
                if len(nxt) == 3 and nxt.isdigit():
                    buf.append(int(nxt, 8))
                    i += 4
                else:
                    buf.extend(value[i + 1].encode("utf-8"))
                    i += 2
                continue
            buf.extend(char.encode("utf-8"))
            i += 1
        strings.append(bytes(buf))
    return strings


def joined_txt(value: str) -> str:
    """The concatenated text of one Route 53 TXT record value, as a DKIM verifier reads it."""
    return b"".join(_parse_octets(value)).decode("utf-8", errors="replace")

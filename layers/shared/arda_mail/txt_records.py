"""TXT values in Route 53's ``ResourceRecords`` form, and back.

A DNS TXT record is a sequence of character-strings of at most 255 octets each; resolvers concatenate
them, which is what DKIM needs. Route 53 expects each record value as one or more double-quoted strings
separated by spaces, with ``"`` and ``\\`` escaped and other non-printable octets written as ``\\ddd``
(octal). Splitting happens on octets *before* escaping: the 255 limit applies to the data, not to its
escaped presentation.
"""

from __future__ import annotations

MAX_STRING_OCTETS = 255


def _escape(chunk: bytes) -> str:
    out: list[str] = []
    for octet in chunk:
        char = chr(octet)
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif 0x20 <= octet < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{octet:03o}")
    return "".join(out)


def split_txt(text: str) -> list[bytes]:
    """The character-strings (as octets) a TXT value is published as; one empty string for ``""``."""
    data = text.encode("utf-8")
    if not data:
        return [b""]
    return [data[i : i + MAX_STRING_OCTETS] for i in range(0, len(data), MAX_STRING_OCTETS)]


def route53_txt_value(text: str) -> str:
    """One Route 53 TXT record value: quoted, escaped strings of ≤255 octets joined by spaces."""
    return " ".join(f'"{_escape(chunk)}"' for chunk in split_txt(text))


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

"""TXT values in Route 53's ``ResourceRecords`` form (reading them back is the DNS tooling's:
:mod:`arda_ops.txt_values`).

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

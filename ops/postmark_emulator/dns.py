"""The DNS the emulator's verify endpoints look at.

Postmark verifies a domain by resolving its DKIM TXT record and its Return-Path CNAME. The emulator asks a
:class:`DnsView` instead, so a test can publish records in memory (:class:`StaticDnsView`) and the offline
rehearsal can plug in a view backed by (moto's) Route 53. Verification goes through this protocol only.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol, runtime_checkable


def parse_quoted_txt(value: str) -> list[str]:
    """The character-strings of a TXT value written as Route 53 takes it (``"abc" "def"``).

    The emulator's own reading of Route 53's TXT format (quoted strings; ``\\"`` and ``\\\\`` escaped, other
    octets as octal ``\\ddd``: https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/ResourceRecordTypes.html#TXTFormat),
    kept apart from the project's own formatter on purpose so a bug there is not mirrored here. Raises ValueError
    on text outside quotes or an unterminated string.
    """
    strings: list[str] = []
    i, n = 0, len(value)
    while i < n:
        if value[i] in " \t":
            i += 1
            continue
        if value[i] != '"':
            raise ValueError(f"a TXT value must be double-quoted strings: {value[:60]!r}")
        i += 1
        octets = bytearray()
        while True:
            if i >= n:
                raise ValueError(f"unterminated string in a TXT value: {value[:60]!r}")
            char = value[i]
            if char == '"':
                i += 1
                break
            if char == "\\" and i + 1 < n:
                digits = value[i + 1 : i + 4]
                if len(digits) == 3 and all(c in "01234567" for c in digits):
                    octets.append(int(digits, 8) & 0xFF)
                    i += 4
                else:
                    octets.extend(value[i + 1].encode("utf-8"))
                    i += 2
                continue
            octets.extend(char.encode("utf-8"))
            i += 1
        strings.append(octets.decode("utf-8", errors="replace"))
    return strings


def normalise_name(name: str) -> str:
    """DNS names compare case-insensitively and without the trailing dot."""
    return name.strip().rstrip(".").lower()


@runtime_checkable
class DnsView(Protocol):
    """Read-only DNS as Postmark's verifier sees it."""

    def txt_records(self, name: str) -> list[list[str]]:
        """Every TXT record at ``name``, each as its list of character-strings (empty list: none)."""
        ...

    def cname(self, name: str) -> str | None:
        """The CNAME target at ``name``, or None."""
        ...


class StaticDnsView:
    """An in-memory zone: ``publish_txt``, ``publish_cname`` and ``remove`` write it; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._txt: dict[str, list[list[str]]] = {}
        self._cname: dict[str, str] = {}

    def publish_txt(self, name: str, value: str | Sequence[str], *, append: bool = False) -> None:
        """Publish one TXT record at ``name``.

        ``value`` is either a Route 53 ``ResourceRecords`` element (``"abc" "def"``: quoted strings, as the
        custom resource's ``DkimRecordValue`` attribute) or the record's character-strings as a list. A plain
        string that does not start with a double quote is published as a single character-string. The record
        replaces the ones already at ``name`` unless ``append``.
        """
        if isinstance(value, str):
            strings = parse_quoted_txt(value) if value.lstrip().startswith('"') else [value]
        else:
            strings = [str(s) for s in value]
        key = normalise_name(name)
        with self._lock:
            records = self._txt.setdefault(key, []) if append else []
            records.append(strings)
            self._txt[key] = records

    def publish_cname(self, name: str, target: str) -> None:
        with self._lock:
            self._cname[normalise_name(name)] = normalise_name(target)

    def remove(self, name: str) -> None:
        """Remove every record at ``name`` (no error when there is none)."""
        key = normalise_name(name)
        with self._lock:
            self._txt.pop(key, None)
            self._cname.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._txt.clear()
            self._cname.clear()

    def txt_records(self, name: str) -> list[list[str]]:
        with self._lock:
            return [list(r) for r in self._txt.get(normalise_name(name), [])]

    def cname(self, name: str) -> str | None:
        with self._lock:
            return self._cname.get(normalise_name(name))

    def snapshot(self) -> dict[str, dict[str, object]]:
        """The whole zone as JSON-ready data (for ``GET /__emulator/state``)."""
        with self._lock:
            names = sorted(set(self._txt) | set(self._cname))
            out: dict[str, dict[str, object]] = {}
            for name in names:
                entry: dict[str, object] = {}
                if name in self._txt:
                    entry["TXT"] = [list(r) for r in self._txt[name]]
                if name in self._cname:
                    entry["CNAME"] = self._cname[name]
                out[name] = entry
            return out

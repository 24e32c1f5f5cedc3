"""Typed views of the Domains API's answers.

Field names follow Postmark's JSON (``DKIMPendingHost`` → ``dkim_pending_host``). Postmark sends ``""`` for
an unset string and never ``null``; the parser still tolerates ``null`` and missing keys (treated as ``""`` /
``False``), because the key order and set differ between endpoints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from arda_mail.postmark.errors import PostmarkResponseError as MalformedResponseError
from arda_mail.values import Value


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


def _flag(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key)
    if isinstance(value, str):  # one client once saw a string here; be lenient
        return value.strip().lower() == "true"
    return bool(value)


def _domain_id(data: Mapping[str, Any]) -> int:
    value = data.get("ID")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MalformedResponseError("Postmark's answer has no domain ID")
    try:
        return int(value)
    except ValueError:
        raise MalformedResponseError("Postmark's answer has a non-numeric domain ID") from None


class PostmarkDomain(Value):
    """The full "domain details" object (``GET``/``POST``/``PUT /domains…``)."""

    id: int
    name: str
    dkim_host: str
    dkim_text_value: str
    dkim_pending_host: str
    dkim_pending_text_value: str
    dkim_revoked_host: str
    dkim_revoked_text_value: str
    dkim_verified: bool
    dkim_update_status: str
    return_path_domain: str
    return_path_domain_verified: bool
    return_path_cname_value: str
    safe_to_remove_revoked_key: bool

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> PostmarkDomain:
        if not isinstance(data, Mapping):
            raise MalformedResponseError("Postmark's answer is not a JSON object")
        return cls(
            id=_domain_id(data),
            name=_text(data, "Name"),
            dkim_host=_text(data, "DKIMHost"),
            dkim_text_value=_text(data, "DKIMTextValue"),
            dkim_pending_host=_text(data, "DKIMPendingHost"),
            dkim_pending_text_value=_text(data, "DKIMPendingTextValue"),
            dkim_revoked_host=_text(data, "DKIMRevokedHost"),
            dkim_revoked_text_value=_text(data, "DKIMRevokedTextValue"),
            dkim_verified=_flag(data, "DKIMVerified"),
            dkim_update_status=_text(data, "DKIMUpdateStatus"),
            return_path_domain=_text(data, "ReturnPathDomain"),
            return_path_domain_verified=_flag(data, "ReturnPathDomainVerified"),
            return_path_cname_value=_text(data, "ReturnPathDomainCNAMEValue"),
            safe_to_remove_revoked_key=_flag(data, "SafeToRemoveRevokedKeyFromDNS"),
        )

    @property
    def dkim_record_host(self) -> str:
        """The DKIM TXT record to publish: the active key's host if there is one, else the pending key's.

        The selector does not change when Postmark verifies a pending key, so this stays stable across the
        pending-to-active move; during a rotation it keeps pointing at the still-active key.
        """
        return self.dkim_host or self.dkim_pending_host

    @property
    def dkim_record_text(self) -> str:
        """The TXT content (``k=rsa; p=…``) matching :attr:`dkim_record_host`."""
        return self.dkim_text_value if self.dkim_host else self.dkim_pending_text_value

    @property
    def rotation_pending(self) -> bool:
        """A new key waits for verification while another one is active."""
        return bool(self.dkim_host and self.dkim_pending_host)


class DomainSummary(Value):
    """One item of ``GET /domains`` (the short form)."""

    id: int
    name: str
    dkim_verified: bool
    return_path_domain_verified: bool

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> DomainSummary:
        if not isinstance(data, Mapping):
            raise MalformedResponseError("a domain list item is not a JSON object")
        return cls(
            id=_domain_id(data),
            name=_text(data, "Name"),
            dkim_verified=_flag(data, "DKIMVerified"),
            return_path_domain_verified=_flag(data, "ReturnPathDomainVerified"),
        )


#: Postmark IDs are 64-bit integers; a longer "ID" is not one (and would hit Python's int-parsing limit).
MAX_ID_DIGITS = 19


def parse_physical_id(physical_id: object) -> int | None:
    """The Postmark domain ID in a PhysicalResourceId, or None for anything else (a claim, crhelper's placeholder
    after a failed Create, an empty or absurdly long ID)."""
    if (
        isinstance(physical_id, str)
        and 0 < len(physical_id) <= MAX_ID_DIGITS
        and physical_id.isascii()
        and physical_id.isdigit()
    ):
        return int(physical_id)
    return None

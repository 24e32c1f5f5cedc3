"""The emulator's state and Postmark's Domains API rules, without HTTP.

Every operation takes the account the request authenticated as and answers an :class:`ApiResult`: an HTTP
status and a JSON body. Errors have Postmark's shape, ``{"ErrorCode": …, "Message": …}`` (HTTP 422 unless a
variant says otherwise); strings are ``""`` and never ``null``. docs/postmark-emulator.md lists every rule with
its source. The emulator owns its rules: it imports nothing from the code it is a test double for.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from postmark_emulator.dns import DnsView, normalise_name
from postmark_emulator.keys import SUPPORTED_KEY_BITS, dkim_selector_host, dkim_text_value

DEFAULT_FIRST_ID = 36735
MAX_PAGE_SIZE = 500
MAX_NAME_LENGTH = 255
SPF_TEXT_VALUE = "v=spf1 a mx include:spf.mtasv.net ~all"
#: The host every Return-Path CNAME must point at (``ReturnPathDomainCNAMEValue`` in the Domains API reference,
#: https://postmarkapp.com/developer/api/domains-api).
RETURN_PATH_CNAME_TARGET = "pm.mtasv.net"
PUBLIC_DOMAINS = frozenset(
    {"gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com", "aol.com", "icloud.com"}
)
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})+$")

# Error codes of the Account API (https://postmarkapp.com/developer/api/overview#error-codes).
ERR_TOKEN = 10
ERR_QUERY = 500
ERR_PUBLIC_DOMAIN = 503
ERR_DKIM_RENEWING = 505
ERR_DOMAIN_NOT_FOUND = 510
ERR_INVALID_DOMAIN_DATA = 511
ERR_DOMAIN_EXISTS = 512
ERR_DOMAIN_OTHER_ACCOUNT = 513
ERR_NAME_MISSING = 514
ERR_NAME_TOO_LONG = 515
ERR_NAME_INVALID = 516

#: The documented variants of "this token does not see that domain" (docs/postmark-emulator.md, "Variants").
MISSING_DOMAIN_STATUSES = (422, 404)
FOREIGN_DOMAIN_CODES = (ERR_DOMAIN_OTHER_ACCOUNT, ERR_DOMAIN_NOT_FOUND)
#: The API overview answers business errors with 422 and an ErrorCode, and its error table has 510 "This domain was
#: not found"; the same page also lists HTTP 404 "Entity doesn't exist", the other variant.
DEFAULT_MISSING_DOMAIN_STATUS = 422
#: The error table's 513 "You do not own this Domain" is the only documented answer for another account's domain.
DEFAULT_FOREIGN_DOMAIN_CODE = ERR_DOMAIN_OTHER_ACCOUNT


@dataclass(frozen=True)
class ApiResult:
    """An HTTP answer: ``body`` None means an empty body."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


def api_error(code: int, message: str, status: int = 422) -> ApiResult:
    return ApiResult(status, {"ErrorCode": code, "Message": message})


def ok(body: Any) -> ApiResult:
    return ApiResult(200, body)


def check_missing_domain_status(status: int) -> int:
    """Only the documented answers: a variant nobody documented would test the client against a fiction."""
    if status not in MISSING_DOMAIN_STATUSES:
        raise ValueError(f"missing_domain_status must be one of {MISSING_DOMAIN_STATUSES}")
    return status


def check_foreign_domain_code(code: int) -> int:
    """Only the documented answers (513, or 510 as if the domain did not exist)."""
    if code not in FOREIGN_DOMAIN_CODES:
        raise ValueError(f"foreign_domain_code must be one of {FOREIGN_DOMAIN_CODES}")
    return code


#: The spellings of the active key's field in a ``rotatedkim`` answer: the full object's, and the documented
#: example's ``DKIMTestValue`` (domains-api "Rotate DKIM keys"; also the published OpenAPI schema
#: DKIMRotationResponse). A client must not depend on that answer's key fields.
ROTATE_TEXT_VALUE_KEYS = ("DKIMTextValue", "DKIMTestValue")


def check_rotate_text_value_key(key: str) -> str:
    if key not in ROTATE_TEXT_VALUE_KEYS:
        raise ValueError(f"rotate_text_value_key must be one of {ROTATE_TEXT_VALUE_KEYS}")
    return key


def is_host_name(name: str) -> bool:
    """Labels of ``a-z0-9-`` (1-63 characters, no leading or trailing hyphen), at least two, no trailing dot."""
    return bool(_HOST_NAME.match(name))


class EmulatorClock:
    """The clock DKIM selectors are stamped with: a source (default: real UTC time), optionally pinned or shifted."""

    def __init__(self, source: Callable[[], datetime] | None = None) -> None:
        self._source = source or (lambda: datetime.now(UTC))
        self._fixed: datetime | None = None
        self._offset = timedelta()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            base = self._fixed if self._fixed is not None else self._source()
            return (base + self._offset).astimezone(UTC)

    def set(self, when: datetime | None) -> None:
        """Pin the clock at ``when`` (None: follow the source again); clears any offset."""
        with self._lock:
            self._fixed = when if when is None or when.tzinfo else when.replace(tzinfo=UTC)
            self._offset = timedelta()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += timedelta(seconds=seconds)


@dataclass
class DkimKey:
    host: str
    value: str


@dataclass
class Domain:
    """One Postmark Domain as the emulator stores it."""

    id: int
    name: str
    account: str
    return_path_domain: str
    pending: DkimKey | None
    active: DkimKey | None = None
    revoked: DkimKey | None = None
    dkim_verified: bool = False
    safe_to_remove_revoked: bool = False
    return_path_verified: bool = False
    spf_verified: bool = False
    weak: bool = False
    verify_calls: dict[str, int] = field(default_factory=lambda: {"dkim": 0, "return_path": 0})

    @property
    def dkim_update_status(self) -> str:
        return "Pending" if self.pending is not None else "Verified"

    def _dkim_fields(self) -> dict[str, Any]:
        return {
            "DKIMVerified": self.dkim_verified,
            "WeakDKIM": self.weak,
            "DKIMHost": self.active.host if self.active else "",
            "DKIMTextValue": self.active.value if self.active else "",
            "DKIMPendingHost": self.pending.host if self.pending else "",
            "DKIMPendingTextValue": self.pending.value if self.pending else "",
            "DKIMRevokedHost": self.revoked.host if self.revoked else "",
            "DKIMRevokedTextValue": self.revoked.value if self.revoked else "",
            "SafeToRemoveRevokedKeyFromDNS": self.safe_to_remove_revoked,
            "DKIMUpdateStatus": self.dkim_update_status,
        }

    def details(self) -> dict[str, Any]:
        """The full "domain details" object (B2/B3/B4/B6/B7)."""
        return {
            "ID": self.id,
            "Name": self.name,
            "SPFVerified": self.spf_verified,
            "SPFHost": self.name,
            "SPFTextValue": SPF_TEXT_VALUE,
            **self._dkim_fields(),
            "ReturnPathDomain": self.return_path_domain,
            "ReturnPathDomainVerified": self.return_path_verified,
            "ReturnPathDomainCNAMEValue": RETURN_PATH_CNAME_TARGET,
        }

    def short(self) -> dict[str, Any]:
        """The list item (B1)."""
        return {
            "Name": self.name,
            "SPFVerified": self.spf_verified,
            "DKIMVerified": self.dkim_verified,
            "WeakDKIM": self.weak,
            "ReturnPathDomainVerified": self.return_path_verified,
            "ID": self.id,
        }

    def rotation(self, text_value_key: str = "DKIMTextValue") -> dict[str, Any]:
        """The reduced object ``rotatedkim`` answers (B9); ``text_value_key`` plays the documented example's
        spelling of the active key's field (``DKIMTestValue``) when asked."""
        fields = self._dkim_fields()
        if text_value_key != "DKIMTextValue":
            fields[text_value_key] = fields.pop("DKIMTextValue")
        return {"Name": self.name, **fields, "ID": self.id}


def _normalise_txt(text: str) -> str:
    return re.sub(r"\s*;\s*", ";", text.strip())


class AccountApi:
    """Accounts, their domains, and the Domains API operations; every method is thread-safe."""

    def __init__(
        self,
        dns: DnsView,
        *,
        clock: EmulatorClock,
        dkim_key_bits: int = 1024,
        first_id: int = DEFAULT_FIRST_ID,
        verify_lag_calls: int = 0,
        exclusive_names: bool = False,
        list_error_code: int = ERR_QUERY,
        missing_domain_status: int = DEFAULT_MISSING_DOMAIN_STATUS,
        foreign_domain_code: int = DEFAULT_FOREIGN_DOMAIN_CODE,
        seed: int | str | None = None,
        rotate_text_value_key: str = "DKIMTextValue",
        revoked_safe_at_activation: bool = False,
    ) -> None:
        if dkim_key_bits not in SUPPORTED_KEY_BITS:
            raise ValueError(f"dkim_key_bits must be one of {SUPPORTED_KEY_BITS}")
        self.missing_domain_status = check_missing_domain_status(missing_domain_status)
        self.foreign_domain_code = check_foreign_domain_code(foreign_domain_code)
        self.dns = dns
        self.clock = clock
        self.dkim_key_bits = dkim_key_bits
        self.first_id = first_id
        #: The first N verify calls of each kind per domain report "not verified" even with DNS in place.
        self.verify_lag_calls = verify_lag_calls
        #: When true, a name registered on one account cannot be created on another (ErrorCode 513).
        self.exclusive_names = exclusive_names
        self.list_error_code = list_error_code
        #: The key of the active key's value in the ``rotatedkim`` answer (see ROTATE_TEXT_VALUE_KEYS).
        self.rotate_text_value_key = check_rotate_text_value_key(rotate_text_value_key)
        #: When true, SafeToRemoveRevokedKeyFromDNS is true as soon as a key is revoked (otherwise only the
        #: control API's ``revoke-safe`` turns it true, as Postmark does some time later).
        self.revoked_safe_at_activation = revoked_safe_at_activation
        self._seed = seed
        self._lock = threading.RLock()
        self._rng = random.Random(seed)  # fake key material, not a secret
        self._domains: dict[int, Domain] = {}
        self._next_id = first_id
        self._last_selector: dict[str, datetime] = {}

    # -- housekeeping ----------------------------------------------------------------------------
    def reset(self) -> None:
        with self._lock:
            self._domains.clear()
            self._next_id = self.first_id
            self._last_selector.clear()
            self._rng = random.Random(self._seed)

    def settings(self) -> dict[str, Any]:
        return {
            "dkim_key_bits": self.dkim_key_bits,
            "verify_lag_calls": self.verify_lag_calls,
            "exclusive_names": self.exclusive_names,
            "list_error_code": self.list_error_code,
            "missing_domain_status": self.missing_domain_status,
            "foreign_domain_code": self.foreign_domain_code,
            "rotate_text_value_key": self.rotate_text_value_key,
            "revoked_safe_at_activation": self.revoked_safe_at_activation,
        }

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"Account": d.account, **d.details(), "VerifyCalls": dict(d.verify_calls)}
                for d in sorted(self._domains.values(), key=lambda d: d.id)
            ]

    def domain(self, domain_id: int) -> Domain | None:
        with self._lock:
            return self._domains.get(domain_id)

    def domains_of(self, account: str) -> list[Domain]:
        with self._lock:
            return sorted((d for d in self._domains.values() if d.account == account), key=lambda d: d.id)

    # -- helpers ---------------------------------------------------------------------------------
    def _new_key(self, domain_name: str) -> DkimKey:
        when = self.clock.now().replace(microsecond=0)
        last = self._last_selector.get(domain_name)
        if last is not None and when <= last:
            when = last + timedelta(seconds=1)  # two keys never share a selector host
        self._last_selector[domain_name] = when
        return DkimKey(dkim_selector_host(when, domain_name), dkim_text_value(self.dkim_key_bits, self._rng))

    def _lookup(self, account: str, domain_id: int) -> Domain | ApiResult:
        """The account's domain, or the error the selected variants answer when the token does not see it."""
        domain = self._domains.get(domain_id)
        if domain is not None and domain.account == account:
            return domain
        if domain is not None and self.foreign_domain_code == ERR_DOMAIN_OTHER_ACCOUNT:
            return api_error(ERR_DOMAIN_OTHER_ACCOUNT, "You do not own this Domain.")
        return api_error(ERR_DOMAIN_NOT_FOUND, "This domain was not found.", self.missing_domain_status)

    @staticmethod
    def _return_path_problem(value: Any, name: str) -> tuple[str, ApiResult | None]:
        """The normalised Return-Path domain, or the 511 error for an unusable one."""
        if value is None:
            return "", None
        if not isinstance(value, str):
            return "", api_error(ERR_INVALID_DOMAIN_DATA, "ReturnPathDomain must be a string.")
        rp = value.lower()
        if rp and (not is_host_name(rp) or not rp.endswith("." + name)):
            return "", api_error(
                ERR_INVALID_DOMAIN_DATA,
                f"Invalid ReturnPathDomain '{value}': it must be a sub-domain of {name}.",
            )
        return rp, None

    # -- API operations --------------------------------------------------------------------------
    def list_domains(self, account: str, query: Mapping[str, list[str]]) -> ApiResult:
        params: dict[str, int] = {}
        for key, low, high in (("count", 1, MAX_PAGE_SIZE), ("offset", 0, None)):
            values = query.get(key)
            raw = values[-1] if values else None
            if raw is None or not raw.isdigit():
                return api_error(self.list_error_code, f"The '{key}' query parameter is required and must be a number.")
            number = int(raw)
            if number < low or (high is not None and number > high):
                limit = f"between {low} and {high}" if high is not None else f"at least {low}"
                return api_error(self.list_error_code, f"The '{key}' query parameter must be {limit}.")
            params[key] = number
        with self._lock:
            owned = self.domains_of(account)
            page = owned[params["offset"] : params["offset"] + params["count"]]
            return ok({"TotalCount": len(owned), "Domains": [d.short() for d in page]})

    def create_domain(self, account: str, body: Mapping[str, Any]) -> ApiResult:
        name = body.get("Name")
        if name is None or (isinstance(name, str) and not name.strip()):
            return api_error(ERR_NAME_MISSING, "The 'Name' field is required.")
        if not isinstance(name, str):
            return api_error(ERR_NAME_INVALID, "The 'Name' field must be a string.")
        if len(name) > MAX_NAME_LENGTH:
            return api_error(ERR_NAME_TOO_LONG, f"The 'Name' field must be at most {MAX_NAME_LENGTH} characters.")
        name = name.lower()
        if not is_host_name(name):
            return api_error(ERR_NAME_INVALID, f"'{body['Name']}' is not a valid domain name.")
        if name in PUBLIC_DOMAINS:
            return api_error(ERR_PUBLIC_DOMAIN, f"Public domains such as {name} are not allowed.")
        return_path, problem = self._return_path_problem(body.get("ReturnPathDomain"), name)
        if problem is not None:
            return problem
        with self._lock:
            for existing in self._domains.values():
                if existing.name != name:
                    continue
                if existing.account == account:
                    return api_error(ERR_DOMAIN_EXISTS, f"The domain {name} already exists.")
                if self.exclusive_names:
                    return api_error(ERR_DOMAIN_OTHER_ACCOUNT, f"The domain {name} belongs to another account.")
            domain = self._add(account, name, return_path)
            return ok(domain.details())

    def _add(self, account: str, name: str, return_path: str) -> Domain:
        domain = Domain(self._next_id, name, account, return_path, pending=self._new_key(name))
        self._next_id += 1
        self._domains[domain.id] = domain
        return domain

    def seed_domain(
        self,
        account: str,
        name: str,
        return_path_domain: str = "",
        *,
        dkim_verified: bool = False,
        return_path_verified: bool = False,
    ) -> Domain:
        """Register a domain directly (no validation, no request log), optionally already verified."""
        with self._lock:
            domain = self._add(account, name.lower(), return_path_domain.lower())
            if dkim_verified:
                domain.active, domain.pending, domain.dkim_verified = domain.pending, None, True
            domain.return_path_verified = return_path_verified and bool(domain.return_path_domain)
            return domain

    def get_domain(self, account: str, domain_id: int) -> ApiResult:
        with self._lock:
            domain = self._lookup(account, domain_id)
            return domain if isinstance(domain, ApiResult) else ok(domain.details())

    def edit_domain(self, account: str, domain_id: int, body: Mapping[str, Any]) -> ApiResult:
        with self._lock:
            domain = self._lookup(account, domain_id)
            if isinstance(domain, ApiResult):
                return domain
            if body.get("ReturnPathDomain") is None:
                return api_error(ERR_INVALID_DOMAIN_DATA, "No valid domain data was supplied: ReturnPathDomain.")
            return_path, problem = self._return_path_problem(body["ReturnPathDomain"], domain.name)
            if problem is not None:
                return problem
            domain.return_path_domain = return_path
            domain.return_path_verified = False
            domain.verify_calls["return_path"] = 0
            return ok(domain.details())

    def delete_domain(self, account: str, domain_id: int) -> ApiResult:
        with self._lock:
            domain = self._lookup(account, domain_id)
            if isinstance(domain, ApiResult):
                return domain
            del self._domains[domain_id]
            return ok({"ErrorCode": 0, "Message": f"Domain {domain.name} removed."})

    def _dkim_published(self, key: DkimKey) -> bool:
        wanted = _normalise_txt(key.value)
        return any(_normalise_txt("".join(record)) == wanted for record in self.dns.txt_records(key.host))

    def verify_dkim(self, account: str, domain_id: int) -> ApiResult:
        with self._lock:
            domain = self._lookup(account, domain_id)
            if isinstance(domain, ApiResult):
                return domain
            domain.verify_calls["dkim"] += 1
            lagging = domain.verify_calls["dkim"] <= self.verify_lag_calls
            if domain.pending is not None and not lagging and self._dkim_published(domain.pending):
                if domain.active is not None:
                    domain.revoked, domain.safe_to_remove_revoked = domain.active, self.revoked_safe_at_activation
                domain.active, domain.pending, domain.dkim_verified = domain.pending, None, True
            return ok(domain.details())

    def verify_return_path(self, account: str, domain_id: int) -> ApiResult:
        with self._lock:
            domain = self._lookup(account, domain_id)
            if isinstance(domain, ApiResult):
                return domain
            domain.verify_calls["return_path"] += 1
            lagging = domain.verify_calls["return_path"] <= self.verify_lag_calls
            target = self.dns.cname(domain.return_path_domain) if domain.return_path_domain else None
            domain.return_path_verified = (
                not lagging
                and target is not None
                and normalise_name(target) == normalise_name(RETURN_PATH_CNAME_TARGET)
            )
            return ok(domain.details())

    def verify_spf(self, account: str, domain_id: int) -> ApiResult:
        with self._lock:
            domain = self._lookup(account, domain_id)
            if isinstance(domain, ApiResult):
                return domain
            domain.spf_verified = True  # deprecated by Postmark in 2019: always true
            return ok({"SPFVerified": True, "SPFHost": domain.name, "SPFTextValue": SPF_TEXT_VALUE})

    def rotate_dkim(self, account: str, domain_id: int) -> ApiResult:
        with self._lock:
            domain = self._lookup(account, domain_id)
            if isinstance(domain, ApiResult):
                return domain
            if domain.pending is not None:
                return api_error(ERR_DKIM_RENEWING, "This DKIM is already being renewed.")
            domain.pending = self._new_key(domain.name)
            domain.verify_calls["dkim"] = 0
            return ok(domain.rotation(self.rotate_text_value_key))

    def mark_revoked_key_safe(self, domain_id: int, *, forget: bool = False) -> bool:
        """Postmark's later "safe to remove" (``forget``: and the revoked key no longer reported at all; the
        documentation does not say whether Postmark keeps reporting it, so both are played)."""
        with self._lock:
            domain = self._domains.get(domain_id)
            if domain is None:
                return False
            domain.safe_to_remove_revoked = domain.revoked is not None
            if forget:
                domain.revoked, domain.safe_to_remove_revoked = None, False
            return True

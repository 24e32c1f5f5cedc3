"""A small, synchronous client of Postmark's Account API ``/domains`` endpoints, on urllib3.

urllib3 directly, not ``requests``: the retries, timeouts and connection pooling are urllib3's in any case, and
``requests`` on top only added about 40 ms to every cold start (``make bench``) for conveniences a dozen lines
replace here (the query string, the JSON body).

Behaviour that matters to a custom resource:

* Every request sends ``Accept: application/json`` and ``Content-Type: application/json`` (Postmark's strict
  endpoints refuse ``Accept: */*``) and the token in ``X-Postmark-Account-Token``.
* 429, 500, 502, 503 and 504, connection failures and timeouts are retried by urllib3's ``Retry`` with
  exponential backoff, honouring ``Retry-After``. 401 and every 422 are never retried.
* Everything is bounded by an optional :class:`~arda_mail.deadline.Deadline`: each attempt's timeout is cut
  to the time left, and a backoff or ``Retry-After`` that would end past the deadline fails at once with a
  clear :class:`~arda_mail.postmark.errors.PostmarkUnavailable` instead of sleeping through it.
* ``POST /domains`` is retried only when nothing was done: a connection never made, or 429 (refused before any
  work, ``Retry-After`` honoured). Never after a read error or a 5xx: it is not idempotent, and whether an
  attempt whose answer was lost committed is decided by :mod:`arda_mail.postmark.domain_service`, which looks
  the name up before trying again (a blind retry would answer ErrorCode 512 and hide whose domain it is).
  ``POST …/rotatedkim`` is not retried at all (a retry after commit answers 505).
* The token never appears in ``repr()``, log lines or exception messages.

Configured, with two small overrides where urllib3 has no setting for a deadline: the counts, backoff, status list
and ``Retry-After`` handling are ``Retry``'s own parameters, but urllib3 measures time per attempt only (each retry
re-enters ``urlopen`` and clones the ``Timeout``, whose ``total`` then starts again: ``connectionpool.py`` and
``util/timeout.py`` of urllib3 2.8), so nothing in its configuration can bound a request *with* its retries.
``_DeadlineRetry.sleep`` (the public method ``Retry`` calls between attempts) refuses a wait that would end past
the deadline, and ``_DeadlineTimeout.clone`` (called once per attempt) gives each attempt only the time left. A
budget frozen when the request starts (fewer retries, a shorter ``total``) would either overrun after a slow
first attempt or give up retries the deadline still had room for.

A client is meant for one invocation: it is not thread-safe (the retry policy is set per request).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from collections.abc import Iterator, Mapping
from typing import Any, Self
from urllib.parse import urlencode, urlsplit

from urllib3 import PoolManager
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    InvalidHeader,
    MaxRetryError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.response import BaseHTTPResponse
from urllib3.util import Retry, Timeout

from arda_mail.deadline import Deadline
from arda_mail.postmark.errors import (
    CODE_BAD_TOKEN,
    CODE_DOMAIN_EXISTS,
    CODE_DOMAIN_NOT_FOUND,
    CODE_DOMAIN_NOT_OWNED,
    PostmarkAlreadyExists,
    PostmarkAuthError,
    PostmarkError,
    PostmarkNotFound,
    PostmarkNotOwned,
    PostmarkResponseError,
    PostmarkUnavailable,
    PostmarkValidationError,
)
from arda_mail.postmark.models import DomainSummary, PostmarkDomain
from arda_mail.properties import POSTMARK_API_HOST
from arda_mail.reasons import one_line
from arda_mail.values import Value

DEFAULT_API_URL = f"https://{POSTMARK_API_HOST}"
TOKEN_HEADER = "X-Postmark-Account-Token"  # noqa: S105 - a header name
JSON_MEDIA_TYPE = "application/json"
MAX_PAGE_SIZE = 500
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: An attempt is not started (nor a retry slept for) with less time than this left before the deadline.
MIN_ATTEMPT_S = 0.25
USER_AGENT = "arda-mail-custom-resource"
#: ErrorCodes that name one outcome whatever the HTTP status carrying them: Postmark's API overview answers business
#: errors with 422 and an ErrorCode (510 "This domain was not found" in its error table) but also lists HTTP 404
#: "Entity doesn't exist", and its table has 513 "You do not own this Domain"
#: (https://postmarkapp.com/developer/api/overview#error-codes).
_CLASS_BY_CODE: dict[int, type[PostmarkError]] = {
    CODE_DOMAIN_NOT_FOUND: PostmarkNotFound,
    CODE_DOMAIN_NOT_OWNED: PostmarkNotOwned,
    CODE_DOMAIN_EXISTS: PostmarkAlreadyExists,
}

logger = logging.getLogger(__name__)


class RetryPolicy(Value):
    """Retry counts, backoff and timeouts; :meth:`from_env` lets a function (or a test) tune them."""

    max_retries: int = 4
    backoff_factor: float = 0.5
    backoff_max_s: float = 8.0
    connect_timeout_s: float = 3.05
    read_timeout_s: float = 15.0

    ENV_PREFIX = "ARDA_POSTMARK_"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RetryPolicy:
        """Defaults overridden by ``ARDA_POSTMARK_MAX_RETRIES``, ``…_BACKOFF_FACTOR``, ``…_BACKOFF_MAX_S``,
        ``…_CONNECT_TIMEOUT_S`` and ``…_READ_TIMEOUT_S``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field_name, kind in (
            ("max_retries", int),
            ("backoff_factor", float),
            ("backoff_max_s", float),
            ("connect_timeout_s", float),
            ("read_timeout_s", float),
        ):
            raw = env.get(cls.ENV_PREFIX + field_name.upper())
            if raw is None or raw == "":
                continue
            try:
                value = kind(raw)
            except ValueError:
                raise ValueError(f"{cls.ENV_PREFIX}{field_name.upper()} must be a number, got {raw!r}") from None
            if value < 0:
                raise ValueError(f"{cls.ENV_PREFIX}{field_name.upper()} must not be negative")
            values[field_name] = value
        return cls(**values)


class _OutOfTimeError(Exception):
    """Raised from inside urllib3 when the next retry would end past the deadline (not one of urllib3's errors on
    purpose: it must reach the client as it is, not as a transport failure)."""

    def __init__(self, cause: str, wait_s: float, remaining_s: float, status: int | None, retry_after: bool) -> None:
        super().__init__(f"{cause}; retry in {wait_s:.1f} s, {remaining_s:.1f} s left")
        self.cause = cause
        self.wait_s = wait_s
        self.remaining_s = remaining_s
        self.status = status
        self.retry_after = retry_after


def _describe_attempt(retry: Retry, response: BaseHTTPResponse | None) -> str:
    """What went wrong with the attempt that is about to be retried."""
    if response is not None:
        return f"HTTP {response.status}"
    error = retry.history[-1].error if retry.history else None
    if isinstance(error, NewConnectionError):
        return "could not connect"
    if isinstance(error, ReadTimeoutError):
        return "no answer within the read timeout"
    if isinstance(error, ConnectTimeoutError):
        return "no connection within the connect timeout"
    return f"a connection failure ({type(error).__name__})" if error is not None else "a connection failure"


class _DeadlineRetry(Retry):
    """urllib3's ``Retry`` whose sleeps never end past the deadline."""

    deadline: Deadline | None = None

    def new(self, **kw: Any) -> Self:
        fresh = super().new(**kw)
        fresh.deadline = self.deadline
        return fresh

    def parse_retry_after(self, retry_after: str) -> float:
        """urllib3's parse, made lenient: a fractional value is used rounded up, garbage falls back to the backoff.

        RFC 9110 section 10.2.3 allows only an HTTP date or a non-negative integer of seconds; urllib3 raises
        ``InvalidHeader`` for anything else (``"1.5"``), which would fail a request that only had to wait.
        Returning 0 makes :meth:`sleep` use the exponential backoff instead, as if there were no header.
        """
        try:
            return super().parse_retry_after(retry_after)
        except InvalidHeader:
            pass
        try:
            seconds = float(retry_after.strip())
        except ValueError:
            seconds = math.nan
        if not math.isfinite(seconds) or seconds < 0:
            logger.debug("ignoring an unusable Retry-After header %r; using the backoff", retry_after[:40])
            return 0.0
        return float(min(math.ceil(seconds), self.retry_after_max))

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        retry_after = self.get_retry_after(response) if self.respect_retry_after_header and response else None
        wait = retry_after if retry_after else self.get_backoff_time()
        if self.deadline is not None:
            remaining = self.deadline.remaining()
            if wait + MIN_ATTEMPT_S >= remaining:
                status = response.status if response is not None else None
                raise _OutOfTimeError(_describe_attempt(self, response), wait, remaining, status, bool(retry_after))
        if wait > 0:
            time.sleep(wait)


class _DeadlineTimeout(Timeout):
    """Connect/read timeouts whose total is cut, at each attempt, to the time left before the deadline."""

    def __init__(self, connect: float, read: float, deadline: Deadline | None) -> None:
        super().__init__(connect=connect, read=read)
        self.attempt_connect_s = connect
        self.attempt_read_s = read
        self.deadline = deadline

    def clone(self) -> Timeout:  # urllib3 clones the timeout once per attempt
        total = None if self.deadline is None else max(0.01, self.deadline.remaining())
        return Timeout(connect=self.attempt_connect_s, read=self.attempt_read_s, total=total)


def _describe_failure(exc: HTTPError) -> str:
    """What a transport failure was, looking through urllib3's MaxRetryError to its cause."""
    reason: object = exc.reason if isinstance(exc, MaxRetryError) and exc.reason is not None else exc
    if isinstance(reason, NewConnectionError):  # (a subclass of ConnectTimeoutError in urllib3)
        return "could not connect (connection refused or unreachable)"
    if isinstance(reason, ReadTimeoutError):
        return "no answer within the read timeout"
    if isinstance(reason, ConnectTimeoutError):
        return "no connection within the connect timeout"
    return f"could not connect ({type(reason).__name__})"


_DOMAIN_PATH = re.compile(r"^/domains/(\d+)(?:/|$)")


def _domain_id_in(path: str) -> int | None:
    """The domain ID of a ``/domains/{id}…`` path (so an error can say which domain it was about)."""
    match = _DOMAIN_PATH.match(path)
    return int(match.group(1)) if match else None


def _error_code(data: Any) -> int | None:
    if not isinstance(data, dict):
        return None
    code = data.get("ErrorCode")
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str) and code.strip().isdigit():  # the official SDK accepts numeric strings too
        return int(code)
    return None


class PostmarkClient:
    """The Account API calls the custom resources need (see the module docstring for the retry rules)."""

    def __init__(
        self,
        token: str,
        api_url: str = DEFAULT_API_URL,
        deadline: Deadline | None = None,
        pool: PoolManager | None = None,
        *,
        policy: RetryPolicy | None = None,
    ) -> None:
        if not token:
            raise ValueError("a Postmark account token is required")
        self.__token = token
        self.api_url = api_url.rstrip("/")
        self.deadline = deadline
        self.policy = policy or RetryPolicy.from_env()
        self._pool = pool or PoolManager()
        #: Requests made (each logical call counts once, whatever its retries).
        self.request_count = 0

    def __repr__(self) -> str:
        return f"PostmarkClient(api_url={self.api_url!r}, token=<redacted>)"

    def close(self) -> None:
        self._pool.clear()

    def __enter__(self) -> PostmarkClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the calls -------------------------------------------------------------------------------
    def iter_domains(self, page_size: int = MAX_PAGE_SIZE) -> Iterator[DomainSummary]:
        """Every domain of the account, page by page (``GET /domains?count=&offset=``)."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        offset = 0
        while True:
            data = self._request("GET", "/domains", params={"count": page_size, "offset": offset})
            items = data.get("Domains") if isinstance(data, dict) else None
            total = data.get("TotalCount") if isinstance(data, dict) else None
            if not isinstance(items, list) or not isinstance(total, int):
                raise PostmarkResponseError("Postmark GET /domains: the answer has no Domains/TotalCount")
            for item in items:
                yield DomainSummary.from_api(item)
            offset += len(items)
            if not items or offset >= total:
                return

    def list_domains(self, page_size: int = MAX_PAGE_SIZE) -> list[DomainSummary]:
        return list(self.iter_domains(page_size))

    def find_domain_by_name(self, name: str, *, page_size: int = MAX_PAGE_SIZE) -> DomainSummary | None:
        """The domain called ``name`` (case-insensitive), or None; stops paging once found."""
        wanted = name.lower()
        return next((d for d in self.iter_domains(page_size) if d.name.lower() == wanted), None)

    def get_domain(self, domain_id: int) -> PostmarkDomain:
        return PostmarkDomain.from_api(self._request("GET", f"/domains/{int(domain_id)}"))

    def create_domain(self, name: str, return_path_domain: str) -> PostmarkDomain:
        """``POST /domains``; raises :class:`PostmarkAlreadyExists` (512) when the name is taken on the account."""
        body = {"Name": name, "ReturnPathDomain": return_path_domain}
        return PostmarkDomain.from_api(self._request("POST", "/domains", body=body, retry_post=True))

    def edit_domain(self, domain_id: int, return_path_domain: str) -> PostmarkDomain:
        body = {"ReturnPathDomain": return_path_domain}
        return PostmarkDomain.from_api(self._request("PUT", f"/domains/{int(domain_id)}", body=body))

    def delete_domain(self, domain_id: int) -> None:
        """``DELETE /domains/{id}``; raises :class:`PostmarkNotFound` (510) when it is already gone."""
        self._request("DELETE", f"/domains/{int(domain_id)}")

    def verify_dkim(self, domain_id: int) -> PostmarkDomain:
        return PostmarkDomain.from_api(self._request("PUT", f"/domains/{int(domain_id)}/verifyDkim"))

    def verify_return_path(self, domain_id: int) -> PostmarkDomain:
        return PostmarkDomain.from_api(self._request("PUT", f"/domains/{int(domain_id)}/verifyReturnPath"))

    def rotate_dkim(self, domain_id: int) -> PostmarkDomain:
        """Start a DKIM rotation. Postmark answers a reduced object: the Return-Path fields come back empty.

        Raises :class:`PostmarkValidationError` with ErrorCode 505 while a key is already pending.
        """
        return PostmarkDomain.from_api(self._request("POST", f"/domains/{int(domain_id)}/rotatedkim"))

    # -- plumbing --------------------------------------------------------------------------------
    def _retry(self, *, allow_post: bool) -> _DeadlineRetry:
        """The retry policy of one request. ``allow_post``: a POST whose outcome is known to be "not done" is
        retried — a connection never made, or 429 (refused before any work) — but never after a read error or a
        5xx, whose request may have committed (the caller settles those)."""
        policy = self.policy
        methods = {"GET", "PUT", "DELETE", "HEAD", "OPTIONS"} | ({"POST"} if allow_post else set())
        retry = _DeadlineRetry(
            total=policy.max_retries,
            connect=policy.max_retries,
            read=0 if allow_post else policy.max_retries,
            status=policy.max_retries,
            other=0,
            redirect=0,
            allowed_methods=frozenset(methods),
            status_forcelist=frozenset({429}) if allow_post else RETRY_STATUSES,
            backoff_factor=policy.backoff_factor,
            backoff_max=policy.backoff_max_s,
            backoff_jitter=policy.backoff_factor / 2,
            respect_retry_after_header=True,
            raise_on_status=False,
            raise_on_redirect=False,
        )
        retry.deadline = self.deadline
        return retry

    def _scrub(self, text: str) -> str:
        return text.replace(self.__token, "<redacted>") if self.__token else text

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        retry_post: bool = False,
    ) -> Any:
        what = f"{method} {path}"
        if self.deadline is not None and self.deadline.remaining() < MIN_ATTEMPT_S:
            raise PostmarkUnavailable(f"Postmark {what}: no time left before the function's deadline")
        headers = {
            "Accept": JSON_MEDIA_TYPE,
            "Content-Type": JSON_MEDIA_TYPE,
            "User-Agent": USER_AGENT,
            TOKEN_HEADER: self.__token,
        }
        timeout = _DeadlineTimeout(self.policy.connect_timeout_s, self.policy.read_timeout_s, self.deadline)
        url = self.api_url + path + (f"?{urlencode(params)}" if params else "")
        started = time.monotonic()
        self.request_count += 1
        try:
            response = self._pool.request(
                method,
                url,
                body=json.dumps(body).encode() if body is not None else None,
                headers=headers,
                timeout=timeout,
                retries=self._retry(allow_post=retry_post),
                redirect=False,
            )
        except _OutOfTimeError as exc:
            if exc.retry_after:
                detail = f"asked to retry after {exc.wait_s:.0f} s but only {exc.remaining_s:.1f} s are left"
            else:
                detail = f"no time left for another attempt ({exc.remaining_s:.1f} s left)"
            raise PostmarkUnavailable(
                f"Postmark {what}: {exc.cause} from {self._host}, {detail} before the deadline",
                http_status=exc.status,
            ) from None
        except HTTPError as exc:
            elapsed = time.monotonic() - started
            raise PostmarkUnavailable(
                f"Postmark {what}: {_describe_failure(exc)} from {self._host} ({elapsed:.1f} s)"
            ) from exc
        elapsed_ms = (time.monotonic() - started) * 1000
        logger.debug("Postmark %s answered HTTP %s in %.0f ms", what, response.status, elapsed_ms)
        return self._decode(response, what, _domain_id_in(path))

    @property
    def _host(self) -> str:
        return urlsplit(self.api_url).netloc or self.api_url

    def _decode(self, response: BaseHTTPResponse, what: str, domain_id: int | None = None) -> Any:
        status = response.status
        try:
            data: Any = json.loads(response.data) if response.data else None
        except ValueError:  # not JSON (UnicodeDecodeError is a ValueError too)
            data = None
        code = _error_code(data)
        raw_message = data.get("Message") if isinstance(data, dict) else None
        message = one_line(self._scrub(str(raw_message)), 140) if raw_message else ""
        if status == 200:
            if data is None:
                raise PostmarkResponseError(f"Postmark {what}: HTTP 200 without a JSON body", http_status=status)
            return data
        if status == 401 or code == CODE_BAD_TOKEN:
            raise PostmarkAuthError(
                f"Postmark {what}: the account token was rejected (ErrorCode 10, HTTP {status})",
                error_code=CODE_BAD_TOKEN,
                http_status=status,
            )
        if status in RETRY_STATUSES or status >= 500:
            retries = response.retries.history if response.retries is not None else ()
            detail = f"HTTP {status}" + (f", ErrorCode {code} {message}" if code is not None else "")
            raise PostmarkUnavailable(
                f"Postmark {what}: {detail.strip()} after {len(retries) + 1} attempt(s)",
                error_code=code,
                http_status=status,
            )
        error_class = _CLASS_BY_CODE.get(code) if code is not None else None
        if error_class is not None:
            raise error_class(
                f"Postmark {what}: {message or 'rejected'} (ErrorCode {code}, HTTP {status})",
                error_code=code,
                http_status=status,
                domain_id=domain_id,
            )
        if status == 404 and code is not None:
            # A Postmark JSON error under 404 is the overview's "Entity doesn't exist" (the domain is not there),
            # not a wrong endpoint: a wrong host or path answers without a Postmark error body.
            raise PostmarkNotFound(
                f"Postmark {what}: {message or 'entity does not exist'} (ErrorCode {code}, HTTP 404)",
                error_code=code,
                http_status=status,
                domain_id=domain_id,
            )
        if status == 422:
            raise PostmarkValidationError(
                f"Postmark {what}: {message or 'rejected'} (ErrorCode {code})", error_code=code, http_status=status
            )
        if status == 404:
            raise PostmarkResponseError(
                f"Postmark {what}: HTTP 404, no such endpoint at {self.api_url} (check ApiUrl)", http_status=status
            )
        raise PostmarkResponseError(f"Postmark {what}: unexpected HTTP {status}", error_code=code, http_status=status)

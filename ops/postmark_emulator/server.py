"""The HTTP side of the emulator: Postmark's authentication and header rules, faults, the request log.

:class:`PostmarkEmulator` serves on loopback (an ephemeral port by default) from a background thread. Every
request is routed by :mod:`postmark_emulator.routes` (one werkzeug ``Map``). API requests are logged (token
redacted) and may be hit by injected faults; ``/__emulator/…`` is the control API
(:mod:`postmark_emulator.control`), unauthenticated and never logged.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from postmark_emulator import control, routes
from postmark_emulator.dns import DnsView, StaticDnsView
from postmark_emulator.faults import Fault, FaultQueue
from postmark_emulator.model import (
    DEFAULT_FIRST_ID,
    DEFAULT_FOREIGN_DOMAIN_CODE,
    DEFAULT_MISSING_DOMAIN_STATUS,
    ERR_QUERY,
    ERR_TOKEN,
    AccountApi,
    ApiResult,
    EmulatorClock,
    api_error,
    check_foreign_domain_code,
    check_missing_domain_status,
    check_rotate_text_value_key,
)
from postmark_emulator.routes import Route

TOKEN_HEADER = "X-Postmark-Account-Token"  # noqa: S105 - a header name
SERVER_TOKEN_HEADER = "X-Postmark-Server-Token"  # noqa: S105 - a header name
REDACTED = "<redacted>"
_NO_CREDENTIALS_MESSAGE = (
    "No Account or Server API tokens were supplied in the HTTP headers. Please add a header for either "
    "X-Postmark-Server-Token or X-Postmark-Account-Token."
)
_INVALID_CREDENTIALS_MESSAGE = "Request does not contain a valid Account token."
_JSON_REQUIRED_MESSAGE = "JSON required: send 'Accept: application/json' and 'Content-Type: application/json'."


def new_token() -> str:
    """A fresh account token, shaped like Postmark's (a UUID)."""
    return str(uuid.uuid4())


def _media_types(header: str | None) -> list[str]:
    if not header:
        return []
    return [part.split(";", 1)[0].strip().lower() for part in header.split(",")]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    emulator: PostmarkEmulator

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that gave up (timeouts, dropped connections) are part of the tests; stay quiet.
        return


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle + delayed ACK add ~40 ms per response.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    # -- plumbing --------------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, result: ApiResult) -> None:
        payload = b"" if result.body is None else json.dumps(result.body).encode("utf-8")
        try:
            self.send_response(result.status)
            if result.body is not None:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            for key, value in result.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send_raw(self, status: int, raw: str, headers: Mapping[str, str]) -> None:
        payload = raw.encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _drop(self) -> None:
        self.close_connection = True

    def _dispatch(self) -> None:
        body = self._read_body()
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        emulator = self.server.emulator
        route = routes.resolve(self.command, path)
        if route.control:
            self._send(control.handle(emulator, route, self.command, path, body))
            return
        emulator._api(self, route, path, parts.query, body)


class PostmarkEmulator:
    """A faithful Postmark Account API (``/domains``) on loopback, for tests and the offline rehearsal.

    ``accounts`` maps account names to their tokens (several accounts, each with its own domains, so "wrong
    account" can be tested); without it one account ``default`` gets a fresh token. Use as a context manager
    or call :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self,
        accounts: Mapping[str, str] | None = None,
        *,
        dkim_key_bits: int = 1024,
        dns_view: DnsView | None = None,
        clock: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        first_id: int = DEFAULT_FIRST_ID,
        strict_headers: bool = True,
        auth_failure_status: int = 401,
        header_error_status: int = 422,
        list_error_code: int = ERR_QUERY,
        verify_lag_calls: int = 0,
        exclusive_names: bool = False,
        missing_domain_status: int = DEFAULT_MISSING_DOMAIN_STATUS,
        foreign_domain_code: int = DEFAULT_FOREIGN_DOMAIN_CODE,
        token_case_insensitive: bool = True,
        server_tokens: Iterable[str] = (),
        seed: int | str | None = None,
        rotate_text_value_key: str = "DKIMTextValue",
        revoked_safe_at_activation: bool = False,
    ) -> None:
        #: The API overview says "The header name and value are case insensitive"; False compares tokens exactly.
        self.token_case_insensitive = token_case_insensitive
        self._tokens: dict[str, str] = {}  # token -> account name
        self._accounts: dict[str, str] = {}  # account name -> token
        for name, token in (accounts or {"default": new_token()}).items():
            self.add_account(name, token)
        self._server_tokens = set(server_tokens)
        self.dns: DnsView = dns_view if dns_view is not None else StaticDnsView()
        self.clock = EmulatorClock(clock)
        self.api = AccountApi(
            self.dns,
            clock=self.clock,
            dkim_key_bits=dkim_key_bits,
            first_id=first_id,
            verify_lag_calls=verify_lag_calls,
            exclusive_names=exclusive_names,
            list_error_code=list_error_code,
            missing_domain_status=missing_domain_status,
            foreign_domain_code=foreign_domain_code,
            seed=seed,
            rotate_text_value_key=rotate_text_value_key,
            revoked_safe_at_activation=revoked_safe_at_activation,
        )
        #: Strict mode: ``Accept`` must allow ``application/json`` and a body needs ``Content-Type: application/json``.
        self.strict_headers = strict_headers
        #: 401 (documented) or 422 (what some older clients saw) for ErrorCode 10.
        self.auth_failure_status = auth_failure_status
        #: 422 with ErrorCode 409 (documented), or 415, for header violations.
        self.header_error_status = header_error_status
        self.faults = FaultQueue()
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._log_lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> PostmarkEmulator:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self._host, self._port), _Handler)
        server.emulator = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="postmark-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes injected delays
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> PostmarkEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Block serving requests until :meth:`request_stop` (the subprocess entry point)."""
        self.start()
        while not self._stopping.wait(0.5):
            pass

    def request_stop(self) -> None:
        """Make :meth:`serve_forever` return (safe from a signal handler)."""
        self._stopping.set()

    @property
    def port(self) -> int:
        assert self._server is not None, "emulator not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL to give the client (``ApiUrl``)."""
        return f"http://{self._host}:{self.port}"

    # -- accounts --------------------------------------------------------------------------------
    def add_account(self, name: str, token: str | None = None) -> str:
        token = token or new_token()
        if any(t.lower() == token.lower() and a != name for t, a in self._tokens.items()):
            raise ValueError("two accounts cannot share a token (compared case-insensitively)")
        self._accounts[name] = token
        self._tokens[token] = name
        return token

    def account_for_token(self, token: str) -> str | None:
        """The account a token header value authenticates as (case-insensitively unless configured otherwise)."""
        if token in self._tokens:
            return self._tokens[token]
        if self.token_case_insensitive:
            wanted = token.lower()
            return next((account for t, account in self._tokens.items() if t.lower() == wanted), None)
        return None

    @property
    def accounts(self) -> list[str]:
        return list(self._accounts)

    def token_for(self, account: str) -> str:
        return self._accounts[account]

    def _account_of(self, token_or_account: str) -> str:
        if token_or_account in self._tokens:
            return self._tokens[token_or_account]
        if token_or_account in self._accounts:
            return token_or_account
        raise KeyError("unknown account or token")

    def _redact(self, text: str) -> str:
        for token in self._tokens:  # in any case: the API accepts a token whatever its case
            text = re.sub(re.escape(token), REDACTED, text, flags=re.IGNORECASE)
        return text

    # -- seeding and inspection ------------------------------------------------------------------
    def add_domain(
        self,
        token_or_account: str,
        name: str,
        return_path_domain: str = "",
        *,
        dkim_verified: bool = False,
        return_path_verified: bool = False,
    ) -> dict[str, Any]:
        """Register a domain directly on an account (bypasses the API: no request is logged)."""
        account = self._account_of(token_or_account)
        domain = self.api.seed_domain(
            account,
            name,
            return_path_domain,
            dkim_verified=dkim_verified,
            return_path_verified=return_path_verified,
        )
        return domain.details()

    def add_domains(self, token_or_account: str, names: Iterable[str]) -> list[int]:
        """Seed many domains at once (e.g. more than a page of 500); returns their IDs."""
        account = self._account_of(token_or_account)
        return [self.api.seed_domain(account, name).id for name in names]

    def domain(self, domain_id: int) -> dict[str, Any] | None:
        """A domain's details, whichever account owns it (None when absent)."""
        found = self.api.domain(domain_id)
        return None if found is None else {"Account": found.account, **found.details()}

    def domains(self, token_or_account: str) -> list[dict[str, Any]]:
        return [d.details() for d in self.api.domains_of(self._account_of(token_or_account))]

    def find(self, token_or_account: str, name: str) -> dict[str, Any] | None:
        """The details of the domain called ``name`` on an account, or None."""
        return next((d for d in self.domains(token_or_account) if d["Name"] == name.lower()), None)

    def state(self) -> dict[str, Any]:
        """Everything, as JSON-ready data (tokens never included)."""
        return {
            "accounts": self.accounts,
            "domains": self.api.snapshot(),
            "dns": self.dns.snapshot() if isinstance(self.dns, StaticDnsView) else None,
            "clock": self.clock.now().isoformat(),
            "settings": self.settings(),
            "faults": self.faults.pending(),
        }

    def settings(self) -> dict[str, Any]:
        return {
            **self.api.settings(),
            "strict_headers": self.strict_headers,
            "auth_failure_status": self.auth_failure_status,
            "header_error_status": self.header_error_status,
            "token_case_insensitive": self.token_case_insensitive,
        }

    def configure(self, **settings: Any) -> None:
        """Change settings at run time (``verify_lag_calls``, ``strict_headers``, ``missing_domain_status``, …)."""
        for key, value in settings.items():
            if key in {"strict_headers", "auth_failure_status", "header_error_status", "token_case_insensitive"}:
                setattr(self, key, value)
            elif key == "missing_domain_status":
                self.api.missing_domain_status = check_missing_domain_status(int(value))
            elif key == "foreign_domain_code":
                self.api.foreign_domain_code = check_foreign_domain_code(int(value))
            elif key == "rotate_text_value_key":
                self.api.rotate_text_value_key = check_rotate_text_value_key(str(value))
            elif key in {
                "verify_lag_calls",
                "exclusive_names",
                "list_error_code",
                "dkim_key_bits",
                "revoked_safe_at_activation",
            }:
                setattr(self.api, key, value)
            else:
                raise ValueError(f"unknown setting {key!r}")

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The API request log (control requests excluded), tokens redacted."""
        with self._log_lock:
            return [dict(r) for r in self._requests]

    def calls(self) -> list[str]:
        """The request log as ``"METHOD /path"`` strings (query strings dropped), for asserting call sequences."""
        return [f"{r['method']} {r['path']}" for r in self.requests]

    def clear_requests(self) -> None:
        with self._log_lock:
            self._requests.clear()

    def inject(self, *faults: Fault) -> None:
        self.faults.add(*faults)

    def reset(self) -> None:
        """Forget domains, requests, faults and clock changes; accounts and settings stay."""
        self.api.reset()
        self.faults.clear()
        self.clear_requests()
        self.clock.set(None)
        if isinstance(self.dns, StaticDnsView):
            self.dns.clear()

    # -- the API ---------------------------------------------------------------------------------
    def _log(self, entry: dict[str, Any]) -> dict[str, Any]:
        with self._log_lock:
            entry["seq"] = len(self._requests) + 1
            self._requests.append(entry)
        return entry

    def _api(self, handler: _Handler, route: Route, path: str, query: str, body: bytes) -> None:
        method = handler.command
        headers = handler.headers
        token = headers.get(TOKEN_HEADER)
        try:
            logged_body: Any = json.loads(body) if body else None
        except ValueError:
            logged_body = body.decode("utf-8", errors="replace")
        if logged_body is not None:
            logged_body = json.loads(self._redact(json.dumps(logged_body)))
        entry = self._log(
            {
                "method": method,
                "path": path,
                "query": self._redact(query),
                "account": self.account_for_token(token) if token else None,
                "token": REDACTED if token else None,
                "accept": headers.get("Accept"),
                "content_type": headers.get("Content-Type"),
                "user_agent": headers.get("User-Agent"),
                "body": logged_body,
                "status": None,
                "fault": None,
                "at": time.time(),
            }
        )
        started = time.monotonic()
        fault = self.faults.take(method, path)
        if fault is not None:
            entry["fault"] = fault.to_json()
            if fault.delay_s:
                self._stopping.wait(fault.delay_s)
            if not fault.commit_then_fail and (fault.drop_connection or fault.status):
                entry["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
                if fault.drop_connection:
                    entry["status"] = "dropped"
                    handler._drop()
                    return
                self._answer_fault(handler, fault, entry)
                return
        result = self._process(route, method, query=query, body=body, headers=headers, token=token)
        entry["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        if fault is not None and fault.commit_then_fail:
            entry["committed_status"] = result.status
            if fault.drop_connection:
                entry["status"] = "dropped"
                handler._drop()
                return
            self._answer_fault(handler, fault, entry)
            return
        entry["status"] = result.status
        handler._send(result)

    def _answer_fault(self, handler: _Handler, fault: Fault, entry: dict[str, Any]) -> None:
        status = fault.status or 500
        entry["status"] = status
        if fault.body is not None:
            handler._send(ApiResult(status, fault.body, fault.headers))
        else:
            handler._send_raw(status, fault.raw or "", fault.headers)

    def _process(
        self, route: Route, method: str, *, query: str, body: bytes, headers: Any, token: str | None
    ) -> ApiResult:
        if route.endpoint is None:  # the router's 404 (empty body) or 405 (empty body, ``Allow``)
            assert route.status is not None
            return ApiResult(route.status, headers={"Allow": ", ".join(route.allow)} if route.allow else {})
        operation = route.endpoint

        # Authentication: the account token only (a server token is not an account token).
        if not token:
            # A server token (X-Postmark-Server-Token) does not authorise the Account API either.
            message = _INVALID_CREDENTIALS_MESSAGE if headers.get(SERVER_TOKEN_HEADER) else _NO_CREDENTIALS_MESSAGE
            return api_error(ERR_TOKEN, message, self.auth_failure_status)
        account = self.account_for_token(token)
        if account is None:
            return api_error(ERR_TOKEN, _INVALID_CREDENTIALS_MESSAGE, self.auth_failure_status)

        if self.strict_headers:
            json_type = "application/json"
            if json_type not in _media_types(headers.get("Accept")) or (
                body and _media_types(headers.get("Content-Type"))[:1] != [json_type]
            ):
                return api_error(409, _JSON_REQUIRED_MESSAGE, self.header_error_status)

        payload: dict[str, Any] = {}
        if body and method in {"POST", "PUT"}:
            try:
                parsed = json.loads(body)
            except ValueError:
                return api_error(402, "The request body is not valid JSON.")
            if not isinstance(parsed, dict):
                return api_error(403, "The request body must be a JSON object.")
            payload = parsed

        api = self.api
        if operation == "list_domains":
            return api.list_domains(account, parse_qs(query, keep_blank_values=True))
        if operation == "create_domain":
            return api.create_domain(account, payload)
        domain_id = int(route.values["domain_id"])
        if operation == "edit_domain":
            return api.edit_domain(account, domain_id, payload)
        simple: dict[str, Callable[[str, int], ApiResult]] = {
            "get_domain": api.get_domain,
            "delete_domain": api.delete_domain,
            "verify_dkim": api.verify_dkim,
            "verify_return_path": api.verify_return_path,
            "verify_spf": api.verify_spf,
            "rotate_dkim": api.rotate_dkim,
        }
        return simple[operation](account, domain_id)

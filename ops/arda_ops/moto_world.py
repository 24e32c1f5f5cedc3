"""moto in server mode, on loopback, with a count of every AWS API call by the caller that made it.

The offline rehearsal and the benchmark need to know how many AWS calls each lifecycle operation of a
custom resource costs. The handlers build their own clients (and, for the NS delegation, assume a role), so
the count is taken where every call must pass: a WSGI middleware in front of moto's own application. Calls
made with :data:`CLOUDFORMATION_KEY` stand for CloudFormation's own work (zones, records, secrets, exports)
and are counted apart from the handlers' calls.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from werkzeug.serving import BaseWSGIServer, make_server

#: Access key the rehearsal uses for what CloudFormation itself would do.
CLOUDFORMATION_KEY = "AKIACLOUDFORMATIONSIM"
_CREDENTIAL = re.compile(r"Credential=([^/]+)/[^/]+/[^/]+/([^/]+)/")
_ROUTE53_PATHS = (
    ("POST", re.compile(r"/hostedzone/[^/]+/rrset/?$"), "ChangeResourceRecordSets"),
    ("GET", re.compile(r"/hostedzone/[^/]+/rrset/?$"), "ListResourceRecordSets"),
    ("GET", re.compile(r"/hostedzonesbyname/?$"), "ListHostedZonesByName"),
    ("GET", re.compile(r"/change/[^/]+/?$"), "GetChange"),
    ("POST", re.compile(r"/hostedzone/?$"), "CreateHostedZone"),
    ("GET", re.compile(r"/hostedzone/?$"), "ListHostedZones"),
    ("GET", re.compile(r"/hostedzone/[^/]+/?$"), "GetHostedZone"),
    ("DELETE", re.compile(r"/hostedzone/[^/]+/?$"), "DeleteHostedZone"),
)


@dataclass
class CallLog:
    """Thread-safe counts of ``service:Operation`` per caller (``handler`` or ``cloudformation``)."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    calls: list[tuple[str, str]] = field(default_factory=list)
    cloudformation_keys: set[str] = field(default_factory=lambda: {CLOUDFORMATION_KEY})

    def add(self, caller: str, operation: str) -> None:
        with self._lock:
            self.calls.append((caller, operation))

    def mark(self) -> int:
        with self._lock:
            return len(self.calls)

    def since(self, mark: int, caller: str | None = "handler") -> Counter[str]:
        with self._lock:
            return Counter(op for who, op in self.calls[mark:] if caller is None or who == caller)


def _operation(environ: dict[str, Any], body: bytes, cloudformation_keys: set[str]) -> tuple[str, str]:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    match = _CREDENTIAL.search(auth)
    key, service = (match.group(1), match.group(2)) if match else ("", "unknown")
    caller = "cloudformation" if key in cloudformation_keys else "handler"
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return caller, f"{service}:{target.split('.')[-1]}"
    if service == "route53":
        method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
        for verb, pattern, name in _ROUTE53_PATHS:
            if verb == method and pattern.search(path):
                return caller, f"route53:{name}"
        return caller, f"route53:{method} {path}"
    action = parse_qs(body.decode("utf-8", "replace")).get("Action") or parse_qs(environ.get("QUERY_STRING", "")).get(
        "Action"
    )
    return caller, f"{service}:{action[0] if action else '?'}"


class _Counting:
    def __init__(self, app: Callable[..., Iterable[bytes]], log: CallLog) -> None:
        self.app, self.log = app, log

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/moto-api"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            self.log.add(*_operation(environ, body, self.log.cloudformation_keys))
        return self.app(environ, start_response)


class MotoServer:
    """moto's server on 127.0.0.1 with an ephemeral port and a :class:`CallLog`."""

    def __init__(self) -> None:
        self.calls = CallLog()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> MotoServer:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        app = _Counting(DomainDispatcherApplication(create_backend_app), self.calls)
        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}"

    def reset(self) -> None:
        import urllib.request

        request = urllib.request.Request(self.url + "/moto-api/reset", method="POST", data=b"")  # noqa: S310
        with urllib.request.urlopen(request, timeout=5):  # noqa: S310 - loopback only
            pass

    def client(self, service: str, *, region: str = "us-east-1", credentials: dict[str, str] | None = None) -> Any:
        """A client for CloudFormation's own work (counted apart), or with the given credentials."""
        import boto3

        creds = credentials or {"aws_access_key_id": CLOUDFORMATION_KEY, "aws_secret_access_key": "cfn"}
        return boto3.client(service, region_name=region, endpoint_url=self.url, **creds)  # type: ignore[call-overload]

    def account_credentials(self, account_id: str, role_name: str = "rehearsal-admin") -> dict[str, str]:
        """Credentials that land in ``account_id``'s backend (moto honours assumed roles' accounts)."""
        sts = self.client("sts")
        creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/{role_name}", RoleSessionName="setup")[
            "Credentials"
        ]
        self.calls.cloudformation_keys.add(creds["AccessKeyId"])
        return {
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"],
        }


def describe(counts: Counter[str]) -> str:
    """``route53:ChangeResourceRecordSets x1, sts:AssumeRole x1`` (stable order)."""
    return ", ".join(f"{op} x{n}" for op, n in sorted(counts.items())) or "none"


def to_json(counts: Counter[str]) -> str:
    return json.dumps(dict(sorted(counts.items())))

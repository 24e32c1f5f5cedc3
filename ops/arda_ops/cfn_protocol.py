"""The CloudFormation custom-resource protocol, played from the CloudFormation side.

Tests and the offline rehearsal use this to drive the real handlers exactly as CloudFormation does: an
event whose ``ResponseURL`` points at :class:`ResponseReceiver`, an HTTPS server on loopback, and the
handler's answer received as the HTTP ``PUT`` that :mod:`arda_mail.cfn` sends. Nothing is patched: the
receiver's certificate comes from a throw-away CA (``trustme``) that is made trusted for the process
through ``SSL_CERT_FILE``, the variable OpenSSL's default verify paths read.

The ``ResponseURL`` has the shape of a real pre-signed S3 URL (SigV4 query parameters with a random signature,
credential and security token, https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html), so
a test can look for its secret parts in the logs. The receiver can also misbehave like a real endpoint
(:meth:`ResponseReceiver.inject`): answer an error status, or accept the connection and never answer.
"""

from __future__ import annotations

import json
import os
import secrets
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import trustme

Handler = Callable[[dict[str, Any], Any], Any]

DEFAULT_STACK_NAME = "Alpha002-dev-Email"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"
#: The query parameters of a pre-signed URL that must never reach a log (the signature lets anyone answer).
SECRET_URL_PARAMETERS = ("X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token")
#: How long a "hang" fault holds a connection without answering (released early when the receiver stops).
HANG_S = 60.0

Fault = int | Literal["hang"]


@dataclass
class LambdaContext:
    """The parts of the Lambda context object the helper and the handlers read, with a real clock."""

    timeout_ms: int = 30_000
    function_name: str = "arda-mail-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:function:arda-mail-test"
    log_group_name: str = "/aws/lambda/arda-mail-test"
    log_stream_name: str = "test"
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self.timeout_ms - (time.monotonic() - self._started) * 1000))


@dataclass(frozen=True)
class CfnResponse:
    """One response body as CloudFormation received it."""

    path: str
    body: dict[str, Any]
    raw: str
    received_at: float

    @property
    def status(self) -> str:
        return str(self.body.get("Status"))

    @property
    def reason(self) -> str:
        return str(self.body.get("Reason", ""))

    @property
    def physical_id(self) -> str:
        return str(self.body.get("PhysicalResourceId", ""))

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.body.get("Data") or {})


def url_secrets(response_url: str) -> list[str]:
    """The secret parts of a pre-signed ``response_url`` (to look for in logs)."""
    query = parse_qs(urlsplit(response_url).query)
    return [value for name in SECRET_URL_PARAMETERS for value in query.get(name, [])]


class ResponseReceiver:
    """An HTTPS server on loopback that records every response PUT, like CloudFormation's response URL.

    ``responses`` holds the PUTs it accepted (HTTP 200); ``attempts`` every PUT body it read, faults included.
    """

    def __init__(self) -> None:
        self._ca = trustme.CA()
        self._cert = self._ca.issue_cert("127.0.0.1", "localhost")
        self._responses: list[CfnResponse] = []
        self._attempts: list[CfnResponse] = []
        self._faults: dict[str, list[Fault]] = {}
        self._released = threading.Event()
        self._lock = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="cfn-receiver-")
        self.ca_file = os.path.join(self._tmp.name, "ca.pem")
        self._ca.cert_pem.write_to_path(self.ca_file)
        self._previous_cert_file: str | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> ResponseReceiver:
        receiver = self

        class _Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_PUT(self) -> None:
                fault = receiver._next_fault(self.path)
                if fault == "hang":
                    receiver._released.wait(HANG_S)  # the client's socket timeout must end this, not us
                    return
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"Status": "<unparseable>", "Raw": raw}
                status = 200 if fault is None else fault
                receiver._record(CfnResponse(self.path, body, raw, time.monotonic()), accepted=status == 200)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(context)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="cfn-receiver", daemon=True)
        self._thread.start()
        self._previous_cert_file = os.environ.get("SSL_CERT_FILE")
        os.environ["SSL_CERT_FILE"] = self.ca_file
        return self

    def stop(self) -> None:
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._previous_cert_file is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = self._previous_cert_file
        self._tmp.cleanup()

    def __enter__(self) -> ResponseReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- use -------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None, "receiver not started"
        port = self._server.server_address[1]
        return f"https://127.0.0.1:{port}"

    def new_response_url(self) -> str:
        """A unique URL for one request, shaped like CloudFormation's pre-signed S3 URL (random secret parts)."""
        credential = f"ASIA{secrets.token_hex(8).upper()}/20260101/{DEFAULT_REGION}/s3/aws4_request"
        query = "&".join(
            [
                "X-Amz-Algorithm=AWS4-HMAC-SHA256",
                "X-Amz-Date=20260101T000000Z",
                "X-Amz-SignedHeaders=host",
                "X-Amz-Expires=7200",
                f"X-Amz-Credential={credential.replace('/', '%2F')}",
                f"X-Amz-Security-Token={secrets.token_urlsafe(48)}",
                f"X-Amz-Signature={secrets.token_hex(32)}",
            ]
        )
        return f"{self.base_url}/cloudformation-custom-resource-response/{uuid.uuid4().hex}?{query}"

    def inject(self, response_url: str, *faults: Fault) -> None:
        """Answer the next PUTs to ``response_url`` with ``faults`` in turn: an HTTP status, or ``"hang"``
        (accept the connection, never answer); later PUTs are accepted normally."""
        with self._lock:
            self._faults.setdefault(_path_of(response_url), []).extend(faults)

    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            pending = self._faults.get(path)
            return pending.pop(0) if pending else None

    def _record(self, response: CfnResponse, *, accepted: bool = True) -> None:
        with self._lock:
            self._attempts.append(response)
            if accepted:
                self._responses.append(response)
            self._lock.notify_all()

    def attempts_for(self, response_url: str) -> list[CfnResponse]:
        """Every PUT body read for ``response_url``, including the ones answered with an injected error."""
        path = _path_of(response_url)
        with self._lock:
            return [r for r in self._attempts if r.path == path]

    @property
    def responses(self) -> list[CfnResponse]:
        with self._lock:
            return list(self._responses)

    def responses_for(self, response_url: str) -> list[CfnResponse]:
        with self._lock:
            return self._responses_for_locked(response_url)

    def wait_for(self, response_url: str, timeout: float = 5.0) -> CfnResponse:
        """The first response PUT to ``response_url``; raises TimeoutError if none arrives."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = self._responses_for_locked(response_url)
                if found:
                    return found[0]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    # The path only: the query holds the URL's signature.
                    raise TimeoutError(f"no response was PUT to {response_url.split('?', 1)[0]}")
                self._lock.wait(remaining)

    def _responses_for_locked(self, response_url: str) -> list[CfnResponse]:
        path = _path_of(response_url)
        return [r for r in self._responses if r.path == path]


def _path_of(response_url: str) -> str:
    """The request target the receiver sees for ``response_url`` (path and query)."""
    return "/" + response_url.split("://", 1)[1].split("/", 1)[1]


@dataclass
class EventFactory:
    """Builds CloudFormation custom-resource events for one stack."""

    receiver: ResponseReceiver
    stack_name: str = DEFAULT_STACK_NAME
    region: str = DEFAULT_REGION
    account: str = DEFAULT_ACCOUNT
    service_token: str = f"arn:aws:lambda:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:function:arda-mail"
    stack_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def stack_id(self) -> str:
        return f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{self.stack_name}/{self.stack_uuid}"

    def _base(self, request_type: str, resource_type: str, logical_id: str, props: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "RequestType": request_type,
            "ServiceToken": self.service_token,
            "ResponseURL": self.receiver.new_response_url(),
            "StackId": self.stack_id,
            "RequestId": str(uuid.uuid4()),
            "LogicalResourceId": logical_id,
            "ResourceType": resource_type,
            "ResourceProperties": {"ServiceToken": self.service_token, "ServiceTimeout": "300", **props},
        }

    def create(self, resource_type: str, logical_id: str, props: Mapping[str, Any]) -> dict[str, Any]:
        return self._base("Create", resource_type, logical_id, props)

    def update(
        self,
        resource_type: str,
        logical_id: str,
        physical_id: str,
        props: Mapping[str, Any],
        old_props: Mapping[str, Any],
    ) -> dict[str, Any]:
        event = self._base("Update", resource_type, logical_id, props)
        event["PhysicalResourceId"] = physical_id
        event["OldResourceProperties"] = {"ServiceToken": self.service_token, "ServiceTimeout": "300", **old_props}
        return event

    def delete(self, resource_type: str, logical_id: str, physical_id: str, props: Mapping[str, Any]) -> dict[str, Any]:
        event = self._base("Delete", resource_type, logical_id, props)
        event["PhysicalResourceId"] = physical_id
        return event


def invoke(
    handler: Handler,
    event: dict[str, Any],
    receiver: ResponseReceiver,
    *,
    timeout_ms: int = 30_000,
    wait_s: float = 5.0,
    function_arn: str | None = None,
) -> CfnResponse:
    """Invoke ``handler`` like Lambda does and return the response CloudFormation received.

    ``function_arn`` is the invoked function's ARN the context carries (default: a function in the default test
    account); a handler reads its own account from it, so a stack of another account passes its function's.
    Raises TimeoutError when the handler returned without PUTting a response: for CloudFormation that is
    a stack hanging until ``ServiceTimeout``.
    """
    context = LambdaContext(timeout_ms=timeout_ms)
    if function_arn is not None:
        context.invoked_function_arn = function_arn
    handler(event, context)
    return receiver.wait_for(event["ResponseURL"], timeout=wait_s)


@contextmanager
def receiving() -> Iterator[ResponseReceiver]:
    with ResponseReceiver() as receiver:
        yield receiver

"""AWS test helpers: two moto accounts, faults injected at botocore's transport, and retry sleeps recorded.

Faults are injected with a botocore ``before-send`` hook, the same seam moto itself uses: the hook answers a
request with a real-shaped AWS error response (Route 53's REST-XML ``ErrorResponse``, STS's query-protocol
one), so botocore's own parser, retry checkers and backoff run exactly as they would against AWS. A hook
registered for ``before-send.<service>`` runs before moto's generic ``before-send`` stubber; when it returns
None the request goes on to moto. botocore calls every ``before-send`` handler and keeps the first answer, so a
request the injector answers is pointed at a host moto does not serve, which keeps moto from executing it
(unless the fault is meant to hide a committed write: ``commit=True``).

Network faults (:meth:`FaultInjector.fail_network`) raise botocore's own exceptions from the same hook, which is
where botocore's ``Endpoint._do_get_response`` would meet them coming out of its HTTP session
(``botocore/endpoint.py``); botocore's standard retry mode then retries them as transient
(``ConnectionError``/``HTTPClientError`` in ``botocore/retries/standard.py``) and raises the last one, exactly as
with a real dead connection. A timed-out or closed connection may have delivered the request: with
``commit=True`` moto executes it before the answer is lost; a refused or timed-out *connect* never reaches the
server, so it cannot commit.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import parse_qs

import botocore.endpoint
import botocore.handlers
import botocore.session
from botocore.awsrequest import AWSResponse
from botocore.exceptions import (
    BotoCoreError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.loaders import create_loader
from moto.core import DEFAULT_ACCOUNT_ID

from arda_ops.loopback import accounts as loopback_accounts

#: The partition account is moto's default account: the handler runs with its credentials.
PARTITION_ACCOUNT = DEFAULT_ACCOUNT_ID
assert PARTITION_ACCOUNT == loopback_accounts.PARTITION_ACCOUNT
#: The Platform Root account (the same as every loopback world's).
PLATFORM_ROOT_ACCOUNT = loopback_accounts.PLATFORM_ROOT_ACCOUNT
_ROUTE53_NS = "https://route53.amazonaws.com/doc/2013-04-01/"
_STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
_NOT_SERVED_BY_MOTO = "https://fault-injected.invalid/"


@cache
def _loader() -> Any:
    return create_loader()


def _session() -> botocore.session.Session:
    session = botocore.session.get_session()
    session.register_component("data_loader", _loader())  # models parsed once per test run
    return session


def client_in(account_id: str, service: str) -> Any:
    """A client acting in ``account_id`` (moto keeps each account's resources apart), the loopback world's way."""
    return loopback_accounts.act_in(_session().create_client(service, region_name="us-east-1"), account_id)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def route53_error(code: str, message: str = "", status: int = 400) -> tuple[int, bytes]:
    """Route 53's error body, as real Route 53 sends it (``InvalidChangeBatch`` included)."""
    body = (
        f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{_ROUTE53_NS}"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{message}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return status, body.encode()


def sts_error(code: str, message: str = "", status: int = 403) -> tuple[int, bytes]:
    body = (
        f'<ErrorResponse xmlns="{_STS_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{message}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return status, body.encode()


def response(request: Any, status: int, body: bytes) -> AWSResponse:
    headers = {"Content-Type": "text/xml", "x-amzn-RequestId": str(uuid.uuid4())}
    return AWSResponse(request.url, status, headers, _Raw(body))


@dataclass
class Fault:
    """One injected answer: ``status``/``body`` and, with ``commit``, the request still reaches moto first.
    With ``network``, no answer at all: that botocore exception is raised instead."""

    status: int
    body: bytes
    commit: bool = False
    network: str | None = None
    passthrough: bool = False


#: botocore's exceptions for a connection that failed, keyed by what happened on the wire. The first two happen
#: before the request is sent; the last two after, so the server may have executed it.
NETWORK_FAULTS: dict[str, type[BotoCoreError]] = {
    "endpoint-connection": EndpointConnectionError,
    "connect-timeout": ConnectTimeoutError,
    "read-timeout": ReadTimeoutError,
    "connection-closed": ConnectionClosedError,
}
REQUEST_SENT_FAULTS = frozenset({"read-timeout", "connection-closed"})


def network_exception(kind: str, request: Any) -> BotoCoreError:
    """The exception botocore's HTTP session raises for ``kind`` (same keyword arguments as botocore passes)."""
    cls = NETWORK_FAULTS[kind]
    if cls is ConnectionClosedError:
        return cls(endpoint_url=request.url, request=request)
    return cls(endpoint_url=request.url, error=OSError("injected"))


@dataclass
class FaultInjector:
    """Counts every call by ``service.Operation`` and answers planned faults, in order, before moto does."""

    calls: Counter[str] = field(default_factory=Counter)
    log: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _plans: dict[str, list[Fault]] = field(default_factory=dict)

    def fail(self, operation: str, *faults: tuple[int, bytes], commit: bool = False, times: int = 1) -> None:
        """Answer the next calls of ``operation`` (e.g. ``route53.ChangeResourceRecordSets``) with ``faults``."""
        plan = self._plans.setdefault(operation, [])
        for _ in range(times):
            plan.extend(Fault(status, body, commit) for status, body in faults)

    def fail_network(self, operation: str, kind: str, *, commit: bool = False, times: int = 1) -> None:
        """Let the next ``times`` calls of ``operation`` end in the network fault ``kind`` (see ``NETWORK_FAULTS``);
        ``commit``: the request reached AWS and was executed before the connection failed."""
        assert kind in NETWORK_FAULTS, kind
        assert not commit or kind in REQUEST_SENT_FAULTS, f"{kind} happens before the request is sent"
        self._plans.setdefault(operation, []).extend(Fault(0, b"", commit, kind) for _ in range(times))

    def drop_plans(self) -> None:
        """Forget every fault not yet consumed (the trouble is over)."""
        self._plans.clear()

    def let_through(self, operation: str, times: int = 1) -> None:
        """Let the next ``times`` calls of ``operation`` reach moto untouched (faults planned after them wait)."""
        self._plans.setdefault(operation, []).extend(Fault(0, b"", passthrough=True) for _ in range(times))

    def __call__(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        _, service, operation = event_name.split(".", 2)
        key = f"{'route53' if service == 'route-53' else service}.{operation}"
        self.calls[key] += 1
        self.log.append((key, _request_fields(request)))
        plan = self._plans.get(key)
        if not plan:
            return None
        fault = plan.pop(0)
        if fault.passthrough:
            return None
        if fault.commit:
            from moto.core.models import botocore_stubber

            botocore_stubber(request=request, event_name=event_name)
        if fault.network is not None:
            raise network_exception(fault.network, request)
        answer = response(request, fault.status, fault.body)
        request.url = _NOT_SERVED_BY_MOTO  # botocore builds a new request for every attempt
        return answer

    def sequence(self) -> list[str]:
        return [key for key, _ in self.log]

    def requests(self, operation: str) -> list[dict[str, Any]]:
        return [fields for key, fields in self.log if key == operation]

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def _request_fields(request: Any) -> dict[str, Any]:
    body = request.body or b""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    fields: dict[str, Any] = {"body": body, "url": request.url}
    if body and not body.lstrip().startswith("<"):
        fields.update({k: v[0] for k, v in parse_qs(body).items()})
    return fields


@contextmanager
def injected_faults(monkeypatch: Any) -> Iterator[FaultInjector]:
    """A :class:`FaultInjector` on every botocore session created from now on (STS and Route 53)."""
    injector = FaultInjector()
    handlers = [*botocore.handlers.BUILTIN_HANDLERS]
    handlers += [("before-send.route53", injector), ("before-send.sts", injector)]
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", handlers)
    yield injector


class RecordedSleep:
    """Stands in for ``time`` in ``botocore.endpoint``: retry backoffs are recorded instead of slept."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def record_retry_sleeps(monkeypatch: Any) -> RecordedSleep:
    recorder = RecordedSleep()
    monkeypatch.setattr(botocore.endpoint, "time", recorder)
    return recorder

"""The loopback world: moto, and optionally the Postmark emulator, two DNS servers and a response receiver.

The parts and their wiring are the same for every consumer:

- AWS: :class:`~arda_ops.loopback.aws.MotoService` (moto's threaded server, optionally recording calls);
- Postmark: the emulator, whose DNS view reads the partition account's Route 53 in moto, so "verify" sees
  exactly the records the DNS servers serve;
- DNS: two :class:`~arda_ops.dns_server.AuthoritativeDnsServer` instances reading moto's Route 53 live, one for
  the partition account's zones and the DMARC report domain's zone in Corporate's account (the record lookups,
  as a resolver would reach both), one for the Platform Root's parent zone (the delegation): with Route 53, a
  child zone never shares its parent's name servers;
- CloudFormation's response URL: :class:`~arda_ops.cfn_protocol.ResponseReceiver` (HTTPS).

Everything it starts, the world stops, in reverse order.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

from arda_ops.cfn_protocol import ResponseReceiver
from arda_ops.dns_server import AuthoritativeDnsServer, RecordsDnsView, Route53Records
from arda_ops.loopback.accounts import CORPORATE_ACCOUNT, PARTITION_ACCOUNT, PLATFORM_ROOT_ACCOUNT
from arda_ops.loopback.aws import MotoService
from postmark_emulator import PostmarkEmulator


class LoopbackWorld:
    """``with LoopbackWorld(tokens=..., dns=True) as world: world.moto.url, world.postmark.url, ...``.

    ``tokens`` (Postmark account name → token) starts the emulator; ``dns`` the two DNS servers; ``receiver``
    the response receiver; ``record_calls`` moto's recorder (see :mod:`arda_ops.loopback.calls`).
    """

    def __init__(
        self,
        *,
        tokens: Mapping[str, str] | None = None,
        dns: bool = False,
        receiver: bool = False,
        record_calls: bool = False,
    ) -> None:
        self.tokens = dict(tokens or {})
        self._want_postmark, self._want_dns, self._want_receiver = tokens is not None, dns, receiver
        self.moto = MotoService(record_calls=record_calls)
        self._stack = ExitStack()
        self._postmark: PostmarkEmulator | None = None
        self._zone_dns: AuthoritativeDnsServer | None = None
        self._parent_dns: AuthoritativeDnsServer | None = None
        self._receiver: ResponseReceiver | None = None

    def __enter__(self) -> LoopbackWorld:
        with ExitStack() as stack:
            stack.enter_context(self.moto)
            if self._want_postmark:
                # Corporate's mail zone lives in Corporate's account: Postmark's verification must see it too.
                view = RecordsDnsView(Route53Records(self.client("route53"), self.client("route53", CORPORATE_ACCOUNT)))
                self._postmark = stack.enter_context(PostmarkEmulator(self.tokens, dns_view=view))
            if self._want_dns:
                zone_records = Route53Records(self.client("route53"), self.client("route53", CORPORATE_ACCOUNT))
                self._zone_dns = stack.enter_context(AuthoritativeDnsServer(zone_records))
                parent_records = Route53Records(self.client("route53", PLATFORM_ROOT_ACCOUNT))
                self._parent_dns = stack.enter_context(AuthoritativeDnsServer(parent_records))
            if self._want_receiver:
                self._receiver = stack.enter_context(ResponseReceiver())
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    # -- the parts -----------------------------------------------------------------------------------
    def client(self, service: str, account: str = PARTITION_ACCOUNT, **credentials: str) -> Any:
        """A client of the world's own (CloudFormation's) work in ``account``."""
        return self.moto.client(service, account, **credentials)

    def reset(self) -> None:
        """Empty moto (every account) and the emulator; the servers keep running."""
        self.moto.reset()
        if self._postmark is not None:
            self._postmark.reset()

    @property
    def postmark(self) -> PostmarkEmulator:
        return _started(self._postmark, "the Postmark emulator (pass tokens)")

    @property
    def zone_dns(self) -> AuthoritativeDnsServer:
        """The DNS server of the partition account's zones and the DMARC report domain's zone."""
        return _started(self._zone_dns, "the DNS servers (pass dns=True)")

    @property
    def parent_dns(self) -> AuthoritativeDnsServer:
        """The DNS server of the Platform Root's parent zone (the NS delegations)."""
        return _started(self._parent_dns, "the DNS servers (pass dns=True)")

    @property
    def receiver(self) -> ResponseReceiver:
        return _started(self._receiver, "the response receiver (pass receiver=True)")


def _started[T](part: T | None, what: str) -> T:
    if part is None:
        raise RuntimeError(f"this loopback world was built without {what}")
    return part

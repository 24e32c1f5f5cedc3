"""A small authoritative DNS server on loopback, for the drift check's tests and the offline rehearsal.

It answers over UDP and TCP on the same port (``127.0.0.1:0`` picks a free one) from a *records provider*:

- :class:`StaticRecords` holds zones in memory (tests build them by hand);
- :class:`Route53Records` serves every record of every hosted zone that one or more Route 53 clients see
  (moto in tests and in the rehearsal: give it one client per moto account), read live on every query so a
  change made through the Route 53 API is visible at once.

Answers follow what an authoritative server such as BIND does for the zones it hosts:

- the zone is the longest served zone name that contains the query name; a name in no served zone is
  ``REFUSED`` (the server is authoritative only, it does not recurse);
- an NS record set *below* a zone's apex is a zone cut: queries at or below it get a **referral** (no AA bit,
  the NS set in the authority section, glue from the zone in the additional section), exactly like the
  delegation of ``<partition>.<mail root>`` that the parent zone holds. A server that hosts both the parent and
  the child answers from the child (the longest match), so to read a parent's delegation, serve the parent
  zone from its own server, as Route 53 does (a child hosted zone never shares the parent's name servers);
- an existing record set answers with AA; a CNAME at the name answers any other type (and is followed while
  the target stays in a served zone);
- a name that exists (or is an empty non-terminal) without the type is NODATA (NOERROR, SOA in authority);
  a name that does not exist is NXDOMAIN (SOA in authority);
- TXT values in Route 53's form (``"a" "b"``) become one record with several character-strings; the types
  served are A, AAAA, CNAME, MX (``"10 mx.example.com"``), NS, SOA and TXT;
- a UDP answer larger than the client's advertised size (512 octets without EDNS) is truncated with TC set,
  so resolvers retry over TCP, as with a real server.

Every query is counted in :attr:`AuthoritativeDnsServer.queries` so tests can assert what was asked.
"""

from __future__ import annotations

import functools
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from dnslib import AAAA, CNAME, MX, NS, QTYPE, RCODE, RR, SOA, TXT, A, DNSHeader, DNSRecord
from dnslib.server import DNSHandler, DNSLogger, DNSServer

from arda_mail.dns_names import relative
from arda_mail.txt_records import route53_txt_value
from arda_ops.txt_values import parse_route53_txt

log = logging.getLogger(__name__)

DEFAULT_TTL = 300
_MAX_CNAME_CHAIN = 8
_DEFAULT_SOA_TIMES = (1, 7200, 900, 1209600, 86400)


@dataclass(frozen=True, slots=True)
class RecordSet:
    """One record set in Route 53's presentation form (TXT values quoted, names without a trailing dot)."""

    name: str
    rtype: str
    values: tuple[str, ...]
    ttl: int = DEFAULT_TTL


@dataclass(frozen=True, slots=True)
class Zone:
    """A served zone: its apex name and its record sets keyed by ``(name, type)``."""

    name: str
    records: Mapping[tuple[str, str], RecordSet]

    def names(self) -> set[str]:
        return {name for name, _ in self.records}


class RecordsProvider(Protocol):
    """Where the server's zones come from; called on every query."""

    def zones(self) -> Sequence[Zone]: ...


def _norm(name: str) -> str:
    return relative(_unescape_route53_name(name))


def _unescape_route53_name(name: str) -> str:
    """Route 53 returns ``*`` and other special characters as ``\\ddd`` octal escapes."""
    if "\\" not in name:
        return name
    out, i = [], 0
    while i < len(name):
        if name[i] == "\\" and name[i + 1 : i + 4].isdigit():
            out.append(chr(int(name[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(name[i])
            i += 1
    return "".join(out)


class StaticRecords:
    """Zones held in memory; every method is thread-safe and takes effect on the next query."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._zones: dict[str, dict[tuple[str, str], RecordSet]] = {}

    def add_zone(
        self,
        name: str,
        name_servers: Iterable[str] = ("ns1.zone.test", "ns2.zone.test"),
        soa: str | None = None,
    ) -> None:
        """Create a zone with its apex NS and SOA record sets (replacing one of the same name)."""
        apex = _norm(name)
        servers = tuple(_norm(ns) for ns in name_servers)
        soa_value = soa or f"{servers[0]}. hostmaster.{apex}. " + " ".join(map(str, _DEFAULT_SOA_TIMES))
        with self._lock:
            self._zones[apex] = {
                (apex, "NS"): RecordSet(apex, "NS", servers, 172800),
                (apex, "SOA"): RecordSet(apex, "SOA", (soa_value,), 900),
            }

    def remove_zone(self, name: str) -> None:
        with self._lock:
            self._zones.pop(_norm(name), None)

    def set(self, name: str, rtype: str, values: Iterable[str], ttl: int = DEFAULT_TTL) -> None:
        """Create or replace a record set (values in Route 53's form) in the zone that contains ``name``."""
        key = (_norm(name), rtype.upper())
        with self._lock:
            zone = self._zone_for(key[0])
            zone[key] = RecordSet(key[0], key[1], tuple(values), ttl)

    def set_txt(self, name: str, texts: Iterable[str], ttl: int = DEFAULT_TTL) -> None:
        """A TXT record set from plain texts (one record per text, split into ≤255-octet strings)."""
        self.set(name, "TXT", [route53_txt_value(text) for text in texts], ttl)

    def remove(self, name: str, rtype: str) -> None:
        with self._lock:
            zone = self._zone_for(_norm(name))
            zone.pop((_norm(name), rtype.upper()), None)

    def zones(self) -> Sequence[Zone]:
        with self._lock:
            return [Zone(apex, dict(records)) for apex, records in self._zones.items()]

    def _zone_for(self, name: str) -> dict[tuple[str, str], RecordSet]:
        candidates = [apex for apex in self._zones if name == apex or name.endswith("." + apex)]
        if not candidates:
            raise KeyError(f"no zone contains {name!r}; add_zone() first")
        return self._zones[max(candidates, key=len)]


class Route53Records:
    """Every record of every hosted zone the given Route 53 clients see (public and private alike).

    ``clients`` are boto3 Route 53 clients, typically one per account (the Platform Root account with the
    parent zone, a partition account with the mail sub-zone). Zones are re-read on every query; alias
    records are skipped (they have no values of their own). When two clients see zones of the same name,
    the first client's zone is served and a warning is logged.
    """

    def __init__(self, *clients: Any) -> None:
        if not clients:
            raise ValueError("Route53Records needs at least one Route 53 client")
        self._clients = clients

    def zones(self) -> Sequence[Zone]:
        served: dict[str, Zone] = {}
        for client in self._clients:
            for hosted in _paginate(client, "list_hosted_zones", "HostedZones"):
                apex = _norm(hosted["Name"])
                if apex in served:
                    log.warning("zone %s is hosted more than once; serving the first one", apex)
                    continue
                served[apex] = Zone(apex, _LazyRecords(functools.partial(self._records, client, hosted["Id"])))
        return list(served.values())

    @staticmethod
    def _records(client: Any, zone_id: str) -> dict[tuple[str, str], RecordSet]:
        records: dict[tuple[str, str], RecordSet] = {}
        for rrset in _paginate(client, "list_resource_record_sets", "ResourceRecordSets", HostedZoneId=zone_id):
            if "ResourceRecords" not in rrset:
                continue
            name, rtype = _norm(rrset["Name"]), rrset["Type"]
            values = tuple(r["Value"] for r in rrset["ResourceRecords"])
            previous = records.get((name, rtype))
            if previous is not None:  # moto's CREATE can duplicate a record set: merge, as a resolver would see it
                values = previous.values + tuple(v for v in values if v not in previous.values)
            records[(name, rtype)] = RecordSet(name, rtype, values, int(rrset.get("TTL", DEFAULT_TTL)))
        return records


class _LazyRecords(Mapping[tuple[str, str], RecordSet]):
    """A zone's records, read on first use: a query reads the zone list and only the zone it falls in."""

    def __init__(self, load: Callable[[], dict[tuple[str, str], RecordSet]]) -> None:
        self._load = load
        self._records: dict[tuple[str, str], RecordSet] | None = None

    def _data(self) -> dict[tuple[str, str], RecordSet]:
        if self._records is None:
            self._records = self._load()
        return self._records

    def __getitem__(self, key: tuple[str, str]) -> RecordSet:
        return self._data()[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())


def _paginate(client: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items.extend(page[key])
    return items


class RecordsDnsView:
    """A records provider seen the way Postmark's verifier sees DNS (the emulator's ``DnsView`` protocol).

    Give it to ``PostmarkEmulator(dns_view=...)`` so that ``verifyDkim``/``verifyReturnPath`` read the same
    records the DNS server serves (e.g. moto's Route 53 through :class:`Route53Records`).
    """

    def __init__(self, provider: RecordsProvider) -> None:
        self._provider = provider

    def _record(self, name: str, rtype: str) -> RecordSet | None:
        key = _norm(name)
        zone = _zone_for(self._provider.zones(), key)
        return None if zone is None else zone.records.get((key, rtype))

    def txt_records(self, name: str) -> list[list[str]]:
        record = self._record(name, "TXT")
        return [] if record is None else [parse_route53_txt(value) for value in record.values]

    def cname(self, name: str) -> str | None:
        record = self._record(name, "CNAME")
        return _norm(record.values[0]) if record and record.values else None


# -- answering ------------------------------------------------------------------------------------------------


def _rr(record: RecordSet, zone: Zone) -> list[RR]:
    """dnslib resource records of one record set; unparseable values are skipped with a warning."""
    out: list[RR] = []
    for value in record.values:
        try:
            rdata = _rdata(record.rtype, value, zone)
        except (ValueError, IndexError) as exc:
            log.warning("skipping %s %s value %r: %s", record.name, record.rtype, value, exc)
            continue
        if rdata is not None:
            out.append(RR(record.name + ".", getattr(QTYPE, record.rtype), rdata=rdata, ttl=record.ttl))
    return out


def _rdata(rtype: str, value: str, zone: Zone) -> Any:
    if rtype == "TXT":
        return TXT([chunk.encode("utf-8") for chunk in parse_route53_txt(value)])
    if rtype == "CNAME":
        return CNAME(_norm(value) + ".")
    if rtype == "NS":
        return NS(_norm(value) + ".")
    if rtype == "MX":  # Route 53's form: "<preference> <host>"
        preference, host = value.split()
        return MX(_norm(host) + ".", int(preference))
    if rtype == "A":
        return A(value)
    if rtype == "AAAA":
        return AAAA(value)
    if rtype == "SOA":
        return _soa(value, zone)
    log.debug("record type %s is not served", rtype)
    return None


def _soa(value: str, zone: Zone) -> SOA:
    parts = value.split()
    try:
        times = tuple(int(p) for p in parts[2:7])
        if len(parts) != 7:
            raise ValueError(value)
        return SOA(parts[0], parts[1], times)
    except ValueError:
        # moto stores the SOA of a zone created through CloudFormation in a mangled form: serve a default one
        servers = zone.records.get((zone.name, "NS"))
        mname = _norm(servers.values[0]) if servers and servers.values else f"ns.{zone.name}"
        return SOA(mname + ".", f"hostmaster.{zone.name}.", _DEFAULT_SOA_TIMES)


def _soa_rrs(zone: Zone) -> list[RR]:
    soa = zone.records.get((zone.name, "SOA"))
    if soa is None:
        soa = RecordSet(zone.name, "SOA", ("-",), 900)
    rrs = _rr(soa, zone)
    for rr in rrs:  # RFC 2308: the negative-caching TTL is the smaller of the SOA TTL and its minimum
        rr.ttl = min(rr.ttl, rr.rdata.times[4])
    return rrs


def _zone_for(zones: Sequence[Zone], name: str) -> Zone | None:
    candidates = [z for z in zones if name == z.name or name.endswith("." + z.name)]
    return max(candidates, key=lambda z: len(z.name)) if candidates else None


def _cut_for(zone: Zone, name: str) -> RecordSet | None:
    """The delegation (NS below the apex) at or above ``name`` inside ``zone``, closest to the apex first."""
    labels = name.split(".")
    apex_len = len(zone.name.split("."))
    for n in range(apex_len + 1, len(labels) + 1):
        candidate = ".".join(labels[-n:])
        cut = zone.records.get((candidate, "NS"))
        if cut is not None:
            return cut
    return None


@dataclass
class ZoneResolver:
    """The dnslib resolver: answers from a :class:`RecordsProvider` as described in the module docstring."""

    provider: RecordsProvider
    queries: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        reply.header.ra = 0
        qname = _norm(str(request.q.qname))
        qtype = QTYPE.get(request.q.qtype)
        with self._lock:
            self.queries.append((qname, str(qtype)))
        try:
            zones = self.provider.zones()
        except Exception:
            log.exception("records provider failed")
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        self._answer(reply, zones, qname, str(qtype))
        return reply

    def _answer(self, reply: DNSRecord, zones: Sequence[Zone], qname: str, qtype: str) -> None:
        zone = _zone_for(zones, qname)
        if zone is None:
            reply.header.aa = 0
            reply.header.rcode = RCODE.REFUSED
            return
        cut = _cut_for(zone, qname)
        if cut is not None and not (cut.name == qname and qtype == "DS"):
            self._referral(reply, zone, cut)
            return
        reply.header.aa = 1
        name = qname
        for _ in range(_MAX_CNAME_CHAIN):
            if qtype == "ANY":
                found = [r for (n, _t), r in zone.records.items() if n == name]
                if found:
                    for record in found:
                        reply.rr.extend(_rr(record, zone))
                    return
            else:
                exact = zone.records.get((name, qtype))
                if exact is not None:
                    reply.rr.extend(_rr(exact, zone))
                    return
            alias = zone.records.get((name, "CNAME"))
            if alias is None or qtype == "CNAME":
                break
            reply.rr.extend(_rr(alias, zone))
            target = _norm(alias.values[0])
            next_zone = _zone_for(zones, target)
            if next_zone is None or _cut_for(next_zone, target) is not None:
                return  # the target lies outside what this server answers for: the client follows it
            zone, name = next_zone, target
        if reply.rr:  # a CNAME chain that ends in a name without the type: NOERROR with the chain
            return
        exists = name in zone.names() or any(n.endswith("." + name) for n in zone.names())
        if not exists:
            reply.header.rcode = RCODE.NXDOMAIN
        reply.auth.extend(_soa_rrs(zone))

    @staticmethod
    def _referral(reply: DNSRecord, zone: Zone, cut: RecordSet) -> None:
        reply.header.aa = 0
        reply.auth.extend(_rr(cut, zone))
        for server in cut.values:  # glue, when the zone holds addresses for in-zone name servers
            for rtype in ("A", "AAAA"):
                glue = zone.records.get((_norm(server), rtype))
                if glue is not None:
                    reply.ar.extend(_rr(glue, zone))


class _SizedHandler(DNSHandler):  # type: ignore[misc]
    """Truncates UDP answers above the client's advertised size (512 without EDNS), like a real server."""

    def get_reply(self, data: bytes) -> bytes:
        request = DNSRecord.parse(data)
        reply = self.server.resolver.resolve(request, self)
        rdata: bytes = reply.pack()
        if self.protocol == "udp":
            limit = 512
            for rr in request.ar:
                if rr.rtype == QTYPE.OPT:
                    limit = max(512, rr.rclass)
            if len(rdata) > limit:  # keep the question (dnslib's truncate() drops it, and clients reject that)
                truncated = DNSRecord(DNSHeader(id=reply.header.id, bitmap=reply.header.bitmap, q=1), q=reply.q)
                truncated.header.tc = 1
                rdata = truncated.pack()
        return rdata


class AuthoritativeDnsServer:
    """The loopback server: ``with AuthoritativeDnsServer(StaticRecords()) as dns: dns.port``."""

    def __init__(self, provider: RecordsProvider, host: str = "127.0.0.1", port: int = 0) -> None:
        self.resolver = ZoneResolver(provider)
        self.host = host
        self._requested_port = port
        self._servers: list[DNSServer] = []
        self.port = 0

    @property
    def queries(self) -> list[tuple[str, str]]:
        """``(name, type)`` of every query received so far."""
        return list(self.resolver.queries)

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def endpoint(self) -> str:
        """``HOST:PORT``, the form the drift CLI's ``--dns-server`` takes."""
        return f"{self.host}:{self.port}"

    def start(self) -> AuthoritativeDnsServer:
        logger = DNSLogger(log="-recv,-send,-request,-reply,-truncated,-data", logf=_log_line)
        last_error: OSError | None = None
        for _ in range(20):  # UDP picks the port; TCP must get the same one, which is nearly always free
            udp = DNSServer(
                self.resolver, address=self.host, port=self._requested_port, logger=logger, handler=_SizedHandler
            )
            port = udp.server.server_address[1]
            try:
                tcp = DNSServer(
                    self.resolver, address=self.host, port=port, tcp=True, logger=logger, handler=_SizedHandler
                )
            except OSError as exc:
                udp.server.server_close()
                last_error = exc
                if self._requested_port:
                    raise
                continue
            self._servers = [udp, tcp]
            self.port = port
            for server in self._servers:  # a short poll interval makes stop() quick
                thread = threading.Thread(
                    target=server.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
                )
                thread.start()
            return self
        raise OSError(f"could not bind UDP and TCP to one port on {self.host}") from last_error

    def stop(self) -> None:
        for server in self._servers:
            server.server.shutdown()
            server.server.server_close()
        self._servers = []

    def __enter__(self) -> AuthoritativeDnsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _log_line(line: str) -> None:
    log.debug("%s", line)


def closed_loopback_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (bound and released at once): for "unreachable server" tests."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def serve_route53(*clients: Any, host: str = "127.0.0.1") -> AuthoritativeDnsServer:
    """Start a server for everything the Route 53 clients see (stop it with ``.stop()`` or ``with``)."""
    return AuthoritativeDnsServer(Route53Records(*clients), host=host).start()


__all__ = [
    "AuthoritativeDnsServer",
    "RecordSet",
    "RecordsDnsView",
    "RecordsProvider",
    "Route53Records",
    "StaticRecords",
    "Zone",
    "ZoneResolver",
    "closed_loopback_port",
    "serve_route53",
]

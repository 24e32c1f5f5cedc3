"""Readers of the outside world for the drift checks: DNS (dnspython), Postmark, AWS, and token sources.

Every probe call is bounded twice: the client's own timeout (dnspython's lifetime, botocore's connect/read
timeouts, the Postmark client's deadline, ``op``'s subprocess timeout) and, around it, :class:`Memo`, which
runs the call in a daemon thread and stops waiting after the probe timeout. One unreachable service
therefore costs at most one timeout and never stalls the run; the checks that needed it report ``error``
naming the probe (:class:`ProbeError`), never a false "clean".

Calls are memoised per run (single flight): the DKIM check and the Postmark checks of a partition share one
``GET /domains/{id}``, and every check of an account shares one ``ListExports``.

No token is ever put into a message, a log line or a result.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from arda_mail.dns_names import relative

if TYPE_CHECKING:
    import dns.message

    from arda_mail.postmark.models import PostmarkDomain
    from arda_ops.drift.checks import Target

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_DNS_PORT = 53


class ProbeError(Exception):
    """A probe could not answer: ``probe`` names it (``dns 127.0.0.1:53``), ``detail`` says why.

    ``fix`` is set when the probe knows the cause (a secret deleted, a zone the DNS server refuses): the row then
    says what to do about that cause instead of the probe's generic advice (reachability, credentials).
    """

    def __init__(self, probe: str, detail: str, *, fix: str | None = None) -> None:
        super().__init__(f"{probe}: {detail}")
        self.probe = probe
        self.detail = detail
        self.fix = fix


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A DNS server address (``HOST`` or ``HOST:PORT``; IPv6 as ``[::1]:5353``)."""

    host: str
    port: int = DEFAULT_DNS_PORT

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        text = text.strip()
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port = rest.removeprefix(":")
            return cls(host, int(port) if port else DEFAULT_DNS_PORT)
        if text.count(":") == 1:
            host, port = text.split(":")
            return cls(host, int(port))
        return cls(text)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


# -- single-flight memo with a hard timeout --------------------------------------------------------------------


class Memo:
    """Runs each keyed call once per run, in a daemon thread, and waits for it at most ``timeout`` seconds."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._futures: dict[tuple[Any, ...], Future[Any]] = {}
        self.calls: list[tuple[Any, ...]] = []

    def get(self, key: tuple[Any, ...], probe: str, function: Callable[[], Any]) -> Any:
        with self._lock:
            future = self._futures.get(key)
            owner = future is None
            if future is None:
                future = Future()
                self._futures[key] = future
                self.calls.append(key)
        if owner:
            threading.Thread(target=_fill, args=(future, function), name=f"probe {probe}", daemon=True).start()
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout:
            raise ProbeError(probe, f"no answer within {self.timeout:g} s") from None


def _fill(future: Future[Any], function: Callable[[], Any]) -> None:
    try:
        future.set_result(function())
    except BaseException as exc:  # handed to every waiter
        future.set_exception(exc)


# -- DNS -------------------------------------------------------------------------------------------------------


class DnsProbe:
    """Live DNS through dnspython.

    ``resolver`` is the server every record lookup goes to (``--dns-server``; None: the system's resolvers
    from ``/etc/resolv.conf``). It may be a recursive resolver or a server authoritative for the mail zones.
    ``parent_server`` is where the parent zone's delegation is read (``--parent-dns-server``); None means
    the parent zone's own name servers, found through the resolver (NS of the parent, then their addresses),
    which is what production uses. The delegation is always read with recursion off, from the parent's
    authoritative servers: a recursive resolver would answer with the child zone's own NS set instead.
    """

    def __init__(
        self,
        resolver: Endpoint | None,
        parent_server: Endpoint | None,
        timeout: float,
        *,
        parent_port: int = DEFAULT_DNS_PORT,
    ) -> None:
        self.resolver_endpoint = resolver
        self.parent_server = parent_server
        self.timeout = timeout
        #: The port the discovered parent name servers are asked on (53; tests use a loopback port).
        self.parent_port = parent_port
        self._parents: dict[str, list[Endpoint]] = {}
        self._parents_lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"dns {self.resolver_endpoint}" if self.resolver_endpoint else "dns (system resolver)"

    def _resolver(self) -> Any:
        import dns.resolver

        if self.resolver_endpoint is None:
            resolver = dns.resolver.Resolver(configure=True)
        else:
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [self.resolver_endpoint.host]
            resolver.port = self.resolver_endpoint.port
        resolver.lifetime = self.timeout
        resolver.timeout = max(0.5, self.timeout / 3)
        resolver.cache = None
        return resolver

    def _records(self, name: str, rtype: str) -> list[Any]:
        import dns.exception
        import dns.resolver

        try:
            answer = self._resolver().resolve(name, rtype, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return []
        except dns.resolver.LifetimeTimeout:
            raise ProbeError(self.name, f"no answer for {name} {rtype} within {self.timeout:g} s") from None
        except dns.resolver.NoNameservers as exc:
            if _refused(exc):
                raise ProbeError(
                    self.name, f"{name} {rtype}: the server answered REFUSED", fix=self._refused_fix(name)
                ) from None
            raise ProbeError(self.name, f"{name} {rtype}: {_short(exc)}") from None
        except dns.exception.DNSException as exc:
            raise ProbeError(self.name, f"{name} {rtype}: {_short(exc)}") from None
        if answer.rrset is None:
            return []
        return list(answer.rrset)

    def _refused_fix(self, name: str) -> str:
        """REFUSED is an answer, not an outage: the server is up but will not answer for that name."""
        where = f"the DNS server {self.resolver_endpoint}" if self.resolver_endpoint else "the system's resolver"
        return (
            f"{where} refused the query for {name} (rcode REFUSED): it is an authoritative server that does not "
            "serve that name's zone, or a resolver that does not recurse for this runner. Point --dns-server at a "
            "recursive resolver (or leave it unset for the system's resolvers), or serve the zone holding "
            f"{name} from that server, then run the check again"
        )

    def txt(self, name: str) -> list[str]:
        """The TXT records at ``name``, each with its character-strings joined (as DKIM/SPF readers do)."""
        return [b"".join(r.strings).decode("utf-8", errors="replace") for r in self._records(name, "TXT")]

    def cname(self, name: str) -> str | None:
        records = self._records(name, "CNAME")
        return relative(str(records[0].target)) if records else None

    def ns(self, name: str) -> list[str]:
        return sorted(relative(str(r.target)) for r in self._records(name, "NS"))

    def addresses(self, name: str) -> list[str]:
        return [str(r.address) for r in self._records(name, "A")]

    def parent_servers(self, parent_zone: str) -> list[Endpoint]:
        """Where to read ``parent_zone``'s delegations: ``parent_server`` or the zone's own name servers."""
        if self.parent_server is not None:
            return [self.parent_server]
        with self._parents_lock:  # every partition shares the parent: look its servers up once
            known = self._parents.get(parent_zone)
            if known is None:
                known = [Endpoint(addr, self.parent_port) for ns in self.ns(parent_zone) for addr in self.addresses(ns)]
                if not known:
                    raise ProbeError(self.name, f"found no name server addresses for the parent zone {parent_zone}")
                self._parents[parent_zone] = known
            return known

    def delegation(self, child: str, parent_zone: str) -> list[str]:
        """The NS set the parent zone's authoritative servers hold for ``child`` (empty: no delegation)."""
        import dns.exception
        import dns.flags
        import dns.message
        import dns.query
        import dns.rcode
        import dns.rdatatype

        servers = self.parent_servers(parent_zone)
        failures: list[str] = []
        refused = False
        for server in servers:
            query = dns.message.make_query(child, dns.rdatatype.NS)
            query.flags &= ~dns.flags.RD
            try:
                response, _ = dns.query.udp_with_fallback(query, server.host, timeout=self.timeout, port=server.port)
            except (dns.exception.DNSException, OSError) as exc:
                failures.append(f"{server}: {_short(exc) or type(exc).__name__}")
                continue
            rcode = response.rcode()
            if rcode == dns.rcode.NXDOMAIN:
                return []
            if rcode != dns.rcode.NOERROR:
                failures.append(f"{server} answered {dns.rcode.to_text(rcode)}")
                refused = refused or rcode == dns.rcode.REFUSED
                continue
            return _delegation_from(response, child)
        probe = f"dns parent {parent_zone} ({', '.join(str(s) for s in servers)})"
        fix = None
        if refused:
            fix = (
                f"a name server asked for the parent zone {parent_zone} refused the query for {child} (rcode REFUSED): "
                f"it does not serve {parent_zone}. Point --parent-dns-server at a server authoritative for "
                f"{parent_zone} (or leave it unset: the zone's own name servers are found through the resolver)"
            )
        raise ProbeError(probe, "; ".join(failures) or "no server answered", fix=fix)


def _delegation_from(response: dns.message.Message, child: str) -> list[str]:
    import dns.rdatatype

    for section in (response.answer, response.authority):
        for rrset in section:
            if rrset.rdtype == dns.rdatatype.NS and relative(str(rrset.name)) == child:
                return sorted(relative(str(r.target)) for r in rrset)
    return []


def _refused(exc: BaseException) -> bool:
    """Whether a dnspython ``NoNameservers`` failed because a server answered REFUSED (not a timeout or SERVFAIL)."""
    errors = getattr(exc, "kwargs", {}).get("errors") or []
    return any(len(error) > 3 and str(error[3]) == "REFUSED" for error in errors)


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


# -- tokens ----------------------------------------------------------------------------------------------------


class TokenProvider(Protocol):
    """Where a target's Postmark account token comes from. Raises :class:`ProbeError`, never leaks the token."""

    def token_for(self, target: Target) -> str: ...

    def describe(self, target: Target) -> str:
        """Where ``target``'s token comes from, for a fix to name (never the token)."""
        ...


class StaticTokens:
    """Tokens given in code, keyed by Postmark account name (the rehearsal and tests use this)."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._tokens = dict(tokens)

    def token_for(self, target: Target) -> str:
        account = target.facts["postmark_account"]
        try:
            return self._tokens[account]
        except KeyError:
            raise ProbeError(f"token {target.name}", f"no token given for Postmark account {account}") from None

    def describe(self, target: Target) -> str:
        return f"the token given for {target.facts['postmark_account']}"


class EnvTokens:
    """One environment variable per Postmark account: ``ARDA_DRIFT_TOKEN_<ACCOUNT>`` (upper case)."""

    PREFIX = "ARDA_DRIFT_TOKEN_"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ if environ is not None else os.environ

    @classmethod
    def variable_for(cls, account: str) -> str:
        return cls.PREFIX + account.upper()

    def token_for(self, target: Target) -> str:
        variable = self.variable_for(target.facts["postmark_account"])
        token = self._environ.get(variable, "").strip()
        if not token:
            raise ProbeError(f"token {target.name}", f"environment variable {variable} is not set")
        return token

    def describe(self, target: Target) -> str:
        return f"environment variable {self.variable_for(target.facts['postmark_account'])}"


class OpTokens:
    """``op read <reference>`` (1Password CLI), for an operator's run; the reference comes from the registry."""

    def __init__(self, timeout: float, op_binary: str = "op") -> None:
        self.timeout = timeout
        self.op_binary = op_binary

    def token_for(self, target: Target) -> str:
        reference = target.facts.get("op_reference")
        probe = f"token {target.name} (op)"
        if not reference:
            raise ProbeError(probe, "no 1Password reference for this target")
        binary = shutil.which(self.op_binary)
        if binary is None:
            raise ProbeError(probe, f"`{self.op_binary}` (the 1Password CLI) is not on PATH")
        try:
            done = subprocess.run(
                [binary, "read", "--no-newline", reference],
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ProbeError(probe, f"`op read {reference}` gave no answer within {self.timeout:g} s") from None
        if done.returncode != 0:
            # op's stderr names the problem (not signed in, no such item); it never contains the secret
            detail = " ".join(done.stderr.split())[:200]
            raise ProbeError(probe, f"`op read {reference}` failed: {detail}")
        token = done.stdout.strip()
        if not token:
            raise ProbeError(probe, f"`op read {reference}` returned nothing")
        return token

    def describe(self, target: Target) -> str:
        return f"1Password item {target.facts.get('op_reference') or '(none)'}"


class SecretTokens:
    """The partition's account-token secret in Secrets Manager (its name from the placement function)."""

    def __init__(self, aws: AwsProbe) -> None:
        self._aws = aws

    def token_for(self, target: Target) -> str:
        name = target.facts.get("token_secret_name")
        if not name:
            raise ProbeError(f"token {target.name}", "this target has no account-token secret; use --token-source")
        return self._aws.secret_string(target, name)

    def describe(self, target: Target) -> str:
        return f"the account-token secret {target.facts.get('token_secret_name') or '(none)'}"


# -- AWS -------------------------------------------------------------------------------------------------------


class AwsClientFactory(Protocol):
    """Gives a boto3 client for a service in a target's account and region."""

    def __call__(self, service: str, target: Target) -> Any: ...


class SessionClients:
    """Clients from the ambient credentials (or ``session``), in the target's region, with bounded timeouts.

    ``endpoint_url`` is passed to every client (moto server in tests and the rehearsal).
    """

    def __init__(self, timeout: float, endpoint_url: str | None = None, session: Any = None) -> None:
        self.timeout = timeout
        self.endpoint_url = endpoint_url
        self._session = session
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str | None], Any] = {}

    def __call__(self, service: str, target: Target) -> Any:
        import boto3
        from botocore.config import Config

        region = target.facts.get("region")
        key = (service, region)
        with self._lock:  # boto3 sessions are not thread-safe; clients are
            client = self._clients.get(key)
            if client is None:
                session: Any = self._session or boto3.session.Session()
                config = Config(
                    connect_timeout=self.timeout,
                    read_timeout=self.timeout,
                    retries={"mode": "standard", "max_attempts": 2},
                    user_agent_extra="arda-runtime-platform-drift",
                )
                client = session.client(service, region_name=region, endpoint_url=self.endpoint_url, config=config)
                self._clients[key] = client
        return client


@dataclass(frozen=True, slots=True)
class HostedZone:
    id: str
    name: str
    name_servers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StackInfo:
    """What ``DescribeStacks`` says about a stack: its status and its Outputs (key → value)."""

    status: str
    outputs: Mapping[str, str]


class AwsProbe:
    """CloudFormation exports and stack status, Route 53 zones and Secrets Manager, in a target's account."""

    def __init__(self, clients: AwsClientFactory) -> None:
        self._clients = clients

    @staticmethod
    def probe_name(service: str, target: Target) -> str:
        where = " ".join(str(target.facts[k]) for k in ("infrastructure", "region") if target.facts.get(k))
        return f"aws {service} {where}".rstrip()

    def _call(self, service: str, target: Target, operation: Callable[[Any], Any]) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        probe = self.probe_name(service, target)
        try:
            return operation(self._clients(service, target))
        except ClientError as exc:
            error = exc.response.get("Error", {})
            detail = " ".join(str(error.get("Message", "")).split())[:300]
            raise ProbeError(probe, f"{error.get('Code', 'error')}: {detail}") from None
        except BotoCoreError as exc:
            raise ProbeError(probe, _short(exc)) from None

    def exports(self, target: Target) -> list[dict[str, str]]:
        """Every CloudFormation export of the target's account and region (``ListExports``, all pages)."""

        def list_all(client: Any) -> list[dict[str, str]]:
            items: list[dict[str, str]] = []
            for page in client.get_paginator("list_exports").paginate():
                items.extend(page.get("Exports", []))
            return items

        result: list[dict[str, str]] = self._call("cloudformation", target, list_all)
        return result

    def stack(self, target: Target, stack_name: str) -> StackInfo | None:
        """The stack's status and Outputs, or None when no such stack exists."""
        from botocore.exceptions import ClientError

        def describe(client: Any) -> StackInfo | None:
            try:
                stacks = client.describe_stacks(StackName=stack_name)["Stacks"]
            except ClientError as exc:
                message = exc.response.get("Error", {}).get("Message", "")
                if exc.response.get("Error", {}).get("Code") == "ValidationError" and "does not exist" in message:
                    return None
                raise
            if not stacks:
                return None
            outputs = {str(o["OutputKey"]): str(o.get("OutputValue", "")) for o in stacks[0].get("Outputs", [])}
            return StackInfo(str(stacks[0]["StackStatus"]), outputs)

        info: StackInfo | None = self._call("cloudformation", target, describe)
        return info

    def stacks_named(self, target: Target, prefix: str) -> dict[str, StackInfo]:
        """Every live stack of the target's account and region whose name starts with ``prefix`` (``DescribeStacks``
        without a name, all pages: the same permission the partition's stack check needs; deleted stacks are not
        listed)."""

        def list_all(client: Any) -> dict[str, StackInfo]:
            found: dict[str, StackInfo] = {}
            for page in client.get_paginator("describe_stacks").paginate():
                for stack in page.get("Stacks", []):
                    if str(stack["StackName"]).startswith(prefix):
                        outputs = {str(o["OutputKey"]): str(o.get("OutputValue", "")) for o in stack.get("Outputs", [])}
                        found[str(stack["StackName"])] = StackInfo(str(stack["StackStatus"]), outputs)
            return found

        result: dict[str, StackInfo] = self._call("cloudformation", target, list_all)
        return result

    def hosted_zones(self, target: Target, zone_name: str) -> list[HostedZone]:
        """Every public hosted zone named ``zone_name``, with its name servers (normally one; two is drift).

        ``ListHostedZonesByName`` lists zones in name order starting at ``zone_name``
        (https://docs.aws.amazon.com/Route53/latest/APIReference/API_ListHostedZonesByName.html), so every zone
        of that name is on the first page of 10 unless more than ten share it.
        """

        def find(client: Any) -> list[HostedZone]:
            page = client.list_hosted_zones_by_name(DNSName=zone_name, MaxItems="10")
            matches = [
                z
                for z in page.get("HostedZones", [])
                if relative(z["Name"]) == zone_name and not z.get("Config", {}).get("PrivateZone", False)
            ]
            zones = []
            for match in matches:
                zone_id = str(match["Id"]).rsplit("/", 1)[-1]
                servers = client.get_hosted_zone(Id=zone_id).get("DelegationSet", {}).get("NameServers", [])
                zones.append(HostedZone(zone_id, zone_name, tuple(sorted(relative(s) for s in servers))))
            return zones

        zones: list[HostedZone] = self._call("route53", target, find)
        return zones

    def secret_string(self, target: Target, secret_id: str) -> str:
        from botocore.exceptions import ClientError

        probe = self.probe_name("secretsmanager", target)

        def read(client: Any) -> str:
            try:
                value = client.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")
            except ClientError as exc:
                _raise_for_missing_secret(exc, probe, secret_id, target)
                raise
            return str(value.get("SecretString") or "")

        token: str = self._call("secretsmanager", target, read)
        if not token.strip():
            raise ProbeError(probe, f"secret {secret_id} is empty")
        return token.strip()


def _raise_for_missing_secret(exc: Any, probe: str, secret_id: str, target: Target) -> None:
    """A secret that is gone or scheduled for deletion is a finding with its own fix, not a credentials problem.

    Secrets Manager answers ``ResourceNotFoundException`` for a secret that does not exist (deleted for good, or
    never created), and ``InvalidRequestException`` for one scheduled for deletion; ``RestoreSecret`` cancels a
    scheduled deletion (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RestoreSecret.html,
    https://docs.aws.amazon.com/botocore/latest/reference/services/secretsmanager/client/exceptions/InvalidRequestException.html).
    """
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = " ".join(str(error.get("Message", "")).split())[:200]
    where = " ".join(str(target.facts[k]) for k in ("infrastructure", "region") if target.facts.get(k))
    where = where or "this account"
    source = target.facts.get("op_reference") or "the partition's 1Password item"
    if code == "InvalidRequestException" and "delet" in message.lower():
        raise ProbeError(
            probe,
            f"secret {secret_id} is scheduled for deletion ({code}: {message})",
            fix=(
                f"the account-token secret {secret_id} in {where} was deleted (it is scheduled for deletion, so "
                f"nothing can read the Postmark token: not this check, not the runtime, not Custom::PostmarkDomain): "
                f"cancel the deletion with `aws secretsmanager restore-secret --secret-id {secret_id}` before its "
                "recovery window ends, then run the check again"
            ),
        ) from None
    if code == "ResourceNotFoundException":
        raise ProbeError(
            probe,
            f"secret {secret_id} does not exist ({code})",
            fix=(
                f"the account-token secret {secret_id} is gone from {where} (deleted past its recovery window, "
                "or never created): the stack retains that secret, so a deploy without changes does not bring it "
                f"back. Re-create it under the same name with the token from {source} (aws secretsmanager "
                "create-secret), and check that the stack's EmailPostmarkAccountTokenArn export names the new "
                "secret's ARN (a re-created secret gets a new ARN suffix)"
            ),
        ) from None


# -- Postmark --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DomainLookup:
    """A domain looked up by name on the account a token opens, with what that token sees besides it."""

    domain: PostmarkDomain | None
    #: The names of every domain on the token's account (lower case): evidence of which account it is.
    account_domains: tuple[str, ...] = ()


#: How ``GET /domains/{id}`` answered for a domain ID the stack recorded but the token's account does not list.
RECORDED_ID_NOT_OWNED = "not owned"  # ErrorCode 513: the domain exists on another account
RECORDED_ID_NOT_FOUND = "not found"  # ErrorCode 510 or HTTP 404: deleted, or another account's (Postmark says either)
RECORDED_ID_VISIBLE = "visible"


class PostmarkProbe:
    """Finds a domain by name on a Postmark account and reads its details."""

    def __init__(self, api_url: str, timeout: float) -> None:
        self.api_url = api_url
        self.timeout = timeout

    def probe_name(self, account: str) -> str:
        return f"postmark {account} ({self.api_url})"

    def _client(self, token: str) -> Any:
        from arda_mail.deadline import Deadline
        from arda_mail.postmark.client import PostmarkClient

        return PostmarkClient(token, api_url=self.api_url, deadline=Deadline.after(self.timeout))

    def lookup(self, account: str, token: str, name: str) -> DomainLookup:
        """Page ``GET /domains`` for ``name`` (remembering every name listed), then ``GET /domains/{id}``."""
        from arda_mail.postmark.errors import PostmarkDomainNotVisible

        with self._errors(account), self._client(token) as client:
            summaries = client.list_domains()
            names = tuple(sorted(d.name.lower() for d in summaries))
            summary = next((d for d in summaries if d.name.lower() == name), None)
            if summary is None:
                return DomainLookup(None, names)
            try:
                return DomainLookup(client.get_domain(summary.id), names)
            except PostmarkDomainNotVisible:
                return DomainLookup(None, names)  # deleted between the list and the read

    def recorded_id(self, account: str, token: str, domain_id: int) -> str:
        """How Postmark answers ``GET /domains/{domain_id}`` with this token (one of the ``RECORDED_ID_*``)."""
        from arda_mail.postmark.errors import PostmarkDomainNotVisible, PostmarkNotOwned

        with self._errors(account), self._client(token) as client:
            try:
                client.get_domain(domain_id)
            except PostmarkNotOwned:
                return RECORDED_ID_NOT_OWNED
            except PostmarkDomainNotVisible:
                return RECORDED_ID_NOT_FOUND
            return RECORDED_ID_VISIBLE

    @contextmanager
    def _errors(self, account: str) -> Iterator[None]:
        from arda_mail.postmark.errors import PostmarkAuthError, PostmarkError

        probe = self.probe_name(account)
        try:
            yield
        except PostmarkAuthError:
            raise ProbeError(probe, "the account token was rejected (ErrorCode 10): is it this account's?") from None
        except PostmarkError as exc:
            raise ProbeError(probe, _short(exc)) from None
        except TimeoutError as exc:  # the deadline ran out between retries
            raise ProbeError(probe, _short(exc) or f"no answer within {self.timeout:g} s") from None


# -- the facade the checks use ---------------------------------------------------------------------------------


class Probes:
    """Memoised probe calls for one run; every method raises :class:`ProbeError` when it cannot answer."""

    def __init__(
        self,
        *,
        dns: DnsProbe,
        postmark: PostmarkProbe,
        aws: AwsProbe,
        tokens: TokenProvider,
        timeout: float,
    ) -> None:
        self.dns = dns
        self.postmark = postmark
        self.aws = aws
        self.tokens = tokens
        # the memo's wait is a little longer than the clients' own timeouts, so their precise errors win
        self.memo = Memo(timeout * 1.5 + 1.0)

    # DNS
    def txt(self, name: str) -> list[str]:
        result: list[str] = self.memo.get(("dns", "TXT", name), self.dns.name, lambda: self.dns.txt(name))
        return result

    def cname(self, name: str) -> str | None:
        result: str | None = self.memo.get(("dns", "CNAME", name), self.dns.name, lambda: self.dns.cname(name))
        return result

    def ns(self, name: str) -> list[str]:
        result: list[str] = self.memo.get(("dns", "NS", name), self.dns.name, lambda: self.dns.ns(name))
        return result

    def delegation(self, child: str, parent_zone: str) -> list[str]:
        result: list[str] = self.memo.get(
            ("dns", "delegation", child),
            f"dns parent {parent_zone}",
            lambda: self.dns.delegation(child, parent_zone),
        )
        return result

    # tokens and Postmark
    def token(self, target: Target) -> str:
        result: str = self.memo.get(
            ("token", target.name), f"token {target.name}", lambda: self.tokens.token_for(target)
        )
        return result

    def token_source(self, target: Target) -> str:
        """Where the target's token came from (``the account-token secret …``), for a fix to name."""
        describe = getattr(self.tokens, "describe", None)
        return str(describe(target)) if describe is not None else "the configured token source"

    @staticmethod
    def token_reference(target: Target) -> str:
        """Where the right token is kept: the registry's 1Password reference of the target."""
        reference = target.facts.get("op_reference")
        return str(reference) if reference else f"{target.facts['postmark_account']}'s token in 1Password"

    def postmark_lookup(self, target: Target) -> DomainLookup:
        """The target's Postmark domain looked up by name, and what else its token sees. The token is read first."""
        account = str(target.facts["postmark_account"])
        name = str(target.facts["mail"].postmark_domain_name).lower()
        token = self.token(target)
        result: DomainLookup = self.memo.get(
            ("postmark", target.name, name),
            self.postmark.probe_name(account),
            lambda: self.postmark.lookup(account, token, name),
        )
        return result

    def postmark_domain(self, target: Target) -> PostmarkDomain | None:
        """The target's Postmark domain (None: not on the account the token opens)."""
        return self.postmark_lookup(target).domain

    def postmark_recorded_id(self, target: Target, domain_id: int) -> str:
        """How the target's token sees a domain ID the stack recorded (``RECORDED_ID_*``)."""
        account = str(target.facts["postmark_account"])
        token = self.token(target)
        result: str = self.memo.get(
            ("postmark-id", target.name, domain_id),
            self.postmark.probe_name(account),
            lambda: self.postmark.recorded_id(account, token, domain_id),
        )
        return result

    # AWS
    def exports(self, target: Target) -> list[dict[str, str]]:
        key = ("aws", "exports", target.facts.get("infrastructure"), target.facts.get("region"))
        result: list[dict[str, str]] = self.memo.get(
            key, self.aws.probe_name("cloudformation", target), lambda: self.aws.exports(target)
        )
        return result

    def stack(self, target: Target, stack_name: str) -> StackInfo | None:
        key = ("aws", "stack", target.facts.get("infrastructure"), target.facts.get("region"), stack_name)
        result: StackInfo | None = self.memo.get(
            key, self.aws.probe_name("cloudformation", target), lambda: self.aws.stack(target, stack_name)
        )
        return result

    def stack_status(self, target: Target, stack_name: str) -> str | None:
        """The stack's status, or None when no such stack exists."""
        info = self.stack(target, stack_name)
        return info.status if info else None

    def stacks_named(self, target: Target, prefix: str) -> dict[str, StackInfo]:
        """Live stacks whose name starts with ``prefix`` (a partition's tenant stacks), by name."""
        key = ("aws", "stacks", target.facts.get("infrastructure"), target.facts.get("region"), prefix)
        result: dict[str, StackInfo] = self.memo.get(
            key, self.aws.probe_name("cloudformation", target), lambda: self.aws.stacks_named(target, prefix)
        )
        return result

    def hosted_zones(self, target: Target, zone_name: str) -> list[HostedZone]:
        key = ("aws", "zone", target.facts.get("infrastructure"), zone_name)
        result: list[HostedZone] = self.memo.get(
            key, self.aws.probe_name("route53", target), lambda: self.aws.hosted_zones(target, zone_name)
        )
        return result

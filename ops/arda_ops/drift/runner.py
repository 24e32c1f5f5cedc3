"""Run every registered check against every target, concurrently, within a bounded time.

Programmatic use (the rehearsal and the tests)::

    report = run_drift(DriftConfig(partitions=("dev",), dns_server=Endpoint("127.0.0.1", port),
                                   postmark_api_url=emulator.url, tokens=StaticTokens({...}),
                                   aws_endpoint_url=moto_url))
    report.exit_code, report.render_table(), report.to_json()

Each (target, check) pair runs in a thread pool; the probes they share are single-flight and bounded by the
probe timeout (:mod:`arda_ops.drift.probes`). The run as a whole waits at most :attr:`DriftConfig.run_budget`
seconds: a check still running then is reported as ``error`` (never as clean), and the pool is abandoned
rather than joined, so one hung service cannot hold the run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from arda_mail.postmark.client import DEFAULT_API_URL
from arda_ops.drift.checks import REGISTRY, Check, CheckContext, CheckRegistry, CheckResult, Target, Verdict
from arda_ops.drift.probes import (
    DEFAULT_TIMEOUT_S,
    AwsClientFactory,
    AwsProbe,
    DnsProbe,
    Endpoint,
    PostmarkProbe,
    Probes,
    SessionClients,
    TokenProvider,
)
from arda_ops.drift.report import DriftReport

log = logging.getLogger(__name__)


@dataclass
class DriftConfig:
    """Everything a run needs. Unset fields fall back to production defaults."""

    #: Partition names; None means every active partition, ``()`` none (suspended ones are never checked).
    partitions: Sequence[str] | None = None
    #: Also check Corporate's mail domain.
    corporate: bool = False
    #: Where record lookups go (None: the system's resolvers).
    dns_server: Endpoint | None = None
    #: Where the parent zone's delegation is read (None: the parent zone's own name servers).
    parent_dns_server: Endpoint | None = None
    postmark_api_url: str = DEFAULT_API_URL
    #: The Postmark token source; None: each partition's account-token secret in Secrets Manager.
    tokens: TokenProvider | None = None
    #: How AWS clients are made; None: the ambient credentials (:class:`SessionClients`).
    aws_clients: AwsClientFactory | None = None
    #: Passed to every default AWS client (moto server).
    aws_endpoint_url: str | None = None
    #: The timeout of one probe call, in seconds.
    timeout: float = DEFAULT_TIMEOUT_S
    #: Threads running checks at once.
    max_workers: int = 16
    #: The checks to run (default: every registered check).
    registry: CheckRegistry | None = None
    #: Check the partitions' (and Corporate's) mail; False runs only :attr:`extra_targets`.
    mail_targets: bool = True
    #: Extra targets for non-mail checks registered for other kinds.
    extra_targets: Sequence[Target] = field(default_factory=tuple)
    #: The longest the run waits for all checks (None: derived from :attr:`timeout`).
    run_timeout: float | None = None
    #: ``config/accounts.toml`` (regions of the partitions); None: the default file.
    accounts_file: Path | None = None
    #: Tenant stacks of the partitions: None none, ``()`` every one found, else only these slugs.
    tenants: Sequence[str] | None = None
    #: Check only the tenants (the partitions' own rows are left out).
    tenants_only: bool = False

    @property
    def run_budget(self) -> float:
        """The longest a run waits for its checks: a chain of a token, a Postmark and a DNS probe, plus slack."""
        if self.run_timeout is not None:
            return self.run_timeout
        return self.timeout * 5 + 5.0


def build_targets(config: DriftConfig) -> list[Target]:
    from arda_mail.partitions import active_partition_names, get_partition
    from arda_ops.drift.mail_checks import corporate_target, partition_target

    targets: list[Target] = []
    names = list(active_partition_names() if config.partitions is None else config.partitions)
    if not config.mail_targets:
        names = []
    for name in dict.fromkeys(names):
        get_partition(name)  # raises for unknown and suspended partitions, with a message to act on
        targets.append(partition_target(name, accounts_file=config.accounts_file))
    if config.corporate and config.mail_targets:
        targets.append(corporate_target(accounts_file=config.accounts_file))
    targets.extend(config.extra_targets)
    return targets


def build_probes(config: DriftConfig) -> Probes:
    from arda_ops.drift.probes import SecretTokens

    clients = config.aws_clients or SessionClients(config.timeout, config.aws_endpoint_url)
    aws = AwsProbe(clients)
    return Probes(
        dns=DnsProbe(config.dns_server, config.parent_dns_server, config.timeout),
        postmark=PostmarkProbe(config.postmark_api_url, config.timeout),
        aws=aws,
        tokens=config.tokens or SecretTokens(aws),
        timeout=config.timeout,
    )


def _run_one(check: Check, target: Target, probes: Probes) -> list[CheckResult]:
    from arda_ops.drift.mail_checks import error_row

    try:
        return list(check.run(CheckContext(target, probes)))
    except Exception as exc:  # a probe failure (or a bug): an error row, never a silent pass
        if not _is_probe_failure(exc):
            log.exception("check %s on %s raised", check.name, target.name)
        return [error_row(target.name, check.name, exc)]


def _is_probe_failure(exc: BaseException) -> bool:
    from arda_ops.drift.probes import ProbeError

    return isinstance(exc, ProbeError) or isinstance(exc.__cause__, ProbeError)


def run_drift(config: DriftConfig, probes: Probes | None = None) -> DriftReport:
    """Run the checks and return the report (never raises for an unreachable service)."""
    import arda_ops.drift.mail_checks  # noqa: F401  (registers the mail checks)
    from arda_ops.drift import tenant_checks as _tenant_checks  # noqa: F401  (registers the tenant checks)

    registry = config.registry if config.registry is not None else REGISTRY
    targets = build_targets(config)
    probes = probes or build_probes(config)
    discovery: list[CheckResult] = []
    if config.tenants is not None:
        from arda_ops.drift.tenant_checks import discover_tenants

        tenants, discovery = discover_tenants(targets, probes, config.tenants)
        targets = [*([] if config.tenants_only else targets), *tenants]
    started = time.monotonic()
    jobs = [(target, check) for target in targets for check in registry.for_target(target)]
    pool = ThreadPoolExecutor(max_workers=max(1, config.max_workers), thread_name_prefix="drift-check")
    futures: list[Future[list[CheckResult]]] = [pool.submit(_run_one, c, t, probes) for t, c in jobs]
    wait(futures, timeout=config.run_budget)
    pool.shutdown(wait=False, cancel_futures=True)
    results: list[CheckResult] = list(discovery)
    for (target, check), future in zip(jobs, futures, strict=True):
        if future.done() and not future.cancelled():
            results.extend(future.result())
        else:
            results.append(
                CheckResult(
                    target.name,
                    check.name,
                    "",
                    f"could not probe: the check did not finish within {config.run_budget:g} s",
                    Verdict.ERROR,
                    "a probe hung past its timeout: run again with --timeout and see which service is slow",
                    f"check {check.name}",
                )
            )
    return DriftReport(
        results=tuple(results),
        targets=tuple(t.name for t in targets),
        duration_s=time.monotonic() - started,
    )

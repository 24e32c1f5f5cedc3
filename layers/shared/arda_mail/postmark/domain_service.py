"""What ``Custom::PostmarkDomain`` does to Postmark: create, update, delete, with exact ownership.

A resource deletes only a domain it created or explicitly took over (``TakeOverExisting``), and never leaves
one it created behind, whatever the network did. Postmark cannot say who created a domain, so ownership is
decided from what this resource saw and did, and recorded in the :mod:`~arda_mail.postmark.ownership` ledger:

* **Create** looks the name up first. Absent: the resource *claims* the name (its PhysicalResourceId becomes the
  domain name while the outcome of its ``POST /domains`` is unknown), posts once, and on an unknown outcome (no
  answer, 5xx, a 200 that is not JSON, the deadline) looks the name up again: present means its own POST
  committed (the name was absent just before); absent means it did not, and it posts again. A ``512`` ("already
  exists") right after a clean lookup means someone else won a race: not ours, and the claim is dropped. A
  Create that fails while its claim stands answers with the claim, so the rollback's Delete finds the domain by
  name and removes it. Present at the start: ours if the ledger says so (a duplicate delivery, or this
  resource's earlier attempt), taken over if ``TakeOverExisting`` says so, otherwise the Create fails with a
  Reason naming the domain and nothing is changed.
* **Update** edits in place (``PUT /domains/{id}`` for a changed Return-Path). A changed name, or a domain the
  token does not see (another Postmark account), means replacement: the Create logic for the new name,
  answering a new PhysicalResourceId (CloudFormation deletes the old one during cleanup). A replacement that
  fails removes what it created (including a POST whose outcome it never learnt) before answering, keeping
  :data:`COMPENSATION_RESERVE_S` of the budget for that; the rollback of a replacement finds the original
  domain in the ledger and takes it back.
* **Delete** of a Postmark ID removes that domain (CloudFormation only ever holds IDs this resource answered,
  i.e. domains it created or took over); a claimed name is resolved by lookup and removed unless the ledger
  names another owner; anything else (crhelper's placeholder after a failed Create) needs no call. A domain
  the token does not see is retried with the secret's previous token (a partition moved to the other account),
  then counted as gone.

Residual limit (README, "Ownership"): if another party registers the same name in the instant between this
resource's lookup and a POST of its own whose outcome stays unknown, the domain is counted as this resource's.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

from arda_mail.deadline import Deadline
from arda_mail.dns_names import domain_problem
from arda_mail.placement import POSTMARK_RETURN_PATH_TARGET
from arda_mail.postmark.errors import (
    PostmarkAlreadyExists,
    PostmarkDomainNotVisible,
    PostmarkError,
    PostmarkResponseError,
    PostmarkUnavailable,
)
from arda_mail.postmark.models import DomainSummary, PostmarkDomain, parse_physical_id
from arda_mail.postmark.ownership import Ledger, OwnershipError
from arda_mail.txt_records import route53_txt_value
from arda_mail.values import Value, replace

if TYPE_CHECKING:
    from arda_mail.postmark.client import RetryPolicy

logger = logging.getLogger(__name__)

#: POST attempts in one operation, each after a lookup showed the earlier one did not commit.
MAX_CREATE_ATTEMPTS = 4
#: Time a replacing Update keeps back from its POSTs to remove what it created if it then fails.
COMPENSATION_RESERVE_S = 10.0

#: Called with the PhysicalResourceId the resource stands for at each step ("" drops a claim).
OnProgress = Callable[[str], None]


class DomainsApi(Protocol):
    """The part of :class:`~arda_mail.postmark.client.PostmarkClient` the service uses."""

    deadline: Deadline | None
    policy: RetryPolicy

    def find_domain_by_name(self, name: str) -> DomainSummary | None: ...
    def get_domain(self, domain_id: int) -> PostmarkDomain: ...
    def create_domain(self, name: str, return_path_domain: str) -> PostmarkDomain: ...
    def edit_domain(self, domain_id: int, return_path_domain: str) -> PostmarkDomain: ...
    def delete_domain(self, domain_id: int) -> None: ...


class DomainNotOursError(PostmarkError):
    """The domain exists but this resource neither created it nor was told to take it over."""


class DomainSpec(Value):
    """What the properties ask for."""

    name: str
    return_path_domain: str
    take_over: bool = False


def _bool(value: bool) -> str:
    return "true" if value else "false"


class DomainResult(Value):
    """The domain after the operation, and what was done to get there."""

    domain: PostmarkDomain
    created: bool = False
    taken_over: bool = False
    resumed: bool = False
    return_path_changed: bool = False
    replaced: bool = False

    @property
    def physical_id(self) -> str:
        return str(self.domain.id)

    def attributes(self) -> dict[str, str]:
        """The resource's attributes, all strings."""
        domain = self.domain
        if not domain.dkim_record_host or not domain.dkim_record_text:
            raise PostmarkResponseError(f"Postmark domain {domain.id} ({domain.name}) has no DKIM key to publish")
        return {
            "DomainId": str(domain.id),
            "DkimHostName": domain.dkim_record_host,
            "DkimTextValue": domain.dkim_record_text,
            "DkimRecordValue": route53_txt_value(domain.dkim_record_text),
            "ReturnPathHostName": domain.return_path_domain,
            "ReturnPathCnameTarget": domain.return_path_cname_value or POSTMARK_RETURN_PATH_TARGET,
            "DkimVerified": _bool(domain.dkim_verified),
            "ReturnPathVerified": _bool(domain.return_path_domain_verified),
        }

    @property
    def actions(self) -> list[str]:
        """What was done (empty: nothing)."""
        flags = {
            "created": self.created,
            "taken_over": self.taken_over,
            "resumed": self.resumed,
            "return_path_changed": self.return_path_changed,
            "replaced": self.replaced,
        }
        return [name for name, done in flags.items() if done]

    def summary(self) -> dict[str, object]:
        """For the log: what happened, without the key material."""
        return {
            "domain_id": self.domain.id,
            "domain_name": self.domain.name,
            "return_path_domain": self.domain.return_path_domain,
            "actions": self.actions,
        }


def claimed_name(physical_id: object) -> str | None:
    """The domain name a claim stands for (a PhysicalResourceId that is a canonical host name), else None.
    crhelper's placeholders (``<stack>_<logical id>_<random>``) are never host names."""
    if isinstance(physical_id, str) and parse_physical_id(physical_id) is None and domain_problem(physical_id) is None:
        return physical_id
    return None


def names_a_domain(physical_id: object) -> bool:
    """True for a Postmark ID or a claim: a PhysicalResourceId a Delete must act on."""
    return parse_physical_id(physical_id) is not None or claimed_name(physical_id) is not None


@contextlib.contextmanager
def _reserving(client: DomainsApi, seconds: float) -> Iterator[None]:
    """Run with ``seconds`` (at most a third of what is left) kept back from the client's deadline."""
    original = client.deadline
    if original is not None:
        client.deadline = Deadline(original.at - min(seconds, original.remaining() / 3))
    try:
        yield
    finally:
        client.deadline = original


def _fix_return_path(client: DomainsApi, domain: PostmarkDomain, spec: DomainSpec) -> tuple[PostmarkDomain, bool]:
    if domain.return_path_domain == spec.return_path_domain:
        return domain, False
    return client.edit_domain(domain.id, spec.return_path_domain), True


def _recorded_as_ours(client: DomainsApi, ledger: Ledger, name: str) -> PostmarkDomain | None:
    """The domain called ``name`` if the ledger says it is this resource's (another delivery of the same request
    created it between this one's lookup and its POST), else None."""
    found = client.find_domain_by_name(name)
    if found is not None and ledger.owner_of(found.id) == ledger.owner:
        return client.get_domain(found.id)
    return None


def _post_once_known(client: DomainsApi, ledger: Ledger, spec: DomainSpec) -> PostmarkDomain:
    """``POST /domains`` until its outcome is known; returns the domain this resource created."""
    unknown: PostmarkError | None = None
    for attempt in range(1, MAX_CREATE_ATTEMPTS + 1):
        if attempt > 1:  # the client's own backoff policy (RetryPolicy), never past the deadline
            pause = min(client.policy.backoff_factor * 2 ** (attempt - 2), client.policy.backoff_max_s)
            time.sleep(client.deadline.cap(pause) if client.deadline else pause)
        try:
            return client.create_domain(spec.name, spec.return_path_domain)
        except PostmarkAlreadyExists:
            if unknown is None and (ours := _recorded_as_ours(client, ledger, spec.name)) is not None:
                logger.info("POST /domains answered 512 for a domain this resource holds (a duplicate delivery)")
                return ours
            if unknown is None:
                raise DomainNotOursError(
                    f"Postmark domain {spec.name} was registered by someone else while this resource was creating it "
                    "(ErrorCode 512 right after a lookup found no such domain); nothing was changed. Find out who "
                    "owns it, or set TakeOverExisting to true to take it over",
                    error_code=512,
                ) from None
            logger.info("POST /domains answered 512 after an attempt with an unknown outcome: it committed")
        except (PostmarkUnavailable, PostmarkResponseError) as exc:
            if exc.http_status == 429:  # refused before any work (the client already honoured Retry-After)
                raise
            unknown = exc
            logger.warning("POST /domains for %s: outcome unknown (%s); looking the name up", spec.name, exc)
        try:
            found = client.find_domain_by_name(spec.name)
        except PostmarkError as lookup_failure:
            logger.warning("could not look %s up after the POST: %s", spec.name, lookup_failure)
            raise PostmarkUnavailable(
                f"{unknown or 'POST /domains answered 512'}; could not check whether it committed (a rollback looks "
                "again and removes the domain if it exists)"
            ) from lookup_failure
        if found is not None:
            logger.info("Postmark domain %s (%s) exists after this resource's POST: it is ours", found.id, spec.name)
            return client.get_domain(found.id)
    raise PostmarkUnavailable(
        f"{unknown}; {MAX_CREATE_ATTEMPTS} attempts, none committed (each checked by a lookup); retry later"
    )


def _obtain(
    client: DomainsApi,
    ledger: Ledger,
    spec: DomainSpec,
    on_progress: OnProgress,
    on_created: Callable[[int], None] | None = None,
) -> DomainResult:
    """The Create logic (module docstring): an existing domain if it is ours to hold, else a new one."""
    existing = client.find_domain_by_name(spec.name)
    if existing is not None:
        return _hold_existing(client, ledger, spec, existing.id, on_progress)
    on_progress(spec.name)  # the claim: a failure from here on is resolved by name
    try:
        domain = _post_once_known(client, ledger, spec)
    except DomainNotOursError:
        on_progress("")  # someone else's domain: the rollback must not touch it
        raise
    on_progress(str(domain.id))
    if on_created is not None:
        on_created(domain.id)
    ledger.record(domain.id, budget=client.deadline)
    domain, changed = _fix_return_path(client, domain, spec)
    return _publishable(DomainResult(domain, created=True, return_path_changed=changed))


def _hold_existing(
    client: DomainsApi, ledger: Ledger, spec: DomainSpec, domain_id: int, on_progress: OnProgress
) -> DomainResult:
    owner = ledger.owner_of(domain_id)
    if owner is not None and owner != ledger.owner:
        raise DomainNotOursError(
            f"Postmark domain {spec.name} (ID {domain_id}) is held by another custom resource ({owner}); nothing was "
            "changed. Delete that resource first",
            domain_id=domain_id,
        )
    if owner is None and not spec.take_over:
        raise DomainNotOursError(
            f"Postmark domain {spec.name} (ID {domain_id}) already exists on this Postmark account and was not created "
            "by this resource; nothing was changed. Set TakeOverExisting to true to take it over (a stack delete then "
            "removes it), or delete it in Postmark",
            domain_id=domain_id,
        )
    if owner is not None:
        # Ours already (a duplicate delivery, an earlier attempt): a failure from here on may answer its ID.
        logger.info("Postmark domain %s (%s) is already this resource's (an earlier attempt)", domain_id, spec.name)
        on_progress(str(domain_id))
        domain, changed = _fix_return_path(client, client.get_domain(domain_id), spec)
        return _publishable(DomainResult(domain, resumed=True, return_path_changed=changed))
    # A take-over becomes this resource's only once it is complete: until then a failure answers without the ID (the
    # rollback must not delete a domain that existed before) and withdraws the ownership record.
    ledger.record(domain_id, budget=client.deadline)
    try:
        domain, changed = _fix_return_path(client, client.get_domain(domain_id), spec)
        result = _publishable(DomainResult(domain, taken_over=True, return_path_changed=changed))
    except BaseException:
        ledger.release(domain_id)
        raise
    logger.info("took over existing Postmark domain %s (%s): TakeOverExisting is true", domain_id, spec.name)
    on_progress(str(domain_id))
    return result


def _publishable(result: DomainResult) -> DomainResult:
    """``result`` once its attributes are known to be complete: checked here, inside the operation, so a domain
    without a DKIM key to publish fails the step that made it (and is cleaned up), not the handler afterwards."""
    result.attributes()
    return result


def create_domain(client: DomainsApi, ledger: Ledger, spec: DomainSpec, on_progress: OnProgress) -> DomainResult:
    """Create: ``on_progress`` hears the PhysicalResourceId to answer with if the Create fails at that point."""
    return _obtain(client, ledger, spec, on_progress)


def update_domain(
    client: DomainsApi, ledger: Ledger, physical_id: str | None, spec: DomainSpec, *, old_name: str | None
) -> DomainResult:
    """Update in place, or replace (module docstring); ``replaced`` says whether the ID changed."""
    domain_id = parse_physical_id(physical_id)
    if domain_id is not None and ledger.owner_of(domain_id) is None:
        # The ID CloudFormation holds is this resource's by construction; a domain held since before the ownership
        # record is recorded now, so that the rollback of a replacement can take it back.
        ledger.record(domain_id, budget=client.deadline)
    if domain_id is not None and (old_name is None or old_name == spec.name):
        try:
            domain: PostmarkDomain | None = client.get_domain(domain_id)
        except PostmarkDomainNotVisible:
            logger.info("Postmark domain %s is not visible with this token: replacing it", domain_id)
            domain = None
        if domain is not None and domain.name.lower() == spec.name:
            domain, changed = _fix_return_path(client, domain, spec)
            return DomainResult(domain, return_path_changed=changed)
    return _replace(client, ledger, spec)


def _replace(client: DomainsApi, ledger: Ledger, spec: DomainSpec) -> DomainResult:
    steps: list[str] = []
    created: list[int] = []
    try:
        with _reserving(client, COMPENSATION_RESERVE_S):
            result = _obtain(client, ledger, spec, steps.append, created.append)
    except Exception:
        # A failed Update answers with the old PhysicalResourceId: CloudFormation never hears of a domain made
        # here, so nothing else would ever remove it.
        claim_pending = bool(steps) and steps[-1] == spec.name
        for domain_id in created:
            discard_domain(client, ledger, domain_id)
        if claim_pending and not created:
            _discard_claimed(client, ledger, spec.name)
        raise
    logger.info("replacement Postmark domain %s for %s", result.domain.id, spec.name)
    return replace(result, replaced=True)


def discard_domain(client: DomainsApi, ledger: Ledger, domain_id: int) -> bool:
    """Best effort: delete a domain this failed operation created. Never raises (the original failure is what
    the Reason must say); a failure is logged with the ID to delete by hand."""
    try:
        client.delete_domain(domain_id)
    except PostmarkDomainNotVisible:
        pass
    except Exception as exc:  # best effort: the caller re-raises the original failure
        logger.error(
            "could not delete Postmark domain %s, created by this failed operation (%s): delete it by hand",
            domain_id,
            exc,
        )
        return False
    ledger.release(domain_id)
    logger.info("deleted Postmark domain %s, created by this failed operation", domain_id)
    return True


def _discard_claimed(client: DomainsApi, ledger: Ledger, name: str) -> None:
    try:
        found = client.find_domain_by_name(name)
    except Exception as exc:  # best effort
        logger.error(
            "could not find out whether this failed operation's POST created Postmark domain %s (%s): check the "
            "account and delete it by hand if it exists",
            name,
            exc,
        )
        return
    if found is not None and ledger.owner_of(found.id) in (None, ledger.owner):
        discard_domain(client, ledger, found.id)


def _owner_or_none(ledger: Ledger, domain_id: int) -> str | None:
    """The recorded owner; an unreadable record counts as none, so a Delete never fails on it (what it acts on is
    this resource's by construction: the ID it answered, or the claim of a name that was absent)."""
    try:
        return ledger.owner_of(domain_id)
    except OwnershipError as exc:
        logger.warning("%s; deciding without it", exc)
        return None


def delete_domain(client: DomainsApi, ledger: Ledger, physical_id: str | None, expected_name: str | None = None) -> str:
    """Delete what ``physical_id`` stands for with this client's token; returns the outcome for the log.

    ``expected_name``: the only domain this resource may ever delete (a tenant's: CloudFormation only ever hands it
    that domain's ID, but a hand-made event or a hand-edited stack could name the partition's or another tenant's,
    and one without an ownership record would otherwise go). Raises :class:`PostmarkDomainNotVisible` when the token
    does not see the domain, so the caller can try the secret's previous token."""
    domain_id = parse_physical_id(physical_id)
    if domain_id is not None and expected_name is not None:
        actual = client.get_domain(domain_id).name
        if actual != expected_name:
            logger.warning("Postmark domain %s is %s, not %s: left alone", domain_id, actual, expected_name)
            return "not_the_expected_domain"
    if domain_id is None:
        name = claimed_name(physical_id)
        if name is None:
            return "nothing_to_delete"
        if expected_name is not None and name != expected_name:
            logger.warning("The claim names %s, not %s: left alone", name, expected_name)
            return "not_the_expected_domain"
        found = client.find_domain_by_name(name)
        if found is None:
            return "claim_never_created"
        owner = _owner_or_none(ledger, found.id)
        if owner not in (None, ledger.owner):
            logger.warning("Postmark domain %s (%s) is held by %s: left alone", found.id, name, owner)
            return "held_by_another_resource"
        domain_id = found.id
    else:
        owner = _owner_or_none(ledger, domain_id)
        if owner not in (None, ledger.owner):
            # Never this resource's to delete (CloudFormation holding its ID means a bug or a hand edit): left.
            logger.warning("Postmark domain %s is held by %s: left alone", domain_id, owner)
            return "held_by_another_resource"
    client.delete_domain(domain_id)
    ledger.release(domain_id)
    return "deleted"


class TokenAccess(Protocol):
    """Runs an operation with a client for the secret's current token, or for its previous one
    (:class:`arda_mail.postmark.access.PostmarkAccess`)."""

    @property
    def secret_arn(self) -> str: ...
    def refreshed(self) -> TokenAccess: ...
    def run[T](self, operation: Callable[[DomainsApi], T]) -> T: ...
    def run_with_previous[T](self, operation: Callable[[DomainsApi], T]) -> T | None: ...


def reconcile_domain(
    access: TokenAccess,
    ledger: Ledger,
    physical_id: str | None,
    spec: DomainSpec,
    *,
    old_name: str | None,
    old_account: str | None,
    new_account: str | None,
) -> DomainResult:
    """Update, knowing which Postmark account the registry named before (``old_account``) and now.

    A registry move, its rollback, or the property's first appearance: the deployment has just put the other
    account's token into the secret, so the token is read past the warm function's cache. When the account changed
    but the token still sees the domain, the domain stays where it is, and a warning says the secret does not hold
    the new account's token.
    """
    account_changed = old_account != new_account
    if account_changed:
        access = access.refreshed()
    result = access.run(lambda client: update_domain(client, ledger, physical_id, spec, old_name=old_name))
    if account_changed and old_account and not result.replaced:
        logger.warning(
            "Update: PostmarkAccount changed but the token in the secret still sees the domain, so it stays where it "
            "is; if the partition is meant to move, the secret %s does not hold the new account's token (domain %s)",
            access.secret_arn,
            result.domain.id,
            extra={"account_token_secret_arn": access.secret_arn, "domain_id": result.domain.id},
        )
    return result


def retire_domain(
    access: TokenAccess, ledger: Ledger, physical_id: str | None, *, expected_name: str | None = None
) -> str:
    """Delete: with the current token, then, when it does not see the domain, with the secret's previous token
    (after a move to the other Postmark account the old domain is on the old account, whose token the secret
    kept as ``AWSPREVIOUS``). A domain neither token sees is gone: success. ``expected_name``: see
    :func:`delete_domain`."""
    if not names_a_domain(physical_id):
        return "nothing_to_delete"
    try:
        return access.run(lambda client: delete_domain(client, ledger, physical_id, expected_name))
    except PostmarkDomainNotVisible as exc:
        logger.info("Postmark domain not visible with the current token (%s); trying the previous token", exc)
    try:
        outcome = access.run_with_previous(lambda client: delete_domain(client, ledger, physical_id, expected_name))
    except PostmarkDomainNotVisible:
        outcome = None
    if outcome is None:
        domain_id = parse_physical_id(physical_id)
        if domain_id is not None:
            ledger.release(domain_id)
        return "already_gone"
    return f"{outcome}_with_previous_token"

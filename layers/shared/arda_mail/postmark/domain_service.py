"""What ``Custom::PostmarkDomain`` does to Postmark, one function per lifecycle operation.

* :func:`ensure_domain` (Create): ``POST /domains``; on ErrorCode 512 (the name exists on the account: made
  by hand, or by an earlier attempt whose answer was lost) find it by paging ``GET /domains``, read it, and
  fix its Return-Path with ``PUT /domains/{id}`` if it differs. Idempotent and safe to retry.
* :func:`update_domain` (Update): a changed name, or a token that no longer sees the domain (another Postmark
  account, or a domain deleted out of band), means replacement: :func:`ensure_domain` for the new properties,
  returning a new ID (CloudFormation then deletes the old one with the old properties). Otherwise
  ``GET /domains/{id}`` and, for a changed Return-Path, ``PUT /domains/{id}``. ``on_created`` tells the
  caller the ID of a domain the replacement *created* (not adopted), so a failure after that point can remove
  it (CloudFormation only hears of the old ID when an Update fails).
* :func:`delete_domain` (Delete): ``DELETE /domains/{id}``; ErrorCode 510 (already gone) is success.
* :func:`discard_created_domain`: the best-effort ``DELETE`` of a domain created by an Update that then failed.

The functions take a ready :class:`~arda_mail.postmark.client.PostmarkClient` and return a
:class:`DomainResult` whose :meth:`~DomainResult.attributes` are the resource's ``Fn::GetAtt`` values.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from arda_mail.placement import POSTMARK_RETURN_PATH_TARGET
from arda_mail.postmark.errors import PostmarkAlreadyExists, PostmarkError, PostmarkNotFound, PostmarkResponseError
from arda_mail.postmark.models import DomainSummary, PostmarkDomain
from arda_mail.txt_records import route53_txt_value

logger = logging.getLogger(__name__)

#: Called with the domain's ID as soon as it exists, before any further call that could fail.
OnExists = Callable[[int], None]
#: Called with the domain's ID right after ``POST /domains`` created it (never for an adopted domain).
OnCreated = Callable[[int], None]


class DomainsApi(Protocol):
    """The part of :class:`~arda_mail.postmark.client.PostmarkClient` the service uses."""

    def find_domain_by_name(self, name: str) -> DomainSummary | None: ...
    def get_domain(self, domain_id: int) -> PostmarkDomain: ...
    def create_domain(self, name: str, return_path_domain: str) -> PostmarkDomain: ...
    def edit_domain(self, domain_id: int, return_path_domain: str) -> PostmarkDomain: ...
    def delete_domain(self, domain_id: int) -> None: ...


def _bool(value: bool) -> str:
    return "true" if value else "false"


@dataclass(frozen=True, slots=True)
class DomainResult:
    """The domain after the operation, and what was done to get there."""

    domain: PostmarkDomain
    created: bool = False
    adopted: bool = False
    return_path_changed: bool = False
    replaced: bool = False

    @property
    def physical_id(self) -> str:
        return str(self.domain.id)

    def attributes(self) -> dict[str, str]:
        """The resource's attributes (BRIEF 4.1), all strings."""
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
        """What was done: ``created``/``adopted``, ``return_path_changed``, ``replaced`` (empty: nothing)."""
        flags = {
            "created": self.created,
            "adopted": self.adopted,
            "return_path_changed": self.return_path_changed,
            "replaced": self.replaced,
        }
        return [name for name, done in flags.items() if done]

    def summary(self) -> dict[str, object]:
        """For the log: what happened, without the key material (no key collides with LogRecord attributes)."""
        return {
            "domain_id": self.domain.id,
            "domain_name": self.domain.name,
            "return_path_domain": self.domain.return_path_domain,
            "actions": self.actions,
        }


def parse_physical_id(physical_id: str | None) -> int | None:
    """The Postmark domain ID in a PhysicalResourceId, or None for anything else (crhelper's placeholder
    after a failed Create, an empty ID)."""
    if physical_id and physical_id.isascii() and physical_id.isdigit():
        return int(physical_id)
    return None


def ensure_domain(
    client: DomainsApi,
    name: str,
    return_path_domain: str,
    *,
    on_exists: OnExists | None = None,
    on_created: OnCreated | None = None,
) -> DomainResult:
    """Create the domain, or adopt the one of that name already on the account; its Return-Path is fixed.

    ``on_exists`` is called as soon as the domain exists (created or adopted), ``on_created`` only when this
    call's ``POST /domains`` created it. A domain adopted through ErrorCode 512 is never reported as created,
    even when an earlier attempt of the same retried POST may have committed it: it may also have pre-existed.
    """
    try:
        domain = client.create_domain(name, return_path_domain)
    except PostmarkAlreadyExists:
        found = client.find_domain_by_name(name)
        if found is None:
            raise PostmarkError(
                f"Postmark says {name} already exists on this account but does not list it; retry later",
                error_code=512,
            ) from None
        return _adopt(client, found.id, return_path_domain, on_exists)
    if on_created is not None:
        on_created(domain.id)
    if on_exists is not None:
        on_exists(domain.id)
    if domain.return_path_domain != return_path_domain:  # not expected, but Postmark is the judge
        domain = client.edit_domain(domain.id, return_path_domain)
        return DomainResult(domain, created=True, return_path_changed=True)
    return DomainResult(domain, created=True)


def _adopt(client: DomainsApi, domain_id: int, return_path_domain: str, on_exists: OnExists | None) -> DomainResult:
    """Take over an existing domain of the name, fixing its Return-Path."""
    if on_exists is not None:
        on_exists(domain_id)
    domain = client.get_domain(domain_id)
    logger.info("adopting existing Postmark domain %s (%s)", domain.id, domain.name)
    if domain.return_path_domain != return_path_domain:
        domain = client.edit_domain(domain.id, return_path_domain)
        return DomainResult(domain, adopted=True, return_path_changed=True)
    return DomainResult(domain, adopted=True)


def _replace(
    client: DomainsApi, name: str, return_path_domain: str, on_created: OnCreated | None = None
) -> DomainResult:
    """Create (or adopt) the replacement domain.

    The name is looked up first: an existing domain is adopted without a ``POST``. If the name is free, whatever
    this call ends up holding was made by this Update, even
    when it is adopted through ErrorCode 512 after the answer to our own ``POST`` was lost, so ``on_created``
    hears of it and a failure later in the Update removes it (CloudFormation never learns its ID). A domain that
    already existed before the ``POST`` is adopted and never reported as created.
    """
    existing = client.find_domain_by_name(name)
    if existing is not None:
        result = _adopt(client, existing.id, return_path_domain, None)
    else:
        result = ensure_domain(client, name, return_path_domain, on_exists=on_created)
    logger.info("replacement Postmark domain %s for %s", result.domain.id, name)
    return DomainResult(
        result.domain,
        created=result.created,
        adopted=result.adopted,
        return_path_changed=result.return_path_changed,
        replaced=True,
    )


def update_domain(
    client: DomainsApi,
    physical_id: str | None,
    name: str,
    return_path_domain: str,
    *,
    old_name: str | None,
    on_created: OnCreated | None = None,
) -> DomainResult:
    """Bring the domain in line with the new properties; ``replaced`` tells whether the ID changed.

    ``on_created`` is called with the ID of a replacement domain right after ``POST /domains`` created it.
    """
    domain_id = parse_physical_id(physical_id)
    if domain_id is None or (old_name is not None and old_name != name):
        return _replace(client, name, return_path_domain, on_created)
    try:
        domain = client.get_domain(domain_id)
    except PostmarkNotFound:
        logger.info("Postmark domain %s is not visible with this token: replacing it", domain_id)
        return _replace(client, name, return_path_domain, on_created)
    if domain.name.lower() != name:
        return _replace(client, name, return_path_domain, on_created)
    if domain.return_path_domain != return_path_domain:
        return DomainResult(client.edit_domain(domain_id, return_path_domain), return_path_changed=True)
    return DomainResult(domain)


def delete_domain(client: DomainsApi, domain_id: int) -> bool:
    """Delete the domain; False when it was already gone (ErrorCode 510), which is success too."""
    try:
        client.delete_domain(domain_id)
    except PostmarkNotFound:
        logger.info("Postmark domain %s is already gone", domain_id)
        return False
    return True


def discard_created_domain(client: DomainsApi, domain_id: int) -> bool:
    """Best effort, after a failed replacing Update: delete the domain it created, which CloudFormation never
    heard of (a failed Update answers with the old PhysicalResourceId). True when it is gone; never raises
    (the original failure is what the Reason must say), a failure is logged with the ID to delete by hand."""
    try:
        delete_domain(client, domain_id)
    except Exception as exc:  # best effort: the caller re-raises the original failure
        logger.warning(
            "could not delete Postmark domain %s, created by this failed update (%s); the next attempt adopts it "
            "(ErrorCode 512), or delete it by hand",
            domain_id,
            exc,
        )
        return False
    logger.info("deleted Postmark domain %s, created by this failed update", domain_id)
    return True

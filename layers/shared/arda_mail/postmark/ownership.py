"""Which Postmark domains a custom resource owns, recorded as tags of the account-token secret.

Postmark domains carry no tags and no free-form field, so Postmark alone cannot say who registered a domain: by
hand in the console, by the old pre-deploy CLI, by another stack, or by this resource in an earlier attempt whose
answer was lost. Yet that is exactly what a Delete, a retried Create and the rollback of a replacing Update must
know (a resource deletes only what it created or explicitly took over). The record lives next to the token that
controls those domains: one tag per owned domain on the account-token secret,
``arda-mail:postmark-domain:<domain ID>`` = ``<stack name>/<logical resource ID>``.

* Postmark domain IDs are global and never reused, so the key needs no account name and survives a partition's
  move to the other Postmark account.
* ``TagResource`` and ``UntagResource`` are idempotent, so a retried or duplicated operation records the same
  entry again without harm; an entry left behind for a domain that is gone is harmless.
* A secret holds at most 50 tags (Secrets Manager quotas); a resource holds one entry, two during a replacement.

The function's role needs ``secretsmanager:DescribeSecret``, ``TagResource`` and ``UntagResource`` on the
secret (``template.yaml``).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Protocol

from arda_mail.deadline import Deadline
from arda_mail.values import Value

TAG_PREFIX = "arda-mail:postmark-domain:"
MAX_TAG_VALUE = 256
#: A record is not attempted with less of the caller's time left than one bounded Secrets Manager call needs.
MIN_RECORD_BUDGET_S = 3.0

logger = logging.getLogger(__name__)


class OwnershipError(RuntimeError):
    """The ownership record could not be read or written (the message names the secret, never its value)."""


class Ledger(Protocol):
    """What the domain service needs to know and record about ownership."""

    @property
    def owner(self) -> str: ...
    def owner_of(self, domain_id: int) -> str | None: ...
    def record(self, domain_id: int, *, budget: Deadline | None = None) -> bool: ...
    def release(self, domain_id: int) -> None: ...


def owner_name(stack_id: str, logical_id: str) -> str:
    """``<stack name>/<logical ID>`` from CloudFormation's event fields; hashed when it would not fit a tag value."""
    from arda_mail.aws_sessions import stack_name_from_id

    value = f"{stack_name_from_id(stack_id)}/{logical_id}"
    if len(value) <= MAX_TAG_VALUE:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:16]
    return f"{value[: MAX_TAG_VALUE - 17]}~{digest}"


def tag_key(domain_id: int) -> str:
    return f"{TAG_PREFIX}{int(domain_id)}"


class SecretTagLedger(Value, frozen=False):
    """The ledger in the tags of ``secret_arn``, for the resource ``owner``; tags are read once per invocation.

    Its client has the token reads' short timeouts and few attempts, and no retry that would outlive the deadline."""

    secret_arn: str
    owner: str
    deadline: Deadline
    client: Any = None
    _tags: dict[str, str] | None = None

    def _secrets(self) -> Any:
        if self.client is None:
            import boto3

            from arda_mail.aws_sessions import guard_retries
            from arda_mail.secrets import client_config

            # The token reads' short timeouts and few attempts, and no retry that would outlive the deadline: a
            # slow ledger must not eat the time a failed replacement keeps back to remove what it created.
            self.client = boto3.client("secretsmanager", config=client_config())
            guard_retries(self.client, self.deadline)
        return self.client

    def _read(self) -> dict[str, str]:
        if self._tags is None:
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                answer = self._secrets().describe_secret(SecretId=self.secret_arn)
            except (BotoCoreError, ClientError) as exc:
                raise OwnershipError(f"could not read the ownership tags of secret {self.secret_arn}: {exc}") from None
            self._tags = {tag["Key"]: tag["Value"] for tag in answer.get("Tags", []) if "Key" in tag}
        return self._tags

    def owner_of(self, domain_id: int) -> str | None:
        """The resource recorded as the domain's owner, or None when no resource of this project claims it."""
        return self._read().get(tag_key(domain_id))

    def record(self, domain_id: int, *, budget: Deadline | None = None) -> bool:
        """Best effort, like :meth:`release`: the record helps later decisions but no operation depends on it
        succeeding (CloudFormation holding the ID already makes the domain this resource's, and every Update records
        the ID it is sent). Skipped when ``budget`` (the caller's share of the time) is nearly spent, so a slow
        Secrets Manager never eats the time a failed replacement keeps back to remove what it created."""
        from botocore.exceptions import BotoCoreError, ClientError

        if budget is not None and budget.remaining() < MIN_RECORD_BUDGET_S:
            logger.warning("no time left to record Postmark domain %s as owned by %s", domain_id, self.owner)
            return False
        key = tag_key(domain_id)
        try:
            self._secrets().tag_resource(SecretId=self.secret_arn, Tags=[{"Key": key, "Value": self.owner}])
        except (BotoCoreError, ClientError) as exc:
            logger.warning(
                "could not record Postmark domain %s as owned by %s on secret %s: %s",
                domain_id,
                self.owner,
                self.secret_arn,
                exc,
            )
            return False
        if self._tags is not None:
            self._tags[key] = self.owner
        logger.info("recorded Postmark domain %s as owned by %s", domain_id, self.owner)
        return True

    def release(self, domain_id: int) -> None:
        """Best effort: a stale entry names a domain that no longer exists, which harms nothing."""
        from botocore.exceptions import BotoCoreError, ClientError

        key = tag_key(domain_id)
        try:
            self._secrets().untag_resource(SecretId=self.secret_arn, TagKeys=[key])
        except (BotoCoreError, ClientError) as exc:
            logger.warning("could not remove the ownership tag %s from secret %s: %s", key, self.secret_arn, exc)
            return
        if self._tags is not None:
            self._tags.pop(key, None)

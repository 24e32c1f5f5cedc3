"""The placement function: every name the partition-mail surface uses, composed in one place.

Nothing else in the repository composes a mail-root name, a record host, a resource name or an export
name; where the SAM template has to compose with ``!Sub``, a test renders it for every active partition
and compares the result with this module. A unit test scans the source tree to keep it that way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from arda_mail.partitions import Partition, PostmarkAccount, active_partition_names, get_partition
from arda_mail.tenants import CORPORATE_LABEL, validate_tenant_slug
from arda_mail.values import Value

#: The mail root: its apex zone lives in the Platform Root account.
MAIL_ROOT_DOMAIN = "ardamails.com"
#: Label of the custom Return-Path host below a mail domain.
RETURN_PATH_LABEL = "pm-bounces"
#: Postmark's bounce host every Return-Path CNAME points at.
POSTMARK_RETURN_PATH_TARGET = "pm.mtasv.net"
SPF_VALUE = "v=spf1 include:spf.mtasv.net ~all"
#: The domain that receives the DMARC aggregate reports of every mail domain (``rua=mailto:…@`` it).
DMARC_REPORT_DOMAIN = "arda.cards"
# Relaxed alignment on purpose: Postmark's Return-Path only aligns relaxed, so no ``aspf=s``.
DMARC_VALUE = f"v=DMARC1; p=quarantine; sp=quarantine; rua=mailto:dmarc-reports@{DMARC_REPORT_DOMAIN}"
#: The TXT value that authorizes reports about another domain (RFC 7489 section 7.1).
DMARC_REPORT_AUTHORIZATION_VALUE = "v=DMARC1"
#: Name of the Route 53 delegation role in the Platform Root account (``root/template.yaml``).
ROOT_DELEGATION_ROLE_NAME = "ArdaMailsNsDelegationRole"
#: IAM path of the custom-resource functions' roles. It keeps them outside the ``{fqn}-*`` name pattern
#: the runtime roles trust, so a custom-resource function can never assume a runtime role.
FUNCTION_ROLE_PATH = "/partition-mail/"
#: Stack name of the Platform Root side.
ROOT_STACK_NAME = "PlatformRoot-ArdaMailsDelegation"


class MailDomainPlacement(Value):
    """Names of one mail domain (a partition's, a tenant's, or Corporate's)."""

    mail_domain: str
    parent_zone_name: str

    @property
    def postmark_domain_name(self) -> str:
        """The Postmark Domain registered for this mail domain: the mail domain itself."""
        return self.mail_domain

    @property
    def return_path_host(self) -> str:
        return return_path_host_for(self.mail_domain)

    @property
    def dmarc_host(self) -> str:
        return f"_dmarc.{self.mail_domain}"

    @property
    def spf_host(self) -> str:
        return self.mail_domain

    @property
    def spf_value(self) -> str:
        return SPF_VALUE

    @property
    def dmarc_value(self) -> str:
        return DMARC_VALUE

    @property
    def return_path_target(self) -> str:
        return POSTMARK_RETURN_PATH_TARGET


class ExportNames(Value):
    """The six ``-API-`` exports: a contract with the runtime's Helm chart."""

    partition_mail_zone_id: str
    partition_mail_zone_name: str
    email_postmark_account_token_arn: str
    email_encryption_key_arn: str
    email_dns_provisioning_role_arn: str
    email_encryption_key_fallback_role_arn: str

    def as_dict(self) -> dict[str, str]:
        """Export names keyed by the template Output that publishes them."""
        return {
            "PartitionMailZoneId": self.partition_mail_zone_id,
            "PartitionMailZoneName": self.partition_mail_zone_name,
            "EmailPostmarkAccountTokenArn": self.email_postmark_account_token_arn,
            "EmailEncryptionKeyArn": self.email_encryption_key_arn,
            "EmailDnsProvisioningRoleArn": self.email_dns_provisioning_role_arn,
            "EmailEncryptionKeyFallbackRoleArn": self.email_encryption_key_fallback_role_arn,
        }


class _MailStackNames:
    """The names every mail stack derives from its prefix :attr:`fqn` (a partition's ``{infrastructure}-{partition}``,
    Corporate's ``Corporate``): one definition for the partition and the Corporate placements."""

    __slots__ = ()

    if TYPE_CHECKING:  # each placement defines its own prefix

        @property
        def fqn(self) -> str: ...

    @property
    def stack_name(self) -> str:
        return f"{self.fqn}-Email"

    @property
    def account_token_secret_name(self) -> str:
        return f"{self.fqn}-I-EmailPostmarkAccountToken"

    @property
    def ns_delegation_function_role_name(self) -> str:
        """The NS-delegation function's role: the only principal of this stack the Platform Root role trusts."""
        return f"{self.fqn}-EmailNsDelegationFunctionRole"

    def ns_delegation_function_role_arn(self, account_id: str) -> str:
        """The ARN the Platform Root role's trust names (path included)."""
        return f"arn:aws:iam::{account_id}:role{FUNCTION_ROLE_PATH}{self.ns_delegation_function_role_name}"


class PartitionPlacement(_MailStackNames, Value):
    """Every name of one partition's mail stack."""

    partition: Partition
    mail: MailDomainPlacement

    @property
    def fqn(self) -> str:
        return self.partition.fqn

    @property
    def encryption_key_secret_name(self) -> str:
        return f"{self.fqn}-I-EmailEncryptionKey"

    @property
    def dns_provisioning_role_name(self) -> str:
        return f"{self.fqn}-EmailDnsProvisioningRole"

    @property
    def encryption_key_fallback_role_name(self) -> str:
        return f"{self.fqn}-EmailEncryptionKeyFallbackRole"

    def export_values(
        self, *, zone_id: str, token_secret_arn: str, key_secret_arn: str, account_id: str
    ) -> dict[str, str]:
        """The six exports (name → value) the stack publishes, given what CloudFormation created."""
        exports = self.exports
        role = f"arn:aws:iam::{account_id}:role/"
        return {
            exports.partition_mail_zone_id: zone_id,
            exports.partition_mail_zone_name: self.mail.mail_domain,
            exports.email_postmark_account_token_arn: token_secret_arn,
            exports.email_encryption_key_arn: key_secret_arn,
            exports.email_dns_provisioning_role_arn: role + self.dns_provisioning_role_name,
            exports.email_encryption_key_fallback_role_arn: role + self.encryption_key_fallback_role_name,
        }

    @property
    def runtime_role_name_pattern(self) -> str:
        """Role names allowed to assume the two runtime roles (``ArnLike`` on ``aws:PrincipalArn``)."""
        return f"{self.fqn}-*"

    @property
    def postmark_domain_function_export(self) -> str:
        """Intra-platform export (``-I-``) of the ``Custom::PostmarkDomain`` function's ARN: tenant stacks use it
        as their ``ServiceToken``, so they run the partition's own function and carry none of their own."""
        return f"{self.fqn}-I-EmailPostmarkDomainFunctionArn"

    @property
    def postmark_domain_verification_function_export(self) -> str:
        """Intra-platform export of the ``Custom::PostmarkDomainVerification`` function's ARN (tenant stacks)."""
        return f"{self.fqn}-I-EmailPostmarkDomainVerificationFunctionArn"

    @property
    def intra_platform_exports(self) -> tuple[str, ...]:
        """The ``-I-`` exports besides the six ``-API-`` ones: consumed inside this project, not by the runtime."""
        return (self.postmark_domain_function_export, self.postmark_domain_verification_function_export)

    @property
    def tenant_stack_prefix(self) -> str:
        """Every tenant stack of this partition is named ``<prefix><slug>`` (the drift check lists them by it)."""
        return f"{self.stack_name}-Tenant-"

    @property
    def exports(self) -> ExportNames:
        prefix = f"{self.fqn}-API-"
        return ExportNames(
            partition_mail_zone_id=prefix + "PartitionMailZoneId",
            partition_mail_zone_name=prefix + "PartitionMailZoneName",
            email_postmark_account_token_arn=prefix + "EmailPostmarkAccountTokenArn",
            email_encryption_key_arn=prefix + "EmailEncryptionKeyArn",
            email_dns_provisioning_role_arn=prefix + "EmailDnsProvisioningRoleArn",
            email_encryption_key_fallback_role_arn=prefix + "EmailEncryptionKeyFallbackRoleArn",
        )


#: Stack tag naming the tenant of a tenant stack (besides the partition's own tags).
TENANT_TAG_KEY = "arda:tenant"


class TenantPlacement(Value):
    """Names of one tenant's own sending domain, deployed as a small stack on top of its partition's stack.

    The same slug on two partitions is two tenants: every name here is below the partition's.
    """

    partition: PartitionPlacement
    slug: str
    mail: MailDomainPlacement

    @property
    def stack_name(self) -> str:
        return self.partition.tenant_stack_prefix + self.slug

    @property
    def tags(self) -> dict[str, str]:
        """The tags the tenant stack carries on top of the partition's: the drift check finds tenants by them."""
        return {TENANT_TAG_KEY: self.slug}


def return_path_host_for(mail_domain: str) -> str:
    """The default custom Return-Path host of a mail domain (``pm-bounces.<domain>``)."""
    return f"{RETURN_PATH_LABEL}.{mail_domain}"


def dmarc_report_authorization_host(domain: str) -> str:
    """Where the report domain authorizes DMARC reports about ``domain`` (RFC 7489 section 7.1).

    The reports go to another domain than the one they are about, so a receiver sends them only after finding
    ``v=DMARC1`` at ``<domain>._report._dmarc.<report domain>``, a record in the report domain's zone, not in the
    mail zone. ``domain="*"`` gives the wildcard that authorizes every domain at once.
    See https://www.rfc-editor.org/rfc/rfc7489#section-7.1.
    """
    return f"{domain}._report._dmarc.{DMARC_REPORT_DOMAIN}"


def mail_domain_placement(partition: str, tenant: str | None = None) -> MailDomainPlacement:
    """Names of a partition's mail domain, or of a tenant's sending domain below it."""
    part = get_partition(partition)
    partition_domain = f"{part.name}.{MAIL_ROOT_DOMAIN}"
    if tenant is None:
        return MailDomainPlacement(mail_domain=partition_domain, parent_zone_name=MAIL_ROOT_DOMAIN)
    slug = validate_tenant_slug(tenant)
    return MailDomainPlacement(mail_domain=f"{slug}.{partition_domain}", parent_zone_name=partition_domain)


def partition_placement(partition: str) -> PartitionPlacement:
    """Every name of an active partition's stack; raises for unknown or suspended partitions."""
    part = get_partition(partition)
    return PartitionPlacement(partition=part, mail=mail_domain_placement(part.name))


def tenant_placement(partition: str, tenant: str) -> TenantPlacement:
    """Every name of a tenant's sending-domain stack; raises for an invalid or reserved slug (the registry's
    validator) and for unknown or suspended partitions."""
    return TenantPlacement(
        partition_placement(partition), validate_tenant_slug(tenant), mail_domain_placement(partition, tenant)
    )


def tenant_slug_of_stack(partition: str, stack_name: str) -> str | None:
    """The slug of a tenant stack of ``partition`` named ``stack_name``, or None when the name is no tenant
    stack of that partition (another partition's, the partition's own, or an invalid slug)."""
    prefix = partition_placement(partition).tenant_stack_prefix
    if not stack_name.startswith(prefix):
        return None
    slug = stack_name[len(prefix) :]
    try:
        return validate_tenant_slug(slug)
    except ValueError:
        return None


def tenant_domain_problem(slug: str, domain_name: str) -> str | None:
    """Why ``domain_name`` cannot be tenant ``slug``'s sending domain, or None when it is one.

    The slug must pass the registry's validator (DNS label rules; ``arda`` and every partition name, suspended ones
    included, are reserved), and the domain must be exactly ``{slug}.{partition mail domain}`` of an active
    partition: a custom resource checks this before any call, so a typo never registers a stray Postmark domain.
    """
    try:
        validate_tenant_slug(slug)
    except ValueError as exc:
        return str(exc)
    expected = [mail_domain_placement(name, slug).mail_domain for name in active_partition_names()]
    if domain_name in expected:
        return None
    return f"DomainName {domain_name!r} is not a sending domain of tenant {slug!r} (one of: {', '.join(expected)})"


#: Corporate's infrastructure: its entry in ``config/accounts.toml`` and the prefix of its stack's resource names.
CORPORATE_INFRASTRUCTURE = "Corporate"
#: The config-env (``samconfig.toml``), deploy-wrapper and drift/rehearsal name of the Corporate stack.
CORPORATE_SCOPE = "corporate"
#: Corporate's Postmark account: its domain is a production sender.
CORPORATE_POSTMARK_ACCOUNT = PostmarkAccount.PROD
#: The 1Password vault that holds Corporate's Postmark account token (kept apart from the partitions' vaults).
CORPORATE_ONEPASSWORD_VAULT = "Arda-CorporateOAM"
#: Label of the Free Kanban Tool's sending domain below Corporate's mail domain.
FREE_KANBAN_LABEL = "freekanban"


class CorporatePlacement(_MailStackNames, Value):
    """Every name of the Corporate mail stack: the same shape as a partition's, under Corporate's own prefix.

    One Postmark domain, ``arda.<mail root>``, anchors DKIM for Corporate; the Free Kanban Tool sends from a
    sub-domain of it that has no Postmark domain and no DKIM key of its own (it is signed with the parent's key),
    only a DMARC record, because DMARC looks a policy up at the sending domain itself and otherwise at the
    organizational domain (the mail root), never at the parent ``arda.<mail root>``.
    """

    mail: MailDomainPlacement

    @property
    def fqn(self) -> str:
        """The prefix of the stack's resource names (as ``{infrastructure}-{partition}`` is a partition's)."""
        return CORPORATE_INFRASTRUCTURE

    @property
    def infrastructure(self) -> str:
        return CORPORATE_INFRASTRUCTURE

    @property
    def postmark_account(self) -> PostmarkAccount:
        return CORPORATE_POSTMARK_ACCOUNT

    @property
    def mail_zone_id_export(self) -> str:
        """The zone-ID export Corporate's earlier stack published (``-I-``: consumed by sibling stacks)."""
        return f"{self.fqn}-I-MailZoneId"

    @property
    def postmark_token_reference(self) -> str:
        """The 1Password reference (``op://…``) of Corporate's Postmark account token."""
        return f"op://{CORPORATE_ONEPASSWORD_VAULT}/Postmark/credential"

    @property
    def free_kanban(self) -> MailDomainPlacement:
        """The Free Kanban Tool's sending domain, inside Corporate's zone (no delegation of its own)."""
        return MailDomainPlacement(
            mail_domain=f"{FREE_KANBAN_LABEL}.{self.mail.mail_domain}", parent_zone_name=self.mail.mail_domain
        )


def corporate_mail_placement() -> MailDomainPlacement:
    """Corporate's mail domain (``arda.<mail root>``), which the drift checks can probe too."""
    return MailDomainPlacement(mail_domain=f"{CORPORATE_LABEL}.{MAIL_ROOT_DOMAIN}", parent_zone_name=MAIL_ROOT_DOMAIN)


def corporate_placement() -> CorporatePlacement:
    """Every name of the Corporate mail stack."""
    return CorporatePlacement(mail=corporate_mail_placement())


def delegated_zone_names() -> tuple[str, ...]:
    """The mail zones of every active partition, which the root delegation role may write (besides Corporate's
    own zone, admitted by its own statement)."""
    return tuple(mail_domain_placement(name).mail_domain for name in active_partition_names())

"""The placement function: every name the partition-mail surface uses, composed in one place.

Nothing else in the repository composes a mail-root name, a record host, a resource name or an export
name; where the SAM template has to compose with ``!Sub``, a test renders it for every active partition
and compares the result with this module. A unit test scans the source tree to keep it that way.
"""

from __future__ import annotations

from dataclasses import dataclass

from arda_mail.partitions import Partition, active_partition_names, get_partition
from arda_mail.tenants import CORPORATE_LABEL, validate_tenant_slug

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


@dataclass(frozen=True, slots=True)
class MailDomainPlacement:
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


@dataclass(frozen=True, slots=True)
class ExportNames:
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


@dataclass(frozen=True, slots=True)
class PartitionPlacement:
    """Every name of one partition's mail stack."""

    partition: Partition
    mail: MailDomainPlacement

    @property
    def fqn(self) -> str:
        return self.partition.fqn

    @property
    def stack_name(self) -> str:
        return f"{self.fqn}-Email"

    @property
    def account_token_secret_name(self) -> str:
        return f"{self.fqn}-I-EmailPostmarkAccountToken"

    @property
    def encryption_key_secret_name(self) -> str:
        return f"{self.fqn}-I-EmailEncryptionKey"

    @property
    def dns_provisioning_role_name(self) -> str:
        return f"{self.fqn}-EmailDnsProvisioningRole"

    @property
    def encryption_key_fallback_role_name(self) -> str:
        return f"{self.fqn}-EmailEncryptionKeyFallbackRole"

    @property
    def ns_delegation_function_role_name(self) -> str:
        """The NS-delegation function's role: the only principal the Platform Root role trusts."""
        return f"{self.fqn}-EmailNsDelegationFunctionRole"

    def ns_delegation_function_role_arn(self, account_id: str) -> str:
        """The ARN the Platform Root role's trust names (path included)."""
        return f"arn:aws:iam::{account_id}:role{FUNCTION_ROLE_PATH}{self.ns_delegation_function_role_name}"

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


def corporate_mail_placement() -> MailDomainPlacement:
    """Corporate's mail domain (``arda.<mail root>``), which the drift checks can probe too."""
    return MailDomainPlacement(mail_domain=f"{CORPORATE_LABEL}.{MAIL_ROOT_DOMAIN}", parent_zone_name=MAIL_ROOT_DOMAIN)


def delegated_zone_names() -> tuple[str, ...]:
    """The mail zones of every active partition: the only names the root delegation role may write."""
    return tuple(mail_domain_placement(name).mail_domain for name in active_partition_names())

import pytest

from arda_mail import placement
from arda_mail.partitions import SuspendedPartitionError, UnknownPartitionError
from arda_mail.tenants import InvalidTenantSlugError


def test_dev_placement_every_name():
    p = placement.partition_placement("dev")
    assert p.fqn == "Alpha002-dev"
    assert p.stack_name == "Alpha002-dev-Email"
    assert p.mail.mail_domain == "dev.ardamails.com"
    assert p.mail.postmark_domain_name == "dev.ardamails.com"
    assert p.mail.parent_zone_name == "ardamails.com"
    assert p.mail.return_path_host == "pm-bounces.dev.ardamails.com"
    assert p.mail.dmarc_host == "_dmarc.dev.ardamails.com"
    assert p.mail.spf_host == "dev.ardamails.com"
    assert p.mail.spf_value == "v=spf1 include:spf.mtasv.net ~all"
    assert p.mail.dmarc_value == "v=DMARC1; p=quarantine; sp=quarantine; rua=mailto:dmarc-reports@arda.cards"
    assert p.mail.return_path_target == "pm.mtasv.net"
    assert p.account_token_secret_name == "Alpha002-dev-I-EmailPostmarkAccountToken"
    assert p.encryption_key_secret_name == "Alpha002-dev-I-EmailEncryptionKey"
    assert p.dns_provisioning_role_name == "Alpha002-dev-EmailDnsProvisioningRole"
    assert p.encryption_key_fallback_role_name == "Alpha002-dev-EmailEncryptionKeyFallbackRole"
    assert p.runtime_role_name_pattern == "Alpha002-dev-*"
    assert p.exports.as_dict() == {
        "PartitionMailZoneId": "Alpha002-dev-API-PartitionMailZoneId",
        "PartitionMailZoneName": "Alpha002-dev-API-PartitionMailZoneName",
        "EmailPostmarkAccountTokenArn": "Alpha002-dev-API-EmailPostmarkAccountTokenArn",
        "EmailEncryptionKeyArn": "Alpha002-dev-API-EmailEncryptionKeyArn",
        "EmailDnsProvisioningRoleArn": "Alpha002-dev-API-EmailDnsProvisioningRoleArn",
        "EmailEncryptionKeyFallbackRoleArn": "Alpha002-dev-API-EmailEncryptionKeyFallbackRoleArn",
    }


@pytest.mark.parametrize(
    ("name", "fqn"), [("stage", "Alpha002-stage"), ("demo", "Alpha001-demo"), ("prod", "Alpha001-prod")]
)
def test_other_partitions(name, fqn):
    p = placement.partition_placement(name)
    assert p.fqn == fqn
    assert p.mail.mail_domain == f"{name}.ardamails.com"
    assert all(v.startswith(f"{fqn}-API-") for v in p.exports.as_dict().values())


def test_role_names_fit_iam_limit():
    for name in ("dev", "stage", "demo", "prod"):
        p = placement.partition_placement(name)
        for role in (
            p.dns_provisioning_role_name,
            p.encryption_key_fallback_role_name,
            p.ns_delegation_function_role_name,
        ):
            assert len(role) <= 64


def test_tenant_placement():
    t = placement.mail_domain_placement("prod", tenant="acme")
    assert t.mail_domain == "acme.prod.ardamails.com"
    assert t.parent_zone_name == "prod.ardamails.com"
    assert t.return_path_host == "pm-bounces.acme.prod.ardamails.com"
    assert t.dmarc_host == "_dmarc.acme.prod.ardamails.com"


@pytest.mark.parametrize("slug", ["dev", "kyle", "arda", "-x", "Acme", "a_b", ""])
def test_tenant_placement_rejects_bad_slugs(slug):
    with pytest.raises(InvalidTenantSlugError):
        placement.mail_domain_placement("dev", tenant=slug)


def test_placement_refuses_suspended_and_unknown():
    with pytest.raises(SuspendedPartitionError):
        placement.partition_placement("kyle")
    with pytest.raises(UnknownPartitionError):
        placement.mail_domain_placement("qa")


def test_corporate_and_delegated_zones():
    assert placement.corporate_mail_placement().mail_domain == "arda.ardamails.com"
    assert placement.delegated_zone_names() == (
        "dev.ardamails.com",
        "stage.ardamails.com",
        "demo.ardamails.com",
        "prod.ardamails.com",
    )
    assert placement.return_path_host_for("x.example.com") == "pm-bounces.x.example.com"


def test_export_values():
    p = placement.partition_placement("demo")
    values = p.export_values(zone_id="Z1", token_secret_arn="arn:t", key_secret_arn="arn:k", account_id="111122223333")
    assert values == {
        "Alpha001-demo-API-PartitionMailZoneId": "Z1",
        "Alpha001-demo-API-PartitionMailZoneName": "demo.ardamails.com",
        "Alpha001-demo-API-EmailPostmarkAccountTokenArn": "arn:t",
        "Alpha001-demo-API-EmailEncryptionKeyArn": "arn:k",
        "Alpha001-demo-API-EmailDnsProvisioningRoleArn": "arn:aws:iam::111122223333:role/Alpha001-demo-EmailDnsProvisioningRole",
        "Alpha001-demo-API-EmailEncryptionKeyFallbackRoleArn": "arn:aws:iam::111122223333:role/Alpha001-demo-EmailEncryptionKeyFallbackRole",
    }


def test_dmarc_report_authorization_host():
    """RFC 7489 section 7.1: the report domain names the domain it accepts reports about, below _report._dmarc."""
    assert placement.DMARC_REPORT_DOMAIN == "arda.cards"
    assert placement.DMARC_VALUE.endswith("rua=mailto:dmarc-reports@arda.cards")
    assert (
        placement.dmarc_report_authorization_host("dev.ardamails.com") == "dev.ardamails.com._report._dmarc.arda.cards"
    )
    assert placement.dmarc_report_authorization_host("*") == "*._report._dmarc.arda.cards"
    assert placement.DMARC_REPORT_AUTHORIZATION_VALUE == "v=DMARC1"

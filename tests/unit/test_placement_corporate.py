"""Corporate's names in the placement function: the shape of a partition's, under Corporate's own prefix."""

from __future__ import annotations

from arda_mail.placement import (
    CORPORATE_INFRASTRUCTURE,
    FUNCTION_ROLE_PATH,
    MAIL_ROOT_DOMAIN,
    corporate_mail_placement,
    corporate_placement,
)
from arda_mail.tenants import CORPORATE_LABEL, reserved_names


def test_corporate_names():
    c = corporate_placement()
    assert c.mail == corporate_mail_placement()
    assert c.mail.mail_domain == f"{CORPORATE_LABEL}.{MAIL_ROOT_DOMAIN}" == "arda.ardamails.com"
    assert c.mail.parent_zone_name == MAIL_ROOT_DOMAIN
    assert c.fqn == c.infrastructure == CORPORATE_INFRASTRUCTURE == "Corporate"
    assert c.stack_name == "Corporate-Email"
    assert c.account_token_secret_name == "Corporate-I-EmailPostmarkAccountToken"
    assert c.ns_delegation_function_role_name == "Corporate-EmailNsDelegationFunctionRole"
    assert c.ns_delegation_function_role_arn("310987654321") == (
        f"arn:aws:iam::310987654321:role{FUNCTION_ROLE_PATH}Corporate-EmailNsDelegationFunctionRole"
    )
    assert c.mail_zone_id_export == "Corporate-I-MailZoneId"
    assert c.postmark_account.value == "PostmarkProd"
    assert c.postmark_token_reference == "op://Arda-CorporateOAM/Postmark/credential"


def test_the_free_kanban_tools_domain_sits_in_corporates_zone():
    fkt = corporate_placement().free_kanban
    assert fkt.mail_domain == "freekanban.arda.ardamails.com"
    assert fkt.parent_zone_name == "arda.ardamails.com"
    assert fkt.dmarc_host == "_dmarc.freekanban.arda.ardamails.com"
    assert CORPORATE_LABEL in reserved_names()  # no tenant can take Corporate's label

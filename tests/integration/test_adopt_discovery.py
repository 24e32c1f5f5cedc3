"""Adoption's discovery and preconditions against moto and the Postmark emulator over HTTP.

An "old deployment" of dev is built the way the previous tool left it: the public hosted zone with its SPF, DMARC,
DKIM and Return-Path records, both secrets with an ``AWSCURRENT`` and an ``AWSPREVIOUS`` version, both runtime roles,
and a verified Postmark domain. :func:`arda_ops.adopt.prepare` then derives the import from the real template and
checks every precondition with real boto3 clients (moto) and the layer's Postmark client (the emulator).

What moto cannot show: CloudFormation's IMPORT change set itself (moto does not implement ``ChangeSetType=IMPORT``),
so the documents it would receive are checked against CloudFormation's import rules in ``test_adopt_template.py``,
and the change set is never created here.

Each refusal test breaks exactly one precondition and asserts that exactly that check, and no other, refuses.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from support.postmark import (  # noqa: F401 - the *_fixture imports register the fixtures
    NON_PROD,
    PROD,
    aws_fixture,
    emulator_fixture,
    fast_retries_fixture,
    make_emulator_fixture,
    postmark_tokens_fixture,
)

from arda_mail.log_redaction import install as guard_botocore_logs
from arda_mail.placement import partition_placement
from arda_mail.txt_records import route53_txt_value
from arda_ops import adopt
from arda_ops.adopt_discovery import AdoptionRefusedError, Clients, refuse_if_needed
from arda_ops.route53_records import change_record_sets

DEV = partition_placement("dev")
MAIL = DEV.mail
TRUST = json.dumps({"Version": "2012-10-17", "Statement": []})
ACCOUNT_ID = "123456789012"  # moto's default account: the partition's
PARAMETERS = {"Partition": "dev", "DelegationRoleArn": "arn:aws:iam::210987654321:role/ArdaMailsNsDelegationRole"}


@pytest.fixture(autouse=True)
def _fast(fast_retries):
    return fast_retries


@dataclass
class OldDeployment:
    """What the previous tool left in the partition account and in Postmark."""

    clients: Clients
    emulator: Any
    token: str
    zone_id: str
    token_arn: str
    key_arn: str
    domain: dict[str, Any]

    def prepare(self, token: str | None = None) -> adopt.Adoption:
        def postmark(token: str, api_url: str) -> adopt.PostmarkLookup:
            assert api_url == "https://api.postmarkapp.com"  # the template's; the test talks to the emulator
            return adopt.postmark_lookup(token, self.emulator.url)

        return adopt.prepare(adopt.target_for("dev"), PARAMETERS, token or self.token, self.clients, postmark)

    def upsert(self, name: str, rtype: str, values: list[str], ttl: int = 3600) -> None:
        change_record_sets(self.clients.route53, self.zone_id, "UPSERT", [(name, rtype, values)], ttl)

    def stack(self, name: str, resources: dict[str, Any], outputs: dict[str, Any] | None = None) -> None:
        template = {"Resources": resources, **({"Outputs": outputs} if outputs else {})}
        self.clients.cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))


def secret_with_two_versions(client: Any, name: str, previous: str, current: str) -> str:
    arn = str(client.create_secret(Name=name, SecretString=previous)["ARN"])
    client.put_secret_value(SecretId=arn, SecretString=current)
    return arn


@pytest.fixture
def old(aws, emulator, postmark_tokens) -> OldDeployment:
    guard_botocore_logs()
    clients = Clients(
        route53=boto3.client("route53"),
        secretsmanager=boto3.client("secretsmanager"),
        iam=boto3.client("iam"),
        cloudformation=boto3.client("cloudformation"),
    )
    token = postmark_tokens[NON_PROD]
    zone_id = clients.route53.create_hosted_zone(Name=MAIL.mail_domain, CallerReference=uuid.uuid4().hex)["HostedZone"][
        "Id"
    ].rsplit("/", 1)[-1]
    token_arn = secret_with_two_versions(
        clients.secretsmanager, DEV.account_token_secret_name, postmark_tokens[PROD], token
    )
    key_arn = secret_with_two_versions(clients.secretsmanager, DEV.encryption_key_secret_name, "k" * 64, "K" * 64)
    # The DNS role as the template defines it (written out here from the README's description, not rendered by the
    # code under test); the fallback role with the old tool's own trust and no inline policy.
    runtime_trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT_ID}:role/{DEV.fqn}-*"}},
            }
        ],
    }
    clients.iam.create_role(RoleName=DEV.dns_provisioning_role_name, AssumeRolePolicyDocument=json.dumps(runtime_trust))
    clients.iam.create_role(RoleName=DEV.encryption_key_fallback_role_name, AssumeRolePolicyDocument=TRUST)
    domain = emulator.add_domain(
        NON_PROD, MAIL.postmark_domain_name, MAIL.return_path_host, dkim_verified=True, return_path_verified=True
    )
    records_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "MailZoneRecords",
                "Effect": "Allow",
                "Action": ["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"],
                "Resource": f"arn:aws:route53:::hostedzone/{zone_id}",
            },
            {"Sid": "FindZoneByName", "Effect": "Allow", "Action": "route53:ListHostedZonesByName", "Resource": "*"},
        ],
    }
    clients.iam.put_role_policy(
        RoleName=DEV.dns_provisioning_role_name,
        PolicyName="mail-zone-records",
        PolicyDocument=json.dumps(records_policy),
    )
    deployment = OldDeployment(clients, emulator, token, zone_id, token_arn, key_arn, domain)
    deployment.upsert(MAIL.spf_host, "TXT", [route53_txt_value(MAIL.spf_value)])
    deployment.upsert(MAIL.dmarc_host, "TXT", [route53_txt_value(MAIL.dmarc_value)])
    deployment.upsert(domain["DKIMHost"], "TXT", [route53_txt_value(domain["DKIMTextValue"])])
    deployment.upsert(MAIL.return_path_host, "CNAME", [MAIL.return_path_target])
    return deployment


def drop_role(old: OldDeployment, name: str) -> None:
    for policy in old.clients.iam.list_role_policies(RoleName=name)["PolicyNames"]:
        old.clients.iam.delete_role_policy(RoleName=name, PolicyName=policy)
    old.clients.iam.delete_role(RoleName=name)


def refused(old: OldDeployment, token: str | None = None) -> dict[str, str]:
    """The checks that refused (check -> detail), after asserting the adoption as a whole refuses."""
    adoption = old.prepare(token)
    with pytest.raises(AdoptionRefusedError) as caught:
        refuse_if_needed(adoption.found)
    problems = {f.check: f.detail for f in adoption.found.problems}
    assert str(caught.value).startswith(f"adoption refused, {len(problems)} precondition(s) failed:")
    return problems


# -- the whole old deployment is found, and adopted as it is -------------------------------------------------------
def test_a_complete_old_deployment_passes_every_precondition(old):
    adoption = old.prepare()

    refuse_if_needed(adoption.found)  # nothing refused
    assert adoption.found.identifiers == {
        "MailZone": old.zone_id,
        "PostmarkAccountTokenSecret": old.token_arn,
        "EncryptionKeySecret": old.key_arn,
        "EmailDnsProvisioningRole": DEV.dns_provisioning_role_name,
        "EmailEncryptionKeyFallbackRole": DEV.encryption_key_fallback_role_name,
    }
    assert adoption.found.secret_stages["EncryptionKeySecret"] >= {"AWSCURRENT", "AWSPREVIOUS"}
    assert adoption.found.secret_stages["PostmarkAccountTokenSecret"] >= {"AWSCURRENT", "AWSPREVIOUS"}
    assert adoption.resources_to_import == [
        {"ResourceType": "AWS::Route53::HostedZone", "LogicalResourceId": "MailZone",
         "ResourceIdentifier": {"Id": old.zone_id}},
        {"ResourceType": "AWS::SecretsManager::Secret", "LogicalResourceId": "PostmarkAccountTokenSecret",
         "ResourceIdentifier": {"Id": old.token_arn}},
        {"ResourceType": "AWS::SecretsManager::Secret", "LogicalResourceId": "EncryptionKeySecret",
         "ResourceIdentifier": {"Id": old.key_arn}},
        {"ResourceType": "AWS::IAM::Role", "LogicalResourceId": "EmailDnsProvisioningRole",
         "ResourceIdentifier": {"RoleName": DEV.dns_provisioning_role_name}},
        {"ResourceType": "AWS::IAM::Role", "LogicalResourceId": "EmailEncryptionKeyFallbackRole",
         "ResourceIdentifier": {"RoleName": DEV.encryption_key_fallback_role_name}},
    ]  # fmt: skip
    assert adoption.found.postmark_domain is not None
    assert adoption.found.postmark_domain.id == old.domain["ID"]
    checks = {f.check: f.detail for f in adoption.found.findings}
    assert checks["record SpfRecord"].endswith("is already exactly the template's")
    assert checks["record ReturnPathRecord"].endswith("is already exactly the template's")
    assert "EncryptionKeySecret not regenerated" in checks
    # Role policies: the one written as the template says matches; the other is reported (not refused), because
    # neither the import nor the deploy would rewrite it.
    assert checks[f"policies of {DEV.dns_provisioning_role_name}"] == "trust and inline policies are the template's"
    warned = {f.check: f.detail for f in adoption.found.findings if f.warning}
    assert warned == {
        f"policies of {DEV.encryption_key_fallback_role_name}": "trust policy, inline policy encryption-key-read "
        "differ from the template's: neither the import nor the deploy rewrites them; set them by hand afterwards "
        "(README, Adopting, step 4)"
    }
    # discovery read and compared; it wrote nothing: still one value each, still the same versions
    sm = old.clients.secretsmanager
    assert sm.get_secret_value(SecretId=old.key_arn)["SecretString"] == "K" * 64
    assert sm.get_secret_value(SecretId=old.key_arn, VersionStage="AWSPREVIOUS")["SecretString"] == "k" * 64


def test_missing_records_are_not_a_refusal_the_deploy_creates_them(old):
    change_record_sets(
        old.clients.route53,
        old.zone_id,
        "DELETE",
        [(MAIL.dmarc_host, "TXT", [route53_txt_value(MAIL.dmarc_value)])],
        3600,
    )
    adoption = old.prepare()
    refuse_if_needed(adoption.found)
    assert {f.check: f.detail for f in adoption.found.findings}["record DmarcRecord"].endswith(
        "absent: the deploy creates it"
    )


# -- every refusal, one at a time --------------------------------------------------------------------------------
def test_no_public_zone_of_the_name_refuses(old):
    records = old.clients.route53.list_resource_record_sets(HostedZoneId=old.zone_id)["ResourceRecordSets"]
    own = [r for r in records if r["Type"] in ("TXT", "CNAME")]
    old.clients.route53.change_resource_record_sets(
        HostedZoneId=old.zone_id, ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": r} for r in own]}
    )
    old.clients.route53.delete_hosted_zone(Id=old.zone_id)
    assert refused(old) == {
        f"zone {MAIL.mail_domain}": f"0 public hosted zones named {MAIL.mail_domain}: nothing to adopt: create the "
        "stack with `bin/deploy` instead, or check the account and Region"
    }


def test_two_public_zones_of_the_name_refuse_naming_both(old):
    second = old.clients.route53.create_hosted_zone(Name=MAIL.mail_domain, CallerReference="stale")["HostedZone"]["Id"]
    problems = refused(old)
    assert list(problems) == [f"zone {MAIL.mail_domain}"]
    detail = problems[f"zone {MAIL.mail_domain}"]
    assert detail.startswith(f"2 public hosted zones named {MAIL.mail_domain}: delete the stale zone(s)")
    assert old.zone_id in detail
    assert second.rsplit("/", 1)[-1] in detail


def test_a_private_zone_of_the_name_does_not_count(old):
    old.clients.route53.create_hosted_zone(
        Name=MAIL.mail_domain,
        CallerReference="private",
        VPC={"VPCRegion": "us-east-1", "VPCId": "vpc-12345678"},
        HostedZoneConfig={"PrivateZone": True, "Comment": "private"},
    )
    adoption = old.prepare()
    refuse_if_needed(adoption.found)
    assert adoption.found.identifiers["MailZone"] == old.zone_id


def test_a_missing_secret_refuses(old):
    old.clients.secretsmanager.delete_secret(SecretId=old.key_arn, ForceDeleteWithoutRecovery=True)
    assert refused(old) == {
        f"secret {DEV.encryption_key_secret_name}": "no secret of that name: nothing to adopt for it"
    }


def test_a_secret_scheduled_for_deletion_refuses(old):
    old.clients.secretsmanager.delete_secret(SecretId=old.key_arn, RecoveryWindowInDays=7)
    problems = refused(old)
    assert list(problems) == [f"secret {DEV.encryption_key_secret_name}"]
    assert problems[f"secret {DEV.encryption_key_secret_name}"].startswith("scheduled for deletion: restore it first")


def test_an_encryption_key_without_a_value_refuses(old):
    sm = old.clients.secretsmanager
    sm.delete_secret(SecretId=old.key_arn, ForceDeleteWithoutRecovery=True)
    arn = sm.create_secret(Name=DEV.encryption_key_secret_name)["ARN"]  # a secret with no version at all
    assert refused(old) == {f"secret {DEV.encryption_key_secret_name}": f"{arn} has no AWSCURRENT value"}


def test_a_token_other_than_the_secrets_refuses_without_showing_either(old, postmark_tokens):
    """(The other account's token does not see the domain either, which refuses on its own.)"""
    problems = refused(old, token=postmark_tokens[PROD])
    key = f"token in {DEV.account_token_secret_name}"
    assert list(problems) == [key, f"Postmark domain {MAIL.postmark_domain_name}"]
    assert problems[key].startswith("differs from the token from 1Password: the deploy would write a new version")
    assert postmark_tokens[PROD] not in problems[key]
    assert old.token not in problems[key]


def test_a_runtime_role_on_another_path_refuses(old):
    drop_role(old, DEV.encryption_key_fallback_role_name)
    old.clients.iam.create_role(
        RoleName=DEV.encryption_key_fallback_role_name, Path="/legacy/", AssumeRolePolicyDocument=TRUST
    )
    assert refused(old) == {
        f"role {DEV.encryption_key_fallback_role_name}": "path /legacy/ differs from the template's / (a role's path "
        "cannot change)"
    }


def test_a_missing_runtime_role_refuses(old):
    drop_role(old, DEV.dns_provisioning_role_name)
    assert refused(old) == {f"role {DEV.dns_provisioning_role_name}": "no role of that name: nothing to adopt for it"}


def test_an_existing_function_role_the_deploy_must_create_refuses(old):
    name = DEV.ns_delegation_function_role_name
    old.clients.iam.create_role(RoleName=name, Path="/partition-mail/", AssumeRolePolicyDocument=TRUST)
    problems = refused(old)
    assert list(problems) == [f"role {name}"]
    assert problems[f"role {name}"].endswith(
        "already exists, and the deploy must create it: delete it (it is a "
        "custom-resource function's role, not the runtime's)"
    )


def test_the_old_stack_still_existing_refuses(old):
    old.stack(DEV.stack_name, {"Marker": {"Type": "AWS::SNS::Topic"}})
    problems = refused(old)
    assert list(problems) == [f"stack {DEV.stack_name}"]
    assert problems[f"stack {DEV.stack_name}"].startswith("exists (CREATE_COMPLETE): release its resources")


def test_a_resource_still_owned_by_another_stack_refuses(old):
    """The old stack (here under another name) still lists the runtime role as its resource."""
    drop_role(old, DEV.dns_provisioning_role_name)
    old.stack(
        "OldCdkStack",
        {"Role": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": DEV.dns_provisioning_role_name,
                                                            "AssumeRolePolicyDocument": json.loads(TRUST)}}},
    )  # fmt: skip
    problems = refused(old)
    assert list(problems) == [f"owner of {DEV.dns_provisioning_role_name}"]
    assert problems[f"owner of {DEV.dns_provisioning_role_name}"].startswith("still a resource of stack OldCdkStack")


def test_an_export_name_still_taken_refuses(old):
    name = DEV.exports.partition_mail_zone_id
    old.stack(
        "OldExports",
        {"Marker": {"Type": "AWS::SNS::Topic"}},
        {"ZoneId": {"Value": old.zone_id, "Export": {"Name": name}}},
    )
    problems = refused(old)
    assert list(problems) == [f"export {name}"]
    assert "OldExports" in problems[f"export {name}"]


def test_no_postmark_domain_on_the_tokens_account_refuses(old):
    old.emulator.api.delete_domain(NON_PROD, int(old.domain["ID"]))
    problems = refused(old)
    key = f"Postmark domain {MAIL.postmark_domain_name}"
    assert key in problems
    assert problems[key].startswith("not on the Postmark account of the token: the take-over would register a new")


def test_a_record_that_differs_from_the_templates_refuses(old):
    old.upsert(MAIL.spf_host, "TXT", [route53_txt_value("v=spf1 include:old.example ~all")])
    problems = refused(old)
    assert list(problems) == ["record SpfRecord"]
    assert problems["record SpfRecord"].endswith(
        "the deploy's create would fail on it; UPSERT it to the template's value and TTL first (one atomic change, "
        "the name keeps resolving)"
    )


def test_a_record_with_another_ttl_refuses(old):
    old.upsert(MAIL.return_path_host, "CNAME", [MAIL.return_path_target], ttl=300)
    assert list(refused(old)) == ["record ReturnPathRecord"]


# -- bin/deploy --adopt, up to where CloudFormation's IMPORT would start -------------------------------------------


@pytest.fixture
def accounts(tmp_path, monkeypatch):
    """Real-looking accounts, a samconfig rendered from them, and exactly the tools bin/deploy calls."""
    from arda_ops import samconfig
    from arda_ops.accounts import ACCOUNTS_FILE_ENV, load_accounts
    from arda_ops.deploy import SAMCONFIG_ENV

    accounts_file = tmp_path / "accounts.toml"
    tables = [
        f'[infrastructure.{name}]\naccount_id = "{acct}"\nregion = "us-east-1"'
        for name, acct in [("PlatformRoot", "210987654321"), ("Alpha001", "111122223333"), ("Alpha002", ACCOUNT_ID)]
    ]
    accounts_file.write_text("\n".join([*tables, '[mail_root]\nzone_id = "Z0123456789ABCDEFGHIJ"']) + "\n")
    monkeypatch.setenv(ACCOUNTS_FILE_ENV, str(accounts_file))
    load_accounts.cache_clear()
    config = tmp_path / "samconfig.toml"
    config.write_text(samconfig.render())
    monkeypatch.setenv(SAMCONFIG_ENV, str(config))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("op", "make"):
        (bin_dir / tool).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    yield tmp_path
    load_accounts.cache_clear()


def run_adopt(old: OldDeployment, out_dir, **kw: Any) -> tuple[int, list[Any]]:
    sam_calls: list[Any] = []
    rc = adopt.adopt(
        "dev",
        identity=lambda region, profile: ACCOUNT_ID,
        token_reader=lambda partition: old.token,
        clients_factory=lambda region, profile: old.clients,
        postmark=lambda token, api_url: adopt.postmark_lookup(token, old.emulator.url),
        build=lambda: sam_calls.append("build"),
        sam=lambda args: sam_calls.append(list(args)) or 0,
        out_dir=out_dir,
        **kw,
    )
    return rc, sam_calls


def test_dry_run_shows_the_plan_writes_both_documents_and_sends_nothing(old, accounts, capsys):
    rc, sam_calls = run_adopt(old, accounts / "adopt", dry_run=True)

    assert rc == 0
    assert sam_calls == []
    out = capsys.readouterr().out
    assert f"Adoption of {MAIL.mail_domain} into stack {DEV.stack_name} (config-env dev)" in out
    assert "[REFUSED]" not in out
    assert "Dry run: nothing was sent." in out
    assert "--change-set-type IMPORT" in out
    assert "ParameterKey=PostmarkAccountToken,ParameterValue=<token from 1Password>" in out
    assert "TakeOverExistingPostmarkDomain=true" in out
    assert old.token not in out
    folder = accounts / "adopt" / DEV.stack_name
    documents = json.loads((folder / "resources-to-import.json").read_text())
    assert [d["LogicalResourceId"] for d in documents] == [
        "MailZone",
        "PostmarkAccountTokenSecret",
        "EncryptionKeySecret",
        "EmailDnsProvisioningRole",
        "EmailEncryptionKeyFallbackRole",
    ]
    assert documents[0]["ResourceIdentifier"] == {"Id": old.zone_id}
    imported = json.loads((folder / "import-template.json").read_text())
    assert set(imported["Resources"]) == {d["LogicalResourceId"] for d in documents}
    assert old.token not in (folder / "import-template.json").read_text()
    # No change set was created (moto keeps none for a stack that does not exist).
    assert old.clients.cloudformation.list_stacks()["StackSummaries"] == []


def test_a_failed_precondition_refuses_before_anything_is_sent(old, accounts):
    drop_role(old, DEV.dns_provisioning_role_name)
    with pytest.raises(AdoptionRefusedError, match=f"role {DEV.dns_provisioning_role_name}: no role of that name"):
        run_adopt(old, accounts / "adopt", yes=True)
    assert old.clients.cloudformation.list_stacks()["StackSummaries"] == []


def test_without_confirmation_nothing_is_sent(old, accounts, capsys):
    """stdin is not a terminal under pytest: no --yes, no import."""
    rc, sam_calls = run_adopt(old, accounts / "adopt")
    assert rc == 2
    assert sam_calls == []
    assert "not confirmed: nothing was sent" in capsys.readouterr().err
    assert old.clients.cloudformation.list_stacks()["StackSummaries"] == []


@pytest.mark.parametrize(
    "argv",
    [["dev", "--dry-run"], ["dev", "--yes"], ["dev", "--adopt", "--reconcile"]],
)
def test_adopt_options_go_together(argv):
    from arda_ops import deploy

    with pytest.raises(SystemExit) as exited:
        deploy.main(argv)
    assert exited.value.code == 2


def test_sam_options_that_would_undo_the_adoptions_safety_are_refused_before_the_import(old, accounts):
    from arda_ops.deploy import PreflightError

    with pytest.raises(PreflightError, match="--no-disable-rollback"):
        run_adopt(old, accounts / "adopt", yes=True, extra_sam_args=["--no-disable-rollback"])
    assert old.clients.cloudformation.list_stacks()["StackSummaries"] == []


def test_a_change_set_that_would_do_more_than_import_is_deleted_unexecuted(old):
    """moto implements no IMPORT: it plans the template as a CREATE (an ``Add`` per resource, which would make a new
    zone with new name servers and new secrets). That is exactly what the check after the change set's creation is
    for: anything but ``Import`` actions, and the change set is deleted, never executed."""
    from arda_ops.adopt import ImportFailedError, run_import

    adoption = old.prepare()
    refuse_if_needed(adoption.found)
    with pytest.raises(ImportFailedError, match="not only the imports") as caught:
        run_import(old.clients.cloudformation, adoption, old.token, "20261202T000000Z")

    assert "'MailZone': 'Add'" in str(caught.value)
    assert old.token not in str(caught.value)
    assert old.clients.cloudformation.list_change_sets(StackName=DEV.stack_name)["Summaries"] == []
    zones = old.clients.route53.list_hosted_zones_by_name(DNSName=MAIL.mail_domain)["HostedZones"]
    assert [z["Id"].rsplit("/", 1)[-1] for z in zones if z["Name"].rstrip(".") == MAIL.mail_domain] == [old.zone_id]
    assert old.clients.secretsmanager.get_secret_value(SecretId=old.key_arn)["SecretString"] == "K" * 64


# -- Postmark cannot be asked: a refusal naming the check, never a traceback --------------------------------------
def _closed_port_url() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_postmark_unreachable_refuses_naming_the_check(old):
    url = _closed_port_url()
    adoption = adopt.prepare(
        adopt.target_for("dev"),
        PARAMETERS,
        old.token,
        old.clients,
        lambda token, api_url: adopt.postmark_lookup(token, url),
    )
    problems = {f.check: f.detail for f in adoption.found.problems}
    assert list(problems) == [f"Postmark domain {MAIL.postmark_domain_name}"]
    assert problems[f"Postmark domain {MAIL.postmark_domain_name}"].startswith("could not ask Postmark: ")
    assert old.token not in problems[f"Postmark domain {MAIL.postmark_domain_name}"]


def test_a_token_postmark_rejects_refuses_without_showing_it(old):
    rejected = f"rejected-{uuid.uuid4()}"
    problems = refused(old, token=rejected)
    postmark = problems[f"Postmark domain {MAIL.postmark_domain_name}"]
    assert postmark.startswith("could not ask Postmark: ")
    assert "token" in postmark
    assert rejected not in postmark
    assert rejected not in problems[f"token in {DEV.account_token_secret_name}"]

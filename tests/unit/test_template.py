"""The partition stack, rendered for every active partition and compared with the placement function."""

from __future__ import annotations

import re

import pytest
from support.cfn_render import Renderer

from arda_mail.partitions import active_partition_names
from arda_mail.placement import FUNCTION_ROLE_PATH, partition_placement
from arda_ops import samconfig, template_mappings
from arda_ops.handlers import REPO_ROOT
from arda_ops.sam_translate import load_sam, sam_to_cfn

TEMPLATE = REPO_ROOT / "template.yaml"
CUSTOM_TYPES = {
    "Custom::PostmarkDomain",
    "Custom::PostmarkDomainVerification",
    "Custom::NsDelegation",
    "Custom::PostmarkDkim",
}


@pytest.fixture(scope="module")
def cfn():
    return sam_to_cfn(TEMPLATE)


@pytest.fixture(scope="module")
def sam():
    return load_sam(TEMPLATE)


def render(cfn, partition, **params):
    return Renderer(
        cfn, {"Partition": partition, "PostmarkAccountToken": "x", **params}, partition_placement(partition).stack_name
    )


def test_generated_blocks_are_up_to_date():
    assert template_mappings.main(["--check"]) == 0
    assert samconfig.main(["--check"]) == 0


def test_partition_parameter_allows_exactly_the_active_partitions(sam):
    assert sam["Parameters"]["Partition"]["AllowedValues"] == list(active_partition_names())
    assert set(sam["Mappings"]["Partitions"]) == set(active_partition_names())


def test_token_parameter_is_noecho_and_never_output(sam):
    assert sam["Parameters"]["PostmarkAccountToken"]["NoEcho"] is True
    refs_to_token = [k for k, v in sam["Outputs"].items() if "'Ref': 'PostmarkAccountToken'" in str(v)]
    assert refs_to_token == []
    users = [k for k, v in sam["Resources"].items() if "'Ref': 'PostmarkAccountToken'" in str(v)]
    assert users == ["PostmarkAccountTokenSecret"]


def test_a_first_plain_sam_deploy_is_refused_with_a_message_naming_bin_deploy(cfn):
    """SAM CLI passes no value for a parameter it has no override for on a NEW stack (it drops UsePreviousValue
    there: samcli/lib/deploy/deployer.py, create_changeset), so CloudFormation takes the Default "". The rule must
    then fail with a description that tells the operator what to run; with a token, or with the previous value an
    existing stack keeps (UsePreviousValue), it must pass."""
    token = cfn["Parameters"]["PostmarkAccountToken"]
    assert token["Default"] == ""
    assert re.fullmatch(token["AllowedPattern"], "")  # the empty default reaches the rule, not a pattern error
    (assertion,) = cfn["Rules"]["PostmarkAccountTokenGiven"]["Assertions"]
    assert "bin/deploy <partition>" in assertion["AssertDescription"]

    def rule_passes(value):
        return Renderer(cfn, {"Partition": "dev", "PostmarkAccountToken": value}).value(assertion["Assert"])

    assert rule_passes("") is False
    assert rule_passes("a1b2c3d4-0000-4000-8000-000000000000") is True


def test_reconcile_reaches_every_custom_resource_and_defaults_to_empty(cfn):
    assert cfn["Parameters"]["Reconcile"]["Default"] == ""
    assert re.fullmatch(cfn["Parameters"]["Reconcile"]["AllowedPattern"], "20261201T221500Z")
    customs = {k for k, v in cfn["Resources"].items() if v["Type"] in CUSTOM_TYPES}
    assert len(customs) == 4
    for stamp in ("", "20261201T221500Z"):
        r = render(cfn, "dev", Reconcile=stamp)
        assert {k: r.resource(k)["Properties"]["Reconcile"] for k in customs} == dict.fromkeys(customs, stamp)


@pytest.mark.parametrize("partition", active_partition_names())
def test_rendered_names_equal_placement(cfn, partition):
    p = partition_placement(partition)
    r = render(cfn, partition)
    mail = p.mail
    assert r.resource("MailZone")["Properties"]["Name"] == mail.mail_domain
    assert r.resource("SpfRecord")["Properties"]["Name"] == mail.spf_host
    assert r.resource("SpfRecord")["Properties"]["ResourceRecords"] == [f'"{mail.spf_value}"']
    assert r.resource("DmarcRecord")["Properties"]["Name"] == mail.dmarc_host
    assert r.resource("DmarcRecord")["Properties"]["ResourceRecords"] == [f'"{mail.dmarc_value}"']
    domain = r.resource("PostmarkDomain")["Properties"]
    assert (domain["DomainName"], domain["ReturnPathDomain"]) == (mail.postmark_domain_name, mail.return_path_host)
    assert domain["PostmarkAccount"] == p.partition.postmark_account.value
    ns = r.resource("NsDelegation")["Properties"]
    assert (ns["DelegatedZoneName"], ns["ParentZoneName"]) == (mail.mail_domain, mail.parent_zone_name)
    assert "ParentZoneId" not in ns
    assert "DelegationRoleArn" not in ns
    assert r.resource("PostmarkAccountTokenSecret")["Properties"]["Name"] == p.account_token_secret_name
    assert r.resource("EncryptionKeySecret")["Properties"]["Name"] == p.encryption_key_secret_name
    assert r.resource("EmailDnsProvisioningRole")["Properties"]["RoleName"] == p.dns_provisioning_role_name
    assert r.resource("EmailEncryptionKeyFallbackRole")["Properties"]["RoleName"] == p.encryption_key_fallback_role_name
    fn_role = r.resource("NsDelegationFunctionRole")["Properties"]
    assert (fn_role["Path"], fn_role["RoleName"]) == (FUNCTION_ROLE_PATH, p.ns_delegation_function_role_name)
    exports = {name: out["Export"]["Name"] for name, out in r.outputs().items() if "Export" in out}
    # The six -API- exports exactly as the runtime's contract names them, plus the two intra-platform (-I-) ones the
    # tenant stacks import as their ServiceToken.
    assert exports == {
        **p.exports.as_dict(),
        "PostmarkDomainFunctionArn": p.postmark_domain_function_export,
        "PostmarkDomainVerificationFunctionArn": p.postmark_domain_verification_function_export,
    }
    assert r.outputs()["PostmarkDomainFunctionArn"]["Value"] == "<GetAtt PostmarkDomainFunction.Arn>"
    verification_arn = r.outputs()["PostmarkDomainVerificationFunctionArn"]["Value"]
    assert verification_arn == "<GetAtt PostmarkDomainVerificationFunction.Arn>"


def test_parent_zone_id_and_delegation_role_parameters(cfn):
    r = render(cfn, "dev", ParentZoneId="Z0123456789ABC", DelegationRoleArn="arn:aws:iam::111111111111:role/R")
    ns = r.resource("NsDelegation")["Properties"]
    assert ns["ParentZoneId"] == "Z0123456789ABC"
    assert "ParentZoneName" not in ns
    assert ns["DelegationRoleArn"] == "arn:aws:iam::111111111111:role/R"
    statements = r.resource("NsDelegationFunctionRole")["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert statements[0] == {
        "Sid": "AssumeDelegationRole",
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Resource": "arn:aws:iam::111111111111:role/R",
    }


@pytest.mark.parametrize("role", ["EmailDnsProvisioningRole", "EmailEncryptionKeyFallbackRole"])
@pytest.mark.parametrize("partition", active_partition_names())
def test_runtime_role_trust_is_one_conditioned_statement(cfn, partition, role):
    trust = render(cfn, partition).resource(role)["Properties"]["AssumeRolePolicyDocument"]
    assert trust["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "ArnLike": {
                    "aws:PrincipalArn": f"arn:aws:iam::123456789012:role/{partition_placement(partition).runtime_role_name_pattern}"
                }
            },
        }
    ]


def test_runtime_role_permissions_are_exactly_the_brief(cfn):
    r = render(cfn, "dev")
    dns = r.resource("EmailDnsProvisioningRole")["Properties"]["Policies"]
    assert len(dns) == 1
    assert dns[0]["PolicyDocument"]["Statement"] == [
        {
            "Sid": "MailZoneRecords",
            "Effect": "Allow",
            "Action": ["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"],
            "Resource": "arn:aws:route53:::hostedzone/<Ref MailZone>",
        },
        {"Sid": "FindZoneByName", "Effect": "Allow", "Action": "route53:ListHostedZonesByName", "Resource": "*"},
    ]
    fallback = r.resource("EmailEncryptionKeyFallbackRole")["Properties"]["Policies"]
    assert fallback[0]["PolicyDocument"]["Statement"] == [
        {
            "Sid": "ReadEncryptionKey",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "<Ref EncryptionKeySecret>*",
        }
    ]
    all_actions = str(dns) + str(fallback)
    assert "route53:GetChange" not in all_actions
    for res in ("EmailDnsProvisioningRole", "EmailEncryptionKeyFallbackRole"):
        props = r.resource(res)["Properties"]
        assert "ManagedPolicyArns" not in props
        assert "Path" not in props  # the runtime's ArnLike pattern expects the root path


def test_secrets(cfn):
    r = render(cfn, "prod")
    token = r.resource("PostmarkAccountTokenSecret")
    key = r.resource("EncryptionKeySecret")
    assert token["Properties"]["SecretString"] == "x"  # the NoEcho parameter's value
    assert key["Properties"]["GenerateSecretString"]["PasswordLength"] == 64
    assert "SecretString" not in key["Properties"]
    for secret in (token, key):
        assert (secret["DeletionPolicy"], secret["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain")


def test_stateful_resources_have_deliberate_policies(cfn):
    resources = cfn["Resources"]
    assert resources["MailZone"]["DeletionPolicy"] == "RetainExceptOnCreate"
    assert resources["MailZone"]["UpdateReplacePolicy"] == "Retain"
    assert resources["PostmarkDomain"]["DeletionPolicy"] == "Delete"


def test_dependencies(cfn):
    r = render(cfn, "dev")
    assert "DkimRecord" not in cfn["Resources"], "the DKIM records are Custom::PostmarkDkim's (rotation)"
    dkim = r.resource("PostmarkDkim")["Properties"]
    assert dkim["DomainId"] == "<GetAtt PostmarkDomain.DomainId>"
    assert dkim["DomainName"] == partition_placement("dev").mail.mail_domain
    assert dkim["HostedZoneId"] == "<Ref MailZone>"
    assert dkim["Rotation"] == ""
    assert render(cfn, "dev", DkimKeyRotation="2026-12").resource("PostmarkDkim")["Properties"]["Rotation"] == "2026-12"
    rp = r.resource("ReturnPathRecord")["Properties"]
    assert (rp["Type"], rp["Name"], rp["ResourceRecords"]) == (
        "CNAME",
        "<GetAtt PostmarkDomain.ReturnPathHostName>",
        ["<GetAtt PostmarkDomain.ReturnPathCnameTarget>"],
    )
    verification = cfn["Resources"]["PostmarkDomainVerification"]
    assert set(verification["DependsOn"]) >= {"PostmarkDkim", "ReturnPathRecord", "NsDelegation"}
    assert r.resource("PostmarkDomainVerification")["Properties"]["DomainId"] == "<GetAtt PostmarkDomain.DomainId>"
    assert r.resource("NsDelegation")["Properties"]["NameServers"] == "<GetAtt MailZone.NameServers>"


def test_every_custom_resource_has_a_service_timeout_below_an_hour_and_above_its_function(cfn):
    customs = {k: v for k, v in cfn["Resources"].items() if v["Type"] in CUSTOM_TYPES}
    assert {v["Type"] for v in customs.values()} == CUSTOM_TYPES
    for resource in customs.values():
        function = resource["Properties"]["ServiceToken"]["Fn::GetAtt"][0]
        timeout = cfn["Resources"][function]["Properties"]["Timeout"]
        assert timeout < int(resource["Properties"]["ServiceTimeout"]) <= 900


def test_each_function_has_its_own_role_under_the_path_and_a_retained_log_group(cfn):
    functions = {k: v for k, v in cfn["Resources"].items() if v["Type"] == "AWS::Lambda::Function"}
    assert len(functions) == 4
    roles = set()
    for fn in functions.values():
        props = fn["Properties"]
        assert props["Runtime"] == "python3.13"
        role = props["Role"]["Fn::GetAtt"][0]
        roles.add(role)
        assert cfn["Resources"][role]["Properties"]["Path"] == FUNCTION_ROLE_PATH
        log_group = props["LoggingConfig"]["LogGroup"]["Ref"]
        group = cfn["Resources"][log_group]
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
        # Kept after a stack delete (the Delete's own logs are the evidence), with a generated name so a re-created
        # stack does not collide with the retained group.
        assert (group["DeletionPolicy"], group["UpdateReplacePolicy"]) == ("Retain", "Retain")
        assert "LogGroupName" not in group["Properties"]
        statements = cfn["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        log_stmt = next(s for s in statements if s.get("Sid") == "WriteOwnLogs")
        assert log_stmt["Resource"] == {"Fn::GetAtt": [log_group, "Arn"]}
    assert len(roles) == 4


def test_postmark_functions_read_only_the_token_secret(cfn):
    expected = {
        "PostmarkDomainFunctionRole": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
        "PostmarkDomainVerificationFunctionRole": "secretsmanager:GetSecretValue",
    }
    for role, actions in expected.items():
        statements = cfn["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        read = next(s for s in statements if s["Sid"] == "ReadAccountToken")
        assert (read["Action"], read["Resource"]) == (actions, {"Ref": "PostmarkAccountTokenSecret"})


def test_the_domain_function_may_tag_the_token_secret_only_under_its_ownership_prefix(cfn):
    from arda_mail.postmark.ownership import TAG_PREFIX

    statements = cfn["Resources"]["PostmarkDomainFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    tagging = [s for s in statements if any("Tag" in a for a in _actions(s))]
    assert len(tagging) == 1
    assert sorted(_actions(tagging[0])) == ["secretsmanager:TagResource", "secretsmanager:UntagResource"]
    assert tagging[0]["Resource"] == {"Ref": "PostmarkAccountTokenSecret"}
    assert tagging[0]["Condition"] == {"ForAllValues:StringLike": {"aws:TagKeys": f"{TAG_PREFIX}*"}}


def test_the_dkim_function_writes_only_dkim_txt_records_and_its_rotation_tag(cfn):
    from arda_mail.postmark.dkim_rotation import LEDGER_TAG_PREFIX, rotation_problem

    statements = cfn["Resources"]["PostmarkDkimFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    by_sid = {s["Sid"]: s for s in statements}
    assert by_sid["RecordDkimRotation"]["Condition"] == {
        "ForAllValues:StringLike": {"aws:TagKeys": f"{LEDGER_TAG_PREFIX}*"}
    }
    write = by_sid["WriteDkimRecords"]
    assert write["Action"] == "route53:ChangeResourceRecordSets"
    assert write["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:route53:::hostedzone/${MailZone}"}
    assert write["Condition"]["ForAllValues:StringEquals"] == {"route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]}
    names = render(cfn, "dev").value(write["Condition"]["ForAllValues:StringLike"])
    assert names == {"route53:ChangeResourceRecordSetsNormalizedRecordNames": "*._domainkey.dev.ardamails.com"}
    pattern = cfn["Parameters"]["DkimKeyRotation"]["AllowedPattern"]
    for value in ("", "2026-12", "2026-12-15"):
        assert re.fullmatch(pattern, value)
        assert not value or rotation_problem(value) is None
    assert not re.fullmatch(pattern, "December")
    assert cfn["Outputs"]["DkimRotationPhase"]["Value"] == {"Fn::GetAtt": ["PostmarkDkim", "DkimRotationPhase"]}


def test_the_api_url_parameter_admits_only_postmarks_api(cfn):
    from arda_mail.postmark.client import DEFAULT_API_URL

    assert cfn["Parameters"]["PostmarkApiUrl"]["AllowedValues"] == [DEFAULT_API_URL]
    assert cfn["Parameters"]["PostmarkApiUrl"]["Default"] == DEFAULT_API_URL


def test_functions_are_never_retried_by_lambda(cfn):
    # An asynchronous invocation that timed out would otherwise run twice more and answer the request again.
    configs = [r for r in cfn["Resources"].values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    functions = [r for r in cfn["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert len(configs) == len(functions) == 4
    assert all(c["Properties"]["MaximumRetryAttempts"] == 0 for c in configs)


def _actions(statement):
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_samconfig_root_overrides_match_the_root_template_parameters():
    from arda_mail.placement import ROOT_DELEGATION_ROLE_NAME

    root = load_sam(REPO_ROOT / "root" / "template.yaml")
    names = {o.split("=", 1)[0] for o in samconfig.root_parameter_overrides()}
    assert names == set(root["Parameters"])
    role = next(r for r in root["Resources"].values() if r["Type"] == "AWS::IAM::Role")
    assert role["Properties"]["RoleName"] == ROOT_DELEGATION_ROLE_NAME
    assert samconfig.delegation_role_arn().endswith(f":role/{ROOT_DELEGATION_ROLE_NAME}")
    partition_params = {o.split("=", 1)[0] for o in samconfig.partition_parameter_overrides("dev")}
    assert partition_params <= set(load_sam(TEMPLATE)["Parameters"])


def test_verification_wait_cap_is_below_the_function_timeout(cfn):
    from arda_mail.cfn import TIMER_MARGIN_S
    from arda_mail.deadline import DEFAULT_RESERVE_S
    from arda_mail.properties import MAX_WAIT_CAP_S

    # the wait, the deadline's reserve and the helper's last-resort timer all fit inside each waiting function's timeout
    for function in ("PostmarkDomainVerificationFunction", "PostmarkDkimFunction"):
        timeout = cfn["Resources"][function]["Properties"]["Timeout"]
        assert timeout > MAX_WAIT_CAP_S + DEFAULT_RESERVE_S + TIMER_MARGIN_S, function
    # one definition of the cap: every template's parameter admits exactly what the handlers accept
    for template in (TEMPLATE, REPO_ROOT / "corporate" / "template.yaml", REPO_ROOT / "tenant" / "template.yaml"):
        assert load_sam(template)["Parameters"]["VerificationMaxWaitSeconds"]["MaxValue"] == MAX_WAIT_CAP_S, template


@pytest.mark.parametrize(
    ("resource", "function"),
    [
        ("PostmarkDomain", "postmark_domain"),
        ("PostmarkDomainVerification", "postmark_domain_verification"),
        ("NsDelegation", "ns_delegation"),
    ],
)
@pytest.mark.parametrize("partition", active_partition_names())
def test_custom_resource_properties_pass_their_handlers_validation(cfn, partition, resource, function):
    """The properties the template renders (attributes replaced by plausible values) are valid for the handler."""
    from arda_ops.handlers import load_function_module

    plausible = {
        "<Ref PostmarkAccountTokenSecret>": "arn:aws:secretsmanager:us-east-1:123456789012:secret:tok-AbCdEf",
        "<GetAtt PostmarkDomain.DomainId>": "36735",
        "<GetAtt MailZone.NameServers>": ["ns-1.awsdns-00.com", "ns-2.awsdns-01.net"],
    }
    props = render(cfn, partition, DelegationRoleArn="arn:aws:iam::210987654321:role/R").resource(resource)[
        "Properties"
    ]
    props = {k: plausible.get(v, v) if isinstance(v, str) else v for k, v in props.items()}
    props = {k: v for k, v in props.items() if k not in {"ServiceToken", "ServiceTimeout"}}
    module = load_function_module(function)
    reader = getattr(module, "read_properties", None)
    if reader is None:
        from arda_mail.route53_delegation import read_properties as reader
    reader(props)


#: What the layer ships so that the handlers run the SDK the tests run (README, "The boto3 that runs").
SDK_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")


def _pins(path):
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, sep, version = line.split("#", 1)[0].strip().partition("==")
        if sep:
            pins[name.lower()] = version
    return pins


def test_the_layer_ships_the_boto3_the_tests_run():
    """The Lambda runtime's own boto3 is older than ours and changes without notice; the layer's copy comes first
    on the function's path, so pinning it to the test environment's versions makes the tested SDK the running one."""
    from importlib.metadata import version

    layer = _pins(REPO_ROOT / "layers" / "shared" / "requirements.txt")
    dev = _pins(REPO_ROOT / "requirements" / "dev.txt")
    assert {p: layer.get(p) for p in SDK_PACKAGES} == {p: dev[p] for p in SDK_PACKAGES}
    assert {p: version(p) for p in ("boto3", "botocore")} == {p: layer[p] for p in ("boto3", "botocore")}

"""``root/template.yaml``: the Platform Root delegation role, checked against the registry and the placement function.

The template is rendered for the accounts in ``config/accounts.toml`` and its policies are asserted statement by
statement, then exercised with a small evaluator of the IAM condition operators it uses (who may assume the role,
which record writes its sessions may make).

Snapshot: ``tests/snapshots/root_template.json`` is the parsed template (intrinsics in their long form) as sorted
JSON, so every change to the template shows up in review. After a deliberate change, regenerate it with

    UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/unit/test_root_template.py

and commit the template and the snapshot together.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from arda_mail.aws_sessions import role_session_name
from arda_mail.partitions import active_partitions, all_partition_names, get_partition
from arda_mail.placement import (
    CORPORATE_INFRASTRUCTURE,
    CORPORATE_SCOPE,
    MAIL_ROOT_DOMAIN,
    ROOT_DELEGATION_ROLE_NAME,
    CorporatePlacement,
    PartitionPlacement,
    corporate_placement,
    delegated_zone_names,
    partition_placement,
)
from arda_ops.accounts import account_for
from arda_ops.sam_translate import load_sam

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "root" / "template.yaml"
SNAPSHOT = REPO / "tests" / "snapshots" / "root_template.json"
ZONE_ID = "Z0TESTPARENTZONE"
PARTITION = "aws"
WRITE_ACTION = "route53:ChangeResourceRecordSets"
READ_ACTIONS = {"route53:GetHostedZone", "route53:ListResourceRecordSets", "route53:GetChange"}
UNSCOPABLE_ACTIONS = {"route53:ListHostedZonesByName"}  # no resource-level permissions exist for it
LOGICAL_ID = "NsDelegation"


def _clients() -> list[tuple[str, str, PartitionPlacement | CorporatePlacement]]:
    """Every stack the role admits, in the template's order: ``(name, infrastructure, placement)`` of each active
    partition, then Corporate's mail stack, which is admitted exactly like a partition."""
    clients: list[tuple[str, str, PartitionPlacement | CorporatePlacement]] = [
        (p.name, p.infrastructure, partition_placement(p.name)) for p in active_partitions()
    ]
    clients.append((CORPORATE_SCOPE, CORPORATE_INFRASTRUCTURE, corporate_placement()))
    return clients


def _parameters() -> dict[str, str]:
    values = {"ParentZoneId": ZONE_ID}
    for _, infrastructure, _placement in _clients():
        values[f"{infrastructure}AccountId"] = account_for(infrastructure).account_id
    return values


def _render(node: Any, params: dict[str, str]) -> Any:
    """Resolves the intrinsics the root template uses: Ref and Fn::Sub on parameters and pseudo parameters."""
    pseudo = {"AWS::Partition": PARTITION, "AWS::AccountId": account_for("PlatformRoot").account_id}
    if isinstance(node, list):
        return [_render(v, params) for v in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        return {**params, **pseudo}.get(node["Ref"], f"<Ref {node['Ref']}>")
    if set(node) == {"Fn::Sub"}:
        return re.sub(r"\$\{([^}]+)\}", lambda m: {**params, **pseudo}[m.group(1)], node["Fn::Sub"])
    if set(node) == {"Fn::GetAtt"}:
        return f"<GetAtt {'.'.join(node['Fn::GetAtt'])}>"
    return {k: _render(v, params) for k, v in node.items()}


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return load_sam(TEMPLATE)


@pytest.fixture(scope="module")
def role(raw) -> dict[str, Any]:
    roles = [r for r in raw["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    assert len(roles) == 1
    return _render(roles[0]["Properties"], _parameters())


@pytest.fixture(scope="module")
def trust(role) -> list[dict[str, Any]]:
    return role["AssumeRolePolicyDocument"]["Statement"]


@pytest.fixture(scope="module")
def permissions(role) -> list[dict[str, Any]]:
    (policy,) = role["Policies"]
    return policy["PolicyDocument"]["Statement"]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _stack_id(client: str) -> str:
    stack = next(placement.stack_name for name, _, placement in _clients() if name == client)
    return f"arn:aws:cloudformation:us-east-1:000000000002:stack/{stack}/4b5c3e10-0000-4000-8000-000000000000"


# -- shape ----------------------------------------------------------------------------------------------------


def test_plain_cloudformation_with_the_placement_role_name(raw, role):
    assert "Transform" not in raw
    assert set(raw["Resources"]) == {"NsDelegationRole"}
    assert role["RoleName"] == ROOT_DELEGATION_ROLE_NAME
    assert role["MaxSessionDuration"] == 3600


def test_parameters_are_the_zone_and_one_account_per_active_infrastructure(raw):
    infrastructures = {infrastructure for _, infrastructure, _ in _clients()}
    assert CORPORATE_INFRASTRUCTURE in infrastructures
    assert set(raw["Parameters"]) == {"ParentZoneId"} | {f"{i}AccountId" for i in infrastructures}
    assert raw["Parameters"]["ParentZoneId"]["AllowedPattern"] == "^Z[A-Z0-9]{1,32}$"
    for infrastructure in infrastructures:
        spec = raw["Parameters"][f"{infrastructure}AccountId"]
        assert spec["AllowedPattern"] == "^[0-9]{12}$"
        assert "Default" not in spec  # an account must be given deliberately


def test_the_suspended_partitions_are_absent():
    text = TEMPLATE.read_text(encoding="utf-8")
    for name in set(all_partition_names()) - {p.name for p in active_partitions()}:
        partition = get_partition(name, allow_suspended=True)
        assert partition.fqn not in text
        assert f"{name}.{MAIL_ROOT_DOMAIN}" not in text


# -- trust ----------------------------------------------------------------------------------------------------


def test_trust_has_one_conditioned_statement_per_active_partition_and_corporate(trust):
    assert len(trust) == len(active_partitions()) + 1
    for statement, (_, infrastructure, placement) in zip(trust, _clients(), strict=True):
        account = account_for(infrastructure).account_id
        assert statement["Effect"] == "Allow"
        assert statement["Action"] == "sts:AssumeRole"
        assert statement["Principal"] == {"AWS": f"arn:{PARTITION}:iam::{account}:root"}
        assert statement["Condition"] == {
            "ArnLike": {"aws:PrincipalArn": placement.ns_delegation_function_role_arn(account)},
            "StringLike": {"sts:RoleSessionName": f"{placement.stack_name}-*"},
        }


def test_trust_has_no_wildcard_principal_and_no_unconditional_statement(trust):
    for statement in trust:
        assert "*" not in json.dumps(statement["Principal"])
        assert statement.get("Condition", {}).get("ArnLike", {}).get("aws:PrincipalArn")
        assert "NotPrincipal" not in statement
        assert "NotAction" not in statement


def test_the_functions_session_names_are_the_ones_the_trust_allows(trust):
    for statement, (client, _, _) in zip(trust, _clients(), strict=True):
        pattern = statement["Condition"]["StringLike"]["sts:RoleSessionName"]
        for other, _, _ in _clients():
            session = role_session_name(_stack_id(other), LOGICAL_ID)
            assert fnmatch.fnmatchcase(session, pattern) == (other == client), (session, pattern)


# -- permissions ----------------------------------------------------------------------------------------------


def test_only_the_needed_actions_without_wildcards(permissions):
    actions = {a for s in permissions for a in _as_list(s["Action"])}
    assert actions == {WRITE_ACTION} | READ_ACTIONS | UNSCOPABLE_ACTIONS
    assert all(s["Effect"] == "Allow" and "NotAction" not in s and "NotResource" not in s for s in permissions)


def test_no_star_resource_except_for_the_unscopable_lookup(permissions):
    for statement in permissions:
        resources = _as_list(statement["Resource"])
        if set(_as_list(statement["Action"])) <= UNSCOPABLE_ACTIONS:
            assert resources == ["*"]
            continue
        assert "*" not in resources
        for resource in resources:
            assert resource in (
                f"arn:{PARTITION}:route53:::hostedzone/{ZONE_ID}",
                f"arn:{PARTITION}:route53:::change/*",
            )
        if WRITE_ACTION in _as_list(statement["Action"]):
            assert resources == [f"arn:{PARTITION}:route53:::hostedzone/{ZONE_ID}"]


def test_writes_are_ns_only_upsert_delete_only_and_one_stack_each(permissions):
    writes = [s for s in permissions if WRITE_ACTION in _as_list(s["Action"])]
    assert len(writes) == len(active_partitions()) + 1
    for statement, (_, _, placement) in zip(writes, _clients(), strict=True):
        assert _as_list(statement["Action"]) == [WRITE_ACTION]
        condition = statement["Condition"]
        assert condition["ForAllValues:StringEquals"] == {
            "route53:ChangeResourceRecordSetsRecordTypes": ["NS"],
            "route53:ChangeResourceRecordSetsActions": ["UPSERT", "DELETE"],
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": [placement.mail.mail_domain],
        }
        assert condition["Null"] == dict.fromkeys(condition["ForAllValues:StringEquals"], "false")
        assert condition["StringLike"] == {"aws:userid": f"*:{placement.stack_name}-*"}


def test_writable_names_are_exactly_the_registrys_active_mail_zones_and_corporates(permissions):
    names = [
        name
        for s in permissions
        for name in s.get("Condition", {})
        .get("ForAllValues:StringEquals", {})
        .get("route53:ChangeResourceRecordSetsNormalizedRecordNames", [])
    ]
    assert sorted(names) == sorted([*delegated_zone_names(), corporate_placement().mail.mail_domain])
    # NormalizedRecordNames compares lower case without the trailing dot: anything else would never match.
    assert all(n == n.lower() and not n.endswith(".") for n in names)


# -- a small IAM evaluator for the operators the template uses ------------------------------------------------


def _condition_holds(condition: dict[str, dict[str, Any]], context: dict[str, Any]) -> bool:
    for operator, checks in condition.items():
        for key, expected in checks.items():
            present = key in context and context[key] not in (None, [])
            values = _as_list(context.get(key, []))
            allowed = _as_list(expected)
            if operator == "Null":
                ok = (not present) if expected == "true" else present
            elif operator == "ForAllValues:StringEquals":
                ok = all(v in allowed for v in values)
            elif operator in ("StringLike", "ArnLike"):
                ok = present and all(any(fnmatch.fnmatchcase(v, p) for p in allowed) for v in values)
            else:  # pragma: no cover - the template uses no other operator
                raise AssertionError(f"unsupported operator {operator}")
            if not ok:
                return False
    return True


def _allowed(statements: list[dict[str, Any]], action: str, resource: str, context: dict[str, Any]) -> bool:
    for statement in statements:
        if action not in _as_list(statement["Action"]):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in _as_list(statement.get("Resource", "*"))):
            continue
        if _condition_holds(statement.get("Condition", {}), context):
            return True
    return False


def _may_assume(trust, account: str, principal_arn: str, session_name: str) -> bool:
    for statement in trust:
        if statement["Principal"]["AWS"] != f"arn:{PARTITION}:iam::{account}:root":
            continue
        context = {"aws:PrincipalArn": principal_arn, "sts:RoleSessionName": session_name}
        if _condition_holds(statement["Condition"], context):
            return True
    return False


def _write(permissions, partition: str, record_names: list[str], actions=("UPSERT",), types=("NS",)) -> bool:
    session = role_session_name(_stack_id(partition), LOGICAL_ID)
    context = {
        "aws:userid": f"AROAEXAMPLEROLEID:{session}",
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": record_names,
        "route53:ChangeResourceRecordSetsActions": list(actions),
        "route53:ChangeResourceRecordSetsRecordTypes": list(types),
    }
    return _allowed(permissions, WRITE_ACTION, f"arn:{PARTITION}:route53:::hostedzone/{ZONE_ID}", context)


def test_each_stacks_function_may_assume_the_role_and_nothing_else_may(trust):
    for client, infrastructure, placement in _clients():
        account = account_for(infrastructure).account_id
        session = role_session_name(_stack_id(client), LOGICAL_ID)
        arn = placement.ns_delegation_function_role_arn(account)
        assert _may_assume(trust, account, arn, session)
        assert not _may_assume(trust, account, arn, "someone-else")
        assert not _may_assume(trust, account, f"arn:aws:iam::{account}:role/admin", session)
        assert not _may_assume(trust, "999999999999", arn.replace(account, "999999999999"), session)


def test_a_function_cannot_assume_as_another_partition(trust):
    dev, stage = partition_placement("dev"), partition_placement("stage")
    account = account_for(dev.partition.infrastructure).account_id
    stage_session = role_session_name(_stack_id("stage"), LOGICAL_ID)
    assert not _may_assume(trust, account, dev.ns_delegation_function_role_arn(account), stage_session)
    assert _may_assume(trust, account, stage.ns_delegation_function_role_arn(account), stage_session)


def test_corporates_function_cannot_assume_as_a_partition_nor_a_partition_as_corporate(trust):
    corporate, dev = corporate_placement(), partition_placement("dev")
    corporate_account = account_for(CORPORATE_INFRASTRUCTURE).account_id
    dev_account = account_for(dev.partition.infrastructure).account_id
    corporate_session = role_session_name(_stack_id(CORPORATE_SCOPE), LOGICAL_ID)
    dev_session = role_session_name(_stack_id("dev"), LOGICAL_ID)
    corporate_arn = corporate.ns_delegation_function_role_arn(corporate_account)
    assert _may_assume(trust, corporate_account, corporate_arn, corporate_session)
    assert not _may_assume(trust, corporate_account, corporate_arn, dev_session)
    assert not _may_assume(trust, dev_account, dev.ns_delegation_function_role_arn(dev_account), corporate_session)
    # Corporate's role name in a partition's account is not Corporate's role.
    assert not _may_assume(
        trust, dev_account, corporate.ns_delegation_function_role_arn(dev_account), corporate_session
    )


def test_sessions_may_write_only_their_own_stacks_ns_record(permissions):
    zones = {client: placement.mail.mail_domain for client, _, placement in _clients()}
    for partition, zone in zones.items():
        assert _write(permissions, partition, [zone], actions=("UPSERT",))
        assert _write(permissions, partition, [zone], actions=("DELETE",))
        assert not _write(permissions, partition, [zone], actions=("CREATE",))
        assert not _write(permissions, partition, [zone], types=("TXT",))
        assert not _write(permissions, partition, [zone], types=("NS", "A"))
        assert not _write(permissions, partition, [f"x.{zone}"])
        assert not _write(permissions, partition, [zone.upper()])
        for other, other_zone in zones.items():
            if other != partition:
                assert not _write(permissions, partition, [other_zone])
                assert not _write(permissions, partition, [zone, other_zone])
        assert not _write(permissions, partition, [])  # the Null check: no vacuous ForAllValues


# -- snapshot and linters -------------------------------------------------------------------------------------


def test_snapshot(raw):
    rendered = json.dumps(raw, indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(rendered, encoding="utf-8")
    assert SNAPSHOT.exists(), "no snapshot yet: run with UPDATE_SNAPSHOTS=1 (see the module docstring)"
    assert rendered == SNAPSHOT.read_text(encoding="utf-8"), (
        "root/template.yaml changed: review the diff, then regenerate the snapshot with UPDATE_SNAPSHOTS=1"
    )


def test_cfn_lint_is_clean():
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr

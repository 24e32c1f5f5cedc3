"""The DKIM function's role, evaluated: which Route 53 changes it may make in the mail zone.

IAM's rules as AWS documents them: an explicit Deny wins over any Allow
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html); ``ForAllValues`` holds
when every value in the request is allowed, ``ForAnyValue`` when at least one is
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html);
the Route 53 keys carry lower-case names without the trailing dot, upper-case actions and types
(https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/specifying-rrset-conditions.html).
"""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest
from support.cfn_render import Renderer

from arda_mail.placement import partition_placement
from arda_ops.handlers import REPO_ROOT
from arda_ops.sam_translate import sam_to_cfn

ZONE_ARN = "arn:aws:route53:::hostedzone/Z0MAILZONE"
CHANGE = "route53:ChangeResourceRecordSets"


@pytest.fixture(scope="module")
def statements() -> list[dict[str, Any]]:
    cfn = sam_to_cfn(REPO_ROOT / "template.yaml")
    renderer = Renderer(cfn, {"Partition": "dev", "PostmarkAccountToken": "x"}, partition_placement("dev").stack_name)
    document = cfn["Resources"]["PostmarkDkimFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    rendered = renderer.value(document["Statement"])
    for statement in rendered:  # the zone's ARN as the loopback world has none: any rendered zone is "the" zone
        if "hostedzone/" in str(statement.get("Resource")):
            statement["Resource"] = ZONE_ARN
    return rendered


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _holds(condition: dict[str, Any], context: dict[str, list[str]]) -> bool:
    for operator, tests in condition.items():
        for key, expected in tests.items():
            values, allowed = context.get(key, []), _list(expected)
            like = operator.endswith("StringLike")
            matches = [any(fnmatch.fnmatchcase(v, p) if like else v == p for p in allowed) for v in values]
            if operator.startswith("ForAllValues:"):
                ok = all(matches)
            elif operator.startswith("ForAnyValue:"):
                ok = any(matches)
            else:  # pragma: no cover - the role uses no other operator here
                raise AssertionError(f"unsupported operator {operator}")
            if not ok:
                return False
    return True


def may_change(statements: list[dict[str, Any]], actions: list[str], names: list[str], types: list[str]) -> bool:
    context = {
        "route53:ChangeResourceRecordSetsActions": actions,
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": names,
        "route53:ChangeResourceRecordSetsRecordTypes": types,
    }
    verdicts = [
        s["Effect"]
        for s in statements
        if CHANGE in _list(s["Action"])
        and any(fnmatch.fnmatchcase(ZONE_ARN, r) for r in _list(s["Resource"]))
        and _holds(s.get("Condition", {}), context)
    ]
    return "Allow" in verdicts and "Deny" not in verdicts


SELECTOR = "20261202004613pm._domainkey.dev.ardamails.com"


def test_the_function_may_create_and_delete_dkim_txt_records(statements):
    assert may_change(statements, ["CREATE"], [SELECTOR], ["TXT"])
    assert may_change(statements, ["DELETE"], [SELECTOR], ["TXT"])


def test_the_function_may_never_upsert_not_even_a_dkim_record(statements):
    """An UPSERT would overwrite a record someone else changed; the code never sends one, and the role refuses it."""
    assert not may_change(statements, ["UPSERT"], [SELECTOR], ["TXT"])
    assert not may_change(statements, ["CREATE", "UPSERT"], [SELECTOR, SELECTOR], ["TXT"])


@pytest.mark.parametrize(
    ("names", "types"),
    [
        (["dev.ardamails.com"], ["TXT"]),  # SPF at the apex
        (["_dmarc.dev.ardamails.com"], ["TXT"]),
        (["pm-bounces.dev.ardamails.com"], ["CNAME"]),
        ([SELECTOR], ["CNAME"]),
        (["pm._domainkey.acme.dev.ardamails.com"], ["TXT"]),  # a tenant's sending domain's DKIM record
        (["pm._domainkey.stage.ardamails.com"], ["TXT"]),  # another partition's name
        ([SELECTOR, "dev.ardamails.com"], ["TXT"]),  # one forbidden change in a batch refuses the batch
    ],
    ids=["spf", "dmarc", "return-path", "cname-at-selector", "tenant-record", "other-partition", "mixed-batch"],
)
def test_nothing_but_dkim_txt_records_of_the_stacks_domain(statements, names, types):
    assert not may_change(statements, ["CREATE"], names, types)
    assert not may_change(statements, ["DELETE"], names, types)

"""The tests' renderer: the project's intrinsic evaluator (:mod:`arda_ops.cfn_intrinsics`) with markers.

It resolves ``Ref`` (parameters and pseudo parameters), ``Fn::FindInMap``, ``Fn::Sub``, ``Fn::Join`` and ``Fn::If``
on the SAM-translated template for given parameter values, so tests can compare every rendered name with the
placement function. Anything it cannot resolve (a resource attribute) comes back as a ``<Ref X>`` or
``<GetAtt X.Y>`` marker, which is what a name comparison needs; properties set to ``AWS::NoValue`` are dropped.
"""

from __future__ import annotations

from typing import Any

from arda_ops.cfn_intrinsics import Resolver

PSEUDO = {"AWS::AccountId": "123456789012", "AWS::Partition": "aws", "AWS::Region": "us-east-1"}
_NO_VALUE = "<Ref AWS::NoValue>"


class Renderer(Resolver):
    def __init__(self, template: dict[str, Any], parameters: dict[str, str], stack_name: str = "stack") -> None:
        super().__init__(template, parameters, refs={**PSEUDO, "AWS::StackName": stack_name}, markers=True)

    def value(self, node: Any) -> Any:
        resolved = super().value(node)
        if isinstance(node, dict) and len(node) > 1 and isinstance(resolved, dict):
            return {k: v for k, v in resolved.items() if v != _NO_VALUE}
        return resolved

    def resource(self, logical_id: str) -> dict[str, Any]:
        resolved: dict[str, Any] = self.value(self.template["Resources"][logical_id])
        return resolved

    def outputs(self) -> dict[str, Any]:
        resolved: dict[str, Any] = self.value(self.template["Outputs"])
        return resolved

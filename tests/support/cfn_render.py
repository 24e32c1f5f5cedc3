"""A tiny evaluator for the intrinsic functions the partition template uses on names.

It resolves ``Ref`` (parameters and pseudo parameters), ``Fn::FindInMap``, ``Fn::Sub`` and ``Fn::If`` on the
SAM-translated template for given parameter values, so tests can compare every rendered name with the
placement function. Anything it cannot resolve (a resource attribute) comes back as a ``<Ref X>`` or
``<GetAtt X.Y>`` marker, which is what a name comparison needs.
"""

from __future__ import annotations

import re
from typing import Any

PSEUDO = {"AWS::AccountId": "123456789012", "AWS::Partition": "aws", "AWS::Region": "us-east-1"}


class Renderer:
    def __init__(self, template: dict[str, Any], parameters: dict[str, str], stack_name: str = "stack") -> None:
        self.template = template
        self.parameters = {
            name: parameters.get(name, spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()
        }
        self.pseudo = {**PSEUDO, "AWS::StackName": stack_name}

    def condition(self, name: str) -> bool:
        return bool(self.value(self.template["Conditions"][name]))

    def ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        if name in self.pseudo:
            return self.pseudo[name]
        return f"<Ref {name}>"

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.value(v) for v in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::FindInMap":
                name, first, second = (self.value(a) for a in arg)
                return self.template["Mappings"][name][first][second]
            if key == "Fn::GetAtt":
                target = arg if isinstance(arg, str) else ".".join(arg)
                return f"<GetAtt {target}>"
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                resolved = {k: self.value(v) for k, v in variables.items()}
                return re.sub(
                    r"\$\{([^}]+)\}",
                    lambda m: str(
                        resolved.get(
                            m.group(1), self.ref(m.group(1)) if "." not in m.group(1) else f"<GetAtt {m.group(1)}>"
                        )
                    ),
                    text,
                )
            if key == "Fn::If":
                cond, yes, no = arg
                return self.value(yes if self.condition(cond) else no)
            if key == "Fn::Not":
                return not self.value(arg[0])
            if key == "Fn::Equals":
                return self.value(arg[0]) == self.value(arg[1])
        return {k: self.value(v) for k, v in node.items() if self.value(v) != "<Ref AWS::NoValue>"}

    def resource(self, logical_id: str) -> dict[str, Any]:
        return self.value(self.template["Resources"][logical_id])

    def outputs(self) -> dict[str, Any]:
        return self.value(self.template["Outputs"])

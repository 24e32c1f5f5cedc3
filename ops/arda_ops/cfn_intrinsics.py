"""A small evaluator of the intrinsic functions the templates name things with.

One evaluator for the adoption (``arda_ops.adopt_template``: every name it imports or checks must resolve, or it
refuses) and for the tests that render the templates for given parameters and compare every name with the placement
function (``tests/support/cfn_render.py``: what cannot be known before a deploy comes back as a marker).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class UnresolvableError(ValueError):
    """A value needed to name a resource is not static (it depends on another resource)."""


class Resolver:
    """Resolves the static intrinsics the templates name resources with: ``Ref`` to a parameter, ``Fn::FindInMap``,
    ``Fn::Sub``, ``Fn::Join``, ``Fn::If``. ``attributes`` (``"Logical.Attribute"``) and ``refs`` (pseudo parameters,
    resources) give values known some other way; anything else raises :class:`UnresolvableError`, unless
    ``markers``: then it comes back as ``<Ref X>`` or ``<GetAtt X.Y>``, which is what a comparison of rendered names
    with the placement function needs (the tests' renderer)."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str],
        attributes: Mapping[str, Any] | None = None,
        refs: Mapping[str, Any] | None = None,
        *,
        markers: bool = False,
    ) -> None:
        self.template = template
        self.parameters = {
            name: parameters.get(name, str(spec.get("Default", "")))
            for name, spec in template.get("Parameters", {}).items()
        }
        self.attributes = dict(attributes or {})
        #: Values of ``Ref`` to pseudo parameters and resources, when known (a discovered zone's ID, a secret's ARN).
        self.refs = dict(refs or {})
        self.markers = markers

    def ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        if self.markers:
            return f"<Ref {name}>"
        raise UnresolvableError(f"Ref {name} is not a parameter")

    def condition(self, name: str) -> bool:
        return bool(self.value(self.template.get("Conditions", {})[name]))

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.value(v) for v in node]
        if not isinstance(node, dict) or len(node) != 1:
            if isinstance(node, dict):
                return {k: self.value(v) for k, v in node.items()}
            return node
        ((key, arg),) = node.items()
        if key == "Ref":
            return self.ref(arg)
        if key == "Fn::FindInMap":
            name, first, second = (self.value(a) for a in arg)
            return self.template["Mappings"][name][first][second]
        if key == "Fn::GetAtt":
            target = arg if isinstance(arg, str) else ".".join(arg)
            if target in self.attributes:
                return self.attributes[target]
            if self.markers:
                return f"<GetAtt {target}>"
            raise UnresolvableError(f"Fn::GetAtt {target} is known only after the deploy")
        if key == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            resolved = {k: self.value(v) for k, v in variables.items()}
            return SUB_VARIABLE.sub(
                lambda m: str(resolved[m.group(1)] if m.group(1) in resolved else self._sub_ref(m.group(1))), text
            )
        if key == "Fn::Join":
            separator, parts = arg
            return str(separator).join(str(self.value(p)) for p in parts)
        if key == "Fn::If":
            cond, yes, no = arg
            return self.value(yes if self.condition(cond) else no)
        if key == "Fn::Equals":
            return self.value(arg[0]) == self.value(arg[1])
        if key == "Fn::Not":
            return not self.value(arg[0])
        return {key: self.value(arg)}

    def _sub_ref(self, name: str) -> Any:
        if "." in name:
            return self.value({"Fn::GetAtt": name})
        return self.ref(name)

"""GitHub Actions expressions (``${{ ... }}``), evaluated the way the runner does, for the workflow tests.

Only what workflows use is implemented: literals, context lookups (``steps.merge.outputs.exit-code``,
``vars[matrix.role_variable]``), ``!``, ``==``/``!=``/``<``/``>`` (strings compared case-insensitively, other
mixed types as numbers), ``&&``/``||`` (which return an operand, not a boolean), the status functions and
``fromJSON``/``toJSON``/``contains``/``startsWith``/``endsWith``/``format``. An unknown context or function
raises, so a workflow change the harness does not understand fails the test instead of passing silently.

Reference: https://docs.github.com/en/actions/reference/workflows-and-actions/expressions (operators, falsy
values, loose equality, functions) and
https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#jobsjob_idstepsif (a
condition without a status function is implicitly ``success() && (...)``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
STATUS_FUNCTIONS = ("success", "failure", "always", "cancelled")
_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?)|(?P<op>==|!=|<=|>=|&&|\|\||[!<>()\[\].,])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)


class ExpressionError(ValueError):
    """The expression uses something the harness does not implement (or is malformed)."""


def to_text(value: Any) -> str:
    """How the runner turns a value into text when it is substituted into a string."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def truthy(value: Any) -> bool:
    """Falsy: null, false, 0, -0, NaN and the empty string; everything else is truthy."""
    if value is None or value is False or value == "":
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return not (value == 0 or math.isnan(value))
    return True


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip()) if value.strip() else 0.0
        except ValueError:
            return math.nan
    return math.nan


def _compare(op: str, left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        a: Any = left.casefold()
        b: Any = right.casefold()
    elif type(left) is type(right) and not isinstance(left, dict | list):
        a, b = left, right
    else:
        a, b = _number(left), _number(right)
    if op == "==":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    operations: dict[str, Callable[[Any, Any], bool]] = {
        "<": lambda x, y: x < y,
        ">": lambda x, y: x > y,
        "<=": lambda x, y: x <= y,
        ">=": lambda x, y: x >= y,
    }
    return operations[op](a, b)


def _lookup(container: Any, key: Any) -> Any:
    if isinstance(container, dict):
        if key in container:
            return container[key]
        folded = str(key).casefold()  # property names are case-insensitive
        return next((v for k, v in container.items() if str(k).casefold() == folded), None)
    if isinstance(container, list) and isinstance(key, int | float) and not isinstance(key, bool):
        index = int(key)
        return container[index] if 0 <= index < len(container) else None
    return None


class _Parser:
    def __init__(self, text: str, contexts: Mapping[str, Any], status: Callable[[str], bool]) -> None:
        self.tokens = self._tokenize(text)
        self.position = 0
        self.contexts = contexts
        self.status = status

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str]]:
        tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text):
            if text[position:].strip() == "":
                break
            match = _TOKEN.match(text, position)
            if not match or match.end() == position:
                raise ExpressionError(f"cannot read {text[position:]!r}")
            kind = match.lastgroup or ""
            tokens.append((kind, match.group(kind)))
            position = match.end()
        return tokens

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self, value: str | None = None) -> tuple[str, str]:
        token = self._peek()
        if token is None or (value is not None and token[1] != value):
            raise ExpressionError(f"expected {value or 'a token'}, got {token}")
        self.position += 1
        return token

    def parse(self) -> Any:
        value = self._or()
        if self._peek() is not None:
            raise ExpressionError(f"unexpected {self._peek()}")
        return value

    def _or(self) -> Any:
        value = self._and()
        while self._peek() == ("op", "||"):
            self._take()
            right = self._and()
            value = value if truthy(value) else right
        return value

    def _and(self) -> Any:
        value = self._comparison()
        while self._peek() == ("op", "&&"):
            self._take()
            right = self._comparison()
            value = right if truthy(value) else value
        return value

    def _comparison(self) -> Any:
        value = self._unary()
        token = self._peek()
        if token and token[0] == "op" and token[1] in {"==", "!=", "<", ">", "<=", ">="}:
            self._take()
            return _compare(token[1], value, self._unary())
        return value

    def _unary(self) -> Any:
        if self._peek() == ("op", "!"):
            self._take()
            return not truthy(self._unary())
        return self._postfix()

    def _postfix(self) -> Any:
        value = self._primary()
        while True:
            token = self._peek()
            if token == ("op", "."):
                self._take()
                kind, name = self._take()
                if kind != "name":
                    raise ExpressionError(f"property name expected after '.', got {name!r}")
                value = _lookup(value, name)
            elif token == ("op", "["):
                self._take()
                key = self._or()
                self._take("]")
                value = _lookup(value, key)
            else:
                return value

    def _primary(self) -> Any:
        kind, text = self._take()
        if kind == "string":
            return text[1:-1].replace("''", "'")
        if kind == "number":
            return float(text)
        if (kind, text) == ("op", "("):
            value = self._or()
            self._take(")")
            return value
        if kind != "name":
            raise ExpressionError(f"unexpected {text!r}")
        if text in {"true", "false"}:
            return text == "true"
        if text == "null":
            return None
        if self._peek() == ("op", "("):
            return self._call(text)
        if text not in self.contexts:
            raise ExpressionError(f"unknown context {text!r} (known: {sorted(self.contexts)})")
        return self.contexts[text]

    def _call(self, name: str) -> Any:
        self._take("(")
        args: list[Any] = []
        while self._peek() != ("op", ")"):
            args.append(self._or())
            if self._peek() == ("op", ","):
                self._take()
        self._take(")")
        lowered = name.lower()
        if lowered in STATUS_FUNCTIONS:
            return self.status(lowered)
        if lowered == "fromjson":
            return json.loads(to_text(args[0]))
        if lowered == "tojson":
            return json.dumps(args[0], indent=2)
        if lowered == "contains":
            haystack, needle = args
            if isinstance(haystack, list):
                return any(_compare("==", item, needle) for item in haystack)
            return to_text(needle).casefold() in to_text(haystack).casefold()
        if lowered == "startswith":
            return to_text(args[0]).casefold().startswith(to_text(args[1]).casefold())
        if lowered == "endswith":
            return to_text(args[0]).casefold().endswith(to_text(args[1]).casefold())
        if lowered == "format":
            return re.sub(r"\{(\d+)\}", lambda m: to_text(args[1 + int(m.group(1))]), to_text(args[0]))
        raise ExpressionError(f"unknown function {name}()")


def _no_status(name: str) -> bool:
    raise ExpressionError(f"{name}() is only available in an if: condition")


def evaluate(expression: str, contexts: Mapping[str, Any], status: Callable[[str], bool] = _no_status) -> Any:
    """The value of one expression (the text between ``${{`` and ``}}``)."""
    return _Parser(expression, contexts, status).parse()


def evaluate_value(text: Any, contexts: Mapping[str, Any]) -> Any:
    """A YAML value: a lone ``${{ expr }}`` keeps its type (an object for ``fromJSON``), text is substituted."""
    if not isinstance(text, str):
        return text
    whole = EXPRESSION.fullmatch(text.strip())
    if whole:
        return evaluate(whole.group(1), contexts)
    return substitute(text, contexts)


def substitute(text: str, contexts: Mapping[str, Any]) -> str:
    """Replace every ``${{ expr }}`` in ``text`` by its value as text."""
    return EXPRESSION.sub(lambda m: to_text(evaluate(m.group(1), contexts)), text)


def condition(text: Any, contexts: Mapping[str, Any], status: Callable[[str], bool]) -> bool:
    """An ``if:``; without a status function it is ``success() && (<condition>)``; absent, ``success()``."""
    if text is None:
        return status("success")
    if isinstance(text, bool):
        return status("success") and text
    body = str(text).strip()
    whole = EXPRESSION.fullmatch(body)
    if whole:
        body = whole.group(1)
    if not re.search(r"\b(" + "|".join(STATUS_FUNCTIONS) + r")\s*\(", body, re.IGNORECASE):
        return status("success") and truthy(evaluate(body, contexts, status))
    return truthy(evaluate(body, contexts, status))

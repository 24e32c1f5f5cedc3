"""``arda_mail.values.Value`` behaves as the ``@dataclass(frozen=True)`` it replaces: each test builds the same class
both ways and compares what they do, so the base cannot drift from the semantics the rest of the code relies on."""

from __future__ import annotations

import ast
import dataclasses
import threading
from pathlib import Path
from typing import Any, ClassVar

import pytest

from arda_mail.aws_sessions import AwsCredentials
from arda_mail.values import Value, field, replace

ROOT = Path(__file__).resolve().parents[2]


class Point(Value):
    x: int
    y: str
    z: float = 1.5


@dataclasses.dataclass(frozen=True)
class PointDc:
    x: int
    y: str
    z: float = 1.5


class Other(Value):
    x: int
    y: str
    z: float = 1.5


class Bag(Value, frozen=False):
    name: str
    items: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Secretive(Value):
    user: str
    password: str = field(repr=False)
    note: str = field(default="n", repr=False)


class Counted(Value):
    LIMIT: ClassVar[int] = 3
    n: int


class _Named:
    __slots__ = ()

    @property
    def label(self) -> str:
        return f"<{self.name}>"  # type: ignore[attr-defined]


class Base(Value):
    name: str


class Child(_Named, Base):
    size: int = 0


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", call()
    except TypeError as error:
        return "TypeError", type(error)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((1, "a"), {}),
        ((1, "a", 2.0), {}),
        ((1,), {"y": "b"}),
        ((), {"x": 1, "y": "b", "z": 0.0}),
        ((1, "a", 2.0, 3), {}),  # too many positional
        ((1,), {}),  # missing y
        ((1, "a"), {"x": 2}),  # x twice
        ((1, "a"), {"w": 2}),  # unknown keyword
        ((), {}),
    ],
)
def test_construction_binds_arguments_as_a_dataclass(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    ours = _outcome(lambda: Point(*args, **kwargs))
    theirs = _outcome(lambda: PointDc(*args, **kwargs))
    assert ours[0] == theirs[0]
    if ours[0] == "ok":
        value, reference = ours[1], theirs[1]
        assert (value.x, value.y, value.z) == (reference.x, reference.y, reference.z)
        assert repr(value) == repr(reference).replace("PointDc", "Point")


def test_equality_and_hash_follow_the_fields_and_the_class() -> None:
    assert Point(1, "a") == Point(1, "a", 1.5)
    assert hash(Point(1, "a")) == hash(Point(1, "a", 1.5))
    assert Point(1, "a") != Point(1, "b")
    assert Point(1, "a") != Other(1, "a")  # same fields, another class: not equal, as a dataclass
    assert Point(1, "a") != (1, "a", 1.5)
    assert len({Point(1, "a"), Point(1, "a"), Point(2, "a")}) == 2


def test_frozen_instances_refuse_assignment_and_deletion() -> None:
    point = Point(1, "a")
    with pytest.raises(AttributeError, match="frozen Point"):
        point.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError, match="frozen Point"):
        del point.x
    with pytest.raises(AttributeError):
        point.extra = 1  # type: ignore[attr-defined]
    assert point.x == 1


def test_mutable_values_assign_get_a_fresh_default_each_and_are_unhashable() -> None:
    first, second = Bag("a"), Bag("b")
    first.items.append(1)
    first.name = "renamed"
    assert second.items == []
    assert first.items == [1]
    assert first.name == "renamed"
    assert first.lock is not second.lock
    assert Bag("x", [1], first.lock) == Bag("x", [1], first.lock)
    assert Bag("x", [1]) != Bag("x", [1])  # each has its own lock, and locks compare by identity
    with pytest.raises(TypeError, match="unhashable"):
        hash(first)
    assert not hasattr(Bag, "items")  # no shared default left on the class


def test_repr_leaves_out_hidden_fields() -> None:
    text = repr(Secretive("ann", "hunter2"))
    assert text == "Secretive(user='ann')"
    credentials = AwsCredentials("AKIAEXAMPLEKEY", "secret-access-key-value", "session-token-value")
    for value in ("AKIAEXAMPLEKEY", "secret-access-key-value", "session-token-value"):
        assert value not in repr(credentials)
        assert value not in str(credentials)
    assert credentials.secret_access_key == "secret-access-key-value"


def test_class_variables_are_not_fields() -> None:
    assert Counted._fields == ("n",)
    assert Counted(2).LIMIT == 3
    with pytest.raises(TypeError):
        Counted(1, 2)  # type: ignore[call-arg]


def test_inheritance_puts_base_fields_first_and_keeps_mixins() -> None:
    child = Child("box", 3)
    assert Child._fields == ("name", "size")
    assert child.label == "<box>"
    assert child == Child(name="box", size=3)
    assert repr(child) == "Child(name='box', size=3)"
    assert child != Base("box")


def test_a_field_without_default_after_one_with_default_is_refused() -> None:
    with pytest.raises(TypeError, match="non-default field 'b'"):

        class Bad(Value):
            a: int = 0
            b: int  # type: ignore[misc]  # mypy refuses it too

    with pytest.raises(ValueError, match="both"):
        field(default=1, default_factory=list)


def test_replace_copies_with_changes_and_checks_names() -> None:
    point = Point(1, "a")
    moved = replace(point, z=9.0)
    assert moved == Point(1, "a", 9.0)
    assert point.z == 1.5
    with pytest.raises(TypeError):
        replace(point, w=1)


def test_shipped_code_defines_no_dataclass() -> None:
    """Each ``@dataclass`` costs about 0.5 ms of every cold start (see ``arda_mail.values``): the layer and the
    handlers use :class:`Value` instead, and this keeps it so."""
    offenders = []
    for path in sorted([*ROOT.glob("layers/shared/arda_mail/**/*.py"), *ROOT.glob("functions/*/app.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "dataclasses":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.Import) and any(alias.name == "dataclasses" for alias in node.names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []

"""Value classes that cost nothing to define: :class:`Value` gives a class what ``@dataclass`` would (``__init__``
from the annotated fields, ``__eq__``, ``__hash__``, ``__repr__``, frozen by default) without generating code.

Why not ``@dataclass``: every handler's cold start is measured against a bare ``import boto3`` (``make bench``),
and ``@dataclass(frozen=True, slots=True)`` compiles and executes five or six methods per class when the module
is imported — about 0.46 ms a class on Python 3.13 here, against 0.012 ms for a subclass of :class:`Value`.
The handlers define 10 to 18 such classes on their import path, so dataclasses alone were 5-8 ms of a cold
start whose whole budget (15 % of ``import boto3``) is about 15-20 ms. ``typing.dataclass_transform`` (PEP 681)
tells type checkers that subclasses behave as dataclasses, so mypy checks their constructors and frozenness as
before.

    >>> class Point(Value):
    ...     x: int
    ...     y: int = 0
    >>> Point(1) == Point(x=1, y=0), Point(2, 3)
    (True, Point(x=2, y=3))

What is supported is what this package uses: positional or keyword construction, defaults, ``field(repr=False)``
for credentials, ``field(default_factory=...)`` for mutable defaults, ``frozen=False`` for the few mutable
service objects, and inheritance (fields of base classes come first, as with dataclasses). Annotations must stay
in the class body (``from __future__ import annotations`` is fine: only the names are read, with
:func:`inspect.get_annotations`; Powertools and botocore import :mod:`inspect` anyway).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar, dataclass_transform

__all__ = ["Value", "field", "replace"]


class _Field:
    """What :func:`field` returns in a class body; replaced by the default (or removed) when the class is made."""

    __slots__ = ("default", "default_factory", "repr")

    def __init__(self, default: Any, default_factory: Callable[[], Any] | None, repr: bool) -> None:
        self.default = default
        self.default_factory = default_factory
        self.repr = repr


_NO_DEFAULT: Any = object()


def field(*, default: Any = _NO_DEFAULT, default_factory: Callable[[], Any] | None = None, repr: bool = True) -> Any:
    """A field's options, as :func:`dataclasses.field`: a ``default`` or a ``default_factory`` (called once per
    instance), and ``repr=False`` to keep a value out of ``repr()`` (credentials)."""
    if default is not _NO_DEFAULT and default_factory is not None:
        raise ValueError("a field cannot have both a default and a default_factory")
    return _Field(default, default_factory, repr)


def replace[V: Value](value: V, /, **changes: Any) -> V:
    """A copy of ``value`` with some fields changed, as :func:`dataclasses.replace`."""
    return type(value)(**{**{name: getattr(value, name) for name in value._fields}, **changes})


def _is_class_var(annotation: Any) -> bool:
    if isinstance(annotation, str):
        return annotation.startswith(("ClassVar", "typing.ClassVar"))
    return annotation is ClassVar or getattr(annotation, "__origin__", None) is ClassVar


def _frozen_setattr(self: Value, name: str, value: Any) -> None:
    raise AttributeError(f"cannot assign to field {name!r} of frozen {type(self).__qualname__}")


def _frozen_delattr(self: Value, name: str) -> None:
    raise AttributeError(f"cannot delete field {name!r} of frozen {type(self).__qualname__}")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
class Value:
    """Base of the package's value classes: fields are the annotated class attributes, in order."""

    __slots__ = ()

    _fields: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}
    _factories: ClassVar[dict[str, Callable[[], Any]]] = {}
    _hidden: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, *, frozen: bool = True, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict[str, None] = {}
        defaults: dict[str, Any] = {}
        factories: dict[str, Callable[[], Any]] = {}
        hidden: set[str] = set()
        for klass in cls.__mro__[::-1]:
            if not issubclass(klass, Value) or klass is Value:
                continue
            if klass is not cls:  # a base's fields, already worked out
                fields.update(dict.fromkeys(klass._fields))
                defaults.update(klass._defaults)
                factories.update(klass._factories)
                hidden.update(klass._hidden)
                continue
            for name, annotation in inspect.get_annotations(klass).items():
                if _is_class_var(annotation):
                    continue
                fields[name] = None
                declared = klass.__dict__.get(name, _NO_DEFAULT)
                if isinstance(declared, _Field):
                    if not declared.repr:
                        hidden.add(name)
                    if declared.default_factory is not None:
                        factories[name] = declared.default_factory
                        delattr(cls, name)
                    elif declared.default is not _NO_DEFAULT:
                        defaults[name] = declared.default
                        setattr(cls, name, declared.default)
                    else:
                        delattr(cls, name)
                elif declared is not _NO_DEFAULT:
                    defaults[name] = declared
        seen_default = False
        for name in fields:
            has_default = name in defaults or name in factories
            if seen_default and not has_default:
                raise TypeError(f"{cls.__qualname__}: non-default field {name!r} follows a field with a default")
            seen_default = seen_default or has_default
        cls._fields = tuple(fields)
        cls._defaults = defaults
        cls._factories = factories
        cls._hidden = frozenset(hidden)
        if frozen:
            cls.__setattr__ = _frozen_setattr  # type: ignore[assignment,method-assign]
            cls.__delattr__ = _frozen_delattr  # type: ignore[assignment,method-assign]
        else:
            cls.__setattr__ = object.__setattr__  # type: ignore[method-assign]
            cls.__delattr__ = object.__delattr__  # type: ignore[method-assign]
            cls.__hash__ = None  # type: ignore[assignment]  # mutable and comparable: unhashable, as a dataclass

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        fields = cls._fields
        if len(args) > len(fields):
            raise TypeError(f"{cls.__qualname__}() takes {len(fields)} positional arguments but {len(args)} were given")
        values = dict(zip(fields, args, strict=False))
        for name, value in kwargs.items():
            if name not in fields:
                raise TypeError(f"{cls.__qualname__}() got an unexpected keyword argument {name!r}")
            if name in values:
                raise TypeError(f"{cls.__qualname__}() got multiple values for argument {name!r}")
            values[name] = value
        for name in fields:
            if name in values:
                value = values[name]
            elif name in cls._defaults:
                value = cls._defaults[name]
            elif name in cls._factories:
                value = cls._factories[name]()
            else:
                raise TypeError(f"{cls.__qualname__}() missing required argument: {name!r}")
            object.__setattr__(self, name, value)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields if name not in self._hidden)
        return f"{type(self).__qualname__}({shown})"

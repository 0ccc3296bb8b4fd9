"""Frozen, validated records declared like pydantic models, without importing pydantic.

The settings are validated once per launch, before the first message can be
forwarded; pydantic costs ~0.1 s to import and build schemas, more than the
rest of a launch. This module covers exactly what the settings models use:
``str``, ``bool``, ``int``, ``Literal``, ``X | None``, ``dict[str, str]``,
:class:`SecretStr`, nested models, ``Annotated`` with :class:`BeforeValidator`
validators and :func:`Field` constraints (``ge``, ``le``, ``min_length``,
``default_factory``), camelCase aliases (snake_case names accepted too),
unknown keys refused, and :func:`model_validator` checks that run after a
model is built. Failures raise :class:`FieldValidationError` with the alias
path of the first field that failed, in declaration order.

For tools that expect pydantic, ``Model.model_fields`` returns the fields of
an equivalent pydantic model (names, aliases, defaults, nested models),
generated on first use.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union

_M = TypeVar("_M", bound="Model")
_MISSING: Any = object()


class FieldValidationError(ValueError):
    """A value broke its field's type or constraint; ``loc`` is the alias path."""

    def __init__(self, loc: tuple[str, ...], message: str) -> None:
        super().__init__(f"{'.'.join(loc)}: {message}")
        self.loc = loc
        self.message = message


class SecretStr:
    """A string that never shows in ``repr``/``str``; read it with :meth:`get_secret_value`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        """Return the secret itself."""
        return self._value

    def __repr__(self) -> str:
        return "SecretStr('**********')" if self._value else "SecretStr('')"

    def __str__(self) -> str:
        return "**********" if self._value else ""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __len__(self) -> int:
        return len(self._value)


@dataclass(frozen=True)
class BeforeValidator:
    """``Annotated`` marker: run ``func`` on the raw value before the type check."""

    func: Callable[[object], object]


@dataclass(frozen=True)
class FieldInfo:
    """What :func:`Field` declares: a default factory and constraints."""

    default_factory: Callable[[], Any] | None = None
    ge: int | None = None
    le: int | None = None
    min_length: int | None = None


def Field(  # noqa: N802 - named like pydantic's Field, which it stands in for
    *,
    default_factory: Callable[[], Any] | None = None,
    ge: int | None = None,
    le: int | None = None,
    min_length: int | None = None,
) -> Any:
    """Declare a default factory (as a default) or constraints (inside ``Annotated``)."""
    return FieldInfo(default_factory, ge, le, min_length)


_Check = Callable[[_M], _M]


def model_validator(*, mode: Literal["after"]) -> Callable[[_Check[_M]], _Check[_M]]:
    """Mark a method that checks the whole model after it is built (may raise ValueError)."""
    del mode  # only "after" exists here

    def mark(func: _Check[_M]) -> _Check[_M]:
        func.__model_validator__ = True  # type: ignore[attr-defined]
        return func

    return mark


def to_camel(name: str) -> str:
    """``timeout_ms`` → ``timeoutMs``."""
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


@dataclass(frozen=True)
class _Spec:
    name: str
    alias: str
    hint: Any
    default: Any
    factory: Callable[[], Any] | None


class _ModelMeta(type):
    @property
    def model_fields(cls) -> dict[str, Any]:
        """The fields as pydantic ``FieldInfo`` objects (name, alias, annotation, default)."""
        fields: dict[str, Any] = _pydantic_mirror(cls).model_fields
        return fields


class Model(metaclass=_ModelMeta):
    """Base of frozen records: ``Model(**data)`` or ``Model.model_validate(mapping)``."""

    _specs: ClassVar[dict[str, _Spec] | None] = None
    _by_key: ClassVar[dict[str, _Spec]]
    _checks: ClassVar[tuple[Callable[[Any], Any], ...]]

    def __init__(self, **data: Any) -> None:
        self._fill(data, ())

    @classmethod
    def model_validate(cls: type[_M], data: object) -> _M:
        """Validate a mapping (aliases or field names as keys) or return an instance as is."""
        return _validate_model(cls, data, ())

    def model_copy(self: _M, *, update: Mapping[str, Any] | None = None) -> _M:
        """Return a copy with some fields (snake_case names) replaced, unvalidated."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.__dict__.update(update or {})
        return clone

    def model_dump(self, *, by_alias: bool = False) -> dict[str, Any]:
        """Return the fields as a nested dict (aliases as keys with ``by_alias``)."""
        specs, _ = _specs(type(self))
        return {
            (spec.alias if by_alias else spec.name): _dump(getattr(self, spec.name), by_alias)
            for spec in specs.values()
        }

    def _fill(self, data: Mapping[str, Any], loc: tuple[str, ...]) -> None:
        specs, by_key = _specs(type(self))
        unknown = [key for key in data if key not in by_key]
        given = {by_key[key].name: value for key, value in data.items() if key in by_key}
        for spec in specs.values():
            if spec.name in given:
                value = _validate(spec.hint, given[spec.name], (*loc, spec.alias))
            elif spec.factory is not None:
                value = spec.factory()
            elif spec.default is not _MISSING:
                value = spec.default
            else:
                raise FieldValidationError((*loc, spec.alias), "field required")
            object.__setattr__(self, spec.name, value)
        if unknown:
            raise FieldValidationError((*loc, str(unknown[0])), "extra inputs are not permitted")
        for check in type(self)._checks:
            check(self)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __hash__(self) -> int:
        return hash(tuple(repr(v) for v in self.__dict__.values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self.__dict__.items())
        return f"{type(self).__name__}({fields})"


def _dump(value: object, by_alias: bool) -> object:
    return value.model_dump(by_alias=by_alias) if isinstance(value, Model) else value


def _specs(cls: type[Model]) -> tuple[dict[str, _Spec], dict[str, _Spec]]:
    """Read the class's annotations once (on first use, not at import)."""
    if cls.__dict__.get("_specs") is None:
        hints = typing.get_type_hints(cls, include_extras=True)
        specs: dict[str, _Spec] = {}
        for name, hint in hints.items():
            if typing.get_origin(hint) is ClassVar or name.startswith("_"):
                continue
            default = getattr(cls, name, _MISSING)
            factory = default.default_factory if isinstance(default, FieldInfo) else None
            if isinstance(default, FieldInfo):
                default = _MISSING
            specs[name] = _Spec(name, to_camel(name), hint, default, factory)
        by_key = {**{s.name: s for s in specs.values()}, **{s.alias: s for s in specs.values()}}
        checks = tuple(f for f in vars(cls).values() if getattr(f, "__model_validator__", False))
        type.__setattr__(cls, "_specs", specs)
        type.__setattr__(cls, "_by_key", by_key)
        type.__setattr__(cls, "_checks", checks)
    return cls.__dict__["_specs"], cls.__dict__["_by_key"]


def _validate_model(cls: type[_M], value: object, loc: tuple[str, ...]) -> _M:
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise FieldValidationError(loc, "a JSON object is required")
    model = cls.__new__(cls)
    model._fill(value, loc)
    return model


def _validate(hint: Any, value: object, loc: tuple[str, ...]) -> Any:  # noqa: PLR0911, PLR0912 - a branch per type
    origin = typing.get_origin(hint)
    if origin is Annotated:
        base, *meta = typing.get_args(hint)
        for item in meta:
            if isinstance(item, BeforeValidator):
                value = _call(item.func, value, loc)
        value = _validate(base, value, loc)
        for item in meta:
            if isinstance(item, FieldInfo):
                _constrain(item, value, loc)
        return value
    if origin is Union or origin is types.UnionType:
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        (inner,) = [option for option in options if option is not type(None)]
        return _validate(inner, value, loc)
    if origin is Literal:
        if isinstance(value, str) and value in typing.get_args(hint):
            return value
        raise FieldValidationError(loc, "not one of the allowed values")
    if origin is dict:
        if isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            return dict(value)
        raise FieldValidationError(loc, "an object of string values is required")
    if hint is SecretStr:
        if isinstance(value, SecretStr):
            return value
        if isinstance(value, str):
            return SecretStr(value)
    elif isinstance(hint, type) and issubclass(hint, Model):
        return _validate_model(hint, value, loc)
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is str:
        if isinstance(value, str):
            return value
    else:  # pragma: no cover - a declaration error, caught by the tests of the models
        raise TypeError(f"unsupported field type {hint!r}")
    raise FieldValidationError(loc, f"a valid {getattr(hint, '__name__', hint)} is required")


def _call(func: Callable[[object], object], value: object, loc: tuple[str, ...]) -> object:
    try:
        return func(value)
    except ValueError as exc:
        raise FieldValidationError(loc, str(exc)) from None


def _constrain(info: FieldInfo, value: Any, loc: tuple[str, ...]) -> None:
    if info.ge is not None and value < info.ge:
        raise FieldValidationError(loc, f"must be at least {info.ge}")
    if info.le is not None and value > info.le:
        raise FieldValidationError(loc, f"must be at most {info.le}")
    if info.min_length is not None and len(value) < info.min_length:
        raise FieldValidationError(loc, f"must have at least {info.min_length} characters")


_mirrors: dict[type, Any] = {}


def _pydantic_mirror(cls: type) -> Any:
    """A pydantic model with the same fields, aliases and defaults (imported on demand)."""
    if cls not in _mirrors:
        import pydantic

        assert issubclass(cls, Model)  # noqa: S101 - only models have mirrors
        fields: dict[str, Any] = {}
        for spec in _specs(cls)[0].values():
            base = _model_in(spec.hint)
            annotation = _pydantic_mirror(base) if base is not None else Any
            if spec.factory is not None:
                info = pydantic.Field(default_factory=spec.factory, alias=spec.alias)
            elif spec.default is _MISSING:
                info = pydantic.Field(alias=spec.alias)
            else:
                info = pydantic.Field(spec.default, alias=spec.alias)
            fields[spec.name] = (annotation, info)
        _mirrors[cls] = pydantic.create_model(
            cls.__name__,
            __config__=pydantic.ConfigDict(populate_by_name=True, frozen=True),
            **fields,
        )
    return _mirrors[cls]


def _model_in(hint: Any) -> type[Model] | None:
    if isinstance(hint, type) and issubclass(hint, Model):
        return hint
    return None


__all__ = [
    "BeforeValidator",
    "Field",
    "FieldInfo",
    "FieldValidationError",
    "Model",
    "SecretStr",
    "model_validator",
    "to_camel",
]

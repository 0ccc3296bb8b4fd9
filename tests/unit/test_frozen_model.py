from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import BaseModel

from mcp_oauth2_proxy.frozen_model import (
    BeforeValidator,
    Field,
    FieldValidationError,
    Model,
    SecretStr,
    model_validator,
    to_camel,
)


def upper(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError("not text")  # noqa: TRY004 - validators signal with ValueError
    return value.upper()


class Inner(Model):
    level: Literal["LOW", "HIGH"] = "LOW"


class Outer(Model):
    name_of_thing: Annotated[str, Field(min_length=2)]
    count: Annotated[int, Field(ge=1, le=9)] = 3
    shout: Annotated[str, BeforeValidator(upper)] | None = None
    secret: SecretStr | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    inner: Inner = Field(default_factory=Inner)

    @model_validator(mode="after")
    def _no_secret_for_three(self) -> Outer:
        if self.count == 3 and self.secret is not None:
            raise ValueError("no secret at three")
        return self


def loc_of(data: dict[str, object]) -> tuple[str, ...]:
    with pytest.raises(FieldValidationError) as info:
        Outer.model_validate(data)
    return info.value.loc


def test_defaults_aliases_and_snake_case_names_all_work() -> None:
    a = Outer.model_validate({"nameOfThing": "ab", "inner": {"level": "HIGH"}})
    b = Outer(name_of_thing="ab", inner=Inner(level="HIGH"))
    assert a == b
    assert (a.count, a.shout, a.tags, a.inner.level) == (3, None, {}, "HIGH")


def test_before_validators_run_ahead_of_the_type_check() -> None:
    assert Outer.model_validate({"nameOfThing": "ab", "shout": "hey"}).shout == "HEY"
    assert loc_of({"nameOfThing": "ab", "shout": 5}) == ("shout",)


@pytest.mark.parametrize(
    ("data", "loc"),
    [
        ({}, ("nameOfThing",)),
        ({"nameOfThing": "a"}, ("nameOfThing",)),
        ({"nameOfThing": "ab", "count": 0}, ("count",)),
        ({"nameOfThing": "ab", "count": True}, ("count",)),
        ({"nameOfThing": "ab", "count": "2"}, ("count",)),
        ({"nameOfThing": "ab", "tags": {"a": 1}}, ("tags",)),
        ({"nameOfThing": "ab", "inner": {"level": "MID"}}, ("inner", "level")),
        ({"nameOfThing": "ab", "inner": []}, ("inner",)),
        ({"nameOfThing": "ab", "typo": 1}, ("typo",)),
        ({"nameOfThing": 7, "count": 0}, ("nameOfThing",)),
    ],
)
def test_the_first_invalid_field_is_reported_by_its_alias_path(
    data: dict[str, object], loc: tuple[str, ...]
) -> None:
    assert loc_of(data) == loc


def test_checks_after_building_see_the_whole_model() -> None:
    with pytest.raises(ValueError, match="no secret at three"):
        Outer.model_validate({"nameOfThing": "ab", "secret": "s3cr3t-value"})
    ok = Outer.model_validate({"nameOfThing": "ab", "count": 4, "secret": "s3cr3t-value"})
    assert ok.secret is not None
    assert ok.secret.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(ok)
    assert "s3cr3t-value" not in str(ok.secret)


def test_models_are_frozen() -> None:
    model = Outer(name_of_thing="ab")
    with pytest.raises(AttributeError):
        model.count = 5  # type: ignore[misc]


def test_model_fields_describe_an_equivalent_pydantic_model() -> None:
    fields = Outer.model_fields
    assert list(fields) == ["name_of_thing", "count", "shout", "secret", "tags", "inner"]
    assert fields["name_of_thing"].alias == "nameOfThing"
    assert fields["count"].default == 3
    inner = fields["inner"].annotation
    assert isinstance(inner, type)
    assert issubclass(inner, BaseModel)
    assert inner.model_fields["level"].default == "LOW"


def test_camel_case_aliases() -> None:
    assert [to_camel(n) for n in ("url", "timeout_ms", "allow_insecure_http")] == [
        "url",
        "timeoutMs",
        "allowInsecureHttp",
    ]


def test_copies_replace_fields_and_dumps_use_aliases() -> None:
    from mcp_oauth2_proxy.config import Settings

    base = Settings.model_validate({"upstream": {"url": "https://mcp.example.com/mcp"}})
    changed = base.model_copy(update={"allow_insecure_http": True})
    assert changed.allow_insecure_http is True
    assert base.allow_insecure_http is False
    dumped = changed.model_dump(by_alias=True)
    assert dumped["allowInsecureHttp"] is True
    assert dumped["upstream"]["timeoutMs"] == 300_000

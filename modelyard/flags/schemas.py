"""The shape of a flag, shared by the JSON API, the admin form and flags defined in settings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelyard.accounts.models import Role
from modelyard.core.params import Id

FLAG_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,63}$"
VARIANT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$"
MAX_LISTED_USERS = 10_000
MAX_VARIANTS = 20

FlagName = Annotated[str, Field(pattern=FLAG_NAME_PATTERN, description="Lower-case slug, 2 to 64 characters.")]
Percentage = Annotated[int, Field(ge=0, le=100, description="Share of logged-in users it is on for, 0 to 100.")]


class Variant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=VARIANT_NAME_PATTERN)
    weight: int = Field(ge=0, le=10_000, description="Relative weight; 0 keeps the variant but serves nobody.")


def _check_variants(variants: list[Variant] | None) -> list[Variant] | None:
    if not variants:
        return None
    names = [variant.name for variant in variants]
    if len(set(names)) != len(names):
        raise ValueError("variant names must be unique")
    if sum(variant.weight for variant in variants) <= 0:
        raise ValueError("at least one variant needs a weight above 0")
    return variants


def _check_user_ids(user_ids: list[int]) -> list[int]:
    if any(user_id < 1 for user_id in user_ids):
        raise ValueError("user ids are whole numbers from 1")
    return sorted(set(user_ids))


class FlagRules(BaseModel):
    """Who a flag is on for. It is on for a user when it is enabled and any rule matches."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field("", max_length=500)
    enabled: bool = Field(False, description="The kill switch: when off, the flag is off for everyone.")
    everyone: bool = Field(False, description="On for every visitor, anonymous ones included.")
    roles: list[Role] = Field(default_factory=list, description="On for users with any of these roles.")
    user_ids: list[Id] = Field(default_factory=list, max_length=MAX_LISTED_USERS, description="On for these users.")
    percentage: Percentage = 0
    variants: list[Variant] | None = Field(
        None,
        max_length=MAX_VARIANTS,
        description="A/B variants; a user the flag is on for gets one, a stable pick weighted by `weight`.",
    )

    @field_validator("roles")
    @classmethod
    def _unique_roles(cls, roles: list[Role]) -> list[Role]:
        return sorted(set(roles), key=list(Role).index)

    @field_validator("user_ids")
    @classmethod
    def _valid_user_ids(cls, user_ids: list[int]) -> list[int]:
        return _check_user_ids(user_ids)

    @field_validator("variants")
    @classmethod
    def _valid_variants(cls, variants: list[Variant] | None) -> list[Variant] | None:
        return _check_variants(variants)

    def column_values(self) -> dict[str, Any]:
        """The values as the `feature_flag` columns store them (JSON lists of plain values)."""
        values = self.model_dump(mode="json")
        values["variants"] = values["variants"] or None
        return values


class FlagCreate(FlagRules):
    name: FlagName


class FlagUpdate(BaseModel):
    """A partial change: only the fields sent are changed. `variants: null` turns a flag back into on/off."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(None, max_length=500)
    enabled: bool | None = None
    everyone: bool | None = None
    roles: list[Role] | None = None
    user_ids: list[Id] | None = Field(None, max_length=MAX_LISTED_USERS)
    percentage: Percentage | None = None
    variants: list[Variant] | None = Field(None, max_length=MAX_VARIANTS)

    @field_validator("user_ids")
    @classmethod
    def _valid_user_ids(cls, user_ids: list[int] | None) -> list[int] | None:
        return None if user_ids is None else _check_user_ids(user_ids)

    @field_validator("variants")
    @classmethod
    def _valid_variants(cls, variants: list[Variant] | None) -> list[Variant] | None:
        return _check_variants(variants)

    @model_validator(mode="after")
    def _no_null_fields(self) -> FlagUpdate:
        for field in self.model_fields_set - {"variants"}:
            if getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self

    def apply_to(self, rules: FlagRules) -> FlagRules:
        changes = {field: getattr(self, field) for field in self.model_fields_set}
        return FlagRules.model_validate({**rules.model_dump(), **changes})


class ExposureCount(BaseModel):
    variant: str | None = Field(description="The variant served; null for an on/off flag.")
    count: int


class FlagOut(FlagRules):
    name: str
    source: Literal["database", "settings"] = Field(
        description="Where the flag in effect is defined; a database flag overrides one of the same name in settings."
    )
    overrides_settings: bool = False
    updated_at: datetime | None = None
    updated_by: int | None = None
    exposures: list[ExposureCount] = Field(default_factory=list, description="Exposures so far, all days together.")


class FlagList(BaseModel):
    flags: list[FlagOut]


class MyFlags(BaseModel):
    enabled: list[str] = Field(description="Names of the flags on for the caller.")
    variants: dict[str, str] = Field(description="The caller's variant of each A/B flag that is on for them.")

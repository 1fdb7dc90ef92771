"""What `_models.yml` may say of a model, typed: a misspelt key or a wrong value is an error at load naming the file,
the model and the key, not a setting silently ignored. The kinds keep dbt's names where one exists: a table, a view,
incremental by time range (`time_column`) or by unique key (`unique_key`); the restatement of lost work
(`lost_work`), the keys whose row moves later (`moves`) and the rollups (`rollup_of`) are this project's own."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LostWork(_Strict):
    narrow: list[str] = Field(min_length=1)  # the columns the restated rows' inputs are cut to


class Moves(_Strict):
    key: list[str] = Field(min_length=1)
    since: str


class Incremental(_Strict):
    time_column: str | None = None  # incremental by time range
    align: Literal["5min", "hour", "day"] | None = None  # a window holds whole buckets of this size
    unique_key: str | None = None  # incremental by unique key
    parts_by: str | None = None  # with unique_key: the time column whose days the published parts follow
    lost_work: LostWork | None = None
    moves: Moves | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Incremental:
        if (self.time_column is None) == (self.unique_key is None):
            raise ValueError("an incremental model has a time_column or a unique_key (one of them)")
        return self


class RollupKeeps(_Strict):
    slices: list[str] = Field(min_length=1)
    sums: list[str] = Field(min_length=1)


class RollupOf(_Strict):
    model: str = Field(pattern=r"^(staging|intermediate|marts)\.[a-z0-9_]+$")
    every: Literal["5min", "hour", "day"]


class ModelConfig(_Strict):
    description: str | None = None
    primary_key: list[str] = []
    materialized: Literal["table", "view"] = "table"
    incremental: Incremental | None = None
    rollup: RollupKeeps | None = None  # what the rollups of this model keep
    rollup_of: RollupOf | None = None  # this model is a rollup: its SQL is generated


def validated(path, name: str, entry) -> dict:
    """The model's settings checked, as a plain dict of what was given (the runner and the publisher read it)."""
    try:
        return ModelConfig.model_validate(entry or {}).model_dump(exclude_none=True, exclude_defaults=True)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(entry)'}: {e['msg']}" for e in error.errors())
        raise ValueError(f"{path}: {name}: {problems}") from None

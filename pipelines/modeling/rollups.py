"""Rollups generated from one declaration. The model a rollup starts from declares, under `rollup`, the slices its
rollups keep and the sums they carry (beside every loss reason of `pipelines.semantic.losses`); each rollup model
declares only `rollup_of: {model, every}`. Its SQL is built here with sqlglot, so it runs on DuckDB and transpiles
to Spark like any model. Ratios are not stored: the semantic layer divides the sums at whatever grain is asked."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp

from pipelines.semantic.losses import FAILURE_CAUSE, LOST_AFTER_FAILURE, REASONS

ROLLUP_TIME = "bucket_at"  # every rollup's time column, as the semantic layer reads it
BUCKETS = {  # the start of an input time's bucket; `t` stands for the input's time column
    "5min": "date_trunc('hour', t) + interval 5 minute * (minute(t) // 5)",
    "hour": "date_trunc('hour', t)",
    "day": "date_trunc('day', t)",
}


class RollupError(ValueError):
    """A rollup declaration that cannot be built; the message names the file."""


@dataclass(frozen=True)
class Rollup:
    """One rollup model: what it reads (`of`, a qualified table), at which bucket, and what the chain's root
    declared it keeps."""

    of: str
    every: str
    time_column: str  # the input's time column
    slices: tuple[str, ...]
    sums: tuple[str, ...]
    splits_failures: bool  # it reads the GPU-minute rows, so the lost work is split by failure cause here


def rollups_of(layer_configs: dict[str, dict[str, dict]], files: dict[str, Path]) -> dict[str, Rollup]:
    """Every declared rollup by qualified name (`layer_configs`: each layer's `_models.yml` models; `files`: each
    layer's `_models.yml`, for the messages)."""
    configs = {f"{layer}.{name}": (layer, c) for layer, models in layer_configs.items() for name, c in models.items()}
    found: dict[str, Rollup] = {}
    for table, (layer, config) in configs.items():
        if "rollup_of" in config:
            found[table] = _rollup(table, configs, files[layer])
    return found


def _rollup(table: str, configs: dict[str, tuple[str, dict]], path: Path) -> Rollup:
    declared = configs[table][1]["rollup_of"]  # its shape and bucket are checked with the settings (config.py)
    of, every = declared["model"], declared["every"]
    if of not in configs:
        raise RollupError(f"{path}: {table}: rollup_of {of!r} is no model (give it as layer.name)")
    root, seen = of, {table}
    while "rollup_of" in configs[root][1]:  # a rollup of a rollup keeps what the chain's root declared
        if root in seen:
            raise RollupError(f"{path}: {table}: rollup_of goes round in a circle through {root}")
        seen.add(root)
        root = configs[root][1]["rollup_of"].get("model")
        if root not in configs:
            raise RollupError(f"{path}: {table}: rollup_of chain reaches {root!r}, which is no model")
    keeps = configs[root][1].get("rollup")
    if not keeps:
        raise RollupError(f"{path}: {root} is rolled up, so it declares rollup: {{slices: [...], sums: [...]}}")
    base = configs[of][1]
    time_column = ROLLUP_TIME if "rollup_of" in base else (base.get("incremental") or {}).get("time_column")
    if not time_column:
        raise RollupError(f"{path}: {of} is rolled up by time, so it is incremental with a time_column")
    return Rollup(of, every, time_column, tuple(keeps["slices"]), tuple(keeps["sums"]), "rollup_of" not in base)


def rollup_sql(name: str, rollup: Rollup) -> str:
    """One row per bucket and slice: the declared sums and every loss reason's GPU-minutes. From the GPU-minute rows
    the work lost after a failure is split by the failure's cause; a coarser rollup sums the split columns."""
    time = exp.column(rollup.time_column, quoted=True)
    bucket = sqlglot.parse_one(BUCKETS[rollup.every], dialect="duckdb").transform(
        lambda node: time.copy() if isinstance(node, exp.Column) and node.name == "t" else node
    )
    select = sqlglot.select(exp.alias_(bucket, ROLLUP_TIME, quoted=True))
    select = select.select(*(exp.column(s, quoted=True) for s in rollup.slices))
    columns = [*rollup.sums, *(r.column for r in REASONS if r.column not in rollup.sums)]
    for column in columns:
        select = select.select(exp.alias_(exp.Sum(this=_summed(column, rollup)), column, quoted=True))
    select = select.from_(exp.to_table(rollup.of)).where(
        exp.and_(
            time.copy() >= exp.Placeholder(this="window_start"),
            time.copy() < exp.Placeholder(this="window_end"),
        )
    )
    select = select.group_by(*(exp.Literal.number(i + 1) for i in range(1 + len(rollup.slices))))
    what = {"5min": "five minutes", "hour": "hour", "day": "day"}[rollup.every]
    header = (
        f"-- one row per {what} per slice of {rollup.of}: summed GPU-minutes and every loss by reason\n"
        f"-- (slices: {', '.join(rollup.slices)}); generated from `rollup_of` in _models.yml\n"
    )
    return header + select.sql("duckdb", pretty=True)


def _summed(column: str, rollup: Rollup) -> exp.Expression:
    cause = next((r.failure_cause for r in REASONS if r.column == column and r.failure_cause), None)
    if cause is None or not rollup.splits_failures:
        return exp.column(column, quoted=True)
    return (
        exp.Case()
        .when(
            exp.column(FAILURE_CAUSE, quoted=True).eq(exp.Literal.string(cause)),
            exp.column(LOST_AFTER_FAILURE, quoted=True),
        )
        .else_(exp.Literal.number(0))
    )

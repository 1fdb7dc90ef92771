"""Each model's declared `primary_key` (models/*/_models.yml) as a Dagster asset check: no two rows share a key and
no key column is null. A time-incremental model is checked over its newest day (what the last runs rewrote: a
check of 90 days of GPU-minutes would cost more than the build of a tick); other models whole."""

from __future__ import annotations

from datetime import timedelta

import duckdb
from dagster import AssetCheckResult, AssetChecksDefinition, AssetCheckSeverity, AssetKey, MetadataValue, asset_check
from sqlglot import exp

from pipelines.modeling.project import Model, load_project
from pipelines.resources import Warehouse

NEWEST = timedelta(days=1)
SAMPLE = 5


def key_violations(con: duckdb.DuckDBPyConnection, model: Model) -> dict:
    """Rows checked, keys held by more than one row (with a few of them) and rows with a null key column."""
    keys = [exp.column(k) for k in model.config["primary_key"]]
    scope = exp.select("*").from_(exp.to_table(model.table))
    time_column = (model.incremental or {}).get("time_column")
    if time_column:
        newest = exp.select(exp.Max(this=exp.column(time_column))).from_(exp.to_table(model.table))
        since = exp.Sub(
            this=newest.subquery(),
            expression=exp.Interval(this=exp.Literal.string(str(int(NEWEST.total_seconds()))), unit=exp.var("second")),
        )
        scope = scope.where(exp.GTE(this=exp.column(time_column), expression=since))
    counted = exp.select(*keys, exp.Count(this=exp.Star()).as_("n")).from_(scope.subquery("s")).group_by(*keys)
    repeated = exp.select("*").from_(counted.subquery("c")).where("n > 1")
    any_null = exp.or_(*[exp.Is(this=k.copy(), expression=exp.Null()) for k in keys])
    totals = exp.select(
        exp.Count(this=exp.Star()).as_("rows"),
        exp.func("count_if", any_null).as_("null_keys"),
    ).from_(scope.subquery("s"))
    rows, nulls = con.execute(totals.sql("duckdb")).fetchall()[0]
    duplicated = con.execute(
        exp.select(exp.Count(this=exp.Star())).from_(repeated.subquery("r")).sql("duckdb")
    ).fetchall()[0][0]
    sample = con.execute(repeated.limit(SAMPLE).sql("duckdb")).fetchall()
    return {
        "rows_checked": rows,
        "duplicated_keys": duplicated,
        "null_keys": nulls or 0,
        "sample": [[str(v) for v in row] for row in sample],
    }


def key_check(model: Model) -> AssetChecksDefinition:
    key = ", ".join(model.config["primary_key"])

    @asset_check(
        asset=AssetKey([model.layer, model.name]),
        name="primary_key",
        description=f"({key}) unique and not null"
        + (" over the newest day" if model.incremental and "time_column" in model.incremental else ""),
    )
    def _check(warehouse: Warehouse) -> AssetCheckResult:
        with warehouse.connect() as con:
            found = key_violations(con, model)
        return AssetCheckResult(
            passed=found["duplicated_keys"] == 0 and found["null_keys"] == 0,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "rows_checked": found["rows_checked"],
                "duplicated_keys": found["duplicated_keys"],
                "null_keys": found["null_keys"],
                "sample": MetadataValue.json(found["sample"]),
            },
        )

    return _check


KEY_CHECKS = [key_check(m) for m in load_project().values() if m.config.get("primary_key")]

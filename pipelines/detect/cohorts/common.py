"""What every cohort rule shares: the changes still watched (until their horizon or rollback), and a cohort's
running sums against everyone else's since its change."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import polars as pl

from pipelines.detect.config import DetectionConfig
from pipelines.warehouse.connection import fetch

NODE_CHANGES = ("driver_upgrade", "kernel_upgrade", "firmware_upgrade", "config_change")
KEYS = ["change_id", "cohort", "region", "team"]


def changes(con: duckdb.DuckDBPyConnection, window: tuple[datetime, datetime], horizon_h: float) -> pl.DataFrame:
    """The changes a cohort rule may still watch, each with `ends_at`: `horizon_h` after it, or the first rollback
    of the same component in a scope that covers it, whichever comes first (a rolled-back change is no longer in
    effect, so nothing after its rollback is blamed on it)."""
    return fetch(con, WATCHED_CHANGES, [*window, int(horizon_h)])


WATCHED_CHANGES = """
with watched as (
    select * from staging.stg_changes__events
    where change_type <> 'rollback' and changed_at < $2 and changed_at >= $1 - to_hours($3::bigint)
),
rolled_back as (
    select c.change_id, min(r.changed_at) as rolled_back_at
    from watched c
    join staging.stg_changes__events r
        on r.change_type = 'rollback' and r.component = c.component and r.changed_at > c.changed_at
        and r.changed_at < $2
        and (r.scope_region is null or r.scope_region = c.scope_region)
        and (r.scope_team is null or r.scope_team = c.scope_team)
        and (r.scope_node_ids is null or r.scope_node_ids = c.scope_node_ids)
    group by c.change_id
)
select c.*, least(c.changed_at + to_hours($3::bigint), coalesce(r.rolled_back_at, c.changed_at + to_hours($3::bigint)))
    as ends_at
from watched c left join rolled_back r using (change_id)
"""


def with_ends(found: pl.DataFrame, config: DetectionConfig) -> pl.DataFrame:
    """`found` with `ends_at` (see `changes`); a frame without it is watched for the whole horizon."""
    if "ends_at" in found.columns:
        return found
    return found.with_columns((pl.col("changed_at") + timedelta(hours=config.cohort.horizon_h)).alias("ends_at"))


def against_the_rest(cohort: pl.DataFrame, everyone: pl.DataFrame, measures: list[str]) -> pl.DataFrame:
    """Running sums since each change for its cohort and for everyone else (everyone minus the cohort), minute by
    minute. `cohort` holds change_id, minute_at and the measures; `everyone` the fleet's per-minute measures."""
    cohort = cohort.group_by("change_id", "minute_at").agg(pl.col(measures).sum().name.suffix("_cohort"))
    fleet = everyone.group_by("minute_at").agg(pl.col(measures).sum().name.suffix("_all"))
    sums = (
        cohort.join(fleet, on="minute_at")
        .sort("change_id", "minute_at")
        .with_columns(pl.exclude("change_id", "minute_at").cum_sum().over("change_id"))
    )
    return sums.with_columns((pl.col(f"{m}_all") - pl.col(f"{m}_cohort")).alias(f"{m}_rest") for m in measures)


def since_change() -> pl.Expr:
    return (pl.col("minute_at") >= pl.col("changed_at")) & (pl.col("minute_at") < pl.col("ends_at"))


def region_cohorts(changes_: pl.DataFrame, minutes: pl.DataFrame, measures: list[str], before: dict[str, pl.Expr]):
    """Region-scoped changes (a change without a region covers them all) against the other regions: the changed
    regions' minutes since each change (`cohort`), and the running sums since the change of the cohort and of the
    rest (see `against_the_rest`) with `minutes_seen` and a column per `before` entry (its aggregate over the
    changed regions' hour before the change)."""
    regions = minutes.select("region").unique()
    scoped = changes_.select("change_id", "changed_at", "ends_at", "scope_region").join(regions, how="cross")
    scoped = scoped.filter(pl.col("scope_region").is_null() | (pl.col("scope_region") == pl.col("region")))
    in_cohort = scoped.join(minutes, on="region")
    cohort = in_cohort.filter(since_change())
    sums = against_the_rest(cohort.drop("region"), minutes.drop("region"), measures)
    hour_before = (pl.col("minute_at") < pl.col("changed_at")) & (
        pl.col("minute_at") >= pl.col("changed_at") - timedelta(hours=1)
    )
    past = in_cohort.filter(hour_before).group_by("change_id").agg(e.alias(name) for name, e in before.items())
    sums = sums.join(past, on="change_id", how="left").with_columns(
        pl.int_range(1, pl.len() + 1).over("change_id").alias("minutes_seen")  # the sums hold a row per minute
    )
    return cohort, sums

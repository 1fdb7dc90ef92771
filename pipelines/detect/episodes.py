"""From the minutes a condition held to episodes: when it began, the 5-minute tick that first saw it persist, and
when it cleared. Causal by construction: an episode confirmed at minute m is detected at the first tick after m
(plus the data's arrival delay), and its value is the one seen at confirmation, never a later peak."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

TICK = timedelta(minutes=5)
MINUTE = timedelta(minutes=1)


def next_tick(moment: pl.Expr) -> pl.Expr:
    """The first 5-minute tick at or after the moment."""
    floor = moment.dt.truncate("5m")
    return pl.when(floor == moment).then(floor).otherwise(floor + TICK)


def episodes(
    hits: pl.DataFrame,
    keys: list[str],
    persistence_min: int,
    data_end: datetime,
    max_gap_min: int = 1,
    delay_min: int = 0,
    span_min: int = 1,
) -> pl.DataFrame:
    """Episodes of a condition per key. `hits` holds the minutes (`minute_at`) where it held, with `value` and
    optionally `baseline`; minutes further apart than `max_gap_min` start a new episode. Only episodes that held
    for `persistence_min` minutes are kept. `data_end` is the exclusive end of the data the detector saw; a row
    covers `span_min` minutes from its `minute_at` (5 for a 5-minute bucket): the condition clears when its last
    row ends."""
    if hits.is_empty():
        return _empty(hits, keys)
    extra = [c for c in ("baseline", "threshold") if c in hits.columns]
    gap = timedelta(minutes=max_gap_min)
    runs = hits.sort([*keys, "minute_at"]).with_columns(
        (pl.col("minute_at").diff().over(keys).fill_null(gap + MINUTE) > gap).cum_sum().over(keys).alias("_run")
    )
    runs = runs.with_columns(
        pl.col("minute_at").min().over([*keys, "_run"]).alias("started_at"),
        pl.col("minute_at").max().over([*keys, "_run"]).alias("_last"),
    ).with_columns((pl.col("started_at") + MINUTE * (persistence_min - 1)).alias("confirmed_at"))
    confirmed = (
        runs.filter(pl.col("minute_at") >= pl.col("confirmed_at"))
        .group_by([*keys, "_run"])
        .agg(
            pl.col("started_at").first(),
            pl.col("_last").first(),
            pl.col("minute_at").min().alias("confirmed_at"),
            pl.col("value").sort_by("minute_at").first(),
            *[pl.col(c).sort_by("minute_at").first() for c in extra],
        )
    )
    delay = timedelta(minutes=delay_min)
    return confirmed.with_columns(
        next_tick(pl.col("confirmed_at") + MINUTE + delay).alias("detected_at"),
        pl.when(pl.col("_last") + gap < pl.lit(data_end))
        .then(pl.col("_last") + MINUTE * span_min)
        .otherwise(None)
        .alias("resolved_at"),
    ).drop("_run", "_last")


def _empty(hits: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    schema = {k: hits.schema[k] for k in keys}
    schema |= {"started_at": pl.Datetime("us"), "confirmed_at": pl.Datetime("us"), "value": pl.Float64}
    schema |= {c: pl.Float64 for c in ("baseline", "threshold") if c in hits.columns}
    schema |= {"detected_at": pl.Datetime("us"), "resolved_at": pl.Datetime("us")}
    return pl.DataFrame(schema=schema)


def cut(frame: pl.DataFrame, until: datetime | None, column: str = "minute_at") -> pl.DataFrame:
    """The rows a tick at `until` could have seen."""
    return frame if until is None else frame.filter(pl.col(column) < until)

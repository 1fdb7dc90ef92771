"""Deploy cohorts on hand-made region minutes: a placement change that strands GPUs in its region against the
unchanged region and its own hour before; a region already stranded before the change is not blamed on it."""

from datetime import datetime, timedelta

import duckdb
import polars as pl

from pipelines.detect.cohorts import placement_cohort_hits
from pipelines.detect.config import detection_config

CHANGED_AT = datetime(2026, 3, 2, 6, 0)
WINDOW = (CHANGED_AT - timedelta(hours=2), CHANGED_AT + timedelta(minutes=20))


def _warehouse(stranded: dict[str, tuple[int, int]], gpus: int = 100) -> duckdb.DuckDBPyConnection:
    """Regions of `gpus` healthy GPUs with a tenth of them free, from an hour before the change to 20 minutes after;
    `stranded[region]` = (stranded GPUs before the change, after it)."""
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        "create table marts.fct_scheduler__region_minutes (region varchar, minute_at timestamp, healthy_gpus double, "
        "free_gpus double, stranded_gpus double)"
    )
    for region, (before, after) in stranded.items():
        for minute in range(-60, 20):
            value = before if minute < 0 else after
            at = CHANGED_AT + timedelta(minutes=minute)
            con.execute(
                "insert into marts.fct_scheduler__region_minutes values (?, ?, ?, ?, ?)",
                [region, at, gpus, gpus // 10, value],
            )
    return con


def _change(region: str | None) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "change_id": ["chg-1"],
            "changed_at": [CHANGED_AT],
            "change_type": ["scheduler_policy"],
            "scope_region": [region],
        },
        schema_overrides={"scope_region": pl.String},
    )


def _config():
    config = detection_config()
    evidence = {"min_placement_minutes": 8, "min_placement_gpu_minutes": 1000}
    return config.model_copy(update={"cohort": config.cohort | evidence})


def test_a_placement_change_that_strands_gpus_is_caught_against_the_unchanged_region():
    con = _warehouse({"r1": (1, 8), "r2": (1, 1)})
    hits = placement_cohort_hits(con, _change("r1"), _config(), WINDOW)
    # 1,000 healthy GPU-minutes are reached in the 10th minute after the change (100 GPUs a minute); from then on
    # the share is 8/100 against max(1/100 elsewhere, 1/100 before) = 8x, and 8 of 10 free GPUs are stranded
    assert hits["minute_at"].min() == CHANGED_AT + timedelta(minutes=9)
    assert hits.height == 11
    assert hits["value"].to_list() == [0.08] * 11
    assert hits["baseline"].to_list() == [0.01] * 11


def test_a_region_stranded_before_the_change_is_not_blamed_on_it():
    con = _warehouse({"r1": (8, 8), "r2": (1, 1)})
    assert placement_cohort_hits(con, _change("r1"), _config(), WINDOW).is_empty()


def test_a_fleet_wide_change_is_held_against_its_own_hour_before():
    con = _warehouse({"r1": (1, 8), "r2": (1, 8)})
    hits = placement_cohort_hits(con, _change(None), _config(), WINDOW)
    # both regions pooled: 200 GPUs a minute reach 1,000 GPU-minutes in the 5th minute, so the 8 minutes bind;
    # no unchanged region is left
    assert hits["minute_at"].min() == CHANGED_AT + timedelta(minutes=7)
    assert hits["baseline"].unique().to_list() == [0.01]


def test_a_small_region_is_trusted_after_eight_minutes_not_after_a_big_regions_gpu_minutes():
    con = _warehouse({"r1": (1, 12), "r2": (1, 1)}, gpus=216)
    hits = placement_cohort_hits(con, _change("r1"), _config(), WINDOW)
    # 8 x 216 = 1,728 GPU-minutes by the 8th minute; 12/216 = 5.6 % against the 1 % floor, 12 of 21 free stranded.
    # The 5,000 GPU-minutes a 600-GPU region gathers in 8 minutes would have taken this one 24.
    assert hits["minute_at"].min() == CHANGED_AT + timedelta(minutes=7)
    assert hits["value"][0] == 12 / 216


def test_a_small_rise_below_the_ratio_does_not_fire():
    con = _warehouse({"r1": (2, 5), "r2": (2, 2)})  # 5 % against 2 %: 2.5x, under the 3x ratio
    assert placement_cohort_hits(con, _change("r1"), _config(), WINDOW).is_empty()
